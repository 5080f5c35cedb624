"""Stream sources (camera, video file or URL, the demo) and the thread that reads them.

`FrameReader` reads frames in its own thread into a bounded queue. For a live source the
oldest queued frame is dropped when the consumer falls behind (a camera must stay live);
for files nothing is dropped (the reader waits). A live source that stops delivering is
closed and reopened with exponential backoff until it works again or the run is stopped.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_runtime.demo import DEMO_PHOTO, pan_zoom_frames, render_view
from edge_runtime.errors import EdgeFerError

LIVE_URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "udp", "tcp", "srt")


class SourceError(EdgeFerError):
    """A stream source that cannot be opened (exit code 2 in the CLI)."""


class FrameSource:
    """Something that delivers frames: `open()`, `read()` -> (ok, frame), `close()`."""

    name: str = "source"
    live: bool = False  # live: drop stale frames and reopen on failure; files: neither
    fps: float | None = None

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> tuple[bool, np.ndarray | None]:
        raise NotImplementedError

    def position(self) -> float | None:
        """Seconds into the media of the frame just read (files), None for live sources."""
        return None

    def close(self) -> None:
        pass


class CaptureSource(FrameSource):
    """A camera, video file or stream URL read by `cv2.VideoCapture` (or a stand-in
    `opener`, e.g. for tests). `live=None` decides when it opens: live when it has no length
    (an http MJPEG camera), else read once like a file; `note` then says which."""

    def __init__(
        self,
        target: int | str,
        live: bool | None,
        name: str | None = None,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        opener: Callable[[int | str], Any] = cv2.VideoCapture,
    ) -> None:
        self.target = target
        self.live = bool(live)
        self.auto_live = live is None
        self.note: str | None = None
        self.name = name or str(target)
        self.width, self.height, self.want_fps = width, height, fps
        self.opener = opener
        self.cap: Any = None
        self.fps = None

    def open(self) -> None:
        self.close()
        try:
            cap = self.opener(self.target)
        except Exception as e:  # cv2 raises cv2.error for some bad targets
            raise SourceError(f"cannot open {self.name} ({e})") from None
        if cap is None or not cap.isOpened():
            raise SourceError(f"cannot open {self.name}: {self._why_not()}")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.want_fps:
            cap.set(cv2.CAP_PROP_FPS, self.want_fps)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        self.cap = cap
        if self.auto_live and self.note is None:
            self.live = not cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
            self.note = (
                f"{self.name} has no length: read as a live stream, reopened if it drops "
                "(--no-live reads it once)"
                if self.live
                else f"{self.name} has a length: read once like a file (--live to keep it open)"
            )

    def _why_not(self) -> str:
        """Why OpenCV could not open the target, as far as can be told from outside."""
        from edge_runtime.image_io import video_container
        from edge_runtime.pi_camera import pi_camera_hint

        target = self.target
        if isinstance(target, int) or str(target).startswith("/dev/"):
            hint = pi_camera_hint(target)
            if hint:
                return hint
            return camera_help(target)
        if "://" in str(target):
            return (
                "the stream did not answer or OpenCV's FFmpeg cannot read it (--verbose "
                "shows its log)"
            )
        try:
            with open(target, "rb") as f:
                head = f.read(512)
        except OSError as e:
            return e.strerror or str(e)
        container = video_container(head)
        if container:
            return f"a {container} file whose codec OpenCV's FFmpeg lacks, or a broken one"
        if head and all(32 <= b < 127 or b in b"\r\n\t" for b in head):
            return "a text file, not a video"
        return "not a video format OpenCV's FFmpeg can read"

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.cap is None:
            return False, None
        try:
            ok, frame = self.cap.read()
        except cv2.error:
            return False, None
        if not ok or frame is None or frame.size == 0:
            return False, None
        return True, frame

    def position(self) -> float | None:
        if self.live or self.cap is None:
            return None
        ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000.0 if ms and ms > 0 else None

    def close(self) -> None:
        if self.cap is not None:
            try:
                self.cap.release()
            finally:
                self.cap = None


class DemoSource(FrameSource):
    """A simulated camera: a photo panned and zoomed over `frames` frames at `fps`."""

    def __init__(
        self,
        photo: np.ndarray | str | Path | None = None,
        frames: int = 150,
        fps: float = 25.0,
        size: tuple[int, int] = (480, 360),
    ) -> None:
        self.name = "demo"
        self.live = False
        self.fps = fps
        self.frames = frames
        self.size = size
        self._photo_arg = photo
        self._photo: np.ndarray | None = None
        self._path: list[tuple[float, float, float]] = []
        self._i = 0

    def open(self) -> None:
        photo = self._photo_arg
        if photo is None:
            photo = DEMO_PHOTO
        if not isinstance(photo, np.ndarray):
            img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"cannot read demo photo {photo}")
            self.name = f"demo:{Path(photo).name}"
            photo = img
        self._photo = photo
        self._path = pan_zoom_frames(photo, self.frames, self.size)
        self._i = 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._photo is None or self._i >= len(self._path):
            return False, None
        cx, cy, zoom = self._path[self._i]
        self._i += 1
        return True, render_view(self._photo, cx, cy, zoom, self.size)

    def position(self) -> float | None:
        return (self._i - 1) / self.fps if self.fps else None


class LoopSource(FrameSource):
    """Replays a finite source (a video file) from the start each time it ends. Timestamps
    keep increasing across the loops (frames read / fps). For kiosks, demos and soak tests.

    With `pace`, frames come no faster than the source's frame rate, as from the camera the
    file stands in for; without, as fast as they are asked for (benchmarks, soaks)."""

    def __init__(self, inner: FrameSource, pace: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.live = False
        self.loops = 0
        self.pace = pace
        self._t0 = 0.0
        self._n = 0

    @property
    def fps(self) -> float | None:  # type: ignore[override]
        return self.inner.fps

    def open(self) -> None:
        self.inner.open()
        self.loops = 0
        self._t0, self._n = time.monotonic(), 0

    def read(self) -> tuple[bool, np.ndarray | None]:
        ok, frame = self.inner.read()
        if not ok:
            self.inner.close()
            self.inner.open()
            ok, frame = self.inner.read()
            if ok:
                self.loops += 1
        if ok and self.pace and self.fps:
            wait = self._t0 + self._n / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._n += 1
        return ok, frame  # an empty source ends instead of spinning

    def close(self) -> None:
        self.inner.close()


def camera_help(target: int | str) -> str:
    """What to check when a camera does not open: which devices exist, whether this user may
    read them."""
    devices = sorted(str(p) for p in Path("/dev").glob("video*"))
    node = Path(f"/dev/video{target}") if isinstance(target, int) else Path(str(target))
    if node.exists() and not os.access(node, os.R_OK | os.W_OK):
        return (
            f"no permission on {node}: add the user to the video group (sudo usermod -aG "
            "video $USER, then log in again)"
        )
    if not devices:
        return "no /dev/video* device on this machine (is the camera plugged in?)"
    return (
        f"devices here: {', '.join(devices)} (a USB camera often has two, the first for "
        "frames); --verbose shows OpenCV's own reason"
    )


def camera_source(
    camera: str, width: int | None = None, height: int | None = None, fps: float | None = None
) -> FrameSource:
    """`--camera 0`, `--camera /dev/video2`, or a Raspberry Pi camera module through
    `--camera rpicam[:N]` / `picamera2[:N]` (edge_runtime.pi_camera), as a live source."""
    from edge_runtime import pi_camera

    try:
        pi = pi_camera.parse_pi_camera(camera)
    except ValueError as e:
        raise SourceError(str(e)) from None
    if pi is not None:
        kind, index = pi
        cls = pi_camera.RpicamSource if kind == "rpicam" else pi_camera.Picamera2Source
        return cls(index, width, height, fps)
    target: int | str = int(camera) if camera.strip().isdigit() else camera
    if isinstance(target, str):
        try:
            mode = os.stat(target).st_mode
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISCHR(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a device"
            raise SourceError(
                f"--camera {camera}: {kind}, not a camera (a video file goes to --video)"
            )
    name = f"camera {camera}"
    return CaptureSource(target, live=True, name=name, width=width, height=height, fps=fps)


def video_source(video: str, live: bool | None = None) -> CaptureSource:
    """`--video PATH_OR_URL`: files are read completely; RTSP-like URLs are live; an http(s)
    URL is live when it has no length (an MJPEG camera), unless `live` says otherwise."""
    scheme = urllib.parse.urlsplit(video).scheme.lower() if "://" in video else ""
    if not scheme:
        p = Path(video).expanduser()
        if p.is_dir():
            raise SourceError(
                f"{video}: a directory, not a video file (`edge-fer predict DIR` reads the "
                "images in a folder)"
            )
        if not p.is_file():
            raise SourceError(f"{video}: no such video file")
        video = str(p)
    if not scheme:
        live = False
    elif live is None and scheme in LIVE_URL_SCHEMES:
        live = True
    return CaptureSource(video, live=live, name=video)  # http(s) with live None: on opening


@dataclass
class Frame:
    """A frame as delivered by the reader thread."""

    index: int  # frames read from the source so far (gaps = frames dropped)
    image: np.ndarray
    timestamp: float  # seconds since the stream started


class _End:
    pass


END = _End()


class FrameReader:
    """Reads `source` in a thread into a bounded queue; iterate `get()` until it returns None.

    `on_event(message)` is told about drops of a live source and each reopen attempt.
    """

    def __init__(
        self,
        source: FrameSource,
        queue_size: int | None = None,
        on_event: Callable[[str], None] | None = None,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        self.source = source
        size = queue_size or (2 if source.live else 16)
        self._auto_size = queue_size is None
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.on_event = on_event or (lambda message: None)
        self.backoff = backoff
        self.stop_event = threading.Event()
        self.dropped = 0
        self.reopens = 0
        self.read_count = 0
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.error: BaseException | None = None

    def start(self) -> FrameReader:
        """Open the source (SourceError if it cannot) and start the reading thread."""
        self.source.open()
        note = getattr(self.source, "note", None)
        if note:
            self.on_event(note)
        if self._auto_size and self.source.live:  # a source that decided to be live on opening
            self.queue = queue.Queue(maxsize=2)
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="edge-fer-reader", daemon=True)
        self._thread.start()
        return self

    def _put(self, item: Frame | _End) -> None:
        if self.source.live and isinstance(item, Frame):
            while True:
                try:
                    self.queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        while not self.stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _reopen(self) -> bool:
        """Reopen a live source with backoff; False when stopped before it worked."""
        first, most = self.backoff
        attempt = 0
        why = getattr(self.source, "last_error", None)
        self.on_event(
            f"{self.source.name} stopped delivering frames"
            + (f" ({why})" if why else "")
            + "; reopening"
        )
        while not self.stop_event.is_set():
            delay = min(first * (2**attempt), most)
            attempt += 1
            self.source.close()
            if self.stop_event.wait(delay):
                return False
            try:
                self.source.open()
            except SourceError as e:
                self.on_event(
                    f"reopen attempt {attempt} failed ({e}); next in "
                    f"{min(first * 2**attempt, most):g} s"
                )
                continue
            ok, frame = self.source.read()
            if ok and frame is not None:
                self.reopens += 1
                self.on_event(f"{self.source.name} reopened after {attempt} attempt(s)")
                self._deliver(frame)
                return True
            self.on_event(f"reopen attempt {attempt}: opened but no frame; retrying")
        return False

    def _deliver(self, frame: np.ndarray) -> None:
        pos = self.source.position()
        if pos is None:
            pos = (
                self.read_count / self.source.fps
                if not self.source.live and self.source.fps
                else time.monotonic() - self._t0
            )
        self._put(Frame(self.read_count, frame, pos))
        self.read_count += 1

    def _run(self) -> None:
        try:
            while not self.stop_event.is_set():
                ok, frame = self.source.read()
                if ok and frame is not None:
                    self._deliver(frame)
                    continue
                if not self.source.live or not self._reopen():
                    break
        except BaseException as e:  # reported to the consumer, never lost in the thread
            self.error = e
        finally:
            self._put_end()

    def _put_end(self) -> None:
        while True:
            try:
                self.queue.put_nowait(END)
                return
            except queue.Full:
                if self.stop_event.is_set() or self.source.live:
                    try:
                        self.queue.get_nowait()
                    except queue.Empty:
                        pass
                else:
                    time.sleep(0.01)

    def get(
        self, stop: threading.Event | None = None, deadline: float | None = None
    ) -> Frame | None:
        """The next frame, or None at the end of the source, when `stop` is set or when
        `time.monotonic()` passes `deadline`."""
        while True:
            if stop is not None and stop.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                if self.error is not None:
                    raise self.error
                return None
            return item

    def close(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            if self._thread.is_alive():  # stuck in a driver call: never release under it
                if getattr(self.source, "close_while_reading", False):
                    self.source.close()  # a child process: ending it ends the read
                return
        self.source.close()
