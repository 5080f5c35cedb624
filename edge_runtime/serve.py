"""The live view's web server: standard-library HTTP, one thread per client.

Routes: `/` the page (edge_runtime/web/index.html, no external resources), `/stream.mjpg`
the annotated video (MJPEG), `/events` server-sent events (faces, frame rate, timeline),
`/snapshot.jpg` the newest annotated frame, `/healthz` JSON and `/metrics` Prometheus text.

Clients only ever read what the `FrameHub` holds: a client that is slow skips frames
(latest frame wins), one whose socket stops accepting data for `write_timeout` seconds is
dropped, and none can block the pipeline thread. At most `max_clients` connections are served
at once (more are answered 503 at once, without a thread); a server bound to a loopback
address answers only requests whose Host is a loopback name, so a web page elsewhere cannot
reach it through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from edge_runtime.errors import EdgeFerError
from edge_runtime.live import FrameHub

BOUNDARY = "edge-fer-frame"
EVENTS_PER_SECOND = 5.0
KEEPALIVE_SECONDS = 15.0


class AddressError(EdgeFerError, ValueError):
    """A `--serve` value that is not `[HOST:]PORT`."""


def parse_address(text: str) -> tuple[str, int]:
    """`--serve [HOST:]PORT` as (host, port): "8080", ":8080", "0.0.0.0:8080", "[::]:8080".

    The host defaults to 127.0.0.1 (this machine only); port 0 picks a free port."""
    t = text.strip()
    host = "127.0.0.1"
    if t.startswith("["):  # [IPv6]:PORT
        end = t.find("]:")
        if end < 0:
            raise AddressError(f"--serve {text!r}: write an IPv6 address as [ADDR]:PORT")
        host, port_text = t[1:end], t[end + 2 :]
    elif ":" in t:
        head, port_text = t.rsplit(":", 1)
        host = head or host
    else:
        port_text = t
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AddressError(f"--serve {text!r}: expected [HOST:]PORT with a port 0-65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether `host` can only be reached from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page() -> bytes:
    """The live view's HTML (CSS and JavaScript inline)."""
    return resources.files("edge_runtime").joinpath("web/index.html").read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never keeps the process alive; LiveServer.close() joins them
    allow_reuse_address = True
    request_queue_size = 64  # the listen backlog (socketserver's default is 5)
    max_clients: int
    loopback_only: bool

    hub: FrameHub
    write_timeout: float
    log: Callable[[str], None]
    clients: set[socket.socket]
    clients_lock: threading.Lock
    threads: list[threading.Thread]

    def process_request(self, request, client_address) -> None:
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="edge-fer-http-client",
            daemon=True,
        )
        with self.clients_lock:
            self.threads = [x for x in self.threads if x.is_alive()]
            busy = len(self.threads) >= self.max_clients
            if not busy:
                self.threads.append(t)
        if busy:
            _refuse(request)
            return
        t.start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (getfqdn), which can hang offline
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        """One line, never a traceback: a client that vanished is no error at all."""
        err = sys.exc_info()[1]
        if not isinstance(err, OSError):
            self.log(f"edge-fer: live view: error serving {client_address[0]}: {err!r}")


def _refuse(request: socket.socket) -> None:
    """Answer 503 on the accepting thread, never blocking it, and close."""
    try:
        request.setblocking(False)
        request.send(
            b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            b"Retry-After: 5\r\nContent-Length: 17\r\n\r\ntoo many clients\n"
        )
    except OSError:
        pass
    finally:
        request.close()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edge-fer"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.write_timeout)
        # the socket's timeout is per read: a client sending one byte every few seconds would
        # hold a slot for ever, so the whole request head has a deadline of its own
        self._head_read = False
        self._head_timer = threading.Timer(self.server.write_timeout, self._head_too_slow)
        self._head_timer.daemon = True
        self._head_timer.start()

    def _head_too_slow(self) -> None:
        if not self._head_read:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # its blocked read returns at once
            except OSError:
                pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self._head_read = True
        self._head_timer.cancel()
        return ok

    def finish(self) -> None:
        self._head_timer.cancel()
        super().finish()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base's name
        pass  # no access log: journald gets events, not requests

    # --- plumbing ----------------------------------------------------------------------
    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _start_stream(self, ctype: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.wfile.flush()

    def _stream(self, kind: str, body: Callable[[], None]) -> None:
        """Count the client, run `body` until the client goes or the server closes."""
        hub, srv = self.server.hub, self.server
        attr = "video_clients" if kind == "video" else "event_clients"
        with hub.cond:
            setattr(hub, attr, getattr(hub, attr) + 1)
            hub.cond.notify_all()
        with srv.clients_lock:
            srv.clients.add(self.connection)
        peer = self.client_address[0]
        srv.log(f"edge-fer: live view: {kind} client {peer} connected")
        reason = "left"
        try:
            body()
        except (ConnectionError, TimeoutError, OSError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else "left"
        finally:
            with srv.clients_lock:
                srv.clients.discard(self.connection)
            with hub.cond:
                setattr(hub, attr, getattr(hub, attr) - 1)
            if hub.closing:
                reason = "closed by the server"
            srv.log(f"edge-fer: live view: {kind} client {peer} {reason}")

    # --- routes ------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host", "").strip()
        if not host:  # HTTP/1.0 tools; a browser, the rebinding risk, always sends one
            return True
        name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        return is_loopback(name.lower())

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        hub = self.server.hub
        if not self._host_allowed():
            self._send(403, "text/plain; charset=utf-8", b"unexpected Host header\n")
        elif path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", page())
        elif path == "/healthz":
            h = hub.health()
            body = json.dumps(h).encode()
            self._send(200 if h["status"] == "ok" else 503, "application/json", body)
        elif path == "/metrics":
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", hub.prometheus().encode())
        elif path == "/snapshot.jpg":
            jpeg = hub.snapshot()
            if jpeg is None:
                self._send(503, "text/plain; charset=utf-8", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", jpeg)
        elif path == "/stream.mjpg" and self.command == "GET":
            self._start_stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self._stream("video", self._mjpeg)
        elif path == "/events" and self.command == "GET":
            self._start_stream("text/event-stream; charset=utf-8")
            self._stream("events", self._events)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _mjpeg(self) -> None:
        hub = self.server.hub
        sent = 0
        while True:
            with hub.cond:
                while not hub.closing and not hub.ended and hub.jpeg_seq == sent:
                    hub.cond.wait(1.0)
                if hub.closing or (hub.ended and hub.jpeg_seq == sent):
                    return
                jpeg, sent = hub.jpeg, hub.jpeg_seq
            if jpeg is None:
                continue
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            ).encode()
            self.wfile.write(head + jpeg + b"\r\n")

    def _events(self) -> None:
        hub = self.server.hub
        self._event("hello", hub.hello())
        seen, last_sent = -1, time.monotonic()
        while True:
            with hub.cond:
                deadline = time.monotonic() + KEEPALIVE_SECONDS
                while not hub.closing and not hub.ended and hub.seq == seen:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    hub.cond.wait(min(left, 1.0))
                if hub.closing:
                    return
                seen, ended = hub.seq, hub.ended
            if ended:
                self._event("state", hub.state())
                self._event("end", {})
                return
            now = time.monotonic()
            if now - last_sent >= KEEPALIVE_SECONDS:
                self.wfile.write(b": keep-alive\n\n")
                last_sent = now
            pause = last_sent + 1.0 / EVENTS_PER_SECOND - now
            if pause > 0:
                time.sleep(pause)
            self._event("state", hub.state())
            last_sent = time.monotonic()

    def _event(self, name: str, data: dict) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())


class LiveServer:
    """The live view for one stream: a `FrameHub` plus a threaded HTTP server.

        server = LiveServer("127.0.0.1", 8080, rec.labels)
        stream.observers.append(server.hub); server.hub.attach(stream)
        server.start(); ...; server.close()

    `log` receives one line per event (client connected or gone)."""

    def __init__(
        self,
        host: str,
        port: int,
        labels: tuple[str, ...] | list[str],
        max_fps: float = 10.0,
        write_timeout: float = 10.0,
        log: Callable[[str], None] | None = None,
        hub: FrameHub | None = None,
        max_clients: int = 32,
    ) -> None:
        self.hub = hub or FrameHub(labels, max_fps=max_fps)
        self.host, self.port = host, port
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self.log = log or (lambda line: None)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def start(self) -> LiveServer:
        """Bind (OSError if the address is taken or not ours) and serve in a thread."""
        cls = _Server6 if ":" in self.host else _Server
        httpd = cls((self.host, self.port), _Handler)
        httpd.hub = self.hub
        httpd.write_timeout = self.write_timeout
        httpd.max_clients = self.max_clients
        httpd.loopback_only = is_loopback(self.host)
        httpd.log = self.log
        httpd.clients = set()
        httpd.clients_lock = threading.Lock()
        httpd.threads = []
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.hub.start()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="edge-fer-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Disconnect every client, stop serving and join all threads."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        self.hub.close()
        httpd.shutdown()
        with httpd.clients_lock:
            for sock in list(httpd.clients):
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # unblocks a write to a stuck client
                except OSError:
                    pass
        httpd.server_close()
        with httpd.clients_lock:
            threads = list(httpd.threads)
        for t in threads:
            t.join(timeout=self.write_timeout + 1.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
