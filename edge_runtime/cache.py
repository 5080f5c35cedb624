"""Where edge-fer keeps what it works out once per machine (decoded datasets, precision
timings): $EDGE_FER_CACHE, else ~/.cache/edge-fer."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("EDGE_FER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "edge-fer"
