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


def test_training_verbs_print_no_tensorflow_lines():
    needs_training_stack()
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE_ENV)}
    cmd = [sys.executable, "-m", "edge_runtime.cli"]
    quiet = subprocess.run(
        [*cmd, "train", "--list-archs"], capture_output=True, text=True, env=env, timeout=300
    )
    assert quiet.returncode == 0 and "nano" in quiet.stdout
    assert quiet.stderr == ""
    loud = subprocess.run(
        [*cmd, "--verbose", "train", "--list-archs"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert loud.returncode == 0 and loud.stdout == quiet.stdout
