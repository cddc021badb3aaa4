"""Framework backends, imported lazily so the core never pays for a framework it does not use."""

from __future__ import annotations

import importlib

from ..errors import SpecError
from .base import Backend, Measured, Weights

FRAMEWORKS = {
    "torch": "torch",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "tf": "tensorflow",
    "keras": "tensorflow",
    "onnx": "onnx",
    "onnxruntime": "onnx",
}
BACKEND_NAMES = ("torch", "tensorflow", "onnx")


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (torch, pytorch, tensorflow, tf, keras, onnx, onnxruntime)."""
    key = FRAMEWORKS.get(name.lower())
    if key is None:
        raise SpecError(
            [("framework", f"unknown framework {name!r} (choose from {', '.join(BACKEND_NAMES)})")]
        )
    try:
        module = importlib.import_module(f"{__name__}.{key}")
    except ImportError as exc:
        raise SpecError([("framework", f"the {key} backend needs its framework installed: {exc}")]) from None
    return module.BACKEND


__all__ = ["Backend", "Measured", "Weights", "get_backend", "BACKEND_NAMES"]
