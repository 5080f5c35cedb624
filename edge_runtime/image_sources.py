"""Still-image inputs: files, directories (recursively), globs and http(s) URLs.

`expand_inputs` turns what a user typed into a list of `ImageInput`s (or an error for an
input that names nothing); `ImageInput.load()` returns the decoded image or raises
`ImageError` with the reason, so one bad input never stops the others.
"""

from __future__ import annotations

import glob
import http.client
import os
import socket
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import brief, one_line
from edge_runtime.image_io import MAX_FILE_BYTES, MAX_PIXELS, ImageError, decode_image

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    ".jpg .jpeg .jpe .png .gif .bmp .webp .tif .tiff .pgm .ppm .pnm".split()
)
URL_TIMEOUT_S = 10.0
MAX_URL_BYTES = 20 * 1024 * 1024
USER_AGENT = "edge-fer/0.1 (+https://pypi.org/project/edge-fer/)"


@dataclass(frozen=True)
class ImageInput:
    """One image to read: a local path or an http(s) URL. `error` set = nothing to read."""

    source: str
    path: Path | None = None
    url: str | None = None
    error: str | None = None

    def read_bytes(self, timeout: float = URL_TIMEOUT_S, max_bytes: int | None = None) -> bytes:
        if self.error is not None:
            raise ImageError(self.error)
        if self.url is not None:
            return fetch_url(self.url, timeout, max_bytes or MAX_URL_BYTES)
        assert self.path is not None
        return read_file(self.path, max_bytes or MAX_FILE_BYTES)

    def load(
        self,
        timeout: float = URL_TIMEOUT_S,
        max_bytes: int | None = None,
        max_pixels: int = MAX_PIXELS,
    ) -> np.ndarray:
        """The decoded image (see `image_io.decode_image`); ImageError with the reason."""
        return decode_image(self.read_bytes(timeout, max_bytes), max_pixels)


def is_url(text: str) -> bool:
    return "://" in text and urllib.parse.urlsplit(text).scheme != ""


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A local file's bytes; ImageError when missing, unreadable or bigger than `max_bytes`."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ImageError("is a directory")
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode))
                else "a socket or other special file"
            )
            raise ImageError(f"not a regular file ({kind})")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # bounded even if the file grows meanwhile
        if len(data) > max_bytes:
            size = path.stat().st_size
            raise ImageError(f"file too large: {size / 1e6:.1f} MB (limit {max_bytes / 1e6:g} MB)")
        return data
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(f"cannot read file ({e.strerror or e})") from None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib's own handler also goes to ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise ImageError(f"redirected to an unsupported {scheme!r} URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S, max_bytes: int = MAX_URL_BYTES) -> bytes:
    """Download an image over http(s): the content type must be image/*, the body at most
    `max_bytes`, and the whole transfer (connection, headers, body) must finish within
    `timeout` seconds of wall time, however slowly a server trickles its bytes."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ImageError(f"unsupported URL scheme {scheme!r} (only http and https)")
    box: list[bytes | ImageError] = []

    def work() -> None:
        try:
            box.append(_fetch(url, timeout, max_bytes))
        except ImageError as e:
            box.append(e)
        except Exception as e:  # nothing a server sends may end in a thread's traceback
            box.append(ImageError(f"cannot fetch URL ({type(e).__name__}: {brief(e, 120)})"))

    # the worker is abandoned at the deadline: a daemon thread, ended by the socket timeout
    worker = threading.Thread(target=work, name="edge-fer-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not box:
        raise ImageError(f"timed out after {timeout:g} s")
    if isinstance(box[0], ImageError):
        raise box[0]
    return box[0]


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            final = urllib.parse.urlsplit(resp.geturl()).scheme.lower()
            if final not in ("http", "https"):
                raise ImageError(f"redirected to an unsupported {final!r} URL")
            ctype = resp.headers.get_content_type()
            if not ctype.startswith("image/"):
                raise ImageError(f"not an image (content type {ctype})")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise ImageError(
                    f"too large: {int(length) / 1e6:.1f} MB (limit {max_bytes / 1e6:g} MB)"
                )
            chunks, total = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise ImageError(f"timed out after {timeout:g} s")
                chunk = resp.read1(64 * 1024)  # what has arrived, not a full 64 kB
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise ImageError(f"too large: more than {max_bytes / 1e6:g} MB")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as e:
        raise ImageError(one_line(f"HTTP {e.code} {str(e.reason).splitlines()[0]}")) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise ImageError(f"timed out after {timeout:g} s") from None
        raise ImageError(f"cannot fetch URL ({reason})") from None
    except TimeoutError:
        raise ImageError(f"timed out after {timeout:g} s") from None
    except OSError as e:
        raise ImageError(f"cannot fetch URL ({e})") from None
    except http.client.HTTPException as e:  # not HTTP, too many headers, a header too long
        raise ImageError(f"not an HTTP answer ({type(e).__name__}: {brief(e, 120)})") from None


def _images_under(root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """The image files under `root`, sorted; every other entry goes to `skipped` with why."""
    found = []

    def unreadable(e: OSError) -> None:
        skipped.append((str(e.filename), f"unreadable folder ({e.strerror or e})"))

    for folder, _, names in os.walk(root, onerror=unreadable):
        for name in names:
            p = Path(folder) / name
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append((str(p), f"other file type ({p.suffix or 'no suffix'})"))
            elif not p.exists():
                skipped.append((str(p), "broken link"))
            elif not p.is_file():
                skipped.append((str(p), "not a regular file"))
            else:
                found.append(p)
    return sorted(found)


def expand_inputs(
    inputs: list[str], skipped: list[tuple[str, str]] | None = None
) -> list[ImageInput]:
    """Files, directories (recursively, by extension), globs and URLs as ImageInputs, in order.

    An input that names nothing becomes one ImageInput with `error` set. Entries of a folder
    that are not read (other file types, broken links, FIFOs, unreadable subfolders) are added
    to `skipped` as (path, reason).
    """
    skipped = [] if skipped is None else skipped
    out: list[ImageInput] = []
    for text in inputs:
        if is_url(text):
            scheme = urllib.parse.urlsplit(text).scheme.lower()
            if scheme in ("http", "https"):
                out.append(ImageInput(text, url=text))
            else:
                out.append(
                    ImageInput(
                        text, error=f"unsupported URL scheme {scheme!r} (only http and https)"
                    )
                )
            continue
        p = Path(text).expanduser()
        if p.is_dir():
            found = _images_under(p, skipped)
            if not found:
                out.append(ImageInput(text, error="no images found in directory"))
            out.extend(ImageInput(str(f), path=f) for f in found)
        elif p.exists():
            out.append(ImageInput(text, path=p))
        elif glob.has_magic(text):
            matches = sorted(glob.glob(str(p), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                out.append(ImageInput(text, error="no files match this pattern"))
            out.extend(ImageInput(str(f), path=f) for f in files)
        else:
            out.append(ImageInput(text, error="no such file or directory"))
    return out
