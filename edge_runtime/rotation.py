"""Output files cut into segments by age or size, the oldest deleted beyond a count.

With rotation on, an output `NAME.ext` is written as `NAME-YYYYMMDD-HHMMSS.ext` segments (the
local time each was started), so a service that runs for months neither grows one file
without bound nor, restarted, touches what an earlier run wrote: it starts a new segment.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNITS_B = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_duration(text: str) -> float:
    """Seconds in "90s", "15m", "1h" or "1d" (a bare number is seconds); ValueError else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 1h or 1d")
    return float(m.group(1)) * _UNITS_S[m.group(2) or "s"]


def parse_size(text: str) -> int:
    """Bytes in "500K", "100M" or "2G" (a bare number is bytes); ValueError else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*", str(text).lower())
    if not m or float(m.group(1)) < 1:
        raise ValueError(f"{text!r} is not a size such as 500K, 100M or 2G")
    return int(float(m.group(1)) * _UNITS_B[m.group(2)])


@dataclass(frozen=True)
class Rotation:
    """When to start a new segment, and how many segments of one output to keep."""

    every_s: float | None = None  # start a new segment after this many seconds
    max_bytes: int | None = None  # ... or once the current one has grown to this size
    keep: int | None = None  # segments kept per output, the oldest deleted first (None: all)

    @property
    def active(self) -> bool:
        return bool(self.every_s or self.max_bytes)


class Segments:
    """The segments of one output: names, when the current one is due, pruning."""

    def __init__(
        self, base: Path, rotation: Rotation, clock: Callable[[], float] = time.time
    ) -> None:
        self.base, self.rotation, self.clock = Path(base), rotation, clock
        self._pattern = re.compile(
            re.escape(self.base.stem)
            + r"-(\d{8}-\d{6})(?:-(\d+))?"
            + re.escape(self.base.suffix)
            + "$"
        )
        self.current: Path | None = None
        self._opened = 0.0
        self._stamp, self._n = "", 0

    def start(self) -> Path:
        """The path of a new segment, named by the time it starts; segments started within
        one second are numbered -2, -3, ... in order (a pruned name is never reused). The
        oldest segments beyond `keep` are deleted first, at every start, so a run restarted
        every day (a nightly reboot) keeps `keep` segments too."""
        self._opened = self.clock()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._opened))
        self._stamp, self._n = stamp, self._n + 1 if stamp == self._stamp else 1
        while True:
            n = f"-{self._n}" if self._n > 1 else ""
            path = self.base.with_name(f"{self.base.stem}-{stamp}{n}{self.base.suffix}")
            if not path.exists():
                break
            self._n += 1
        self.current = path
        self.prune()
        return path

    def due(self, size: int) -> bool:
        """Whether the current segment, now `size` bytes, should end."""
        r = self.rotation
        return bool(
            (r.every_s and self.clock() - self._opened >= r.every_s)
            or (r.max_bytes and size >= r.max_bytes)
        )

    def existing(self) -> list[Path]:
        """This output's segments on disk, oldest first by the start time in their names (not
        their mtimes: a Pi without a clock battery boots with a clock from the past)."""
        if not self.base.parent.is_dir():
            return []
        found = []
        for p in self.base.parent.iterdir():
            m = self._pattern.match(p.name)
            try:
                if m and p.is_file():
                    found.append((m.group(1), int(m.group(2) or 1), p))
            except FileNotFoundError:  # deleted meanwhile (another run pruning)
                continue
        return [p for *_, p in sorted(found)]

    def prune(self) -> list[Path]:
        """Delete the oldest segments beyond `keep` (never the current one); the deleted."""
        keep = self.rotation.keep
        if not keep:
            return []
        old = [p for p in self.existing() if p != self.current]
        excess = old[: max(0, len(old) - (keep - 1))]
        for p in excess:
            p.unlink(missing_ok=True)
        return excess
