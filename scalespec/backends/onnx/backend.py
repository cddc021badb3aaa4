"""The ONNX ``Backend``: graphs written from the IR by runtime.py, run by onnxruntime.

Everything framework-side is imported lazily, so ``available()`` answers where onnx or
onnxruntime is missing, and nothing here ever imports torch or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...ir.network import Network
from ...zoo import ModelRef
from ..base import Measured, StochasticFn, TrainBatch, TrainStep, Weights

INFERENCE_ONLY = "an ONNX graph here is an inference graph: train in PyTorch or Keras"


class OnnxBackend:
    """ONNX graphs (NCHW, dynamic batch and size) run with onnxruntime."""

    name = "onnx"
    suffix = ".onnx"
    trains = False

    def available(self) -> bool:
        """True when onnx and onnxruntime import here."""
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
        return True

    def version(self) -> str:
        """onnxruntime's version (with onnx's and the opset)."""
        import onnx
        import onnxruntime

        from .runtime import OPSET

        return f"{onnxruntime.__version__} (onnx {onnx.__version__}, opset {OPSET})"

    def build(self, network: Network, *, num_classes: int | None = None) -> Any:
        """An OnnxModel: the graph with initializers drawn from the declared initialisers."""
        from .build import build

        return build(network, num_classes=num_classes)

    def emit(
        self,
        network: Network,
        *,
        origin: ModelRef | None = None,
        command: str | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
        for_inference: bool = False,
    ) -> bytes:
        """The .onnx file's bytes, with ``weights`` embedded (else fresh ones)."""
        from .emit import emit

        return emit(network, origin=origin, command=command, weights=weights, for_inference=for_inference)

    def load_emitted(self, path: str | Path, *, num_classes: int | None = None) -> Any:
        """The OnnxModel an emitted .onnx file holds, weights included (and a fresh
        ``num_classes``-way classifier when asked for)."""
        from .build import load

        model = load(path)
        if num_classes is not None:
            model.reset_classifier(num_classes)
        return model

    def export_weights(self, model: Any) -> Weights:
        from .weights import export_weights

        return export_weights(model)

    def import_weights(self, model: Any, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
        from .weights import import_weights

        import_weights(model, weights, cast=cast)

    def forward(
        self, model: Any, x: np.ndarray, *, training: bool = False, device: str = "cpu"
    ) -> np.ndarray | list[np.ndarray]:
        """Run NCHW float32 ``x`` with onnxruntime on ``device``; training mode does not exist here."""
        if training:
            raise ValueError(INFERENCE_ONLY)
        return model(x, device=device)

    def trace(
        self, model: Any, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        from .train import trace

        return trace(model, x, taps, device=device)

    def train_step(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep:
        raise ValueError(INFERENCE_ONLY)

    def sensitivity(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep | None:
        return None

    def stochastic_layers(self, model: Any) -> dict[str, StochasticFn]:
        raise ValueError(INFERENCE_ONLY)

    def optimize_for_inference(self, model: Any) -> Any:
        """A new graph with the batch norms folded into the convs (onnxruntime's session
        optimiser would fold them anyway; the folded file is smaller and says so itself)."""
        return model.optimized()

    def measure(self, model: Any, resolution: int) -> Measured:
        """Params and buffers from the initializers, MACs from the Conv and Gemm nodes."""
        from .measure import measure

        return measure(model, resolution)

    def devices(self) -> list[str]:
        """``["cpu"]`` plus ``"cuda"`` where onnxruntime has the CUDA execution provider."""
        import onnxruntime

        return ["cpu"] + (
            ["cuda"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else []
        )

    def use_device(self, device: str) -> str:
        """``cuda`` where onnxruntime can use it (sessions then run with TF32 off), else ``cpu``."""
        return "cuda" if device == "cuda" and "cuda" in self.devices() else "cpu"


BACKEND = OnnxBackend()
