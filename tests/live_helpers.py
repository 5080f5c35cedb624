"""Small HTTP clients for the live view's tests: plain GETs, MJPEG frames, server-sent events."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request


def get(url: str, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def get_json(url: str, timeout: float = 10.0) -> dict:
    return json.loads(get(url, timeout)[2])


def open_stream(
    host: str, port: int, path: str, timeout: float = 10.0
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    return conn, resp


def read_mjpeg_frame(resp: http.client.HTTPResponse) -> bytes:
    """The next JPEG of a multipart/x-mixed-replace response."""
    line = resp.readline()
    while line in (b"\r\n", b"\n"):
        line = resp.readline()
    if not line:
        raise EOFError("stream closed")
    assert line.startswith(b"--"), line
    length = None
    while True:
        line = resp.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    assert length is not None
    return resp.read(length)


def read_event(resp: http.client.HTTPResponse) -> tuple[str, dict]:
    """The next server-sent event as (name, JSON data); comments are skipped."""
    name, data = "message", ""
    while True:
        line = resp.readline()
        if not line:
            raise EOFError("stream closed")
        text = line.decode().rstrip("\r\n")
        if not text:
            if data:
                return name, json.loads(data)
            continue
        if text.startswith(":"):
            continue
        key, _, value = text.partition(": ")
        if key == "event":
            name = value
        elif key == "data":
            data += value


def close_stream(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
    """Hang up (the response holds the socket open until it is closed too)."""
    resp.close()
    conn.close()
