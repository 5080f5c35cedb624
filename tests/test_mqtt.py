"""`run --mqtt` against a real broker the tests start (Debian's mosquitto): topics and
messages, Home Assistant discovery, a broker that goes away and comes back mid-run, a
pipeline that never waits on the broker, and one line for what cannot work."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.results import Face, FrameResult

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto",) if Path(p).is_file()), None
)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="needs the mosquitto broker (apt-get install mosquitto)"
)
paho = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (the mqtt extra)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture()
def broker():
    b = Broker()
    b.start()
    yield b
    b.stop()


class Listener:
    """Subscribes to everything, resubscribing after each reconnect."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        c.on_connect = lambda cl, *a: cl.subscribe("#")
        c.on_message = self._on_message
        c.reconnect_delay_set(0.2, 0.5)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        time.sleep(0.3)

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode(), msg.retain))

    def topics(self, suffix: str) -> list[str]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def wait_for(self, suffix: str, count: int = 1, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.topics(suffix)) < count:
            time.sleep(0.05)
        return self.topics(suffix)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_run_publishes_faces_summaries_availability_and_discovery(broker, tiny_onnx_model):
    listen = Listener(broker.port)
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--demo",
            "--model",
            str(tiny_onnx_model),
            "--max-frames",
            "40",
            "--quiet",
            "--mqtt",
            f"mqtt://127.0.0.1:{broker.port}/shop",
            "--mqtt-every",
            "0.1",
            "--mqtt-discovery",
            "--mqtt-device",
            "pi 1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert listen.wait_for("/availability", 2) == ["online", "offline"]
    faces = [json.loads(p) for p in listen.topics("shop/pi_1/face/1")]
    assert faces and {"label", "score", "probs", "box", "frame", "timestamp"} <= set(faces[0])
    summary = json.loads(listen.topics("shop/pi_1/summary")[0])
    assert summary["faces"] == 1 and sum(summary["labels"].values()) == 1
    assert summary["top_label"] == faces[0]["label"]
    (config,) = listen.topics("homeassistant/sensor/edge_fer_pi_1/config")
    assert json.loads(config)["state_topic"] == "shop/pi_1/summary"
    listen.close()
    late = Listener(broker.port)  # retained: a new subscriber learns the device is offline
    assert late.wait_for("/availability") == ["offline"]
    late.close()


def _frame(i: int, label: str = "happy") -> FrameResult:
    face = Face(box=(1, 2, 3, 4), label=label, score=0.9, probs={"happy": 0.9, "sad": 0.1}, id=1)
    return FrameResult(source="t", frame=i, timestamp=i / 25, faces=[face])


def test_a_broker_that_goes_away_and_comes_back_mid_run(broker):
    from edge_runtime.mqtt import MqttPublisher

    pub = MqttPublisher(
        f"mqtt://127.0.0.1:{broker.port}/p", ("happy", "sad"), every=0.05, device="d"
    )
    listen = Listener(broker.port)
    image = np.zeros((4, 4, 3), np.uint8)
    i = 0

    def run_for(seconds: float) -> None:
        nonlocal i
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pub.frame(_frame(i, "happy" if (i // 40) % 2 == 0 else "sad"), image)
            i += 1
            time.sleep(0.01)

    run_for(1.0)
    assert listen.wait_for("p/d/summary")
    broker.stop()
    run_for(1.0)  # the pipeline goes on while the broker is away
    broker.start()
    restarted_at = i
    run_for(3.0)
    frames = [json.loads(p)["frames"] for p in listen.wait_for("p/d/summary", timeout=10)]
    assert max(frames) > restarted_at + 1  # summaries resumed after the broker came back
    pub.close()
    listen.close()


def test_the_pipeline_never_waits_for_an_absent_broker():
    from edge_runtime.mqtt import MqttPublisher

    pub = MqttPublisher(
        f"mqtt://127.0.0.1:{_free_port()}/p", ("happy", "sad"), every=0.0, queue_size=50
    )
    image = np.zeros((4, 4, 3), np.uint8)
    for i in range(2000):
        pub.frame(_frame(i, "happy" if i % 2 else "sad"), image)
    assert pub.dropped > 1000 and len(pub._queue) == 50  # bounded: the oldest went
    pub.close(timeout=0.2)


def test_what_cannot_work_is_one_line(tiny_onnx_model, monkeypatch):
    def fails(url: str) -> str:
        res = CliRunner().invoke(
            app,
            ["run", "--demo", "--model", str(tiny_onnx_model), "--max-frames", "1", "--mqtt", url],
        )
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        return res.output

    assert "expected mqtt://host" in fails("http://broker/x")
    assert "port is not a number" in fails("mqtt://broker:99999/x")
    for name in ("paho", "paho.mqtt", "paho.mqtt.client"):
        monkeypatch.setitem(sys.modules, name, None)
    assert "pip install 'edge-fer[mqtt]'" in fails("mqtt://127.0.0.1/x")
