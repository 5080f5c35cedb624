"""Paths as a reader on another machine can follow them: what cards, run records and benchmark
results say is relative to the directory the command ran in (the repository's root for the
`make` targets), never an absolute path of the machine that made them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

# an absolute path inside a text: a "/" that does not continue a word, a path or a URL
_ABSOLUTE = re.compile(r"(?<![\w.:/~*<>-])/[^\s\"'`,;()\[\]{}<>|*]+")


def portable_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """`path` relative to `root` (default: the working directory) when it is absolute and
    shares its top folder (a user's or a project's tree; a system path such as /etc or /sys
    means the same on every machine and stays as it is)."""
    p = str(path)
    base = Path(root).resolve() if root is not None else Path.cwd()
    if not os.path.isabs(p) or Path(p).parts[:2] != base.parts[:2]:
        return p
    return os.path.relpath(p, base)


def portable(obj: Any, root: str | os.PathLike | None = None) -> Any:
    """`obj` (a string, or lists and dicts of them) with every absolute path in its strings
    made relative to `root`."""
    if isinstance(obj, str):
        return _ABSOLUTE.sub(lambda m: portable_path(m.group(0), root), obj)
    if isinstance(obj, dict):
        return {k: portable(v, root) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(portable(v, root) for v in obj)
    return obj
