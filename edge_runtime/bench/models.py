"""Which model files a benchmark measures: bundled names, paths, `NAME=PATH`, siblings.

A model is a name with up to one file per format: `fp32` and `int8` ONNX (siblings
`NAME.fp32.onnx` / `NAME.int8.onnx` in the same folder are picked up), `onnx` (an ONNX file
named otherwise) and `keras` (a `.keras` file: rows `keras-predict` and `keras-call`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.classifier import bundled_files, bundled_models
from edge_runtime.errors import EdgeFerError

#: formats a user can ask for; `keras` gives two rows (Keras `predict` and a direct call)
FORMATS: tuple[str, ...] = ("keras", "fp32", "int8")
KERAS_ROWS: tuple[str, ...] = ("keras-predict", "keras-call")
#: order of formats in tables
FORMAT_ORDER: tuple[str, ...] = (*KERAS_ROWS, "fp32", "onnx", "int8", "tflite")
#: model files a path may name, by suffix; a .tflite file (e.g. the `fer` package's
#: classifier) is a reference row, timed whenever it is given
SUFFIXES: tuple[str, ...] = (".onnx", ".keras", ".tflite")


class BenchError(EdgeFerError):
    """A bad `edge-fer bench` input (model, format, data, video): one line, exit code 2."""

    code = 2


@dataclass
class ModelFiles:
    """One model's files by format (`fp32`, `int8`, `onnx`, `keras`)."""

    name: str
    files: dict[str, Path] = field(default_factory=dict)
    bundled: bool = False


def onnx_format(path: Path) -> str:
    """`int8` / `fp32` from a `NAME.int8.onnx` / `NAME.fp32.onnx` file name, else `onnx`."""
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in ("int8", "fp32") else "onnx"


def name_of(path: Path) -> str:
    """A model's name from its file: `happy_sad.int8.onnx` -> happy_sad; a training run's
    `runs/b_happy_sad/model.keras` -> b_happy_sad."""
    if path.suffix == ".keras" and path.stem == "model" and path.parent.name:
        return path.parent.name
    return path.name.split(".")[0]


def _with_siblings(path: Path) -> dict[str, Path]:
    fmt = onnx_format(path)
    found = {fmt: path}
    if fmt in ("fp32", "int8"):
        stem = path.name[: -len(f".{fmt}.onnx")]
        for other in ("fp32", "int8"):
            sib = path.with_name(f"{stem}.{other}.onnx")
            if other not in found and sib.is_file():
                found[other] = sib
    return found


def _is_path(token: str) -> bool:
    return "/" in token or "\\" in token or token.endswith(SUFFIXES) or Path(token).exists()


def _add(
    found: dict[str, ModelFiles], name: str, files: dict[str, Path], bundled: bool = False
) -> None:
    entry = found.setdefault(name, ModelFiles(name, bundled=bundled))
    for fmt, path in files.items():
        entry.files.setdefault(fmt, path)


def collect(tokens: list[str]) -> list[ModelFiles]:
    """Models from `--models` tokens and PATH arguments, in the order given.

    `all`: every bundled model. A bundled name. A path (`.onnx`, `.keras`), named after its
    file; `NAME=PATH` names it explicitly, e.g. to put a training run's `model.keras` beside
    the exported `NAME.int8.onnx`. BenchError for anything that names nothing.
    """
    found: dict[str, ModelFiles] = {}
    bundled = bundled_models()
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        if token == "all":
            for name in bundled:
                _add(found, name, bundled_files(name), bundled=True)
            continue
        name, sep, rest = token.partition("=")
        if sep and name and not _is_path(name):
            token = rest
        else:
            name = ""
        if _is_path(token):
            path = Path(token)
            if not path.is_file():
                raise BenchError(f"{token}: model file not found")
            if path.suffix not in SUFFIXES:
                raise BenchError(f"{token}: not a model file (expected .onnx, .keras or .tflite)")
            files = (
                {"keras": path}
                if path.suffix == ".keras"
                else {"tflite": path}
                if path.suffix == ".tflite"
                else _with_siblings(path)
            )
            _add(found, name or name_of(path), files)
        elif token in bundled:
            _add(found, token, bundled_files(token), bundled=True)
        else:
            known = ", ".join(bundled) or "none installed"
            raise BenchError(f"{token}: no such bundled model or file (bundled: {known})")
    return list(found.values())


def parse_formats(text: str) -> tuple[str, ...]:
    """`keras,fp32,int8` as a tuple; BenchError naming an unknown format."""
    fmts = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise BenchError(
            f"--formats: unknown format {', '.join(bad) or '(none)'}; choose from "
            + ", ".join(FORMATS)
        )
    return fmts
