"""Native libraries' log lines kept off the terminal.

At import, TensorFlow's C++ core prints absl's "All log messages before absl::InitializeLog()"
preamble, a oneDNN notice and CPU-feature notices to file descriptor 2, whatever
TF_CPP_MIN_LOG_LEVEL says; the TFLite interpreter announces its XNNPACK delegate the same way.
`held_back()` keeps such lines out of the terminal (they are shown when the block fails, or
always with `edge-fer --verbose`); `edge_train/tf_import.py` imports TensorFlow through it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "EDGE_FER_VERBOSE"


@contextmanager
def held_back() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 inside the block."""
    if os.environ.get(VERBOSE_ENV):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own warnings (camera back-ends, "moov atom not found") off
    the user's terminal unless `edge-fer --verbose`: edge-fer reports failures itself, in one
    line."""
    import cv2

    if os.environ.get(VERBOSE_ENV):
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read on first use
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # older wheels without cv2.utils.logging
        pass
