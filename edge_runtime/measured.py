"""int8 against fp32 timed on this machine by `edge-fer models --time`, remembered so that
`--precision auto` follows what was measured here over what the CPU's flags suggest: int8 dot
products do not make every small CNN's int8 file faster (see edge_runtime/cpu.py)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import onnxruntime as ort

from edge_runtime.cache import cache_dir

WHERE = "by `edge-fer models --time`"


def record_path() -> Path:
    return cache_dir() / "precision.json"


def _digest(files: dict[str, Path]) -> str:
    h = hashlib.sha256()
    for precision in sorted(files):
        h.update(precision.encode())
        h.update(files[precision].read_bytes())
    return h.hexdigest()


def _records() -> dict:
    try:
        data = json.loads(record_path().read_text())
    except (OSError, ValueError, RuntimeError):  # RuntimeError: no home folder to look in
        return {}
    return data if isinstance(data, dict) else {}


def recalled(name: str, files: dict[str, Path]) -> dict | None:
    """What `remember` recorded here for the bundled model `name` with exactly these files
    and this onnxruntime (`choose_precision`'s measurement: `cpu`, `int8_ms`, `fp32_ms`,
    `where`), or None: none recorded, the files or onnxruntime changed since, or the record
    is unreadable."""
    entry = _records().get(name)
    if not isinstance(entry, dict) or entry.get("onnxruntime") != ort.__version__:
        return None
    if entry.get("files") != _digest(files):
        return None
    try:
        return {
            "cpu": dict(entry["cpu"]),
            "int8_ms": float(entry["int8_ms"]),
            "fp32_ms": float(entry["fp32_ms"]),
            "where": f"{WHERE} ({entry.get('when', 'undated')})",
        }
    except (KeyError, TypeError, ValueError):
        return None


def remember(name: str, files: dict[str, Path], cpu: dict, int8_ms: float, fp32_ms: float) -> Path:
    """Record a timing of `name`'s int8 and fp32 `files` on `cpu` (replacing the file in one
    step, so that a crash leaves the old record or the new one). OSError when it cannot."""
    data = _records()
    data[name] = {
        "files": _digest(files),
        "onnxruntime": ort.__version__,
        "cpu": cpu,
        "int8_ms": int8_ms,
        "fp32_ms": fp32_ms,
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # what a full disk left half written
    return path
