"""TensorFlow imported without the native log lines it writes at import (absl's preamble,
oneDNN and CPU notices, which ignore TF_CPP_MIN_LOG_LEVEL): the training verbs and the bench's
Keras rows import it here first, so edge_runtime itself never imports it."""

from __future__ import annotations

import os

from edge_runtime.native_logs import held_back


def import_tensorflow() -> None:
    """Import TensorFlow with its native lines held back; its later logging is errors only
    (TF_CPP_MIN_LOG_LEVEL 2) unless the user chose another level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with held_back():
        import tensorflow  # noqa: F401
