"""The `edge-fer` command line: one verb per mode, each in `edge_runtime/commands/`."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable

import typer

from edge_runtime.commands.common import fail
from edge_runtime.errors import EdgeFerError

app = typer.Typer(
    name="edge-fer",
    help="Facial expression recognition for small devices: train, export, predict, run, bench.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags as `--json`, not `--json <bool>`
)

# (verb, module in edge_runtime.commands, function); each function's docstring is its help
COMMANDS: list[tuple[str, str, str]] = [
    ("train", "train", "train"),
    ("evaluate", "evaluate", "evaluate"),
    ("export", "export", "export"),
    ("models", "models", "models"),
    ("inspect", "models", "inspect"),
    ("predict", "predict", "predict"),
    ("run", "run", "run"),
    ("report", "report", "report"),
    ("service", "service", "app"),  # a Typer sub-app: `edge-fer service install`
    ("bench", "bench", "bench"),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"edge-fer {version('edge-fer')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            from edge_runtime import __version__

            typer.echo(f"edge-fer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Also show the libraries' own log lines (TensorFlow, FFmpeg; held back by "
        "default) and name each folder entry predict skips.",
    ),
) -> None:
    """Facial expression recognition for small devices: train, export, predict, run, bench."""
    if verbose:
        from edge_runtime.native_logs import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"


def _guarded(fn: Callable) -> Callable:
    """Turn user mistakes raised deep inside a verb into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgeFerError as e:
            fail(str(e), e.code)

    return wrapper


for _verb, _module, _func in COMMANDS:
    _fn = getattr(importlib.import_module(f"edge_runtime.commands.{_module}"), _func)
    if isinstance(_fn, typer.Typer):  # a verb with sub-verbs
        for _info in _fn.registered_commands:
            _info.callback = _guarded(_info.callback)
        app.add_typer(_fn, name=_verb)
    else:
        app.command(_verb)(_guarded(_fn))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
