"""`edge-fer service install`: the systemd unit, printed or written, never over a file."""

from __future__ import annotations

import shlex
import socket

import pytest
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_runtime.commands.service import render_unit, systemd_quote


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def exec_start(unit: str) -> list[str]:
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart=") :].replace("%%", "%").replace("$$", "$"))


def test_unit_runs_edge_fer_run_and_restarts_whenever_it_ends():
    unit = render_unit(
        [
            "--camera",
            "0",
            "--serve",
            "0.0.0.0:8080",
            "--model",
            "/opt/my models/m 100%.onnx",
            "--quiet",
        ],
        "pi",
        "/home/pi",
        command=["/opt/venv/bin/edge-fer"],
    )
    lines = unit.splitlines()
    for want in (
        "[Unit]",
        "[Service]",
        "[Install]",
        "User=pi",
        "SupplementaryGroups=video",
        "Restart=always",
        "RestartSec=5",
        "StartLimitIntervalSec=0",
        "WorkingDirectory=/home/pi",
        "Environment=PYTHONUNBUFFERED=1",
        "StandardError=journal",
        "WantedBy=multi-user.target",
        "KillSignal=SIGTERM",
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=60",
    ):
        assert want in lines, want
    assert exec_start(unit) == [
        "/opt/venv/bin/edge-fer",
        "run",
        "--camera",
        "0",
        "--serve",
        "0.0.0.0:8080",
        "--model",
        "/opt/my models/m 100%.onnx",
        "--quiet",
    ]
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
    assert args[args.index("run") :] == [
        "run",
        "--camera",
        "0",
        "--serve",
        "127.0.0.1:8080",
        "--quiet",
    ]
    assert args[0].endswith("edge-fer") or args[1:3] == ["-m", "edge_runtime.cli"]


def test_install_passes_run_options_after_double_dash():
    r = cli(
        "service",
        "install",
        "--user",
        "pi",
        "--",
        "--video",
        "/srv/loop.mp4",
        "--loop",
        "--serve",
        "8080",
    )
    assert r.exit_code == 0, r.output
    args = exec_start(r.stdout)
    assert args[args.index("run") + 1 :] == [
        "--video",
        "/srv/loop.mp4",
        "--loop",
        "--serve",
        "8080",
    ]


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
    r = cli(
        "service",
        "install",
        "--user",
        "pi",
        "--working-directory",
        str(tmp_path),
        "--",
        "--video",
        "clip.mp4",
        "--csv",
        "t.csv",
    )
    assert r.exit_code == 0, r.output
    r = cli(
        "service",
        "install",
        "--user",
        "pi",
        "--",
        "--model",
        str(tiny_onnx_model),
        "--video",
        "rtsp://cam.local/stream",
    )
    assert r.exit_code == 0, r.output


def test_run_tells_systemd_it_is_ready_alive_and_stopping(tmp_path, monkeypatch, tiny_onnx_model):
    """Under the unit, `run` speaks systemd's notify protocol on $NOTIFY_SOCKET: READY=1 once
    its source is open, WATCHDOG=1 while frames flow (at most twice per WatchdogSec),
    STOPPING=1 at the end."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping at most every 0.1 s
        res = cli("run", "--demo", "--model", tiny_onnx_model, "--max-frames", "60", "--quiet")
        assert res.exit_code == 0, res.output
        got = []
        sock.settimeout(0.2)
        try:
            while True:
                got.append(sock.recv(256).decode())
        except TimeoutError:
            pass
    assert got[0] == "READY=1" and got[-1] == "STOPPING=1"
    pings = got.count("WATCHDOG=1")
    assert 1 <= pings < 60  # rate-limited, not one per frame

    monkeypatch.setenv("WATCHDOG_PID", "1")  # the watchdog is another process's: stay silent
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))  # and a dead socket is no error
    assert (
        cli("run", "--demo", "--model", tiny_onnx_model, "--max-frames", "5", "--quiet").exit_code
        == 0
    )


@pytest.mark.parametrize(
    "run_args, message",
    [
        (["--rotate", "bogus"], "--rotate: 'bogus' is not a duration"),
        (["--serve", "99999"], "port 0-65535"),
        (["--precision", "bogus"], "--precision bogus: choose auto, int8, fp32"),
        (["--detect-every", "0"], "--detect-every must be at least 1"),
        (["--save", "/tmp/x.txt"], "save a stream as .mp4"),
        (["--duration", "nan"], "--duration must be a positive number"),
        (["--hold", "1,2"], "--hold must be MARGIN,FRAMES,MAX"),
        (["--provider", "qnn"], "--provider qnn: not in this onnxruntime build"),
        (["--mqtt", "http://x/y"], "expected mqtt://host"),
        (["--csv", "/tmp/a\nb.csv"], "a control character"),
    ],
)
def test_install_checks_run_options_with_runs_own_code(run_args, message):
    """Every value `run` would refuse is refused at install, not in a unit that restarts
    forever (issue 50 F10)."""
    r = CliRunner().invoke(app, ["service", "install", "--", "--camera", "0", *run_args])
    assert r.exit_code == 2 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def test_install_refuses_injection_and_writes_paths_as_systemd_reads_them():
    r = CliRunner().invoke(
        app, ["service", "install", "--user", "root\nExecStartPre=/bin/touch pwned", "--"]
    )
    assert r.exit_code == 2 and "a control character" in r.output
    assert "ExecStartPre" not in r.stdout
    r = CliRunner().invoke(app, ["service", "install", "--user", "pi pi", "--"])
    assert r.exit_code == 2 and "not a user name" in r.output
    r = CliRunner().invoke(
        app, ["service", "install", "--working-directory", "/srv/my dir", "--", "--camera", "0"]
    )
    assert r.exit_code == 0 and "\nWorkingDirectory=/srv/my dir\n" in r.stdout
    r = CliRunner().invoke(app, ["service", "install", "--working-directory", "srv", "--"])
    assert r.exit_code == 2 and "give an absolute path" in r.output
