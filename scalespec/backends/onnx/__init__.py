"""The ONNX backend: ``BACKEND`` implements scalespec.backends.base.Backend (onnx + onnxruntime)."""

from __future__ import annotations

from .backend import BACKEND, OnnxBackend

__all__ = ["BACKEND", "OnnxBackend"]
