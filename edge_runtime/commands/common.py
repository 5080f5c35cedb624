"""What every CLI verb shares: one-line errors, the training-stack check, shared options."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from edge_runtime.errors import EdgeFerError, one_line


class UserError(EdgeFerError):
    """A user mistake (bad path, bad option, bad model): reported in one line, no traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `edge-fer: error: message` on stderr and exit with `code`."""
    typer.echo(f"edge-fer: error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"edge-fer: warning: {one_line(message)}", err=True)


def info(message: str) -> None:
    typer.echo(one_line(message), err=True)


def require_training_stack(verb: str) -> None:
    """Exit with one line naming the install command when TensorFlow & co. are missing; else
    import TensorFlow without its native log lines."""
    import importlib.util

    missing = [
        m
        for m in ("tensorflow", "keras", "sklearn", "matplotlib")
        if importlib.util.find_spec(m) is None
    ]
    if verb == "export":
        missing += [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        fail(
            f"`edge-fer {verb}` needs the training extra ({', '.join(missing)} not installed): "
            "pip install 'edge-fer[train]'",
            code=3,
        )
    from edge_train.tf_import import import_tensorflow

    import_tensorflow()


def is_tty() -> bool:
    return sys.stderr.isatty()


def command_line(ctx: typer.Context) -> str:
    """The invoked command as a shell line (arguments, then options given on the command line
    or differing from their defaults), to record in metrics and model cards so a run can be
    repeated exactly, even after a default changes."""
    import shlex

    args: list[str] = []
    opts: list[str] = []
    for p in ctx.command.params:
        value = ctx.params.get(p.name)
        source = ctx.get_parameter_source(p.name)
        given = source is not None and source.name == "COMMANDLINE"
        if getattr(p, "param_type_name", "") == "argument":
            args += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        elif value is not None and (given or value != p.default):
            if getattr(p, "is_flag", False):
                opts += [p.opts[0]] if value else p.secondary_opts[:1]
            else:
                for v in value if isinstance(value, (list, tuple)) else [value]:
                    opts += [p.opts[0], str(v)]
    return shlex.join(["edge-fer", ctx.info_name or "", *args, *opts])
