"""Soak: the whole pipeline over a looped video for 10,000 frames with the live view serving
one client throughout and a second that hangs up half-way, while an annotated video, a CSV
timeline (both rotated by size, 3 segments kept) and JSON Lines are written. Resident memory
after warm-up must grow by less than 5 MB, no thread or file descriptor may leak, and every
kept segment must be readable.

Bounded: `EDGE_FER_SOAK_FRAMES` (default 10,000) frames of ../shared/samples/test.mp4 at
half size (the stream's cost is detection; half size keeps the run to about a minute).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from live_helpers import close_stream, open_stream, read_event, read_mjpeg_frame

from edge_runtime import EmotionRecognizer
from edge_runtime.outputs import CsvTimelineWriter, JsonLinesWriter, VideoSaver
from edge_runtime.rotation import Rotation, Segments
from edge_runtime.serve import LiveServer
from edge_runtime.stream_sources import FrameSource, LoopSource, video_source

pytestmark = [pytest.mark.soak, pytest.mark.shared]

FRAMES = int(os.environ.get("EDGE_FER_SOAK_FRAMES", "10000"))
WARMUP = max(FRAMES // 5, 100)
MB = 1024 * 1024


class HalfSize(FrameSource):
    """Another source's frames at half their size."""

    def __init__(self, inner: FrameSource) -> None:
        self.inner, self.name, self.live = inner, inner.name, inner.live

    @property
    def fps(self) -> float | None:  # type: ignore[override]
        return self.inner.fps

    def open(self) -> None:
        self.inner.open()

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, frame = self.inner.read()
        if not ok or frame is None:
            return False, None
        return True, cv2.resize(
            frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA
        )

    def close(self) -> None:
        self.inner.close()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def tasks() -> int:
    """OS threads of this process (Python's and native pools alike)."""
    return len(os.listdir("/proc/self/task"))


class Client:
    """Reads the MJPEG stream and the events of a live view in two threads until told to
    hang up (or the server ends)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.jpegs = 0
        self.events = 0
        self.hang_up = threading.Event()
        self.errors: list[BaseException] = []
        self._conns: list = []
        self.threads = [
            threading.Thread(target=self._run, args=(path,), daemon=True)
            for path in ("/stream.mjpg", "/events")
        ]

    def start(self) -> Client:
        for t in self.threads:
            t.start()
        return self

    def _run(self, path: str) -> None:
        conn, resp = open_stream("127.0.0.1", self.port, path, timeout=30)
        self._conns.append((conn, resp))
        try:
            while not self.hang_up.is_set():
                if path == "/events":
                    read_event(resp)
                    self.events += 1
                else:
                    read_mjpeg_frame(resp)
                    self.jpegs += 1
        except EOFError:
            pass  # the server closed the stream at the end of the run
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            close_stream(conn, resp)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive()


def run_soak(model: str, video: str, out: str) -> dict:
    """The soak itself, in the process that calls it, writing its outputs into `out`;
    returns the figures as a dict."""
    rec = EmotionRecognizer(model, detector="haar")
    gc.collect()
    threads_before, fds_before = set(threading.enumerate()), fds()
    source = LoopSource(video_source(video))
    stream = rec.stream(HalfSize(source), max_frames=FRAMES)
    folder = Path(out)
    rotations = {
        "csv": Rotation(max_bytes=MB // 8, keep=3),
        "mkv": Rotation(max_bytes=4 * MB, keep=3),
    }
    json_file = (folder / "soak.jsonl").open("w")
    writers = [
        CsvTimelineWriter(folder / "soak.csv", rec.labels, rotation=rotations["csv"]),
        VideoSaver(folder / "soak.mkv", 25.0, rotation=rotations["mkv"]),
        JsonLinesWriter(json_file),
    ]
    for w in writers:
        stream.observers.append(w.frame)
    server = LiveServer("127.0.0.1", 0, rec.labels, write_timeout=5.0).start()
    server.hub.attach(stream)
    stream.observers.append(server.hub)
    stays = Client(server.port).start()
    leaves = Client(server.port).start()
    marks: dict[str, dict] = {}
    series: list[tuple[int, float]] = []

    def measure() -> dict:
        gc.collect()
        return {
            "rss": rss(),
            "tasks": tasks(),
            "fds": fds(),
            "py_threads": threading.active_count(),
            "clients": (server.hub.video_clients, server.hub.event_clients),
        }

    def probe(result, image) -> None:
        n = stream.stats.frames
        if n == WARMUP:
            marks["warm"] = measure()
        elif n == FRAMES // 2:
            leaves.hang_up.set()
        elif n == FRAMES:
            marks["end"] = measure()
        if n % 1000 == 0:
            series.append((n, round(rss() / MB, 1)))

    stream.observers.append(probe)
    deadline = time.monotonic() + 30
    while (server.hub.video_clients, server.hub.event_clients) != (2, 2):
        assert time.monotonic() < deadline, "clients never connected"
        time.sleep(0.05)
    t0 = time.monotonic()
    for _ in stream:
        pass
    seconds = time.monotonic() - t0
    for w in writers:
        w.close()
    json_file.close()
    server.hub.end()
    server.close()
    stays.join()
    leaves.join()
    gc.collect()
    after = {"py_threads": set(threading.enumerate()), "fds": fds()}

    warm, end = marks["warm"], marks["end"]
    growth = (end["rss"] - warm["rss"]) / MB
    message = (
        f"soak: {stream.stats.frames} frames in {seconds:.0f} s "
        f"({stream.stats.frames / seconds:.0f} fps), {source.loops} loops of test.mp4; "
        f"RSS after warm-up ({WARMUP} frames) {warm['rss'] / MB:.1f} MB, at the end "
        f"{end['rss'] / MB:.1f} MB (growth {growth:+.2f} MB); OS threads "
        f"{warm['tasks']} -> {end['tasks']}, fds {warm['fds']} -> {end['fds']}, live "
        f"clients {warm['clients']} -> {end['clients']}; after close: Python threads "
        f"{len(after['py_threads'])} (before {len(threads_before)}), fds {after['fds']} "
        f"(before {fds_before}); streamed to the client that stayed: {stays.jpegs} "
        f"JPEGs, {stays.events} events; RSS MB by frame: {series}"
    )
    kept = {
        kind: [
            (p.name, p.stat().st_size)
            for p in Segments(folder / f"soak.{kind}", rotation).existing()
        ]
        for kind, rotation in rotations.items()
    }
    message += f"; kept segments: {kept}"
    return {
        "message": message,
        "frames": stream.stats.frames,
        "loops": source.loops,
        "kept": kept,
        "errors": [repr(e) for e in stays.errors + leaves.errors],
        "clients": [list(warm["clients"]), list(end["clients"])],
        "stays": [stays.jpegs, stays.events],
        "leaves": [leaves.jpegs, leaves.events],
        "growth_mb": growth,
        "tasks": [warm["tasks"], end["tasks"]],
        "fds": [warm["fds"], end["fds"]],
        "threads_back": after["py_threads"] == threads_before,
        "fds_back": [after["fds"], fds_before],
    }


def test_soak_looped_video_with_live_clients(tiny_onnx_model, shared_samples, capsys, tmp_path):
    """Run in a fresh process, as on a device: the test process holds TensorFlow and every
    other test's allocations, which would make its resident memory no measure of ours."""
    code = (
        "import json, sys; from test_soak import run_soak; "
        "print(json.dumps(run_soak(sys.argv[1], sys.argv[2], sys.argv[3])))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(tiny_onnx_model),
            str(shared_samples / "test.mp4"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    with capsys.disabled():
        print("\n" + r["message"])
    assert r["frames"] == FRAMES and r["loops"] >= FRAMES // 115 - 1
    assert not r["errors"], r["errors"]
    assert r["clients"] == [[2, 2], [1, 1]]  # the leaver was let go
    assert r["stays"][0] > r["leaves"][0] > 0 and r["stays"][1] > r["leaves"][1] > 0
    assert r["growth_mb"] < 5.0, f"RSS grew by {r['growth_mb']:.2f} MB after warm-up"
    # the leaver's two server threads and two sockets are gone, nothing else came
    assert r["tasks"][1] <= r["tasks"][0] - 2 and r["fds"][1] <= r["fds"][0] - 2
    assert r["threads_back"]
    assert r["fds_back"][0] == r["fds_back"][1]
    # rotation kept the newest 3 segments of each output, each one whole and readable
    assert [len(r["kept"]["csv"]), len(r["kept"]["mkv"])] == [3, 3]
    rows = []
    for name, _ in r["kept"]["csv"]:
        lines = (tmp_path / name).read_text().splitlines()
        assert lines[0].startswith("run,frame,timestamp,faces")
        rows += [int(line.split(",")[1]) for line in lines[1:]]
    # in order, and no frame lost between the kept segments, up to the last one
    assert rows == sorted(rows) and sorted(set(rows)) == list(range(rows[0], FRAMES))
    for name, _ in r["kept"]["mkv"]:
        cap = cv2.VideoCapture(str(tmp_path / name))
        assert cap.read()[0], f"{name} does not play"
        cap.release()
    assert len((tmp_path / "soak.jsonl").read_text().splitlines()) == FRAMES
