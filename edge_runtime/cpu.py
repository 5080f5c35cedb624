"""The CPU this runs on: its model, the instruction sets that decide how fast int8 and fp32
convolutions run, and from them the precision a model should run in here.

int8 pays where the CPU has int8 dot-product instructions (x86 VNNI or AMX, ARM dotprod or
i8mm). Without them (x86 AVX2 alone, a Raspberry Pi 4's Cortex-A72) onnxruntime's int8
kernels were measured barely faster or slower than fp32 for small CNNs, so fp32 is the choice
there.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: instruction-set flags that change how fast int8/fp32 convolutions run, as /proc/cpuinfo
#: names them (x86 `flags`, ARM `Features`)
RELEVANT_FLAGS: tuple[str, ...] = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_int8",  # x86
    "asimd",
    "asimddp",
    "i8mm",
    "sve",
    "asimdhp",  # ARM: NEON, dot product, int8 matmul, SVE
)

#: ARM core names by "CPU part" (Raspberry Pi 3: A53, Pi 4: A72, Pi 5: A76)
ARM_PARTS: dict[str, str] = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd4f": "Neoverse-V2",
}


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
    name = (
        fields.get("model name")
        or fields.get("cpu model")
        or ARM_PARTS.get(fields.get("cpu part", "").lower())
        or fields.get("hardware")
    )
    if board and name and board != name:
        name = f"{board}, {name}"
    relevant = [f for f in RELEVANT_FLAGS if f in flags]
    return {
        "model": name or board or platform.processor() or platform.machine(),
        "flags": relevant,
        "isa_class": isa_class(relevant),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }


#: ISA classes and the flags each needs, checked in this order
ISA_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amx", ("amx_int8",)),
    ("avx512-vnni", ("avx512_vnni",)),
    ("avx-vnni", ("avx_vnni",)),
    ("avx2", ("avx2",)),
    ("neon-i8mm", ("i8mm",)),
    ("neon-dotprod", ("asimddp",)),
    ("neon", ("asimd",)),
)
INT8_DOT_CLASSES: tuple[str, ...] = ("amx", "avx512-vnni", "avx-vnni", "neon-i8mm", "neon-dotprod")


def isa_class(flags: list[str] | tuple[str, ...] | None = None) -> str:
    """The CPU's class for inference speed: amx, avx512-vnni, avx-vnni, avx2, neon-i8mm,
    neon-dotprod, neon, or other (default: this machine's flags)."""
    have = set(cpu_info()["flags"] if flags is None else flags)
    return next((name for name, need in ISA_CLASSES if have.issuperset(need)), "other")


def int8_dot_products(flags: list[str] | tuple[str, ...] | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (default: this machine)."""
    return isa_class(flags) in INT8_DOT_CLASSES
