"""Stream reading: live sources drop stale frames and reopen after failures; files never drop."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_runtime.stream_sources import (
    CaptureSource,
    DemoSource,
    FrameReader,
    SourceError,
    camera_source,
    video_source,
)


class FakeCapture:
    """A cv2.VideoCapture stand-in delivering numbered frames; `fail_after` frames then none."""

    def __init__(self, frames: int | None = None, fail_after: int | None = None, delay=0.0):
        self.frames, self.fail_after, self.delay = frames, fail_after, delay
        self.n = 0
        self.released = False

    def isOpened(self):
        return True

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        if self.delay:
            time.sleep(self.delay)
        if self.released or (self.fail_after is not None and self.n >= self.fail_after):
            return False, None
        if self.frames is not None and self.n >= self.frames:
            return False, None
        self.n += 1
        return True, np.full((4, 4, 3), self.n % 256, np.uint8)

    def release(self):
        self.released = True


class ClosedCapture(FakeCapture):
    def isOpened(self):
        return False


def drain(reader, limit=10_000, pause=0.0):
    frames = []
    while len(frames) < limit:
        f = reader.get()
        if f is None:
            break
        frames.append(f)
        if pause:
            time.sleep(pause)
    return frames


def test_camera_that_stops_is_reopened_with_backoff_and_reported():
    opened = []

    def opener(target):
        opened.append(target)
        if len(opened) == 2:  # the first reopen attempt fails
            return ClosedCapture()
        return FakeCapture(fail_after=5)

    events = []
    src = CaptureSource(0, live=True, name="camera 0", opener=opener)
    reader = FrameReader(src, queue_size=1000, on_event=events.append, backoff=(0.01, 0.05))
    reader.start()
    frames = drain(reader, limit=12)
    reader.close()
    assert len(frames) == 12
    assert [f.index for f in frames] == list(range(12))
    assert reader.reopens >= 2
    assert any("stopped delivering" in e for e in events)
    assert any("reopen attempt 1 failed" in e for e in events)
    assert any("reopened" in e for e in events)


def test_live_source_drops_the_oldest_frames_when_the_consumer_is_slow():
    src = CaptureSource(0, live=True, opener=lambda t: FakeCapture(delay=0.001))
    reader = FrameReader(src, queue_size=2, backoff=(10, 10))
    reader.start()
    got = drain(reader, limit=15, pause=0.02)
    reader.close()
    assert reader.dropped > 0
    assert all(b.index > a.index for a, b in zip(got[:-1], got[1:], strict=True))


def test_file_source_never_drops():
    src = CaptureSource("x.mp4", live=False, opener=lambda t: FakeCapture(frames=40))
    reader = FrameReader(src, queue_size=2)
    reader.start()
    got = drain(reader, pause=0.001)
    reader.close()
    assert [f.index for f in got] == list(range(40))
    assert reader.dropped == 0


def test_source_that_cannot_open():
    src = CaptureSource(3, live=True, name="camera 3", opener=lambda t: ClosedCapture())
    with pytest.raises(SourceError, match="cannot open camera 3"):
        FrameReader(src).start()


def test_missing_video_file(tmp_path):
    with pytest.raises(SourceError, match="no such video file"):
        video_source(str(tmp_path / "nope.mp4"))
    assert video_source("rtsp://cam.local/stream").live
    assert camera_source("2").target == 2
    assert camera_source("/dev/video2").target == "/dev/video2"


def test_demo_source_pans_over_a_photo():
    photo = np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8)
    src = DemoSource(photo, frames=6, size=(160, 120))
    reader = FrameReader(src).start()
    frames = drain(reader)
    reader.close()
    assert len(frames) == 6 and frames[0].image.shape == (120, 160, 3)
    assert not np.array_equal(frames[0].image, frames[3].image)


def test_what_cannot_be_opened_says_why(tmp_path, monkeypatch):
    from edge_runtime.stream_sources import CaptureSource, SourceError, video_source

    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    with pytest.raises(SourceError, match="a text file, not a video"):
        CaptureSource(str(text), live=False).open()
    with pytest.raises(SourceError, match="a directory, not a video file"):
        video_source(str(tmp_path))
    import edge_runtime.stream_sources as ss

    monkeypatch.setattr(ss.Path, "glob", lambda self, pattern: iter([]))
    camera = CaptureSource(7, live=True, name="camera 7", opener=lambda t: None)
    with pytest.raises(SourceError, match="no /dev/video. device on this machine"):
        camera.open()


def test_predict_on_a_video_points_to_run(tmp_path):
    from edge_runtime.image_io import ImageError, decode_image

    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
    with pytest.raises(ImageError, match=r"a video \(MP4/MOV\), not an image: use `edge-fer run"):
        decode_image(mp4)


def test_a_camera_that_is_a_fifo_or_a_file_is_refused_without_opening_it(tmp_path):
    import os

    from edge_runtime.stream_sources import SourceError, camera_source

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="a FIFO, not a camera"):
        camera_source(str(fifo))
    (tmp_path / "clip.mp4").write_bytes(b"x")
    with pytest.raises(SourceError, match="not a device, not a camera .* --video"):
        camera_source(str(tmp_path / "clip.mp4"))
