"""`edge-fer predict` and `edge-fer run` from the command line, on synthetic inputs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.commands.common import command_line

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), rng.integers(0, 255, (48, 48), np.uint8))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((400, 400), np.uint8))
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (64, 64, 3), np.uint8))[1].tobytes()
    trunc = tmp_path / "cut.jpg"
    trunc.write_bytes(jpeg[: len(jpeg) // 2])
    return {
        "good": good,
        "big": big,
        "text": text,
        "trunc": trunc,
        "missing": tmp_path / "missing.jpg",
    }


def test_bad_inputs_each_give_one_error_and_the_rest_go_on(tiny_onnx_model, images):
    r = cli(
        "predict",
        "--model",
        tiny_onnx_model,
        "--detector",
        "none",
        "--json",
        "--max-megapixels",
        "0.1",
        images["missing"],
        images["text"],
        images["good"],
        images["trunc"],
        images["big"],
    )
    assert r.exit_code == 1
    out = _lines(r.stdout)
    assert [Path(o["source"]).name for o in out] == [
        "missing.jpg",
        "notes.jpg",
        "good.png",
        "cut.jpg",
        "big.png",
    ]
    errors = [o["error"] for o in out]
    assert errors[2] is None and len(out[2]["faces"]) == 1
    assert "no such file" in errors[0]
    assert "not an image" in errors[1]
    assert "truncated jpeg" in errors[3]
    assert "too large" in errors[4]
    assert all(set(o) == {"source", "timestamp", "faces", "error"} for o in out)
    face = out[2]["faces"][0]
    assert set(face) == {"box", "face_score", "label", "score", "probs"} and len(face["probs"]) == 7
    stderr = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(stderr) == 4 and all(ln.startswith("edge-fer: warning: ") for ln in stderr)


def test_all_good_inputs_exit_zero_with_readable_lines(tiny_onnx_model, images):
    r = cli("predict", "--model", tiny_onnx_model, "--detector", "none", images["good"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{images['good']}: 1 face: ")


def test_save_annotated_images_without_overwriting(tiny_onnx_model, images, tmp_path):
    out = tmp_path / "annotated.png"
    args = ["predict", "--model", tiny_onnx_model, "--detector", "none", images["good"]]
    assert cli(*args, "--save", out).exit_code == 0
    assert cv2.imread(str(out)) is not None
    first = out.read_bytes()
    r = cli(*args, "--save", out)  # one rule for every output: the next free name
    assert r.exit_code == 0 and f"{out} exists: writing {tmp_path / 'annotated-2.png'}" in r.stderr
    assert out.read_bytes() == first and (tmp_path / "annotated-2.png").is_file()
    assert cli(*args, "--save", out, "--overwrite").exit_code == 0
    folder = tmp_path / "many"
    r = cli(*args, images["good"], "--save", folder)
    assert r.exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["good-2.png", "good.png"]
    assert cli(*args, "--save", folder / "good.png").exit_code == 0  # a rerun into the folder
    r = cli(*args, images["good"], "--save", folder)
    assert r.exit_code == 0
    assert len(list(folder.iterdir())) == 5  # good-3.png and good-4.png: nothing replaced


def test_missing_default_model_and_bad_model_are_one_liners(tmp_path, images):
    from edge_runtime.classifier import DEFAULT_MODEL, bundled_models

    if DEFAULT_MODEL not in bundled_models():
        r = cli("predict", images["good"])
        assert r.exit_code == 2
        assert r.stderr.strip().count("\n") == 0 and "--model" in r.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    r = cli("predict", "--model", bad, images["good"])
    assert r.exit_code == 2 and r.stderr.startswith("edge-fer: error: ")
    assert r.stderr.strip().count("\n") == 0


def test_run_video_json_csv_and_save(tiny_onnx_model, video, tmp_path):
    csv_path, mp4 = tmp_path / "timeline.csv", tmp_path / "out.avi"
    r = cli(
        "run",
        "--model",
        tiny_onnx_model,
        "--video",
        video,
        "--detector",
        "none",
        "--json",
        "--csv",
        csv_path,
        "--save",
        mp4,
    )
    assert r.exit_code == 0, r.output
    out = _lines(r.stdout)
    frames, summary = out[:-1], out[-1]["summary"]
    assert [f["frame"] for f in frames] == list(range(30))
    assert all(set(f) == {"source", "frame", "timestamp", "faces", "error"} for f in frames)
    assert frames[5]["faces"][0]["id"] == 1
    assert summary["frames"] == 30 and summary["faces"] == 30 and summary["fps"] > 0
    assert set(summary["stage_ms"]) == {"read", "detect", "preprocess", "infer", "smooth"}
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 30 and rows[0]["id"] == "1" and "happy" in rows[0]
    cap = cv2.VideoCapture(str(mp4))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    cap.release()


def test_a_restarted_run_keeps_what_it_recorded(tiny_onnx_model, video, tmp_path):
    """A service restarted (crash, reboot) with the same --csv and --save: it never exits for
    them and never loses them; the timeline grows, the video goes to the next free name."""
    csv_path, avi = tmp_path / "timeline.csv", tmp_path / "out.avi"
    args = [
        "run",
        "--model",
        tiny_onnx_model,
        "--video",
        video,
        "--detector",
        "none",
        "--quiet",
        "--csv",
        csv_path,
        "--save",
        avi,
    ]
    assert cli(*args).exit_code == 0
    first_video = avi.read_bytes()
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert f"{csv_path} exists: appending to it" in r.stderr
    assert f"{avi} exists: writing {tmp_path / 'out-2.avi'}" in r.stderr
    rows = list(csv.reader(csv_path.open()))
    assert rows[0][:2] == ["run", "frame"] and len(rows) == 1 + 2 * 30
    assert [row[1] for row in rows[1:]].count("0") == 2  # two runs, one header
    assert len({row[0] for row in rows[1:]}) in (1, 2)  # each run's start (same second: one)
    assert avi.read_bytes() == first_video and (tmp_path / "out-2.avi").is_file()
    other = tmp_path / "other.csv"
    other.write_text("my,own,columns\n1,2,3\n")
    r = cli("run", "--model", tiny_onnx_model, "--video", video, "--quiet", "--csv", other)
    assert r.exit_code == 0 and other.read_text() == "my,own,columns\n1,2,3\n"
    assert (tmp_path / "other-2.csv").is_file() and "other columns" in r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_one_line_and_a_failed_exit(tiny_onnx_model, video):
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    r = cli(
        "run",
        "--model",
        tiny_onnx_model,
        "--video",
        video,
        "--detector",
        "none",
        "--quiet",
        "--csv",
        "/dev/full",
        "--overwrite",
    )
    assert r.exit_code == 1, r.output
    assert "/dev/full: cannot write (No space left on device)" in r.stderr
    assert "Traceback" not in r.output


def test_run_bounds_and_options(tiny_onnx_model, video):
    base = ["run", "--model", tiny_onnx_model, "--video", video, "--json"]
    r = cli(*base, "--max-frames", "7", "--smoothing", "off", "--detect-every", "1")
    assert r.exit_code == 0, r.output
    assert _lines(r.stdout)[-1]["summary"]["frames"] == 7
    assert cli(*base, "--smoothing", "2").exit_code == 2
    assert cli(*base, "--detect-every", "0").exit_code == 2
    assert cli("run", "--model", tiny_onnx_model).exit_code == 2  # no source
    r = cli("run", "--model", tiny_onnx_model, "--video", video, "--demo")
    assert r.exit_code == 2 and "choose one source" in r.stderr


def test_camera_that_cannot_open_exits_2(tiny_onnx_model, tmp_path):
    r = cli("run", "--model", tiny_onnx_model, "--camera", tmp_path / "video99")
    assert r.exit_code == 2
    assert "edge-fer: error: cannot open camera" in r.stderr


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_sigterm_mid_stream_flushes_a_summary_and_exits_0(tiny_onnx_model, tmp_path):
    # a long synthetic video with no face: Haar runs on every frame, so it takes a while
    path = tmp_path / "long.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    frame = np.random.default_rng(2).integers(0, 255, (240, 320, 3), np.uint8)
    for _ in range(500):
        w.write(frame)
    w.release()
    csv_path = tmp_path / "t.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli",
            "run",
            "--model",
            str(tiny_onnx_model),
            "--video",
            str(path),
            "--json",
            "--csv",
            str(csv_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    first = proc.stdout.readline()
    assert json.loads(first)["frame"] == 0
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert 0 < last["summary"]["frames"] < 500
    assert "stopped by signal" in err
    rows = csv_path.read_text().splitlines()
    assert len(rows) == last["summary"]["frames"] + 1  # header + one row per frame, flushed


def test_recorded_command_keeps_options_given_even_at_their_default():
    """Cards record the command; `--arch b --seed 0` must survive a later change of defaults."""
    demo = typer.Typer()
    seen: list[str] = []

    @demo.command()
    def train(
        ctx: typer.Context,
        data: str = typer.Option(...),
        arch: str = typer.Option("b"),
        seed: int = typer.Option(0),
        lr: float = typer.Option(1e-3),
        tta: bool = typer.Option(False, "--tta/--no-tta"),
        resume: bool = typer.Option(False, "--resume"),
        also: list[Path] = typer.Option([], "--also"),
    ) -> None:
        seen.append(command_line(ctx))

    @demo.command()
    def other() -> None: ...

    for argv in (
        ["--arch", "b", "--seed", "0", "--no-tta"],
        ["--resume", "--also", "t1.keras", "--also", "my t2.onnx"],
    ):
        assert CliRunner().invoke(demo, ["train", "--data", "x", *argv]).exit_code == 0
    assert seen == [
        "edge-fer train --data x --arch b --seed 0 --no-tta",
        "edge-fer train --data x --resume --also t1.keras --also 'my t2.onnx'",
    ]


def test_version_and_a_clean_package_namespace():
    import edge_runtime

    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"edge-fer {edge_runtime.__version__}"
    assert dir(edge_runtime) == sorted([*edge_runtime.__all__, "__version__"])
    assert "EmotionRecognizer" in dir(edge_runtime) and "importlib" not in dir(edge_runtime)


def test_every_error_of_a_users_input_is_an_edge_fer_error():
    """One family: the CLI turns any of them into one line and its exit code."""
    from edge_runtime.detect import DetectorError
    from edge_runtime.errors import EdgeFerError
    from edge_runtime.image_io import ImageError
    from edge_runtime.model_info import ModelError
    from edge_runtime.outputs import OutputError
    from edge_runtime.serve import AddressError
    from edge_runtime.stream_sources import SourceError

    for cls in (DetectorError, ImageError, ModelError, OutputError, AddressError, SourceError):
        assert issubclass(cls, EdgeFerError), cls


def test_help_shows_flags_as_flags():
    for verb in ("predict", "run", "evaluate", "models", "bench"):
        r = cli(verb, "--help")
        assert r.exit_code == 0 and "<bool>" not in r.output, verb


def test_run_defaults_to_the_nano_tier(monkeypatch):
    import edge_runtime.commands.run as run_cmd

    seen = []
    real = run_cmd.build_recognizer

    def recording(model, *args, **kwargs):
        seen.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(run_cmd, "build_recognizer", recording)
    res = CliRunner().invoke(app, ["run", "--demo", "--max-frames", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert seen == ["fer7-nano"]


def test_run_on_a_terminal_keeps_one_status_line_and_lines_when_piped(tiny_onnx_model):
    """On a terminal, run rewrites one status line (per-frame lines with --verbose); piped,
    one line per frame as before (issue 51 item 9)."""
    import os
    import pty
    import subprocess
    import sys

    def on_a_terminal(*extra: str) -> str:
        leader, follower = pty.openpty()
        cmd = [
            sys.executable,
            "-m",
            "edge_runtime.cli",
            *extra,
            "run",
            "--demo",
            "--model",
            str(tiny_onnx_model),
            "--max-frames",
            "40",
        ]
        env = {k: v for k, v in os.environ.items() if k != "EDGE_FER_VERBOSE"}
        proc = subprocess.Popen(cmd, stdout=follower, stderr=subprocess.DEVNULL, env=env)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        proc.wait(60)
        os.close(leader)
        return out.decode(errors="replace")

    status = on_a_terminal()
    lines = [line for line in status.replace("\r\n", "\n").split("\n") if line.strip()]
    assert "\r" in status and len(lines) <= 4 and lines[-2].startswith("summary:")
    assert lines[-1].startswith("face 1: seen ")  # the facial-coding summary
    verbose = on_a_terminal("--verbose")
    assert verbose.count("frame ") >= 40
    piped = cli("run", "--demo", "--model", tiny_onnx_model, "--max-frames", "40")
    assert piped.stdout.count("\n") == 42 and "\r" not in piped.stdout


def test_a_broken_stdout_is_said_once(tiny_onnx_model):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge_runtime.cli",
                "run",
                "--demo",
                "--model",
                str(tiny_onnx_model),
                "--max-frames",
                "20",
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1 and r.stderr.count("cannot write") == 1, r.stderr
