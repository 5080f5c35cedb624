"""`edge-fer report`: a run's CSV timeline as one self-contained HTML page (inline SVG, no
script, nothing loaded from elsewhere): per run and face, how long it was seen, the share and
longest stretch of each label, and its emotion timeline (each class's averaged probability
over time, and the steady label as a coloured band)."""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.errors import EdgeFerError

COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
    "uncertain": "#cccccc",
}
OTHER_COLOUR = "#17becf"
MAX_BYTES = 512 << 20
WIDTH, HEIGHT, BAND = 720, 140, 14


class ReportError(EdgeFerError):
    """A timeline that cannot be reported."""


@dataclass
class Face:
    """One face of one run: its samples (time, label, probabilities)."""

    run: str
    id: str
    times: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    probs: list[list[float]] = field(default_factory=list)

    def seconds(self) -> float:
        if len(self.times) < 2:
            return 0.0
        step = (self.times[-1] - self.times[0]) / (len(self.times) - 1)
        return self.times[-1] - self.times[0] + step

    def runs(self) -> list[tuple[str, float, float]]:
        """(label, start, end) of each stretch of one label."""
        out: list[tuple[str, float, float]] = []
        step = self.seconds() / max(len(self.times), 1)
        for t, lab in zip(self.times, self.labels, strict=True):
            if out and out[-1][0] == lab:
                out[-1] = (lab, out[-1][1], t + step)
            else:
                out.append((lab, t, t + step))
        return out


def read_timeline(path: Path) -> tuple[list[str], list[Face]]:
    """The classes and the faces of a `run --csv` timeline; ReportError when it is none."""
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ReportError(f"{path}: larger than {MAX_BYTES >> 20} MiB; report a rotated segment")
    faces: dict[tuple[str, str], Face] = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        need = ("run", "timestamp", "id", "label")
        if any(c not in header for c in need):
            raise ReportError(f"{path}: not a timeline of `edge-fer run --csv` (no {need} columns)")
        first = header.index("score") + 1
        classes = [c for c in header[first:] if not c.startswith("raw_")]
        col = {c: header.index(c) for c in (*need, *classes)}
        for row in reader:
            if len(row) != len(header) or not row[col["id"]]:
                continue  # a frame without faces, or a torn row
            try:
                t = float(row[col["timestamp"]])
                probs = [float(row[col[c]]) for c in classes]
            except ValueError:
                continue
            key = (row[col["run"]], row[col["id"]])
            face = faces.setdefault(key, Face(*key))
            face.times.append(t)
            face.labels.append(row[col["label"]])
            face.probs.append(probs)
    if not faces:
        raise ReportError(f"{path}: no face in this timeline")
    return classes, list(faces.values())


def _svg(face: Face, classes: list[str]) -> str:
    t0, span = face.times[0], max(face.seconds(), 1e-6)

    def x(t: float) -> float:
        return 40 + (t - t0) / span * (WIDTH - 50)

    def y(p: float) -> float:
        return 10 + (1 - p) * (HEIGHT - 30)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + BAND}" '
        f'role="img" aria-label="face {html.escape(face.id)} timeline">',
        f'<line x1="40" y1="{y(0)}" x2="{WIDTH - 10}" y2="{y(0)}" stroke="#999"/>',
        f'<text x="2" y="{y(1) + 4}" font-size="10">1.0</text>',
        f'<text x="2" y="{y(0) + 4}" font-size="10">0</text>',
        f'<text x="{WIDTH - 60}" y="{HEIGHT - 4}" font-size="10">{span:.1f} s</text>',
    ]
    for i, c in enumerate(classes):
        points = " ".join(
            f"{x(t):.1f},{y(p[i]):.1f}" for t, p in zip(face.times, face.probs, strict=True)
        )
        colour = COLOURS.get(c, OTHER_COLOUR)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">'
            f"<title>{html.escape(c)}</title></polyline>"
        )
    for lab, start, end in face.runs():
        parts.append(
            f'<rect x="{x(start):.1f}" y="{HEIGHT}" width="{max(x(end) - x(start), 0.5):.1f}" '
            f'height="{BAND}" fill="{COLOURS.get(lab, OTHER_COLOUR)}"><title>'
            f"{html.escape(lab)} {start - t0:.1f}-{end - t0:.1f} s</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(face: Face) -> str:
    counts: dict[str, int] = {}
    longest: dict[str, float] = {}
    for lab, start, end in face.runs():
        longest[lab] = max(longest.get(lab, 0.0), end - start)
    for lab in face.labels:
        counts[lab] = counts.get(lab, 0) + 1
    rows = "".join(
        f'<tr><td><span class="sw" style="background:{COLOURS.get(lab, OTHER_COLOUR)}"></span>'
        f"{html.escape(lab)}</td><td>{100 * n / len(face.labels):.0f}%</td>"
        f"<td>{longest[lab]:.1f} s</td></tr>"
        for lab, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return (
        "<table><tr><th>label</th><th>share of frames</th><th>longest stretch</th></tr>"
        f"{rows}</table>"
    )


def render(path: Path, classes: list[str], faces: list[Face]) -> str:
    """The report page."""
    legend = " ".join(
        f'<span class="sw" style="background:{COLOURS.get(c, OTHER_COLOUR)}"></span>'
        f"{html.escape(c)}"
        for c in classes
    )
    sections = []
    for face in faces:
        sections.append(
            f'<section class="face"><h2>run {html.escape(face.run)}, face '
            f"{html.escape(face.id)}</h2><p>seen {face.seconds():.1f} s over "
            f"{len(face.times)} frames</p>{_svg(face, classes)}{_table(face)}</section>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>edge-fer report: {html.escape(path.name)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:780px}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:.2em .8em;"
        "text-align:left;border-bottom:1px solid #ddd}.sw{display:inline-block;width:.8em;"
        "height:.8em;margin:0 .3em 0 .6em;border-radius:2px}svg{max-width:100%}"
        "</style></head><body>"
        f"<h1>Expressions over time: {html.escape(path.name)}</h1>"
        f"<p>{len(faces)} face(s). Lines: each class's averaged probability; band: the steady "
        f"label.</p><p>{legend}</p>{''.join(sections)}</body></html>\n"
    )
