"""int8 against fp32 timed on this machine by `edge-fer models --time`, remembered so that
`--precision auto` follows what was measured here over what the CPU's flags suggest: int8 dot
products do not make every small CNN's int8 file faster (see edge_runtime/cpu.py)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
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


#: a record holds a few hundred bytes per model; anything larger is not one
MAX_RECORD_BYTES = 1 << 20


def _records() -> dict:
    """The record file's entries; {} when it is absent, and with one line on stderr when it is
    not a regular file, too large or not a JSON object (the machine goes on without it)."""
    try:
        path = record_path()
        st = path.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder to look in
        return {}
    why = None
    if not stat.S_ISREG(st.st_mode):
        why = "not a regular file"
    elif st.st_size > MAX_RECORD_BYTES:
        why = f"larger than {MAX_RECORD_BYTES >> 10} KiB"
    else:
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(MAX_RECORD_BYTES + 1))
        except (OSError, ValueError) as e:
            why = f"unreadable ({type(e).__name__})"
        else:
            if isinstance(data, dict):
                return data
            why = "not a JSON object"
    _ignored(f"{path}: {why}")
    return {}


_said: set[str] = set()


def _ignored(what: str) -> None:
    """One line per odd record, once per process."""
    if what not in _said:
        _said.add(what)
        print(f"edge-fer: warning: {what}; ignoring the timing it should hold", file=sys.stderr)


def _valid_cpu(cpu: object) -> dict | None:
    """A record's `cpu`: a dict whose `flags` is a list of strings and `model` a string."""
    if not isinstance(cpu, dict):
        return None
    flags, model = cpu.get("flags"), cpu.get("model")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        return None
    if model is not None and not isinstance(model, str):
        return None
    return dict(cpu)


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
    cpu = _valid_cpu(entry.get("cpu"))
    times = [entry.get("int8_ms"), entry.get("fp32_ms")]
    if cpu is None or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and 0 < t < math.inf for t in times
    ):
        _ignored(f"{record_path()}: the entry for {name} is malformed")
        return None
    out = {
        "cpu": cpu,
        "int8_ms": float(times[0]),
        "fp32_ms": float(times[1]),
        "where": f"{WHERE} ({entry.get('when', 'undated')})",
    }
    for p in ("int8", "fp32"):
        span = entry.get(f"{p}_spread")
        if span is None:
            continue
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(t, int | float) and not isinstance(t, bool) for t in span)
            and 0 < span[0] <= span[1] < math.inf
        ):
            _ignored(f"{record_path()}: the entry for {name} is malformed")
            return None
        out[f"{p}_spread"] = (float(span[0]), float(span[1]))
    return out


def remember(
    name: str,
    files: dict[str, Path],
    cpu: dict,
    int8_ms: float,
    fp32_ms: float,
    spread: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Record a timing of `name`'s int8 and fp32 `files` on `cpu` (replacing the file in one
    step, so that a crash leaves the old record or the new one). OSError when it cannot."""
    data = _records()
    data[name] = {
        "files": _digest(files),
        "onnxruntime": ort.__version__,
        "cpu": cpu,
        "int8_ms": int8_ms,
        "fp32_ms": fp32_ms,
        **({f"{p}_spread": list(v) for p, v in spread.items()} if spread else {}),
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
