"""The TensorFlow/Keras backend: ``BACKEND`` implements scalespec.backends.base.Backend."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .backend import BACKEND, TensorFlowBackend  # noqa: E402

__all__ = ["BACKEND", "TensorFlowBackend"]
