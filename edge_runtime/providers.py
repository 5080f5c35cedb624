"""Which onnxruntime execution provider runs the classifier: the CPU, or an accelerator that
this onnxruntime build has (onnxruntime-gpu's CUDA and TensorRT on a Jetson or a PC,
onnxruntime-openvino on Intel, onnxruntime-qnn on Qualcomm, CoreML on a Mac...).

`--provider auto` takes the first accelerator of AUTO_ORDER that the build has, else the CPU;
a NAME (short or full) must be available, else one line lists those that are. The CPU is
always the fallback for operators an accelerator lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnxruntime as ort

from edge_runtime.errors import EdgeFerError

CPU = "CPUExecutionProvider"
SHORT_NAMES: dict[str, str] = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "cann": "CANNExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
}
# auto's preference: TensorRT is left out (its first start builds an engine for minutes; name
# it), as are XNNPACK, ACL and ArmNN (CPU kernels of their own, not faster than the default)
AUTO_ORDER = (
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "OpenVINOExecutionProvider",
    "QNNExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "CANNExecutionProvider",
)


class ProviderError(EdgeFerError):
    """An execution provider that was asked for and cannot be had."""


@dataclass(frozen=True)
class Provider:
    """The provider a classifier runs on, its options and why it was chosen."""

    name: str = CPU
    options: dict[str, str] = field(default_factory=dict)
    reason: str = "the CPU"
    asked: bool = False  # named by the user (a failure is an error, not a fallback)

    @property
    def short(self) -> str:
        return next((k for k, v in SHORT_NAMES.items() if v == self.name), self.name)

    @property
    def accelerated(self) -> bool:
        return self.name != CPU

    def session_providers(self) -> list:
        """The `providers` argument of an InferenceSession: this one, then the CPU."""
        if not self.accelerated:
            return [CPU]
        return [(self.name, dict(self.options)), CPU]


def available() -> list[str]:
    """The providers this onnxruntime build has."""
    return list(ort.get_available_providers())


def full_name(name: str) -> str:
    """`cuda` -> CUDAExecutionProvider; a full name as given (case-insensitive)."""
    key = name.strip().lower()
    if key in SHORT_NAMES:
        return SHORT_NAMES[key]
    return next((v for v in SHORT_NAMES.values() if v.lower() == key), name.strip())


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """`--provider-option KEY=VALUE` (repeatable) as a dict; ValueError for a malformed one."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--provider-option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def resolve(spec: str = "auto", options: dict[str, str] | None = None) -> Provider:
    """The provider for `--provider SPEC`; ProviderError when a named one is unavailable."""
    have = available()
    options = dict(options or {})
    if spec.strip().lower() == "auto":
        best = next((p for p in AUTO_ORDER if p in have), None)
        if best is None:
            if options:
                raise ProviderError(
                    "--provider-option needs --provider NAME: auto found no accelerator in "
                    f"this onnxruntime build (it has {', '.join(have)})"
                )
            return Provider(CPU, {}, "auto: no accelerator provider in this onnxruntime build")
        return Provider(best, options, "auto: the best provider this onnxruntime build has")
    name = full_name(spec)
    if name not in have:
        raise ProviderError(
            f"--provider {spec}: not in this onnxruntime build (available: {', '.join(have)}; "
            "an accelerator needs its own onnxruntime package, see the README)"
        )
    return Provider(name, options, "asked for", asked=True)
