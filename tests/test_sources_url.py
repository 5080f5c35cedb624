"""URLs against a server on 127.0.0.1: images (good, 404, wrong type, too big, too slow) and
an http MJPEG camera that hangs up, read live with `run --live`."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.image_io import ImageError
from edge_runtime.image_sources import ImageInput, fetch_url

GOOD = cv2.imencode(".png", np.full((32, 32), 200, np.uint8))[1].tobytes()


def _clip(frames: int = 12) -> bytes:
    """A small MJPG .avi: a video file with a length, as a web server would serve one."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/clip.avi"
        w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
        for i in range(frames):
            w.write(np.full((48, 64, 3), 20 * i % 256, np.uint8))
        w.release()
        with open(path, "rb") as f:
            return f.read()


CLIP = _clip()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, ctype, body, length=True):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _mjpeg(self, frames: int) -> None:
        """An IP camera's multipart JPEG stream that hangs up after `frames` frames."""
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for i in range(frames):
            jpg = cv2.imencode(".jpg", np.full((48, 64, 3), 8 * i % 256, np.uint8))[1].tobytes()
            self.wfile.write(
                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                + str(len(jpg)).encode()
                + b"\r\n\r\n"
                + jpg
                + b"\r\n"
            )
            time.sleep(0.01)

    def _trickle(self, headers: bool) -> None:
        """A server that sends one byte every 0.1 s, of its headers or of its body, for up
        to 3 s: each read gets a byte long before any per-read timeout."""
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
            + str(len(GOOD)).encode()
            + b"\r\n\r\n"
        )
        if not headers:
            self.wfile.write(head)
        try:
            for byte in (head + GOOD if headers else GOOD)[:30]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client gave up, as it should

    def do_GET(self):
        if self.path == "/camera.mjpg":
            self._mjpeg(20)
        elif self.path == "/good.png":
            self._send(200, "image/png", GOOD)
        elif self.path == "/clip.avi":
            self._send(200, "video/x-msvideo", CLIP)
        elif self.path == "/page":
            self._send(200, "text/html; charset=utf-8", b"<html></html>")
        elif self.path == "/big.png":
            self._send(200, "image/png", b"\0" * 5000)
        elif self.path == "/big-unannounced.png":
            self.close_connection = True
            self._send(200, "image/png", b"\0" * 5000, length=False)
        elif self.path == "/slow.png":
            time.sleep(2.0)
            self._send(200, "image/png", GOOD)
        elif self.path in ("/trickle-body.png", "/trickle-headers.png"):
            self._trickle(headers=self.path == "/trickle-headers.png")
        elif self.path in ("/to-ftp.png", "/loop.png"):
            self.send_response(302)
            where = "ftp://127.0.0.1/x.png" if self.path == "/to-ftp.png" else "/loop.png"
            self.send_header("Location", where)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/not-really.png":
            self._send(200, "image/png", b"plain text")
        else:
            self._send(404, "text/plain", b"nope")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up (a trickle cut at its deadline) is expected here; printing
        its broken pipe would land in the output of whichever CLI test runs meanwhile."""


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_good_image(server):
    img = ImageInput(server + "/good.png", url=server + "/good.png").load(timeout=5)
    assert img.shape == (32, 32)


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/missing.png", "HTTP 404"),
        ("/page", "not an image \\(content type text/html\\)"),
        ("/big.png", "too large"),
        ("/big-unannounced.png", "too large"),
        ("/slow.png", "timed out after 0.5 s"),
    ],
)
def test_bad_urls(server, path, reason):
    with pytest.raises(ImageError, match=reason):
        fetch_url(server + path, timeout=0.5, max_bytes=1000)


@pytest.mark.parametrize("path", ["/trickle-body.png", "/trickle-headers.png"])
def test_the_timeout_is_a_deadline_for_the_whole_fetch(server, path):
    t0 = time.monotonic()
    with pytest.raises(ImageError, match="timed out after 0.5 s"):
        fetch_url(server + path, timeout=0.5, max_bytes=100_000)
    assert time.monotonic() - t0 < 2.0  # the trickle would take 3 s


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/to-ftp.png", "redirected to an unsupported 'ftp' URL"),
        (
            "/loop.png",
            "HTTP 302 The HTTP server returned a redirect error that would lead to an "
            "infinite loop.",
        ),
    ],
)
def test_redirects_go_to_http_only_and_a_loop_is_one_line(server, path, reason):
    with pytest.raises(ImageError) as err:
        fetch_url(server + path, timeout=5)
    assert str(err.value) == reason


def test_body_that_is_not_an_image(server):
    item = ImageInput(server + "/not-really.png", url=server + "/not-really.png")
    with pytest.raises(ImageError, match="not an image"):
        item.load(timeout=5)


def test_refused_connection():
    with pytest.raises(ImageError, match="cannot fetch"):
        fetch_url("http://127.0.0.1:9/x.png", timeout=2)


def test_only_http_and_https():
    with pytest.raises(ImageError, match="only http and https"):
        fetch_url("file:///etc/passwd")


def test_http_camera_is_read_live_and_reopened_when_it_hangs_up(server, tiny_onnx_model):
    url = f"{server}/camera.mjpg"
    args = ["run", "--model", str(tiny_onnx_model), "--video", url, "--detector", "none", "--json"]
    for live in ([], ["--live"]):  # a stream without a length is live unless told otherwise
        res = CliRunner().invoke(app, [*args, *live, "--max-frames", "30"])
        assert res.exit_code == 0, res.output
        assert '"frames": 30' in res.output.splitlines()[-1]
        assert "stopped delivering frames; reopening" in res.stderr and "reopened" in res.stderr
        assert ("has no length: read as a live stream" in res.stderr) == (not live)
    res = CliRunner().invoke(app, [*args, "--no-live", "--max-frames", "30"])
    assert res.exit_code == 0, res.output  # told not live: read once, ends with the stream
    assert '"frames": 20' in res.output.splitlines()[-1]


def test_a_video_file_served_over_http_is_read_once(server, tiny_onnx_model):
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--model",
            str(tiny_onnx_model),
            "--video",
            f"{server}/clip.avi",
            "--detector",
            "none",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert '"frames": 12' in res.output.splitlines()[-1]
    assert "has a length: read once like a file" in res.stderr
    res = CliRunner().invoke(app, ["run", "--model", str(tiny_onnx_model), "--demo", "--live"])
    assert res.exit_code == 2 and "applies to a --video URL only" in res.stderr


@pytest.mark.parametrize(
    "answer, reason",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n",
            "not an HTTP answer",
        ),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "not an HTTP answer"),
    ],
)
def test_a_server_that_does_not_speak_http_is_one_line_with_the_reason(answer, reason):
    """A non-HTTP server, more than 100 headers, a 70 kB header line: the real reason at once,
    not a thread's traceback and then a false time-out (issue 50 F13)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(answer)
        time.sleep(0.5)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(ImageError, match=reason) as err:
        fetch_url(f"http://127.0.0.1:{port}/x.png", timeout=10)
    assert "timed out" not in str(err.value)
    listener.close()
