"""A Raspberry Pi's own camera (a CSI Camera Module driven by libcamera), which
`cv2.VideoCapture(0)` cannot read: `/dev/video0` there is the unicam or rp1-cfe node that
gives raw Bayer data, and the pip OpenCV wheels have no GStreamer for `libcamerasrc`.

- `--camera rpicam[:N]`: Raspberry Pi OS's `rpicam-vid` writes MJPEG to its stdout; the
  stream is split at JPEG markers and decoded with OpenCV. The child is supervised: when it
  exits the source reports its code and last stderr line and the reader restarts it with
  backoff, and it is ended with the run.
- `--camera picamera2[:N]`: the Picamera2 library (apt's python3-picamera2) when it can be
  imported, capture_array() in BGR as OpenCV wants.
"""

from __future__ import annotations

import collections
import importlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.stream_sources import FrameSource, SourceError

RPICAM = "rpicam-vid"
#: a bound on one JPEG frame of a camera stream: a stream that never ends a frame is refused,
#: memory stays flat
MAX_FRAME_BYTES = 8 << 20
SOI, EOI = b"\xff\xd8", b"\xff\xd9"
PI_CAMERA_NODES = ("unicam", "rp1-cfe", "bcm2835-isp", "pispbe")
V4L2_SYSFS = Path("/sys/class/video4linux")


class FrameTooLarge(Exception):
    """More bytes than MAX_FRAME_BYTES without the end of a JPEG frame."""


class MjpegSplitter:
    """Cuts a byte stream of concatenated JPEG images (MJPEG) into whole images."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The JPEG images `data` completes; FrameTooLarge for a frame beyond the bound."""
        self.buf += data
        out = []
        while True:
            start = self.buf.find(SOI)
            if start < 0:
                del self.buf[: max(0, len(self.buf) - 1)]  # keep a 0xFF that may start SOI
                return out
            end = self.buf.find(EOI, start + 2)
            if end < 0:
                del self.buf[:start]
                if len(self.buf) > self.max_frame_bytes:
                    self.buf.clear()
                    raise FrameTooLarge(
                        f"a frame longer than {self.max_frame_bytes >> 20} MiB without its end"
                    )
                return out
            out.append(bytes(self.buf[start : end + 2]))
            del self.buf[: end + 2]


def parse_pi_camera(camera: str) -> tuple[str, int] | None:
    """("rpicam" | "picamera2", index) for `--camera rpicam[:N]` / `picamera2[:N]`, else None;
    ValueError for a bad index."""
    kind, _, index = camera.strip().lower().partition(":")
    if kind not in ("rpicam", "picamera2"):
        return None
    if index and not index.isdigit():
        raise ValueError(f"--camera {camera}: the camera index after ':' must be a number")
    return kind, int(index or 0)


class RpicamSource(FrameSource):
    """Frames of `rpicam-vid --codec mjpeg -o -` (see the module's docstring)."""

    live = True
    close_while_reading = True  # terminating the child ends a read blocked on its pipe

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        command: str = RPICAM,
    ) -> None:
        self.index, self.command = index, command
        self.width, self.height = width or 640, height or 480
        self.fps = fps or 30.0
        self.name = f"Pi camera {index} (rpicam-vid)"
        self.proc: subprocess.Popen | None = None
        self.last_error: str | None = None
        self._splitter = MjpegSplitter()
        self._pending: collections.deque[bytes] = collections.deque()
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)

    def argv(self, exe: str) -> list[str]:
        return [
            exe,
            *("-t", "0", "-n", "--camera", str(self.index), "--codec", "mjpeg"),
            *("--width", str(self.width), "--height", str(self.height)),
            *("--framerate", f"{self.fps:g}", "-o", "-"),
        ]

    def open(self) -> None:
        self.close()
        exe = shutil.which(self.command)
        if exe is None:
            raise SourceError(
                f"{self.name}: {self.command} not found; Raspberry Pi OS ships it "
                "(sudo apt install rpicam-apps), or use --camera picamera2"
            )
        try:
            self.proc = subprocess.Popen(
                self.argv(exe),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C reaches the run, which ends the child
            )
        except OSError as e:
            raise SourceError(f"{self.name}: cannot start {exe} ({e})") from None
        self._splitter, self._pending = MjpegSplitter(), collections.deque()
        self._stderr.clear()
        self.last_error = None
        threading.Thread(
            target=self._drain_stderr, args=(self.proc,), name="edge-fer-rpicam", daemon=True
        ).start()

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            text = line.decode(errors="replace").strip()
            if text:
                self._stderr.append(text)

    def read(self) -> tuple[bool, np.ndarray | None]:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return False, None
        while True:
            while not self._pending:
                data = os.read(proc.stdout.fileno(), 1 << 16)
                if not data:
                    self.last_error = self._exit_reason(proc)
                    return False, None
                try:
                    self._pending.extend(self._splitter.feed(data))
                except FrameTooLarge as e:
                    self.last_error = str(e)
                    return False, None
            jpeg = self._pending.popleft()
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None and image.size:
                return True, image

    def _exit_reason(self, proc: subprocess.Popen) -> str:
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        said = self._stderr[-1] if self._stderr else "nothing on stderr"
        return f"{self.command} exited with code {code}: {said}"

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


class Picamera2Source(FrameSource):
    """Frames of the Picamera2 library (see the module's docstring)."""

    live = True

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        self.index = index
        self.size = (width or 640, height or 480)
        self.fps = fps
        self.name = f"Pi camera {index} (picamera2)"
        self.camera = None

    def open(self) -> None:
        self.close()
        try:
            module = importlib.import_module("picamera2")
        except ImportError:
            raise SourceError(
                f"{self.name}: the picamera2 module is not importable; on Raspberry Pi OS "
                "install it with `sudo apt install python3-picamera2` and make the virtualenv "
                "with `python3 -m venv --system-site-packages`, or use --camera rpicam"
            ) from None
        try:
            camera = module.Picamera2(self.index)
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            config = camera.create_video_configuration(
                main={"size": self.size, "format": "RGB888"}, controls=controls
            )
            camera.configure(config)
            camera.start()
        except Exception as e:  # the library raises RuntimeError, IndexError, OSError...
            raise SourceError(f"{self.name}: cannot start it ({type(e).__name__}: {e})") from None
        self.camera = camera

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.camera is None:
            return False, None
        try:
            frame = self.camera.capture_array()  # "RGB888" is B, G, R in memory: OpenCV's BGR
        except Exception:
            return False, None
        if frame is None or frame.size == 0:
            return False, None
        return True, np.ascontiguousarray(frame[..., :3])

    def close(self) -> None:
        camera, self.camera = self.camera, None
        if camera is not None:
            for step in ("stop", "close"):
                try:
                    getattr(camera, step)()
                except Exception:
                    pass


def pi_camera_hint(target: int | str) -> str | None:
    """For `--camera N` that failed: a hint when /dev/videoN is a Pi camera's libcamera node
    (raw Bayer data OpenCV cannot use), else None."""
    node = Path(str(target)).name if not isinstance(target, int) else f"video{target}"
    try:
        name = (V4L2_SYSFS / node / "name").read_text().strip().lower()
    except OSError:
        return None
    if any(n in name for n in PI_CAMERA_NODES):
        return (
            f"/dev/{node} is a Raspberry Pi camera's libcamera node ({name}), which OpenCV "
            "cannot read: use --camera rpicam (rpicam-vid) or --camera picamera2"
        )
    return None
