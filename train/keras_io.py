"""Loading a saved Keras model safely, with one-line errors for user mistakes."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.errors import EdgeFerError


class KerasModelError(EdgeFerError):
    """A path that is not a loadable, safe `.keras` model."""


def load_keras(path: Path):
    """Load `path` with `safe_mode=True`: a model needing unsafe deserialisation (Lambda
    layers with Python code) is refused rather than executed."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise KerasModelError(f"{path}: no such file")
    if path.suffix != ".keras":
        raise KerasModelError(f"{path}: not a .keras model file")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as e:
        msg = str(e)
        if "unsafe" in msg.lower() or "lambda" in msg.lower() or "safe_mode" in msg:
            raise KerasModelError(
                f"{path}: needs unsafe deserialisation (e.g. a Lambda layer); refused"
            ) from None
        raise KerasModelError(
            f"{path}: cannot load Keras model ({msg.splitlines()[0][:200]})"
        ) from None
    except Exception as e:  # zip/h5 errors of corrupt files come in many types
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise KerasModelError(f"{path}: cannot load Keras model ({first[:200]})") from None
