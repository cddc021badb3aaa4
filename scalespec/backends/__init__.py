"""Framework backends, imported lazily so the core never pays for a framework it does not use."""

from __future__ import annotations

import importlib

from ..errors import SpecError
from .base import Backend, Measured, Weights
from .remote import REMOTE_BACKENDS, RemoteBackend

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


_REMOTE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (torch, pytorch, tensorflow, tf, keras, onnx, onnxruntime), or
    the Keras backend on another Keras 3 backend in a worker process (keras-jax, keras-torch)."""
    if name.lower() in REMOTE_BACKENDS:
        if name.lower() not in _REMOTE:
            _REMOTE[name.lower()] = RemoteBackend(name.lower(), *REMOTE_BACKENDS[name.lower()])
        return _REMOTE[name.lower()]
    key = FRAMEWORKS.get(name.lower())
    if key is None:
        known = ", ".join([*BACKEND_NAMES, *REMOTE_BACKENDS])
        raise SpecError([("framework", f"unknown framework {name!r} (choose from {known})")])
    try:
        module = importlib.import_module(f"{__name__}.{key}")
    except ImportError as exc:
        raise SpecError([("framework", f"the {key} backend needs its framework installed: {exc}")]) from None
    return module.BACKEND


def close_workers() -> None:
    """Stop every worker process a remote backend started (they start again when used)."""
    for backend in _REMOTE.values():
        backend.close()


__all__ = [
    "Backend",
    "Measured",
    "Weights",
    "get_backend",
    "close_workers",
    "BACKEND_NAMES",
    "REMOTE_BACKENDS",
]
