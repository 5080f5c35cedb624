"""`edge-fer service install`: a systemd unit that keeps `edge-fer run` going on a device."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import sys
from pathlib import Path

import typer

from edge_runtime.commands.common import UserError, info

app = typer.Typer(
    help="Run edge-fer as a systemd service (e.g. on a Raspberry Pi).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

DEFAULT_RUN_ARGS = ("--camera", "0", "--serve", "127.0.0.1:8080", "--quiet")
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def systemd_quote(arg: str) -> str:
    """One ExecStart word: `%` and `$` escaped, quoted when it holds anything unusual."""
    word = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(arg):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def edge_fer_command() -> list[str]:
    """How to start this installation's `edge-fer`: the script beside this Python, or the
    one on PATH, else `python -m edge_runtime.cli`, as absolute paths."""
    beside = Path(sys.executable).parent / "edge-fer"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("edge-fer")
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "edge_runtime.cli"]


DESCRIPTION = "edge-fer: facial expression recognition (edge-fer run)"


def render_unit(
    run_args: list[str],
    user: str | None,
    working_directory: str | None,
    command: list[str] | None = None,
    description: str | None = None,
) -> str:
    """The text of a systemd service unit running `edge-fer run RUN_ARGS`.

    Restarted 5 s after it ends for any reason, forever (a camera that is unplugged at boot comes
    back), and when its frames stop for WatchdogSec without a reopen attempt (a hung driver or
    pipeline); stdout/stderr go to the journal, one line per event."""
    exec_start = " ".join(
        systemd_quote(a) for a in [*(command or edge_fer_command()), "run", *run_args]
    )
    service = ["Type=notify", "NotifyAccess=main"]
    if user:
        service += [f"User={user}", "SupplementaryGroups=video"]
    if working_directory:
        # a path setting takes the rest of the line as it is: no quotes, only % escaped
        service.append(f"WorkingDirectory={working_directory.replace('%', '%%')}")
    service += [
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={exec_start}",
        # any end restarts it: a camera read like a file can end with exit 0
        "Restart=always",
        "RestartSec=5",
        "# run says READY=1 once its source is open and pings the watchdog with every frame",
        "# and every reopen attempt; a run silent for 60 s is killed and restarted",
        "WatchdogSec=60",
        "TimeoutStartSec=120",
        "# edge-fer run ends cleanly on SIGTERM (outputs flushed, exit code 0)",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=20",
        "StandardOutput=journal",
        "StandardError=journal",
        "SyslogIdentifier=edge-fer",
    ]
    return "\n".join(
        [
            "[Unit]",
            f"Description={description or DESCRIPTION}",
            "Wants=network-online.target",
            "After=network-online.target",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            *service,
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _check_run_args(run_args: list[str], working_directory: str | None) -> None:
    """Parse RUN_ARGS as `edge-fer run` would (without running it): typos, a model that does
    not resolve and a relative path the service could not find (it starts in /) fail here,
    not in a unit that restarts forever."""
    from edge_runtime.classifier import resolve_model
    from edge_runtime.cli import app as cli_app
    from edge_runtime.model_info import ModelError

    group = typer.main.get_command(cli_app)
    run_cmd = group.commands["run"]  # type: ignore[attr-defined]
    try:
        params = run_cmd.make_context("run", list(run_args)).params
    except Exception as e:  # click's usage errors (typer may vendor click: no import here)
        if hasattr(e, "format_message"):
            raise UserError(f"edge-fer run {' '.join(run_args)}: {e.format_message()}") from None
        raise
    from edge_runtime.commands.run import checked_options

    checked_options(params)  # the very checks `run` makes before it opens anything
    paths = {
        "--video": params.get("video"),
        "--csv": params.get("csv_path"),
        "--save": params.get("save"),
        "--detector-model": params.get("detector_model"),
    }
    model = params.get("model")
    model_is_path = model is not None and (str(model).endswith(".onnx") or "/" in str(model))
    if model_is_path:
        paths["--model"] = model
    for flag, value in paths.items():
        if value is None or "://" in str(value) or Path(value).is_absolute():
            continue
        if working_directory is None:
            raise UserError(
                f"{flag} {value}: a relative path, but a service starts in /; give "
                "an absolute path or --working-directory"
            )
    if model is not None:
        try:
            resolve_model(Path(working_directory or ".") / model if model_is_path else model)
        except ModelError as e:
            raise UserError(f"--model {e}") from None


def _default_user() -> str | None:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return None if user == "root" else user


@app.command(
    "install",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def install(
    run_args: list[str] | None = typer.Argument(
        None,
        metavar="[-- RUN_ARGS...]",
        help="Options for `edge-fer run` (default: --camera 0 --serve 127.0.0.1:8080 --quiet).",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the unit to this file (e.g. "
        "/etc/systemd/system/edge-fer.service) instead of printing it.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output."),
    user: str | None = typer.Option(
        None, "--user", help="User to run as (default: the invoking user, via sudo too)."
    ),
    working_directory: str | None = typer.Option(
        None, "--working-directory", help="Directory relative paths in RUN_ARGS start from."
    ),
) -> None:
    """Print (or write with --output) a systemd unit that runs `edge-fer run` and restarts
    it on failure. Options after `--` go to `edge-fer run`:

        edge-fer service install --user pi -- --camera 0 --serve 0.0.0.0:8080 --quiet
    """
    args = list(run_args or DEFAULT_RUN_ARGS)
    for name, value in (
        *(("RUN_ARGS", a) for a in args),
        ("--user", user),
        ("--working-directory", working_directory),
    ):
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UserError(
                f"{name} {value!r}: a control character (a newline could add lines to the unit)"
            )
    if user is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+", user):
        raise UserError(f"--user {user!r}: not a user name or id")
    if working_directory is not None and not working_directory.startswith("/"):
        raise UserError(f"--working-directory {working_directory}: give an absolute path")
    _check_run_args(args, working_directory)
    unit = render_unit(args, user if user is not None else _default_user(), working_directory)
    if output is None:
        sys.stdout.write(unit)
        return
    if output.exists() and not overwrite:
        raise UserError(f"{output} exists; pass --overwrite to replace it", 1)
    if output.is_dir():
        raise UserError(f"{output} is a directory", 1)
    try:
        output.write_text(unit, encoding="utf-8")
    except OSError as e:
        raise UserError(f"{output}: cannot write ({e.strerror or e})", 1) from None
    name = output.name
    info(f"edge-fer: wrote {output}")
    info(
        f"next: sudo systemctl daemon-reload && sudo systemctl enable --now {name}; "
        f"logs: journalctl -u {name} -f"
    )
