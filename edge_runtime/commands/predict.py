"""`edge-fer predict INPUT...`: faces and their expressions in still images."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import cv2
import typer

from edge_runtime.classifier import DEFAULT_MODEL
from edge_runtime.commands.common import UserError, info, warn
from edge_runtime.commands.recognizer_setup import (
    DETECTOR_HELP,
    DETECTOR_MODEL_HELP,
    MIN_CONFIDENCE_HELP,
    MIN_FACE_SCORE_HELP,
    MIN_FACE_SIZE_HELP,
    MODEL_HELP,
    PRECISION_HELP,
    PROVIDER_HELP,
    PROVIDER_OPTION_HELP,
    THREADS_HELP,
    build_recognizer,
    provider_choice,
)
from edge_runtime.demo import DEMO_PHOTO
from edge_runtime.detect import DEFAULT_DETECTOR
from edge_runtime.image_io import ImageError
from edge_runtime.image_sources import URL_TIMEOUT_S, ImageInput, expand_inputs
from edge_runtime.native_logs import VERBOSE_ENV, quiet_opencv
from edge_runtime.outputs import ImageSaver, JsonLinesWriter, OutputError, TextWriter, Writer
from edge_runtime.recognizer import RecognizerOptions
from edge_runtime.results import ImageResult


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    """One line counting the folder entries not read, by kind; each named with --verbose."""
    if not skipped:
        return
    kinds = Counter(reason.split(" (")[0] for _, reason in skipped)
    info(
        f"edge-fer: skipped {len(skipped)} folder entr{'y' if len(skipped) == 1 else 'ies'}: "
        + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        + ("" if os.environ.get(VERBOSE_ENV) else " (edge-fer --verbose predict ... names them)")
    )
    if os.environ.get(VERBOSE_ENV):
        for path, reason in skipped:
            info(f"edge-fer: skipped {path}: {reason}")


def predict(
    inputs: list[str] = typer.Argument(
        None, help="Image files, directories (searched recursively), globs or http(s) URLs."
    ),
    demo: bool = typer.Option(False, "--demo", help="Use the bundled sample photo."),
    model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP.format(DEFAULT_MODEL)),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", "-d", help=DETECTOR_HELP),
    detector_model: Path | None = typer.Option(None, "--detector-model", help=DETECTOR_MODEL_HELP),
    detect_size: int = typer.Option(
        640, "--detect-size", help="Detect on a copy shrunk to this longer side (pixels)."
    ),
    threads: int = typer.Option(1, "--threads", help=THREADS_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    provider: str = typer.Option("auto", "--provider", help=PROVIDER_HELP),
    provider_option: list[str] = typer.Option([], "--provider-option", help=PROVIDER_OPTION_HELP),
    min_face_score: float = typer.Option(
        0.0, "--min-face-score", min=0.0, max=1.0, help=MIN_FACE_SCORE_HELP
    ),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help=MIN_CONFIDENCE_HELP
    ),
    min_face_size: int = typer.Option(0, "--min-face-size", min=0, help=MIN_FACE_SIZE_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines: one object per input."),
    save: Path | None = typer.Option(
        None, "--save", help="Annotated image (one input) or directory (several inputs)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    timeout: float = typer.Option(URL_TIMEOUT_S, "--timeout", help="URL timeout, seconds."),
    max_megapixels: float = typer.Option(
        50.0,
        "--max-megapixels",
        min=0.001,
        max=1e4,
        help="Refuse larger images (decompression-bomb guard).",
    ),
) -> None:
    """Find the faces in images and tell each one's expression.

    One result per input; a bad input gives an error result and a line on stderr, and the
    others go on. Exit code 1 when any input failed.
    """
    inputs = list(inputs or [])
    if demo:
        inputs.append(str(DEMO_PHOTO))
    if not inputs:
        raise UserError("give at least one image, directory, glob or URL (or --demo)")
    options = RecognizerOptions(
        still_detect_size=detect_size,
        smoothing=None,
        min_face_score=min_face_score,
        min_face_size=min_face_size,
        min_confidence=min_confidence,
    )
    rec = build_recognizer(
        model,
        detector,
        detector_model,
        threads,
        options,
        precision,
        provider_choice(provider, provider_option),
    )
    quiet_opencv()  # OpenCV's own decoder warnings (a TIFF's odd tags): edge-fer says its line
    skipped: list[tuple[str, str]] = []
    items = expand_inputs(inputs, skipped)
    _report_skipped(skipped)
    writers: list[Writer] = []
    if save is not None:  # first, so that a failed save shows in the printed result
        try:
            saver = ImageSaver(save, single=len(items) == 1, overwrite=overwrite)
        except OutputError as e:
            raise UserError(str(e)) from None
        writers.append(saver)
        if saver.note:
            info(f"edge-fer: {saver.note}")
    writers.append(JsonLinesWriter() if as_json else TextWriter())
    failed = 0
    for item in items:
        result, image = _predict_one(rec, item, timeout, int(max_megapixels * 1e6))
        for w in writers:
            try:
                w.image(result, image)
            except OutputError as e:
                result.error = str(e)
        if result.error is not None:
            failed += 1
            warn(f"{item.source}: {result.error}")
    for w in writers:
        w.close()
    if failed:
        raise typer.Exit(1)


def _predict_one(rec, item: ImageInput, timeout: float, max_pixels: int):
    try:
        image = item.load(timeout=timeout, max_pixels=max_pixels)
        timings: dict[str, float] = {}
        faces = rec.predict(image, timings)
        return ImageResult(item.source, faces, stage_ms=timings), image
    except ImageError as e:
        return ImageResult(item.source, error=str(e)), None
    except (cv2.error, ValueError, MemoryError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[-1][:160]
        return ImageResult(item.source, error=f"cannot process image ({first})"), None
