"""Steps of a long command, told to a person at a terminal: on stderr when it is one, so that
logs and pipes keep only results, warnings and errors (and an error stays one line)."""

from __future__ import annotations

import sys

from edge_runtime.errors import one_line


def is_terminal() -> bool:
    return sys.stderr.isatty()


def progress(message: str) -> None:
    if is_terminal():
        print(f"edge-fer: {one_line(message)}", file=sys.stderr, flush=True)
