"""The system block of a benchmark: what machine and software produced the numbers."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys

from edge_runtime.cpu import cpu_info, int8_dot_products


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


def auto_precisions() -> dict[str, dict[str, str]]:
    """What `--precision auto` runs here for each bundled model shipping both precisions, and
    why."""
    from edge_runtime.classifier import bundled_files, bundled_models, resolve_model

    out = {}
    for name in bundled_models():
        if set(bundled_files(name)) == {"int8", "fp32"}:
            _, precision, why = resolve_model(name)
            out[name] = {"precision": precision, "why": why}
    return out


def system_info() -> dict:
    """The whole system block: CPU, OS, versions, onnxruntime settings, what `--precision
    auto` runs, load, date."""
    import onnxruntime as ort

    return {
        "cpu": cpu_info(),
        "auto_precision": auto_precisions(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "versions": versions(),
        "onnxruntime": {
            "available_providers": list(ort.get_available_providers()),
            "provider": "CPUExecutionProvider",  # run_bench sets the one --provider names
            "graph_optimization": "ORT_ENABLE_ALL",
            "execution_mode": "ORT_SEQUENTIAL",
            "inter_op_threads": 1,
            "intra_op_threads": "per row (threads column)",
        },
        "load_average_start": load_average(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def auto_line(system: dict) -> str | None:
    """What `--precision auto` runs on the machine of `system` for each bundled model that
    ships both precisions, and why; None where the results do not say."""
    auto = system.get("auto_precision")
    if not auto:
        return None
    return "`--precision auto` on this CPU: " + "; ".join(
        f"{name} runs {a['precision']} ({a['why']})" for name, a in auto.items()
    )


def system_lines(system: dict) -> list[str]:
    """The system block as Markdown bullet lines."""
    cpu, v, o = system["cpu"], system["versions"], system["onnxruntime"]
    libs = ", ".join(f"{k} {val}" for k, val in v.items())
    load = system.get("load_average_start")
    end = system.get("load_average_end")
    auto_text = ""
    if "auto_precision" not in system:  # results recorded before the tables named each choice
        auto_text = (
            f": `--precision auto` runs {'int8' if int8_dot_products(cpu['flags']) else 'fp32'} "
            "where a model ships both (int8 only with int8 dot-product instructions, unless "
            "its card timed both on this very CPU)"
        )
    lines = [
        f"- CPU: {cpu['model']}, {cpu['logical_cores']} logical cores "
        f"({cpu['usable_cores']} usable); flags: {', '.join(cpu['flags']) or 'none detected'}; "
        f"class {cpu.get('isa_class', '?')}{auto_text}",
        f"- OS: {system['os']} ({system['machine']})",
        f"- Versions: {libs}",
        f"- onnxruntime: {o['provider']} (available: {', '.join(o['available_providers'])}), "
        f"{o['graph_optimization']}, {o['execution_mode']}, inter-op threads "
        f"{o['inter_op_threads']}, intra-op threads = the threads column",
    ]
    if system.get("tensorflow_threads") is not None:
        lines.append(
            f"- TensorFlow intra-op threads: {system['tensorflow_threads']} "
            "(0 = TensorFlow's default, all cores)"
        )
    if load:
        lines.append(
            f"- Load average (1/5/15 min) at start: {load[0]}/{load[1]}/{load[2]}"
            + (f", at end: {end[0]}/{end[1]}/{end[2]}" if end else "")
        )
    lines.append(f"- Date: {system['date_utc']}")
    return lines
