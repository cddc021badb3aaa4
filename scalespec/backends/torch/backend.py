"""The PyTorch ``Backend``: the protocol of scalespec.backends.base over build, emit, weights and measure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...ir.network import Network
from ...zoo import ModelRef
from ..base import Measured, StochasticFn, TrainBatch, TrainStep, Weights, refuse_weights
from ..source import load_generated
from . import build as _build
from . import emit as _emit
from . import measure as _measure
from . import train as _train
from . import weights as _weights


class TorchBackend:
    """PyTorch: build/emit models from the IR, move canonical weights, run and count them."""

    name = "torch"
    suffix = ".py"
    trains = True

    def available(self) -> bool:
        return True

    def version(self) -> str:
        return torch.__version__

    def build(self, network: Network, *, num_classes: int | None = None) -> torch.nn.Module:
        return _build.build(network, num_classes=num_classes)

    def emit(
        self,
        network: Network,
        *,
        origin: ModelRef | None = None,
        command: str | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
        for_inference: bool = False,
    ) -> str:
        refuse_weights(weights, "PyTorch")
        return _emit.emit(network, origin=origin, command=command, for_inference=for_inference)

    def load_emitted(self, path: str | Path, *, num_classes: int | None = None) -> torch.nn.Module:
        """``build_model(num_classes)`` of a generated file (fresh weights, training mode)."""
        return load_generated(path).build_model(num_classes)

    def export_weights(self, model: Any) -> Weights:
        return _weights.export_weights(model)

    def import_weights(self, model: Any, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
        _weights.import_weights(model, weights, cast=cast)

    def forward(
        self, model: Any, x: np.ndarray, *, training: bool = False, device: str = "cpu"
    ) -> np.ndarray | list[np.ndarray]:
        """Run NCHW float32 ``x`` on ``device`` (see ``use_device`` for TF32)."""
        was_training = model.training
        model.to(device).train(training)
        try:
            with torch.no_grad():
                out = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device))
        finally:
            model.train(was_training)
        if isinstance(out, list):  # a features-only model's maps
            return [o.detach().cpu().numpy() for o in out]
        return out.detach().cpu().numpy()

    def trace(
        self, model: Any, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        return _train.trace(model, x, taps, device=device)

    def train_step(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep:
        return _train.train_step(model, batch, taps, device=device)

    def sensitivity(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep | None:
        return _train.sensitivity(model, batch, taps, device=device)

    def stochastic_layers(self, model: Any) -> dict[str, StochasticFn]:
        return _train.stochastic_layers(model)

    def optimize_for_inference(self, model: Any) -> torch.nn.Module:
        """An eval-only copy: batch norms folded, channels_last, no gradients."""
        return _build.optimize_for_inference(model)

    def measure(self, model: Any, resolution: int) -> Measured:
        return _measure.measure(model, resolution)

    def devices(self) -> list[str]:
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]

    def use_device(self, device: str) -> str:
        if device != "cuda" or "cuda" not in self.devices():
            return "cpu"
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        return "cuda"


BACKEND = TorchBackend()
