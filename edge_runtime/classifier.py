"""The emotion classifier: one ONNX file, run by onnxruntime, fed batches of 48x48 gray faces."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_runtime.cpu import cpu_info, int8_dot_products, isa_class
from edge_runtime.errors import brief
from edge_runtime.measured import recalled
from edge_runtime.model_info import ModelError, ModelInfo
from edge_runtime.providers import CPU, Provider, resolve

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "fer7"
#: `run`'s default: on a camera, and on a Pi above all, time per face counts (Pi 4 estimate
#: ~2.5 ms per face against fer7's ~35 ms), for 0.8 points of PrivateTest accuracy
CAMERA_MODEL = "fer7-nano"


PRECISIONS: tuple[str, ...] = ("auto", "int8", "fp32")


def bundled_files(name: str) -> dict[str, Path]:
    """A bundled model's ONNX files by precision (`int8`, `fp32`), those that are shipped."""
    files = {p: MODELS_DIR / f"{name}.{p}.onnx" for p in PRECISIONS[1:]}
    return {p: f for p, f in files.items() if f.is_file()}


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped inside the package, mapped to their int8 ONNX file (their
    fp32 one when no int8 is shipped)."""
    names = sorted({p.name.split(".")[0] for p in MODELS_DIR.glob("*.*.onnx")})
    found = {n: bundled_files(n) for n in names}
    return {n: f.get("int8", f.get("fp32")) for n, f in found.items() if f}


#: int8 counts as measured faster only this much under fp32's time; within it the two run at
#: the same speed here (fer7-nano: 0.152 vs 0.153 ms in one export, 0.149 vs 0.149 in the
#: next), and fp32, never the less accurate, is taken
MEASURED_GAIN = 0.05


def choose_precision(
    requested: str,
    available: list[str] | tuple[str, ...],
    flags: list[str] | None = None,
    measured: Sequence[dict] = (),
) -> tuple[str, str]:
    """(precision, why) among the `available` ones. `auto` follows the first of `measured`
    (timings of int8 against fp32: `cpu` with its `model` and `flags`, `int8_ms`, `fp32_ms`,
    `where`) made on this very CPU: int8 if it was MEASURED_GAIN faster there, else fp32.
    Without one, int8 where the CPU has int8 dot products (edge_runtime.cpu; `flags` default
    to this machine's), else fp32."""
    if requested not in PRECISIONS:
        raise ModelError(f"unknown precision {requested!r}; choose {', '.join(PRECISIONS)}")
    have = [p for p in PRECISIONS[1:] if p in available]
    if requested != "auto":
        if requested not in have:
            raise ModelError(f"no {requested} file (there is: {', '.join(have) or 'none'})")
        return requested, "asked for"
    if len(have) == 1:
        return have[0], "the only precision shipped"
    cls = isa_class(flags)
    here = cpu_info() if flags is None else {"flags": list(flags)}

    def on_this_cpu(m: dict) -> bool:
        cpu = m.get("cpu") or {}
        return sorted(cpu.get("flags", [])) == sorted(here["flags"]) and (
            flags is not None or cpu.get("model") == here.get("model")
        )

    m = next((m for m in measured if on_this_cpu(m)), None)
    if m:
        times = f"{m['int8_ms']:.3f} ms vs fp32 {m['fp32_ms']:.3f} ms"
        where = m.get("where", "at export")
        faster = m["int8_ms"] < m["fp32_ms"] * (1 - MEASURED_GAIN)
        if faster and "int8_spread" in m and "fp32_spread" in m:
            slowest_int8, fastest_fp32 = m["int8_spread"][1], m["fp32_spread"][0]
            if not slowest_int8 < fastest_fp32:
                return "fp32", (
                    f"int8 was measured faster on this CPU ({cls}) {where}: {times}, but not "
                    f"beyond the spread of the measurements (int8 up to {slowest_int8:.3f} ms, "
                    f"fp32 from {fastest_fp32:.3f} ms)"
                )
        if faster:
            return "int8", f"int8 was measured faster on this CPU ({cls}) {where}: {times}"
        return "fp32", f"int8 was measured no faster on this CPU ({cls}) {where}: {times}"
    if int8_dot_products(flags):
        return "int8", f"this CPU ({cls}) has int8 dot-product instructions"
    return "fp32", f"this CPU ({cls}) has no int8 dot-product instruction"


def export_timing(card: dict) -> dict | None:
    """What a card says about int8 against fp32 where it was exported (`choose_precision`'s
    `measured`), or None for a card that does not record its CPU."""
    q = card.get("quantization") or {}
    chosen = [r for r in q.get("candidates", []) if r.get("candidate") == q.get("chosen")]
    if not q.get("cpu") or not chosen or "p50_ms" not in chosen[0]:
        return None
    return {"cpu": q["cpu"], "int8_ms": chosen[0]["p50_ms"], "fp32_ms": q["fp32_p50_ms"]}


def resolve_model(
    model: str | os.PathLike | None, precision: str = "auto", accelerated: bool = False
) -> tuple[Path, str, str]:
    """(file, precision, why) for a bundled model name (`fer7`, `fer7.int8`) or a path. A
    bundled name runs in `precision` (auto: the one this CPU runs fastest, or fp32 on an
    accelerator, where the int8 files' CPU-tuned graphs do not pay); a path as it is."""
    model = DEFAULT_MODEL if model is None else model
    p = Path(model)
    if p.suffix == ".onnx" or p.exists():
        if not p.is_file():
            raise ModelError(f"{model}: model file not found")
        return p, _precision_of(p), "the file given"
    name = str(model)
    if (MODELS_DIR / f"{name}.onnx").is_file():
        return MODELS_DIR / f"{name}.onnx", _precision_of(Path(f"{name}.onnx")), "asked for"
    files = bundled_files(name)
    if not files:
        known = ", ".join(bundled_models()) or "none installed"
        raise ModelError(f"{model}: no such bundled model or file (bundled: {known})")
    if accelerated and precision == "auto" and "fp32" in files:
        return files["fp32"], "fp32", "fp32 on an accelerator provider (int8 is tuned for the CPU)"
    card = card_beside(MODELS_DIR / f"{name}.onnx")
    measured = [m for m in (recalled(name, files), export_timing(card)) if m]
    try:
        chosen, why = choose_precision(precision, tuple(files), measured=measured)
    except ModelError as e:
        raise ModelError(f"{model}: {e}") from None
    return files[chosen], chosen, why


def card_path(model_file: Path) -> Path:
    """NAME.card.json beside a model file NAME[.PRECISION].onnx."""
    return model_file.with_name(model_file.name.split(".")[0] + ".card.json")


def card_beside(model_file: Path) -> dict:
    """The card beside a model file (`card_path`; bundled models ship theirs), or {} where
    there is none or it is not a JSON object."""
    path = card_path(model_file)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _precision_of(path: Path) -> str:
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in PRECISIONS[1:] else "onnx"


def with_flip(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Test-time augmentation for any probability function over uint8 [N, H, W] faces: the
    mean of each face's and its mirror image's probabilities."""
    return lambda x: (fn(x) + fn(x[:, :, ::-1].copy())) / 2.0


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Deliberate onnxruntime settings: full graph optimisation, `threads` intra-op threads.

    One thread is the default: extra threads pay off only at large batches and steal cores
    from face detection. On a 4-core Pi, `--threads 2` leaves two cores for the camera and
    OpenCV.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return so


class EmotionClassifier:
    """An edge-fer ONNX model. `predict_proba(faces)` takes uint8 [N, 48, 48] gray faces.

    A bundled model runs in `precision`: `auto` (when both are shipped: what its card measured
    faster on this very CPU, else int8 where the CPU has int8 dot products, else fp32), `int8`
    or `fp32`; `self.precision` and `self.precision_reason` say which and why."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        threads: int = 1,
        precision: str = "auto",
        provider: str | Provider = "auto",
        provider_options: dict[str, str] | None = None,
    ) -> None:
        self.provider = (
            provider if isinstance(provider, Provider) else resolve(provider, provider_options)
        )
        self.path, self.precision, self.precision_reason = resolve_model(
            model, precision, accelerated=self.provider.accelerated
        )
        t0 = time.perf_counter()
        self.session = self._session(threads)
        self.load_ms = (time.perf_counter() - t0) * 1000.0
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = ModelInfo.from_metadata(meta, str(self.path))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: expected one input and one output")
        self.info.check_graph_input(list(inputs[0].shape), str(self.path))
        self._input = inputs[0].name
        out_dim = outputs[0].shape[-1]
        if isinstance(out_dim, int) and out_dim != len(self.info.labels):
            raise ModelError(
                f"{self.path}: output has {out_dim} classes but metadata lists "
                f"{len(self.info.labels)} labels"
            )
        self.threads = threads
        self._probe()

    def _probe(self) -> None:
        """One blank face at the metadata's size through the graph: a graph whose dynamic
        input cannot take that size, or whose output does not match the labels, fails here
        in one line rather than at the first face of a run."""
        info = self.info
        try:
            out = self.infer(self.prepare(np.zeros((1, info.height, info.width), np.uint8)))
        except Exception as e:  # onnxruntime raises several types for a shape it cannot run
            raise ModelError(
                f"{self.path}: the graph cannot run on the {info.height}x{info.width} faces its "
                f"metadata names (input height, width): {brief(e)}"
            ) from None
        if out.shape != (1, len(info.labels)):
            raise ModelError(
                f"{self.path}: the graph answers {list(out.shape[1:])} values per face, the "
                f"metadata lists {len(info.labels)} labels"
            )

    def _session(self, threads: int) -> ort.InferenceSession:
        """The session on the chosen provider. One that cannot start there: an error when the
        user named it, else (auto) the CPU, with one line saying so."""
        p = self.provider
        try:
            session = ort.InferenceSession(
                str(self.path), session_options(threads), providers=p.session_providers()
            )
        except Exception as e:  # onnxruntime raises several types for corrupt files
            if not p.accelerated:
                raise ModelError(f"{self.path}: cannot load ONNX model ({brief(e)})") from None
            why = brief(e)
        else:
            if session.get_providers()[0] == p.name:
                return session
            why = "onnxruntime fell back to the CPU"
        if p.asked:
            raise ModelError(f"{self.path}: cannot run on {p.name} ({why})")
        print(
            f"edge-fer: warning: {p.name} could not start ({why}); running on the CPU",
            file=sys.stderr,
        )
        self.provider = Provider(CPU, {}, f"auto: {p.name} could not start")
        return self._session(threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @property
    def macs(self) -> int | None:
        """Multiply-accumulates per face, as counted at export: from the file's own card, or
        from the card beside it (models exported before cards were embedded); None if
        neither says."""
        return self.info.card.get("macs") or card_beside(self.path).get("macs_per_face")

    def prepare(self, faces: np.ndarray) -> np.ndarray:
        """uint8 gray faces [N, H, W] (or one [H, W]) as the float32 batch `infer` takes, laid
        out as the model wants (a benchmark prepares once and times `infer` alone)."""
        x = np.asarray(faces, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        h, w = self.info.height, self.info.width
        if x.shape[1:] != (h, w):
            raise ValueError(f"faces must be [N, {h}, {w}], got {list(faces.shape)}")
        return x[:, None] if self.info.layout == "NCHW" else x[..., None]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the graph on an already laid-out float32 batch."""
        return self.session.run(None, {self._input: batch})[0]

    def predict_proba(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities [N, C] for uint8 gray faces [N, H, W] (or one face [H, W])."""
        x = self.prepare(faces)
        if len(x) <= batch_size:
            return self.infer(x)
        return np.concatenate(
            [self.infer(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        )
