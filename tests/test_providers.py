"""Execution providers on onnxruntime's CPU build: names, auto, unavailable ones, options,
the fall-back to the CPU and the precision an accelerator runs."""

from __future__ import annotations

import onnxruntime as ort
import pytest
from typer.testing import CliRunner

import edge_runtime.classifier as classifier
import edge_runtime.providers as providers
from edge_runtime.cli import app
from edge_runtime.model_info import ModelError
from edge_runtime.providers import CPU, ProviderError, full_name, parse_options, resolve

CUDA = "CUDAExecutionProvider"


def test_names_auto_and_options():
    assert full_name("cuda") == CUDA and full_name("cudaexecutionprovider") == CUDA
    assert full_name("TensorRT") == "TensorrtExecutionProvider"
    assert resolve("auto").name == CPU and not resolve("auto").accelerated  # the CPU build
    assert resolve("cpu").session_providers() == [CPU]
    assert parse_options(["device_id=1", "trt_fp16_enable = True"]) == {
        "device_id": "1",
        "trt_fp16_enable": "True",
    }
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_options(["device_id"])
    with pytest.raises(
        ProviderError,
        match=r"--provider cuda: not in this onnxruntime build \(available: .*CPUExecutionProvider",
    ):
        resolve("cuda")


@pytest.fixture()
def fake_cuda(monkeypatch):
    """onnxruntime claims CUDA, whose sessions fail as they do without the CUDA libraries."""
    monkeypatch.setattr(providers, "available", lambda: [CUDA, CPU])
    real = ort.InferenceSession
    made = []

    def session(path, options=None, providers=None):
        made.append(providers)
        if providers and isinstance(providers[0], tuple):
            raise RuntimeError("CUDA failed: libcudart.so.12: cannot open shared object file")
        return real(path, options, providers=providers)

    monkeypatch.setattr(classifier.ort, "InferenceSession", session)
    return made


def test_auto_falls_back_to_the_cpu_with_one_line(fake_cuda, tiny_onnx_model, capsys):
    p = resolve("auto", {"device_id": "0"})
    assert p.name == CUDA and p.session_providers() == [(CUDA, {"device_id": "0"}), CPU]
    clf = classifier.EmotionClassifier(tiny_onnx_model)
    assert clf.provider.name == CPU and fake_cuda[0][0][0] == CUDA
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDAExecutionProvider could not start" in err
    with pytest.raises(ModelError, match="cannot run on CUDAExecutionProvider .*libcudart"):
        classifier.EmotionClassifier(tiny_onnx_model, provider="cuda")


def test_an_accelerator_runs_a_bundled_model_in_fp32(fake_cuda):
    name = next(n for n in classifier.bundled_models() if "fp32" in classifier.bundled_files(n))
    _, precision, why = classifier.resolve_model(name, "auto", accelerated=True)
    assert precision == "fp32" and "accelerator" in why
    assert classifier.resolve_model(name, "int8", accelerated=True)[1] == "int8"


def test_an_unavailable_provider_is_one_line_exit_2(tiny_onnx_model):
    for verb in (["predict", "--demo"], ["run", "--demo", "--max-frames", "1"]):
        res = CliRunner().invoke(app, [*verb, "--model", str(tiny_onnx_model), "--provider", "qnn"])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert "--provider qnn: not in this onnxruntime build (available:" in res.output
    res = CliRunner().invoke(
        app, ["predict", "--demo", "--model", str(tiny_onnx_model), "--provider", "cpu"]
    )
    assert res.exit_code == 0, res.output
