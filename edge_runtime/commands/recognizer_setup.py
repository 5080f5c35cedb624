"""What `predict` and `run` share: building the recognizer from CLI options, clearly."""

from __future__ import annotations

from pathlib import Path

import cv2

from edge_runtime.classifier import DEFAULT_MODEL, bundled_models
from edge_runtime.commands.common import UserError
from edge_runtime.detect import DetectorError
from edge_runtime.providers import Provider, parse_options
from edge_runtime.providers import resolve as resolve_provider
from edge_runtime.recognizer import EmotionRecognizer, RecognizerOptions
from edge_runtime.tracking import NO_HOLD, Hold

#: a verb's --model help; format() it with the default it gives
MODEL_HELP = "Bundled model name or path to an edge-fer .onnx file (default: the bundled {})."
DETECTOR_HELP = (
    "Face detector: yunet (OpenCV Zoo's CNN, bundled; the default), haar (OpenCV's cascade) "
    "or none (the input is a face crop)."
)
DETECTOR_MODEL_HELP = "Another YuNet ONNX file for --detector yunet (default: the bundled one)."
PRECISION_HELP = (
    "auto | int8 | fp32: which of a bundled model's files runs. auto follows the model card "
    "where it timed both on this very CPU (int8 only if 5% faster), else takes int8 only where "
    "the CPU has int8 dot-product instructions (x86 VNNI/AMX, ARM dotprod/i8mm), else fp32."
)
MIN_FACE_SCORE_HELP = (
    "Drop faces the detector is less sure of (0..1; YuNet keeps 0.7 and up, Haar gives no "
    "score: 1.0)."
)
MIN_CONFIDENCE_HELP = (
    "Answer 'uncertain' for a face whose most likely class has a lower probability (0..1; "
    "0: always answer). A two-class model such as happy_sad has no 'neither': this is its way "
    "out for neutral faces (README: the share of faces each threshold answers)."
)
MIN_FACE_SIZE_HELP = "Drop faces smaller than this many pixels on their longer side."
THREADS_HELP = (
    "Threads for onnxruntime and OpenCV. 1 keeps a core free per process; on a 4-core "
    "Raspberry Pi, 2 is a good choice for a camera run."
)


def parse_smoothing(text: str) -> float | None:
    """`--smoothing` as the EMA weight of a frame's log-probabilities in (0, 1], or None for
    "off"."""
    t = text.strip().lower()
    if t in ("off", "none", "no", "0", "1", "1.0"):
        return None
    try:
        alpha = float(t)
    except ValueError:
        raise UserError(f"--smoothing must be a number in (0, 1] or 'off', got {text!r}") from None
    if not 0.0 < alpha <= 1.0:
        raise UserError(f"--smoothing must be in (0, 1] or 'off', got {text!r}")
    return alpha


HOLD_HELP = (
    "When a face's label may change: MARGIN,FRAMES,MAX: another class must lead the current "
    "one by MARGIN in averaged log-probability (1.0: e = 2.7 times as likely) for FRAMES frames "
    "in a row, or lead at all for MAX frames; 'off': as soon as it leads. JSON and CSV keep "
    "each frame's raw probabilities beside the steady label."
)


def parse_hold(text: str) -> Hold:
    """`--hold` as a Hold ("off": none)."""
    if text.strip().lower() in ("off", "none", "no"):
        return NO_HOLD
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        return Hold(float(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise UserError(
            f"--hold must be MARGIN,FRAMES,MAX (margin >= 0, 1 <= FRAMES <= MAX) or 'off', "
            f"got {text!r}"
        ) from None


PROVIDER_HELP = (
    "onnxruntime execution provider: auto (the best accelerator this onnxruntime build has, "
    "else the CPU), cpu, or a name: cuda, tensorrt, openvino, qnn, coreml, dml, ... (or its "
    "full name). `edge-fer models` lists the available ones."
)
PROVIDER_OPTION_HELP = (
    "KEY=VALUE passed to the provider (repeatable), e.g. device_id=1, trt_fp16_enable=True, "
    "trt_engine_cache_enable=True, trt_engine_cache_path=/var/cache/edge-fer."
)


def provider_choice(provider: str, pairs: list[str] | None) -> Provider:
    """`--provider` and `--provider-option` as a Provider, or a one-line UserError."""
    try:
        return resolve_provider(provider, parse_options(pairs))
    except ValueError as e:
        raise UserError(str(e)) from None


def build_recognizer(
    model: str | None,
    detector: str,
    detector_model: Path | None,
    threads: int,
    options: RecognizerOptions,
    precision: str = "auto",
    provider: Provider | str = "auto",
) -> EmotionRecognizer:
    """An EmotionRecognizer, or a one-line UserError naming what is wrong."""
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    if model is None and DEFAULT_MODEL not in bundled_models():
        raise UserError(
            f"no bundled model is installed (default {DEFAULT_MODEL!r}); "
            "pass --model PATH to an edge-fer .onnx file"
        )
    cv2.setNumThreads(threads)
    try:
        return EmotionRecognizer(
            model,
            detector,
            detector_model,
            threads=threads,
            options=options,
            precision=precision,
            provider=provider,
        )
    except DetectorError as e:
        raise UserError(str(e), 2) from None
