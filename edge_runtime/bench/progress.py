"""A dependency-free progress bar on stderr for long runs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`update(label)` advances one step of `total`; drawn only when `enabled` (a terminal).

    Redraws at most every 0.1 s, on one line, with the current label (model and format).
    """

    def __init__(
        self, total: int, enabled: bool = True, stream: TextIO | None = None, width: int = 28
    ) -> None:
        self.total = max(1, int(total))
        self.done = 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, label: str, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            elapsed = now - self.started
            self.stream.write(
                f"\r[{bar}] {100 * self.done // self.total:3d}% {elapsed:5.0f}s  {label[:48]:<48}"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
