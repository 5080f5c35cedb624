"""TensorFlow's native log lines stay off the terminal unless `--verbose` asks for them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from train_fixtures import needs_training_stack

from edge_runtime.native_logs import VERBOSE_ENV, held_back


def test_held_back_hides_native_writes_and_shows_them_when_the_block_fails(capfd, monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with held_back():
        os.write(2, b"I0000 noise.cc:1] hidden\n")
    print("after", file=sys.stderr)
    with pytest.raises(RuntimeError), held_back():
        os.write(2, b"F0000 crash.cc:9] why it failed\n")
        raise RuntimeError("boom")
    err = capfd.readouterr().err
    assert "hidden" not in err and "after" in err and "why it failed" in err

    monkeypatch.setenv(VERBOSE_ENV, "1")
    with held_back():
        os.write(2, b"shown when verbose\n")
    assert "shown when verbose" in capfd.readouterr().err


def test_training_verbs_print_no_tensorflow_lines(tmp_path):
    """A training verb imports TensorFlow, then fails on a missing file: one line, not the
    absl preamble and oneDNN notices before it; `--verbose` shows those too."""
    needs_training_stack()
    # TensorFlow's info lines on: whether its start-up says anything at the default level
    # depends on the CPU (a oneDNN notice on some, nothing on an AVX2-only core)
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV} | {"TF_CPP_MIN_LOG_LEVEL": "0"}
    cmd = [sys.executable, "-m", "edge_runtime.cli"]
    args = ["train", "--data", str(tmp_path / "none.zip"), "--out", str(tmp_path / "run")]
    quiet = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [
        f"edge-fer: error: {tmp_path / 'none.zip'}: no such file or directory"
    ]
    loud = subprocess.run(
        [*cmd, "--verbose", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert loud.returncode == 2 and len(loud.stderr.splitlines()) > 1
