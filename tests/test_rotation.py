"""Outputs of a run nobody watches: segments by age or size, each complete and readable, the
oldest deleted beyond --keep, nothing an earlier run wrote touched, and videos that stay
playable when the run is killed."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.outputs import CsvTimelineWriter, VideoSaver
from edge_runtime.results import Face, FrameResult
from edge_runtime.rotation import Rotation, Segments, parse_duration, parse_size

LABELS = ("happy", "sad")


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _frame(i: int) -> FrameResult:
    face = Face(
        box=(4, 4, 20, 20),
        label="happy",
        score=0.9,
        probs={"happy": 0.9, "sad": 0.1},
        id=1,
        face_score=0.95,
    )
    return FrameResult(source="test", frame=i, timestamp=i / 25, faces=[face] if i % 3 else [])


def _rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_durations_and_sizes_parse_or_say_what_is_expected():
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "1.5d")] == [
        90,
        90,
        900,
        3600,
        129600,
    ]
    assert [parse_size(t) for t in ("500", "500K", "100M", "2G", "1.5MiB")] == [
        500,
        512000,
        100 * 2**20,
        2 * 2**30,
        int(1.5 * 2**20),
    ]
    for bad in ("", "0", "-5m", "5x", "1h30"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_segments_are_named_by_start_time_in_order_and_pruned_oldest_first(tmp_path):
    clock = Clock()
    seg = Segments(tmp_path / "t.csv", Rotation(every_s=60, keep=2), clock)
    (tmp_path / "t.csv").write_text("a user's own file\n")
    (tmp_path / "t-notes.csv").write_text("not a segment\n")
    names = []
    for step in (0, 0, 30, 45):  # two segments within one second get -2
        clock.t += step
        path = seg.start()
        path.write_text(str(step))
        names.append(path.name)
    assert len(set(names)) == 4 and names[1] == names[0].replace(".csv", "-2.csv")
    clock.t += 59
    assert not seg.due(10**9 - 1) and Rotation(max_bytes=10).active
    clock.t += 1
    assert seg.due(0)
    assert seg.prune() == []  # each start pruned: keep 2, the current one and the one before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["t.csv", "t-notes.csv", *names[2:]]
    )


def test_restarted_runs_keep_only_keep_segments_ordered_by_name_not_mtime(tmp_path):
    """Six restarts (a nightly reboot with --rotate 1d) leave `keep` segments, and a segment
    whose mtime is in the future (a Pi's clock before it syncs) is still the oldest by name."""
    clock = Clock(time.time() - 30 * 86400)  # the runs before this one
    stale = tmp_path / "t-20200101-000000.csv"
    stale.write_text("from a run long ago\n")
    future = time.time() + 3600
    os.utime(stale, (future, future))
    for _ in range(6):  # each run a new process: its own Segments, one segment started
        clock.t += 86400
        seg = Segments(tmp_path / "t.csv", Rotation(every_s=86400, keep=2), clock)
        seg.start().write_text("frame\n")
    writer = CsvTimelineWriter(tmp_path / "t.csv", LABELS, rotation=Rotation(every_s=86400, keep=2))
    writer.close()  # the writer's own start prunes as well
    left = Segments(tmp_path / "t.csv", Rotation()).existing()
    assert len(left) == 2 and stale not in left and left[-1] == writer.path


def test_a_rotated_timeline_loses_no_row_and_each_segment_has_its_header(tmp_path):
    writer = CsvTimelineWriter(tmp_path / "t.csv", LABELS, rotation=Rotation(max_bytes=600))
    for i in range(60):
        writer.frame(_frame(i), np.zeros((8, 8, 3), np.uint8))
    writer.close()
    segments = Segments(tmp_path / "t.csv", Rotation()).existing()
    assert len(segments) > 3 and not (tmp_path / "t.csv").exists()
    rows = []
    for path in segments:
        r = _rows(path)
        assert r[0][:4] == ["run", "frame", "timestamp", "faces"]
        assert r[0][-4:] == [*LABELS, *(f"raw_{k}" for k in LABELS)]
        rows += r[1:]
    assert [int(r[1]) for r in rows] == list(range(60))

    kept = CsvTimelineWriter(tmp_path / "k.csv", LABELS, rotation=Rotation(max_bytes=600, keep=2))
    for i in range(60):
        kept.frame(_frame(i), np.zeros((8, 8, 3), np.uint8))
    kept.close()
    last = Segments(tmp_path / "k.csv", Rotation()).existing()
    assert len(last) == 2 and int(_rows(last[-1])[-1][1]) == 59


def test_rotated_video_segments_each_play_and_hold_every_frame(tmp_path):
    clock = Clock()
    saver = VideoSaver(tmp_path / "v.avi", 10.0, rotation=Rotation(every_s=1.0))
    saver.segments.clock = clock
    saver.segments.start()  # restart the first segment on the fake clock
    saver.path = saver.segments.current
    image = np.full((48, 64, 3), 128, np.uint8)
    for i in range(25):
        saver.frame(_frame(i), image)
        clock.t += 0.125
    saver.close()
    segments = Segments(tmp_path / "v.avi", Rotation()).existing()
    assert len(segments) == 4
    counts = []
    for path in segments:
        cap = cv2.VideoCapture(str(path))
        n = 0
        while cap.read()[0]:
            n += 1
        cap.release()
        counts.append(n)
    assert counts == [8, 8, 8, 1]


def test_run_rotates_its_outputs_and_checks_the_options(tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--demo",
            "--max-frames",
            "60",
            "--quiet",
            "--csv",
            str(tmp_path / "t.csv"),
            "--rotate-size",
            "2K",
            "--keep",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("t-*.csv"))) == 2 and not (tmp_path / "t.csv").exists()
    for args, why in (
        (["--keep", "2"], "--keep counts rotated segments"),
        (["--rotate", "5x"], "--rotate: '5x' is not a duration"),
        (["--rotate-size", "big"], "--rotate-size: 'big' is not a size"),
    ):
        res = CliRunner().invoke(app, ["run", "--demo", "--max-frames", "1", *args])
        assert res.exit_code == 2 and why in res.output, res.output


KILLED = """
import sys, numpy as np
from edge_runtime.outputs import VideoSaver
from edge_runtime.results import FrameResult
saver = VideoSaver(sys.argv[1], 25.0)
rng = np.random.default_rng(0)
for i in range(10**6):
    image = rng.integers(0, 256, (120, 160, 3), np.uint8)  # a camera's noise, not a still
    saver.frame(FrameResult(source="t", frame=i, timestamp=i / 25), image)
    if i == 300:  # 12 s of video: WebM flushes a cluster every few seconds of it
        print("written", flush=True)
"""


def test_saving_an_mp4_says_it_would_not_survive_a_kill(tmp_path):
    assert "unreadable if the run is killed" in VideoSaver(tmp_path / "v.mp4", 25.0).note
    assert VideoSaver(tmp_path / "v.mkv", 25.0).note is None


@pytest.mark.parametrize("suffix", [".webm", ".mkv", ".avi"])
def test_a_video_killed_mid_write_still_plays(tmp_path, suffix):
    path = tmp_path / f"v{suffix}"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "written"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames >= 150, f"{path.name}: {frames} frames readable after SIGKILL"


def test_appending_to_a_timeline_cuts_a_row_torn_by_a_killed_run(tmp_path):
    path = tmp_path / "t.csv"
    writer = CsvTimelineWriter(path, LABELS)
    for i in range(3):
        writer.frame(_frame(i), np.zeros((8, 8, 3), np.uint8))
    writer.close()
    with path.open("a") as f:
        f.write("2026-12-08T00:00:00+0000,3,0.300,1,1,4,4,20")  # killed mid-row
    again = CsvTimelineWriter(path, LABELS)
    assert "its last row was cut short" in again.note and "(43 bytes)" in again.note
    again.frame(_frame(4), np.zeros((8, 8, 3), np.uint8))
    again.close()
    rows = _rows(path)
    assert all(len(r) == len(rows[0]) for r in rows)
    assert [int(r[1]) for r in rows[1:]] == [0, 1, 2, 4]


def test_saving_a_video_on_a_full_disk_stops_with_one_line(tmp_path, monkeypatch):
    from collections import namedtuple

    import edge_runtime.outputs as outputs
    from edge_runtime.outputs import OutputError

    Usage = namedtuple("Usage", "total used free")
    free = {"bytes": 10 * 2**20}
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: Usage(2**30, 0, free["bytes"]))
    monkeypatch.setattr(outputs, "SPACE_CHECK_S", 0.0)
    saver = VideoSaver(tmp_path / "v.mkv", 10.0)
    image = np.full((48, 64, 3), 128, np.uint8)
    for i in range(5):
        saver.frame(_frame(i), image)
    free["bytes"] = 1000  # the disk fills up
    with pytest.raises(OutputError, match=r"v\.mkv: the disk is full \(1,000 bytes free after 6"):
        saver.frame(_frame(5), image)
    saver.close()


def test_restarts_after_a_model_change_append_to_one_twin_timeline(tmp_path):
    path = tmp_path / "t.csv"
    CsvTimelineWriter(path, LABELS).close()
    other = ("angry", "happy", "sad")
    for _ in range(3):  # three restarts with another model's labels
        w = CsvTimelineWriter(path, other)
        w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-2.csv", "t.csv"]
    assert "t-2.csv exists: appending to it" in w.note
