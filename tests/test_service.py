"""`edge-fer service install`: the systemd unit, printed or written, never over a file."""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.commands.service import render_unit, systemd_quote


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def exec_start(unit: str) -> list[str]:
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart="):].replace("%%", "%").replace("$$", "$"))


def test_unit_runs_edge_fer_run_and_restarts_whenever_it_ends():
    unit = render_unit(["--camera", "0", "--serve", "0.0.0.0:8080", "--model",
                        "/opt/my models/m 100%.onnx", "--quiet"], "pi", "/home/pi",
                       command=["/opt/venv/bin/edge-fer"])
    lines = unit.splitlines()
    for want in ("[Unit]", "[Service]", "[Install]", "User=pi", "SupplementaryGroups=video",
                 "Restart=always", "RestartSec=5", "StartLimitIntervalSec=0",
                 "WorkingDirectory=/home/pi", "Environment=PYTHONUNBUFFERED=1",
                 "StandardError=journal", "WantedBy=multi-user.target", "KillSignal=SIGTERM"):
        assert want in lines, want
    assert exec_start(unit) == ["/opt/venv/bin/edge-fer", "run", "--camera", "0", "--serve",
                                "0.0.0.0:8080", "--model", "/opt/my models/m 100%.onnx",
                                "--quiet"]
    assert '"/opt/my models/m 100%%.onnx"' in unit


def test_systemd_quote():
    assert systemd_quote("--camera") == "--camera"
    assert systemd_quote("a b") == '"a b"'
    assert systemd_quote('say "hi"') == '"say \\"hi\\""'
    assert systemd_quote("$HOME") == '"$$HOME"'
    assert systemd_quote("50%") == "50%%"


def test_install_prints_the_unit_with_defaults():
    r = cli("service", "install", "--user", "pi")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("[Unit]")
    args = exec_start(r.stdout)
    assert args[args.index("run"):] == ["run", "--camera", "0", "--serve", "127.0.0.1:8080",
                                        "--quiet"]
    assert args[0].endswith("edge-fer") or args[1:3] == ["-m", "edge_runtime.cli"]


def test_install_passes_run_options_after_double_dash():
    r = cli("service", "install", "--user", "pi", "--", "--video", "/srv/loop.mp4", "--loop",
            "--serve", "8080")
    assert r.exit_code == 0, r.output
    args = exec_start(r.stdout)
    assert args[args.index("run") + 1:] == ["--video", "/srv/loop.mp4", "--loop", "--serve",
                                            "8080"]


def test_install_rejects_unknown_run_options():
    r = cli("service", "install", "--", "--camra", "0")
    assert r.exit_code == 2
    assert "No such option: --camra" in r.output and "Traceback" not in r.output


def test_install_writes_but_never_overwrites_without_asking(tmp_path):
    target = tmp_path / "edge-fer.service"
    r = cli("service", "install", "--user", "pi", "--output", target)
    assert r.exit_code == 0, r.output
    assert target.read_text().startswith("[Unit]")
    assert "systemctl daemon-reload" in r.output and "enable --now edge-fer.service" in r.output
    target.write_text("mine")
    r = cli("service", "install", "--output", target)
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output
    assert target.read_text() == "mine"
    r = cli("service", "install", "--user", "pi", "--output", target, "--overwrite")
    assert r.exit_code == 0 and target.read_text().startswith("[Unit]")


def test_install_refuses_what_would_make_the_unit_restart_forever(tmp_path, tiny_onnx_model):
    r = cli("service", "install", "--user", "pi", "--", "--model", "nosuch")
    assert r.exit_code == 2 and "--model nosuch: no such bundled model" in r.output
    r = cli("service", "install", "--user", "pi", "--", "--video", "clip.mp4")
    assert r.exit_code == 2 and "--video clip.mp4: a relative path" in r.output
    r = cli("service", "install", "--user", "pi", "--working-directory", str(tmp_path), "--",
            "--video", "clip.mp4", "--csv", "t.csv")
    assert r.exit_code == 0, r.output
    r = cli("service", "install", "--user", "pi", "--", "--model", str(tiny_onnx_model),
            "--video", "rtsp://cam.local/stream")
    assert r.exit_code == 0, r.output
