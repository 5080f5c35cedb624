"""The live view, /healthz and /metrics (`edge-fer run --serve`), on synthetic frames."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from live_helpers import (
    close_stream,
    get,
    get_json,
    open_stream,
    read_event,
    read_mjpeg_frame,
)
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.live import LATENCY_BUCKETS, FrameHub
from edge_runtime.results import Face, FrameResult
from edge_runtime.serve import AddressError, LiveServer, is_loopback, page, parse_address
from edge_runtime.stream_sources import CaptureSource, LoopSource

REPO = Path(__file__).resolve().parents[1]
LABELS = ("happy", "sad")
PROM_LINE = re.compile(r'^[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? (-?[0-9.e+-]+|NaN|\+Inf)$')


def result(i: int, faces: int = 1, happy: float = 0.8) -> FrameResult:
    fs = [
        Face(
            box=(10 + 30 * k, 10, 40, 40),
            label="happy" if happy >= 0.5 else "sad",
            score=max(happy, 1 - happy),
            probs={"happy": happy, "sad": 1 - happy},
            id=k + 1,
        )
        for k in range(faces)
    ]
    return FrameResult(
        source="test",
        frame=i,
        timestamp=i / 25,
        faces=fs,
        detected=i % 10 == 0,
        stage_ms={"read": 0.2, "detect": 3.0, "preprocess": 0.1, "infer": 0.7, "smooth": 0.01},
    )


@pytest.fixture()
def server():
    srv = LiveServer("127.0.0.1", 0, LABELS, max_fps=50, write_timeout=0.5).start()
    yield srv
    srv.close()


def base(srv: LiveServer) -> str:
    return f"http://127.0.0.1:{srv.port}"


@pytest.mark.parametrize(
    "text, want",
    [
        ("8080", ("127.0.0.1", 8080)),
        (":8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_address(text, want):
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["", "http", "host:", "1.2.3.4:99999", "[::1]9000", "-1"])
def test_parse_address_rejects(text):
    with pytest.raises(AddressError, match="PORT"):
        parse_address(text)


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_hub_bookkeeping_timeline_and_metrics():
    hub = FrameHub(LABELS)
    img = np.zeros((60, 80, 3), np.uint8)
    for i in range(30):
        hub(result(i, faces=2 if i < 10 else 0, happy=0.9), img)
    h = hub.health()
    assert h["frames"] == 30 and h["faces"] == 20 and h["status"] == "ok"
    assert h["camera"]["state"] == "ok" and h["last_frame_age_s"] < 5
    buckets = hub.hello()["timeline"]
    assert sum(b["frames"] for b in buckets) == 30 and sum(b["faces"] for b in buckets) == 20
    assert buckets[0]["mean"] == [0.9, 0.1]
    st = hub.state()
    assert st["frame"] == 29 and st["faces"] == [] and st["buckets"]
    assert hub.jpeg_seq == 0  # nobody watches: nothing was encoded
    text = hub.prometheus()
    for line in text.splitlines():
        assert line.startswith("# ") or PROM_LINE.match(line), line
    assert "edge_fer_frames_total 30" in text and "edge_fer_faces_total 20" in text
    assert 'edge_fer_stage_seconds_count{stage="detect"} 30' in text
    assert 'edge_fer_stage_seconds_bucket{stage="detect",le="0.0025"} 0' in text
    assert 'edge_fer_stage_seconds_bucket{stage="detect",le="0.005"} 30' in text
    assert f'le="{LATENCY_BUCKETS[-1]}"' in text and 'le="+Inf"} 30' in text
    hub.end()
    assert hub.health()["status"] == "ended"


def test_a_hung_pipeline_is_stalled_whatever_the_source(monkeypatch):
    """A file or looped demo (not live) whose frames stop is a pipeline that hangs: /healthz
    says stalled, as for a camera (issue 50 F14); a slow source gets three frame intervals."""
    import types

    import edge_runtime.live as live

    clock = {"t": 1000.0}
    monkeypatch.setattr(live.time, "monotonic", lambda: clock["t"])
    for fps, bound in ((None, live.STALL_SECONDS), (25.0, live.STALL_SECONDS), (0.2, 15.0)):
        hub = FrameHub(LABELS)
        source = types.SimpleNamespace(name="demo", fps=fps)
        hub.attach(types.SimpleNamespace(live=False, source=source, reader=None))
        hub(result(0, faces=1, happy=0.9), np.zeros((60, 80, 3), np.uint8))
        clock["t"] += bound - 0.5
        assert hub.health()["status"] == "ok"
        clock["t"] += 1.0
        h = hub.health()
        assert h["status"] == "stalled" and h["camera"]["state"] == "stalled", fps


def test_metrics_count_faces_per_label_now_and_in_total():
    hub = FrameHub(LABELS)
    img = np.zeros((60, 80, 3), np.uint8)
    for i in range(10):
        hub(result(i, faces=2, happy=0.9), img)  # 20 happy face-frames
    for i in range(10, 13):
        hub(result(i, faces=1, happy=0.2), img)  # then 3 sad ones
    text = hub.prometheus()
    assert 'edge_fer_faces{label="happy"} 0' in text and 'edge_fer_faces{label="sad"} 1' in text
    assert 'edge_fer_labels_total{label="happy"} 20' in text
    assert 'edge_fer_labels_total{label="sad"} 3' in text
    for line in text.splitlines():
        assert line.startswith("# ") or PROM_LINE.match(line), line


def test_counting_events_are_errors():
    hub = FrameHub(LABELS)
    seen = []
    report = hub.counting(seen.append)
    report("camera 0 stopped delivering frames; reopening")
    assert seen and hub.health()["errors"] == 1
    assert "edge_fer_errors_total 1" in hub.prometheus()


def test_page_is_self_contained():
    html = page().decode()
    assert "<img" in html and 'src="stream.mjpg"' in html and "EventSource" in html
    assert 'name="viewport"' in html  # phones
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html


def test_routes(server):
    hub = server.hub
    status, ctype, body = get(base(server) + "/")
    assert status == 200 and ctype.startswith("text/html") and b"edge-fer live" in body
    assert get(base(server) + "/snapshot.jpg")[0] == 503
    assert get(base(server) + "/nope")[0] == 404
    assert get_json(base(server) + "/healthz")["camera"]["state"] == "waiting"
    img = np.full((120, 160, 3), 90, np.uint8)
    hub(result(0), img)
    status, ctype, jpeg = get(base(server) + "/snapshot.jpg")
    assert status == 200 and ctype == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    h = get_json(base(server) + "/healthz")
    assert h["frames"] == 1 and h["status"] == "ok"
    status, ctype, text = get(base(server) + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert b"edge_fer_frames_total 1" in text
    hub.end()
    assert get(base(server) + "/healthz")[0] == 503


def test_mjpeg_only_encodes_while_watched_and_clients_come_and_go(server):
    hub = server.hub
    img = np.zeros((90, 120, 3), np.uint8)
    for i in range(5):
        hub(result(i), img)
    time.sleep(0.2)
    assert hub.jpeg_seq == 0
    stop = threading.Event()

    def pipeline():
        i = 5
        while not stop.is_set():
            hub(result(i), img)
            i += 1
            time.sleep(0.005)

    t = threading.Thread(target=pipeline)
    t.start()
    try:
        conn, resp = open_stream("127.0.0.1", server.port, "/stream.mjpg")
        assert resp.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        frames = [read_mjpeg_frame(resp) for _ in range(3)]
        for jpeg in frames:
            shot = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert shot.shape == (90, 120, 3)
            assert shot[10:50, 10].mean() > 100  # the green box is drawn
        assert hub.video_clients == 1
        close_stream(conn, resp)
        deadline = time.monotonic() + 10
        while hub.video_clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.video_clients == 0
    finally:
        stop.set()
        t.join()


def test_events_hello_state_and_end(server):
    hub = server.hub
    img = np.zeros((90, 120, 3), np.uint8)
    hub(result(0), img)
    conn, resp = open_stream("127.0.0.1", server.port, "/events")
    try:
        assert resp.getheader("Content-Type").startswith("text/event-stream")
        name, hello = read_event(resp)
        assert name == "hello" and hello["labels"] == list(LABELS) and hello["window"] == 300
        assert hello["timeline"][0]["faces"] == 1
        hub(result(1, happy=0.2), img)
        hub.end()
        events = []
        while not events or events[-1][0] != "end":
            events.append(read_event(resp))
            assert len(events) < 10
        name, state = events[-2]
        assert name == "state" and state["frames"] == 2 and state["frame"] == 1
        assert state["faces"][0]["label"] == "sad" and state["faces"][0]["id"] == 1
        assert sum(b["faces"] for b in state["buckets"]) == 2
    finally:
        close_stream(conn, resp)


def test_a_client_that_stops_reading_is_dropped_and_the_pipeline_goes_on(server):
    """Noise frames (large JPEGs) fill the socket buffers of a client that never reads; the
    observer keeps returning, and the client is dropped after `write_timeout`."""
    hub = server.hub
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), np.uint8)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
    try:
        frames, seen_client = 0, False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hub(result(frames), img)
            frames += 1
            seen_client = seen_client or hub.video_clients == 1
            if seen_client and hub.video_clients == 0:
                break
            time.sleep(0.01)
        assert seen_client and hub.video_clients == 0, "the stuck client was never dropped"
        assert hub.jpeg_seq > 1 and frames > hub.jpeg_seq
    finally:
        sock.close()


def test_a_loopback_server_answers_only_loopback_host_names(server):
    import http.client

    for host, want in (
        ("evil.example", 403),
        (f"evil.example:{server.port}", 403),
        (f"127.0.0.1:{server.port}", 200),
        (f"localhost:{server.port}", 200),
        (f"[::1]:{server.port}", 200),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/", headers={"Host": host})
        assert conn.getresponse().status == want, host
        conn.close()


def test_clients_beyond_the_bound_are_refused_at_once():
    srv = LiveServer("127.0.0.1", 0, LABELS, write_timeout=3.0, max_clients=3).start()
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
    try:
        time.sleep(0.3)  # three handler threads wait for requests that never come
        t0 = time.monotonic()
        status, _, body = get(base(srv) + "/healthz", timeout=5)
        assert status == 503 and body == b"too many clients\n"
        assert time.monotonic() - t0 < 1.0
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while get(base(srv) + "/healthz")[0] == 503 and time.monotonic() < deadline:
        time.sleep(0.1)  # a stalled hub says 503 too, but with its JSON
    assert get(base(srv) + "/healthz")[2] != b"too many clients\n"
    srv.close()


def test_close_disconnects_clients_and_joins_threads():
    before = set(threading.enumerate())
    srv = LiveServer("127.0.0.1", 0, LABELS).start()
    srv.hub(result(0), np.zeros((60, 80, 3), np.uint8))
    c1, r1 = open_stream("127.0.0.1", srv.port, "/stream.mjpg")
    c2, r2 = open_stream("127.0.0.1", srv.port, "/events")
    read_mjpeg_frame(r1)
    read_event(r2)
    srv.close()
    assert set(threading.enumerate()) <= before
    close_stream(c1, r1)
    close_stream(c2, r2)


def test_loop_source_replays_a_video(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (64, 48))
    for k in range(10):
        w.write(np.full((48, 64, 3), k * 20, np.uint8))
    w.release()
    src = LoopSource(CaptureSource(str(path), live=False))
    src.open()
    got = [src.read() for _ in range(25)]
    src.close()
    assert all(ok for ok, _ in got) and src.loops == 2 and src.fps == 20
    paced = LoopSource(CaptureSource(str(path), live=False), pace=True)
    paced.open()
    t0 = time.monotonic()
    got = [paced.read() for _ in range(21)]  # frame 20 is due 1 s after frame 0 at 20 fps
    elapsed = time.monotonic() - t0
    paced.close()
    assert all(ok for ok, _ in got) and 0.95 <= elapsed < 3.0


def test_run_serve_bad_address_and_port_in_use(tiny_onnx_model, video):
    r = CliRunner().invoke(
        app, ["run", "--video", str(video), "--model", str(tiny_onnx_model), "--serve", "nope"]
    )
    assert r.exit_code == 2 and "expected [HOST:]PORT" in r.output
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        r = CliRunner().invoke(
            app,
            [
                "run",
                "--video",
                str(video),
                "--model",
                str(tiny_onnx_model),
                "--serve",
                f"127.0.0.1:{port}",
            ],
        )
        assert r.exit_code == 2 and f"--serve 127.0.0.1:{port}" in r.output
        assert "Traceback" not in r.output
    finally:
        busy.close()


def test_run_quiet_prints_only_the_summary(tiny_onnx_model, video):
    r = CliRunner().invoke(
        app, ["run", "--video", str(video), "--model", str(tiny_onnx_model), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1].startswith("summary: 30 frames")
    assert len(r.stdout.splitlines()) == 1


def test_run_serve_end_to_end_one_line_per_event(tiny_onnx_model, video):
    """`edge-fer run --video VIDEO --loop --serve 127.0.0.1:0 --quiet` in its own process:
    the URL is announced, /healthz and /metrics answer, SIGTERM ends it cleanly, and every
    line on stderr is one `edge-fer:` event (journald)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli",
            "run",
            "--video",
            str(video),
            "--loop",
            "--model",
            str(tiny_onnx_model),
            "--serve",
            "127.0.0.1:0",
            "--quiet",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stderr.readline()
        m = re.search(r"live view at (http://127\.0\.0\.1:\d+/)", first)
        assert m, first
        url = m.group(1)
        deadline = time.monotonic() + 30
        while get_json(url + "healthz")["frames"] < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        h = get_json(url + "healthz")
        assert h["frames"] >= 30 and h["status"] == "ok" and h["camera"]["state"] == "ok"
        conn, resp = open_stream("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")), "/stream.mjpg")
        read_mjpeg_frame(resp)
        close_stream(conn, resp)
        assert b"edge_fer_frames_total" in get(url + "metrics")[2]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.startswith("summary: ") and len(out.splitlines()) == 1
    lines = [first.rstrip("\n")] + err.splitlines()
    assert all(line.startswith("edge-fer: ") for line in lines), lines
    assert any("video client 127.0.0.1 connected" in line for line in lines)
    assert lines[-1] == "edge-fer: stopped by signal"


def test_the_grafana_dashboard_queries_only_metrics_the_runtime_exports():
    doc = json.loads(
        (Path(__file__).resolve().parents[1] / "deploy/grafana/edge-fer-fleet.json").read_text()
    )
    hub = FrameHub(LABELS)
    hub(result(0, faces=1), np.zeros((60, 80, 3), np.uint8))
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in hub.prometheus().splitlines()
        if not line.startswith("#")
    }
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = set(re.findall(r"edge_fer_[a-z_]+", " ".join(exprs)))
    assert used and used <= exported, used - exported
    assert doc["templating"]["list"][0]["name"] == "instance"


def test_slow_request_heads_cannot_lock_out_monitoring():
    """Clients trickling one header byte at a time are cut at the head's deadline, so every
    slot is free again soon after and /healthz answers (issue 50 F6)."""
    srv = LiveServer("127.0.0.1", 0, LABELS, max_fps=50, write_timeout=0.5, max_clients=4).start()
    try:
        slow = []
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"G")
            slow.append(s)
        for _ in range(6):  # a byte every 0.25 s: each read is within the per-read timeout
            time.sleep(0.25)
            for s in slow:
                try:
                    s.sendall(b"E")
                except OSError:
                    pass
        status, _, body = get(f"http://127.0.0.1:{srv.port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"  # not a full house's 503
        for s in slow:
            s.close()
    finally:
        srv.close()
