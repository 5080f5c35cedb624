"""Estimates, not timings, for a Raspberry Pi 4 (Cortex-A72, class neon: no int8 dot
products) and a Raspberry Pi 5 (Cortex-A76, class neon-dotprod), which the bench cannot time
on an x86 machine.

One published timing links the two CPUs: YuNet, the bundled face detector, on a 320x320 image
with one thread in OpenCV took 54.4 ms (median of three images) on one Cortex-A72 core at
1.5 GHz, and its int8 twin 62.1 ms (TonyCongqianWang/cv_facedetection_eval,
`time_comparison_pi.md`). The bench times the same detection here in the same interleaved
rounds as the models. A model's Pi 4 estimate is its fp32 time here times the ratio of the
two YuNet times; an int8 model's is its fp32 twin's estimate times YuNet's int8/fp32 ratio on
that core, because int8 without dot products runs no faster there. The ratio carries what a
small depthwise CNN (YuNet is one) gains from this CPU's wider vectors and clock; it assumes
onnxruntime's kernels gain as much as OpenCV's, which nothing here measures: the estimates
are rough.

A second published table links the A72 to the A76: OpenCV Zoo's benchmark (opencv_zoo
`benchmark/README.md`, OpenCV 4.10, the same script on every board, default threads) gives
YuNet at 160x120 a median of 6.27 ms (int8 6.73 ms) on a Raspberry Pi 4B and 2.29 ms (int8
2.73 ms) on a Khadas Edge2, whose RK3588 has Cortex-A76 cores at 2.25 GHz (a Pi 5's run at
2.4 GHz). A model's Pi 5 estimate is its Pi 4 estimate times the A76/A72 ratio of the fp32
times; an int8 model's is its fp32 twin's Pi 5 estimate times YuNet's int8/fp32 ratio on the
A76. OpenCV's int8 kernels did not gain from the A76's dot products there, while
onnxruntime's use them, so an int8 Pi 5 estimate leans slow; and that table ran several
threads on boards with different core counts, so the ratio is rougher still.
"""

from __future__ import annotations

import platform

import cv2

from edge_runtime.demo import DEMO_PHOTO
from edge_runtime.detect import make_detector

#: YuNet 320x320, one thread, one Cortex-A72 core at 1.5 GHz, OpenCV DNN: fp32 and int8 ms
A72_YUNET_MS = 54.4
A72_YUNET_INT8_MS = 62.1
SIDE = 320
SOURCE = "TonyCongqianWang/cv_facedetection_eval, time_comparison_pi.md"
#: YuNet 160x120, OpenCV Zoo's benchmark, median ms: (fp32, int8) on a Pi 4B and on an RK3588
ZOO_A72_YUNET_MS = (6.27, 6.73)
ZOO_A76_YUNET_MS = (2.29, 2.73)
A76_SOURCE = "opencv/opencv_zoo, benchmark/README.md (OpenCV 4.10): Raspberry Pi 4B, Khadas Edge2"
A76_OVER_A72 = ZOO_A76_YUNET_MS[0] / ZOO_A72_YUNET_MS[0]
A76_INT8_OVER_FP32 = ZOO_A76_YUNET_MS[1] / ZOO_A76_YUNET_MS[0]


def estimable_here() -> bool:
    """Estimates are for machines that cannot time an ARM core themselves."""
    return platform.machine().lower() not in ("aarch64", "arm64")


def anchor_call(yunet_model=None):
    """A no-argument call running YuNet once on the demo photo at 320x320, as the published
    Pi 4 timing did; time it with the models."""
    det = make_detector("yunet", yunet_model, max_side=SIDE)
    img = cv2.resize(cv2.imread(str(DEMO_PHOTO)), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return lambda: det.detect(img, SIDE)


def estimates(latency_rows: list[dict], yunet_ms_here: float) -> list[dict]:
    """One estimate per model and format timed at batch 1 with one thread: a Pi 4 (A72) and a
    Pi 5 (A76) figure, None where an int8 file has no fp32 twin in the run."""
    factor = A72_YUNET_MS / yunet_ms_here
    rows = [r for r in latency_rows if r["batch"] == 1 and r["threads"] == 1]
    fp32_here = {r["model"]: r["p50_ms"] for r in rows if r["format"] in ("fp32", "onnx")}
    out = []
    for r in rows:
        if r["format"] == "int8":
            base = fp32_here.get(r["model"])
            a72 = a76 = None
            basis = "no fp32 twin timed in this run"
            if base is not None:
                a72 = base * factor * A72_YUNET_INT8_MS / A72_YUNET_MS
                a76 = base * factor * A76_OVER_A72 * A76_INT8_OVER_FP32
                basis = "its fp32 twin's estimate x YuNet's int8/fp32 on that core"
        elif r["format"] in ("fp32", "onnx", "tflite"):
            a72 = r["p50_ms"] * factor
            a76 = a72 * A76_OVER_A72
            basis = "its time here x factor (x A76/A72 for the Pi 5)"
        else:  # Keras rows: TensorFlow is not what a Pi runs
            continue
        out.append(
            {
                "model": r["model"],
                "format": r["format"],
                "macs": r.get("macs"),
                "p50_ms_here": r["p50_ms"],
                "a72_ms_estimate": None if a72 is None else float(a72),
                "a76_ms_estimate": None if a76 is None else float(a76),
                "basis": basis,
            }
        )
    return out


def summary(yunet_ms_here: float) -> dict:
    """What the estimates rest on, for results.json and the page."""
    return {
        "yunet_320_ms_here": float(yunet_ms_here),
        "yunet_320_ms_a72": A72_YUNET_MS,
        "yunet_320_int8_ms_a72": A72_YUNET_INT8_MS,
        "factor": A72_YUNET_MS / yunet_ms_here,
        "source": SOURCE,
        "yunet_160_ms_a72_a76": [ZOO_A72_YUNET_MS[0], ZOO_A76_YUNET_MS[0]],
        "yunet_160_int8_ms_a72_a76": [ZOO_A72_YUNET_MS[1], ZOO_A76_YUNET_MS[1]],
        "a76_over_a72": A76_OVER_A72,
        "a76_source": A76_SOURCE,
    }
