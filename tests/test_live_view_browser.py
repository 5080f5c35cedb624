"""End to end in a real browser: `edge-fer run --video ../shared/samples/test.mp4 --serve`
opened in headless Chromium (Debian's `chromium`, driven by Playwright). Screenshots go to
$EDGE_FER_ARTIFACTS (default: artifacts/ in the repository) and their paths are printed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_helpers import get, get_json

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.shared


def chromium_path() -> str:
    for candidate in (
        os.environ.get("EDGE_FER_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("needs Chromium (apt-get install chromium, or set EDGE_FER_CHROMIUM)")


def artifacts_dir() -> Path:
    d = Path(os.environ.get("EDGE_FER_ARTIFACTS") or REPO / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture()
def live_run(tiny_onnx_model, shared_samples):
    """`edge-fer run --video test.mp4 --loop --serve 127.0.0.1:0`; yields its URL."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli",
            "run",
            "--video",
            str(shared_samples / "test.mp4"),
            "--loop",
            "--serve",
            "127.0.0.1:0",
            "--quiet",
            "--model",
            str(tiny_onnx_model),
            "--duration",
            "180",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stderr.readline()
        m = re.search(r"live view at (http://127\.0\.0\.1:\d+/)", first)
        assert m, first + proc.stderr.read()
        yield proc, m.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_live_view_in_headless_chromium(live_run, tmp_path, capsys):
    executable = chromium_path()
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="needs Playwright for Python (pip install playwright; "
        "no `playwright install`: the system Chromium is used)",
    )
    proc, url = live_run
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 860},
        )
        try:
            ctx.on("request", lambda r: requests.append(r.url))
            page = ctx.new_page()
            page.goto(url, wait_until="domcontentloaded")
            # the MJPEG <img> shows frames, the panel a label, the timeline a few seconds
            page.wait_for_function(
                "document.getElementById('video').naturalWidth > 0", timeout=60_000
            )
            page.wait_for_function(
                "(document.querySelector('#faces .label') || {}).textContent", timeout=60_000
            )
            page.wait_for_function(
                "Number(document.getElementById('timeline').dataset.points) >= 4", timeout=60_000
            )
            size = page.evaluate(
                "[document.getElementById('video').naturalWidth, "
                "document.getElementById('video').naturalHeight]"
            )
            label = page.text_content("#faces .label")
            stats = page.text_content("#stats")
            shot = artifacts_dir() / "live-view.png"
            page.screenshot(path=str(shot), full_page=True)
            # a phone: one column, nothing wider than the screen
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(500)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            phone = artifacts_dir() / "live-view-phone.png"
            page.screenshot(path=str(phone), full_page=True)
        finally:
            ctx.close()
    with capsys.disabled():
        print(f"\nlive view screenshots: {shot} and {phone}")
    assert size == [596, 336]
    assert re.fullmatch(r"#1 (angry|disgust|fear|happy|sad|surprise|neutral)", label), label
    assert "fps" in stats
    assert overflow <= 390
    assert shot.stat().st_size > 10_000 and phone.stat().st_size > 10_000
    assert requests and all(r.startswith(url) for r in requests), requests  # nothing external

    deadline = time.monotonic() + 30  # --loop plays the 115 frames at their 25 fps: 4.6 s
    while get_json(url + "healthz")["frames"] <= 115 and time.monotonic() < deadline:
        time.sleep(0.2)
    h = get_json(url + "healthz")
    assert h["status"] == "ok" and h["frames"] > 115 and h["camera"]["state"] == "ok"
    assert h["faces"] > 100 and h["fps"] > 0 and h["last_frame_age_s"] < 5
    status, ctype, metrics = get(url + "metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    text = metrics.decode()
    frames = int(re.search(r"^edge_fer_frames_total (\d+)$", text, re.M).group(1))
    assert frames >= h["frames"]
    assert re.search(r'^edge_fer_stage_seconds_count\{stage="detect"\} \d+$', text, re.M)
    assert "edge_fer_camera_reopens_total 0" in text

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.startswith("summary: ")
    assert "video client 127.0.0.1 connected" in err and "stopped by signal" in err
