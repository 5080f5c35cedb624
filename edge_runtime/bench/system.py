"""The system block of a benchmark: what machine and software produced the numbers."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path

#: instruction-set flags that change how fast int8/fp32 convolutions run, as /proc/cpuinfo
#: names them (x86 `flags`, ARM `Features`)
RELEVANT_FLAGS: tuple[str, ...] = (
    "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8",  # x86
    "asimd", "asimddp", "i8mm", "sve", "asimdhp",  # ARM: NEON, dot product, int8 matmul, SVE
)

#: ARM core names by "CPU part" (Raspberry Pi 3: A53, Pi 4: A72, Pi 5: A76)
ARM_PARTS: dict[str, str] = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55",
                             "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
                             "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1",
                             "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd4f": "Neoverse-V2"}


def cpu_info(cpuinfo: str | None = None) -> dict:
    """CPU model and the relevant instruction-set flags, from /proc/cpuinfo when present."""
    if cpuinfo is None:
        p = Path("/proc/cpuinfo")
        cpuinfo = p.read_text(errors="replace") if p.is_file() else ""
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif value and key not in fields:
            fields[key] = value
    # x86: "model name"; ARM: "model name" (32-bit) or none, "Hardware" and the board in
    # "Model" (e.g. Raspberry Pi 5 Model B); x86's "model" is a number, not a name
    board = fields.get("model", "")
    board = "" if board.isdigit() else board
    name = (fields.get("model name") or fields.get("cpu model")
            or ARM_PARTS.get(fields.get("cpu part", "").lower()) or fields.get("hardware"))
    if board and name and board != name:
        name = f"{board}, {name}"
    return {
        "model": name or board or platform.processor() or platform.machine(),
        "flags": [f for f in RELEVANT_FLAGS if f in flags],
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }


def _version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """Python and library versions (TensorFlow's from its metadata: it is not imported)."""
    import cv2
    import numpy
    import onnxruntime

    out = {
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
    }
    for dist in ("tensorflow", "tensorflow-cpu", "keras"):
        v = _version(dist)
        if v:
            out[dist] = v
    return out


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other work on the machine is noise), if known."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def system_info() -> dict:
    """The whole system block: CPU, OS, versions, onnxruntime settings, load, date."""
    import onnxruntime as ort

    return {
        "cpu": cpu_info(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "versions": versions(),
        "onnxruntime": {
            "available_providers": list(ort.get_available_providers()),
            "provider": "CPUExecutionProvider",
            "graph_optimization": "ORT_ENABLE_ALL",
            "execution_mode": "ORT_SEQUENTIAL",
            "inter_op_threads": 1,
            "intra_op_threads": "per row (threads column)",
        },
        "load_average_start": load_average(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def system_lines(system: dict) -> list[str]:
    """The system block as Markdown bullet lines."""
    cpu, v, o = system["cpu"], system["versions"], system["onnxruntime"]
    libs = ", ".join(f"{k} {val}" for k, val in v.items())
    load = system.get("load_average_start")
    end = system.get("load_average_end")
    lines = [
        f"- CPU: {cpu['model']}, {cpu['logical_cores']} logical cores "
        f"({cpu['usable_cores']} usable); flags: {', '.join(cpu['flags']) or 'none detected'}",
        f"- OS: {system['os']} ({system['machine']})",
        f"- Versions: {libs}",
        f"- onnxruntime: {o['provider']} (available: {', '.join(o['available_providers'])}), "
        f"{o['graph_optimization']}, {o['execution_mode']}, inter-op threads "
        f"{o['inter_op_threads']}, intra-op threads = the threads column",
    ]
    if system.get("tensorflow_threads") is not None:
        lines.append(f"- TensorFlow intra-op threads: {system['tensorflow_threads']} "
                     "(0 = TensorFlow's default, all cores)")
    if load:
        lines.append(f"- Load average (1/5/15 min) at start: {load[0]}/{load[1]}/{load[2]}"
                     + (f", at end: {end[0]}/{end[1]}/{end[2]}" if end else ""))
    lines.append(f"- Date: {system['date_utc']}")
    return lines
