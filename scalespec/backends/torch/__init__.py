"""The PyTorch backend: ``BACKEND`` implements scalespec.backends.base.Backend."""

from __future__ import annotations

from .backend import BACKEND, TorchBackend

__all__ = ["BACKEND", "TorchBackend"]
