"""`edge-fer report`: a run's CSV timeline as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from edge_runtime.commands.common import UserError, info


def report(
    timeline: Path = typer.Argument(..., help="A timeline written by `edge-fer run --csv`."),
    out: Path = typer.Option(
        None, "--out", help="The HTML page to write (default: the timeline's name, .html)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Each face of a run's timeline: seconds seen, share and longest stretch of each label,
    and its emotion timeline, as one HTML page with nothing loaded from elsewhere."""
    from edge_runtime.outputs import next_free
    from edge_runtime.report import read_timeline, render

    classes, faces = read_timeline(timeline)
    target = out or timeline.with_suffix(".html")
    if target.exists() and not overwrite:
        free = next_free(target)
        info(f"edge-fer: {target} exists: writing {free}")
        target = free
    try:
        target.write_text(render(timeline, classes, faces), encoding="utf-8")
    except OSError as e:
        raise UserError(f"{target}: cannot write ({e.strerror or e})", 1) from None
    info(f"edge-fer: wrote {target} ({len(faces)} face(s))")
