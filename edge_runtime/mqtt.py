"""Results out to an MQTT broker, for a home or fleet system to subscribe to (`run --mqtt`).

Topics under `PREFIX/DEVICE/`:

- `face/<id>`: a face's state whenever its (steady) label changes: label, score,
  probabilities, box, frame, timestamp;
- `summary`: every `every` seconds: faces now, count per label, the most common label, fps,
  frames, messages dropped;
- `availability`: `online` (retained) once connected, `offline` at the end, and the same as
  the broker's last will if the device vanishes.

With `discovery`, Home Assistant's MQTT discovery config makes a sensor per device (the most
common label now, the summary as its attributes). The pipeline only appends to a bounded
queue (the oldest message dropped and counted when it is full); a thread of its own sends,
and paho-mqtt reconnects with backoff, so a slow or absent broker never slows the pipeline.
"""

from __future__ import annotations

import collections
import json
import os
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass

import numpy as np

from edge_runtime.outputs import OutputError, Writer
from edge_runtime.results import FrameResult

QUEUE_SIZE = 1000
DISCOVERY_PREFIX = "homeassistant"


@dataclass(frozen=True)
class Broker:
    """Where `--mqtt mqtt[s]://[user:password@]host[:port]/prefix` points."""

    host: str
    port: int
    tls: bool
    prefix: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Broker:
        """ValueError naming what is wrong."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"--mqtt {url}: expected mqtt://host[:port]/prefix or mqtts://...")
        if not parts.hostname:
            raise ValueError(f"--mqtt {url}: no broker host")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError:
            raise ValueError(f"--mqtt {url}: the port is not a number from 1 to 65535") from None
        prefix = parts.path.strip("/") or "edge-fer"
        if any(c in prefix for c in "+#\0"):
            raise ValueError(f"--mqtt {url}: a topic prefix may not hold + # or NUL")
        return cls(
            parts.hostname,
            port,
            parts.scheme == "mqtts",
            prefix,
            urllib.parse.unquote(parts.username) if parts.username else None,
            urllib.parse.unquote(parts.password) if parts.password else None,
        )


def device_id(name: str | None = None) -> str:
    """A topic-safe device name: `name`, else this machine's host name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name or socket.gethostname() or "edge-fer")


class MqttPublisher(Writer):
    """The `--mqtt` output (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        labels: tuple[str, ...],
        every: float = 10.0,
        discovery: bool = False,
        device: str | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        try:
            self.broker = Broker.parse(url)
        except ValueError as e:
            raise OutputError(str(e)) from None
        try:
            from paho.mqtt import client as paho
        except ImportError:
            raise OutputError(
                "--mqtt needs paho-mqtt, in the mqtt extra: pip install 'edge-fer[mqtt]'"
            ) from None
        self.labels, self.every, self.discovery = labels, every, discovery
        self.device = device_id(device)
        self.base = f"{self.broker.prefix}/{self.device}"
        self.note = f"publishing to {self._where()} under {self.base}/"
        self._queue: collections.deque[tuple[str, str, bool]] = collections.deque(maxlen=queue_size)
        self.dropped = 0
        self.sent = 0
        self._cond = threading.Condition()
        self._stop = False
        self._label_of: dict[int, str] = {}
        self._frames, self._t0, self._next_summary = 0, time.monotonic(), 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=64)
        self.connected = threading.Event()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"edge-fer-{self.device}-{os.getpid()}"
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *a: self.connected.clear()
        self.client = client
        try:
            client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        except (OSError, ValueError) as e:
            raise OutputError(f"--mqtt {self._where()}: {e}") from None
        client.loop_start()
        self._sender = threading.Thread(target=self._send, name="edge-fer-mqtt", daemon=True)
        self._sender.start()

    def _where(self) -> str:
        b = self.broker
        return f"{'mqtts' if b.tls else 'mqtt'}://{b.host}:{b.port}"

    # --- paho's thread -------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        if self.discovery:
            client.publish(*self._discovery_config(), qos=1, retain=True)
        self.connected.set()
        with self._cond:
            self._cond.notify_all()

    def _discovery_config(self) -> tuple[str, str]:
        uid = f"edge_fer_{self.device}".replace(".", "_").replace("-", "_")
        config = {
            "name": "Expression",
            "unique_id": uid,
            "object_id": uid,
            "state_topic": f"{self.base}/summary",
            "value_template": "{{ value_json.top_label }}",
            "json_attributes_topic": f"{self.base}/summary",
            "availability_topic": f"{self.base}/availability",
            "icon": "mdi:emoticon-outline",
            "device": {"identifiers": [uid], "name": f"edge-fer {self.device}"},
        }
        return f"{DISCOVERY_PREFIX}/sensor/{uid}/config", json.dumps(config)

    # --- the sender thread -------------------------------------------------------------------
    def _send(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not (self._queue and self.connected.is_set()):
                    self._cond.wait(0.5)
                if self._stop and (not self._queue or not self.connected.is_set()):
                    return
                topic, payload, retain = self._queue.popleft()
            info = self.client.publish(topic, payload, qos=0, retain=retain)
            if info.rc == 0:
                self.sent += 1
            else:  # lost the connection meanwhile: keep it for after the reconnect
                with self._cond:
                    if len(self._queue) == self._queue.maxlen:
                        self.dropped += 1
                    else:
                        self._queue.appendleft((topic, payload, retain))
                time.sleep(0.05)

    # --- the pipeline's side: append only ------------------------------------------------
    def _enqueue(self, topic: str, message: dict, retain: bool = False) -> None:
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # the deque drops the oldest
            self._queue.append((f"{self.base}/{topic}", json.dumps(message), retain))
            self._cond.notify()

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        now = time.monotonic()
        self._frames += 1
        self._recent.append(now)
        for f in result.faces:
            if f.id is None or self._label_of.get(f.id) == f.label:
                continue
            self._label_of[f.id] = f.label
            self._enqueue(
                f"face/{f.id}",
                {
                    "id": f.id,
                    "label": f.label,
                    "score": round(float(f.score), 4),
                    "probs": {k: round(float(v), 4) for k, v in f.probs.items()},
                    "box": [int(v) for v in f.box],
                    "frame": result.frame,
                    "timestamp": round(time.time(), 3),
                },
            )
        if now >= self._next_summary:
            self._next_summary = now + self.every
            self._enqueue("summary", self._summary(result), retain=True)

    def _summary(self, result: FrameResult) -> dict:
        counts = collections.Counter(f.label for f in result.faces)
        span = self._recent[-1] - self._recent[0] if len(self._recent) > 1 else 0.0
        return {
            "faces": len(result.faces),
            "labels": {lab: counts.get(lab, 0) for lab in self.labels},
            "top_label": counts.most_common(1)[0][0] if counts else "none",
            "fps": round((len(self._recent) - 1) / span, 2) if span > 0 else 0.0,
            "frames": self._frames,
            "dropped": self.dropped,
            "timestamp": round(time.time(), 3),
        }

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for up to `timeout` s while connected), say offline, leave."""
        if self._queue:
            self.connected.wait(timeout)  # a short run may end before the first connection
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._sender.join(timeout)
        if self.connected.is_set():
            info = self.client.publish(f"{self.base}/availability", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass  # the connection went meanwhile: the broker's last will says offline
        self.client.disconnect()
        self.client.loop_stop()
