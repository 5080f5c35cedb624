"""`edge-fer report`: a run's CSV timeline as one self-contained HTML page, checked as text
and opened in the headless Chromium the live-view test drives."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_live_view_browser import CHROMIUM_ARGS, artifacts_dir, chromium_path
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.outputs import CsvTimelineWriter
from edge_runtime.report import read_timeline
from edge_runtime.results import Face, FrameResult

LABELS = ("happy", "sad")


def _timeline(path, runs: int = 2):
    image = np.zeros((8, 8, 3), np.uint8)
    for r in range(runs):
        w = CsvTimelineWriter(path, LABELS)
        w.run = f"2026-12-08T0{r}:00:00+0000"
        for i in range(50):
            label = "happy" if i < 30 else "sad"
            p = 0.9 if label == "happy" else 0.2
            faces = [Face((1, 1, 5, 5), label, 0.9, {"happy": p, "sad": 1 - p}, id=1)]
            if i >= 20:
                faces.append(Face((9, 1, 5, 5), "sad", 0.7, {"happy": 0.3, "sad": 0.7}, id=2))
            w.frame(FrameResult(source="t", frame=i, timestamp=i * 0.04, faces=faces), image)
        w.close()
    return path


def test_the_report_reads_every_run_and_face_and_loads_nothing(tmp_path):
    csv_path = _timeline(tmp_path / "t.csv")
    classes, faces = read_timeline(csv_path)
    assert classes == list(LABELS) and len(faces) == 4  # 2 runs x 2 faces
    one = next(f for f in faces if f.id == "1")
    assert one.seconds() == pytest.approx(2.0) and [r[0] for r in one.runs()] == ["happy", "sad"]
    res = CliRunner().invoke(app, ["report", str(csv_path)])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "t.html").read_text()
    assert page.count("<svg") == 4 and page.count("<section") == 4
    assert "60%" in page and "1.2 s" in page  # face 1: happy 30 of 50 frames, for 1.2 s
    assert not re.search(r"""(src|href)\s*=""", page)  # nothing fetched from anywhere
    res = CliRunner().invoke(app, ["report", str(csv_path)])
    assert res.exit_code == 0 and (tmp_path / "t-2.html").is_file()  # never overwritten
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    res = CliRunner().invoke(app, ["report", str(bad)])
    assert res.exit_code == 2 and "not a timeline of `edge-fer run --csv`" in res.output


def test_the_report_renders_in_headless_chromium(tmp_path):
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    csv_path = _timeline(tmp_path / "t.csv", runs=1)
    assert CliRunner().invoke(app, ["report", str(csv_path)]).exit_code == 0
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 820, "height": 900},
        )
        try:
            ctx.on("request", lambda r: requests.append(r.url))
            page = ctx.new_page()
            page.goto((tmp_path / "t.html").as_uri())
            svgs = page.evaluate("document.querySelectorAll('section svg').length")
            widths = page.evaluate(
                "[...document.querySelectorAll('svg polyline')].map(p => p.getBBox().width)"
            )
            shot = artifacts_dir() / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            ctx.close()
    print(f"report screenshot: {shot}")
    assert svgs == 2 and len(widths) == 4 and min(widths) > 100
    assert all(u.startswith("file://") for u in requests)
