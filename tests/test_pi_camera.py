"""A Raspberry Pi's camera module: `--camera rpicam` through a stand-in `rpicam-vid` on PATH
(one that streams MJPEG, one that dies), `--camera picamera2` through a stand-in `picamera2`
module, the MJPEG splitter and the hint for a libcamera node."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLES
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.pi_camera import FrameTooLarge, MjpegSplitter, Picamera2Source, RpicamSource
from edge_runtime.stream_sources import SourceError


def _jpegs(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        img = np.full((48, 64, 3), 20 * i % 255, np.uint8)
        cv2.putText(img, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        out.append(cv2.imencode(".jpg", img)[1].tobytes())
    return out


def test_the_splitter_cuts_mjpeg_at_jpeg_markers_in_any_chunking():
    frames = _jpegs(6)
    stream = b"junk" + b"".join(frames) + b"\xff"
    rng = np.random.default_rng(0)
    for _ in range(5):
        splitter, got, pos = MjpegSplitter(), [], 0
        while pos < len(stream):
            step = int(rng.integers(1, 700))
            got += splitter.feed(stream[pos : pos + step])
            pos += step
        assert got == frames
    endless = MjpegSplitter(max_frame_bytes=1000)
    with pytest.raises(FrameTooLarge):
        endless.feed(b"\xff\xd8" + b"\x00" * 2000)
    assert len(endless.buf) == 0  # memory stays flat


STAND_IN = """#!{python}
import sys, time, cv2, numpy as np
with open({args!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
video = {video!r}
cap = cv2.VideoCapture(video) if video else None
for i in range({frames}):
    ok, img = cap.read() if cap is not None else (False, None)
    if not ok:
        img = np.full((240, 320, 3), (i * 37) % 255, np.uint8)
    sys.stdout.buffer.write(cv2.imencode(".jpg", img)[1].tobytes())
    sys.stdout.buffer.flush()
    time.sleep(0.005)
{ending}
"""


def _stand_in(tmp_path: Path, frames: int, ending: str) -> tuple[dict, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    args = tmp_path / "args.txt"
    video = SAMPLES / "test.mp4"
    script = bin_dir / "rpicam-vid"
    script.write_text(
        STAND_IN.format(
            python=sys.executable,
            args=str(args),
            video=str(video) if video.is_file() else "",
            frames=frames,
            ending=ending,
        )
    )
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env, args


def test_run_reads_the_pi_camera_through_rpicam_vid(tmp_path, tiny_onnx_model, monkeypatch):
    env, args = _stand_in(tmp_path, 40, "time.sleep(60)")
    monkeypatch.setenv("PATH", env["PATH"])
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--camera",
            "rpicam:1",
            "--model",
            str(tiny_onnx_model),
            "--max-frames",
            "20",
            "--json",
            "--width",
            "320",
            "--height",
            "240",
            "--fps",
            "15",
        ],
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.strip().splitlines()]
    frames = [d for d in lines if "frame" in d]
    assert len(frames) == 20 and lines[-1]["summary"]["frames"] == 20
    argv = args.read_text().split()
    for flag, value in (
        ("--camera", "1"),
        ("--codec", "mjpeg"),
        ("--width", "320"),
        ("--height", "240"),
        ("--framerate", "15"),
        ("-o", "-"),
        ("-t", "0"),
    ):
        assert argv[argv.index(flag) + 1] == value


def test_a_dying_rpicam_vid_is_restarted_and_its_reason_reported(tmp_path, monkeypatch):
    ending = 'sys.stderr.write("ERROR: *** no cameras available ***\\n"); sys.exit(3)'
    env, args = _stand_in(tmp_path, 4, ending)
    monkeypatch.setenv("PATH", env["PATH"])
    from edge_runtime.recognizer import EmotionRecognizer

    events: list[str] = []
    rec = EmotionRecognizer(detector="none")
    stream = rec.stream(RpicamSource(0), max_frames=10, on_event=events.append)
    stream.reader_backoff = (0.01, 0.02)
    assert sum(1 for _ in stream) == 10
    assert stream.summary()["reopens"] >= 2 and len(args.read_text().splitlines()) >= 3
    assert any("exited with code 3: ERROR: *** no cameras available ***" in e for e in events)


def test_rpicam_missing_is_one_line_with_the_fix(tmp_path, monkeypatch, tiny_onnx_model):
    monkeypatch.setenv("PATH", str(tmp_path))  # no rpicam-vid anywhere
    res = CliRunner().invoke(
        app, ["run", "--camera", "rpicam", "--model", str(tiny_onnx_model), "--max-frames", "1"]
    )
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "rpicam-vid not found" in res.output and "apt install rpicam-apps" in res.output
    res = CliRunner().invoke(app, ["run", "--camera", "rpicam:x", "--max-frames", "1"])
    assert res.exit_code == 2 and "must be a number" in res.output


PICAMERA2 = """
import numpy as np

calls = []


class Picamera2:
    def __init__(self, index=0):
        calls.append(("init", index))
        self.n = 0

    def create_video_configuration(self, main, controls=None):
        calls.append(("config", main, controls))
        return {"main": main}

    def configure(self, config):
        self.size = config["main"]["size"]

    def start(self):
        calls.append(("start",))

    def capture_array(self):
        self.n += 1
        w, h = self.size
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = 200  # blue, in OpenCV's order
        return frame

    def stop(self):
        calls.append(("stop",))

    def close(self):
        calls.append(("close",))
"""


def test_picamera2_frames_come_in_bgr(tmp_path, monkeypatch):
    (tmp_path / "picamera2.py").write_text(textwrap.dedent(PICAMERA2))
    monkeypatch.syspath_prepend(str(tmp_path))
    source = Picamera2Source(1, 320, 240, 20)
    source.open()
    ok, frame = source.read()
    source.close()
    import picamera2

    assert ok and frame.shape == (240, 320, 3) and frame[0, 0].tolist() == [200, 0, 0]
    assert ("init", 1) in picamera2.calls and ("stop",) in picamera2.calls
    assert ("config", {"size": (320, 240), "format": "RGB888"}, {"FrameRate": 20.0}) in (
        picamera2.calls
    )


def test_picamera2_missing_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    with pytest.raises(SourceError, match="apt install python3-picamera2.*system-site-packages"):
        Picamera2Source().open()


def test_a_failing_camera_that_is_a_libcamera_node_points_to_rpicam(tmp_path, monkeypatch):
    import edge_runtime.pi_camera as pi_camera

    (tmp_path / "video0").mkdir()
    (tmp_path / "video0" / "name").write_text("unicam-image\n")
    monkeypatch.setattr(pi_camera, "V4L2_SYSFS", tmp_path)
    from edge_runtime.stream_sources import CaptureSource

    source = CaptureSource(0, live=True, name="camera 0", opener=lambda t: None)
    with pytest.raises(SourceError, match="use --camera rpicam .* or --camera picamera2"):
        source.open()
    assert pi_camera.pi_camera_hint("/dev/video1") is None  # no such node here


def test_a_silent_rpicam_vid_is_ended_with_the_run(tmp_path, monkeypatch):
    """A child that writes nothing leaves the reader blocked on its pipe: closing the stream
    still ends the child, which would otherwise outlive the run."""
    env, _ = _stand_in(tmp_path, 0, "time.sleep(600)")
    monkeypatch.setenv("PATH", env["PATH"])
    from edge_runtime.stream_sources import FrameReader

    source = RpicamSource(0)
    reader = FrameReader(source).start()
    proc = source.proc
    time.sleep(0.5)
    reader.close()
    assert proc.wait(timeout=10) is not None
