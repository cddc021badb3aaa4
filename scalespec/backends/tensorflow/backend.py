"""The Backend protocol object for TensorFlow/Keras, tying the backend's parts together."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...ir.network import Network
from ...zoo import ModelRef
from ..base import Measured, StochasticFn, TrainBatch, TrainStep, Weights, refuse_weights
from ..source import load_generated

# TensorFlow's start-up chatter on stderr: absl's pre-init notice, info lines (oneDNN, CPU
# features and their continuation line), and the CUDA probe's errors on a machine without a GPU
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog"
    r"|I\d{4} "
    r"|E\d{4} \S+ +\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions:)"
)


def quiet_startup() -> None:
    """Import TensorFlow and let it probe its devices with stderr captured at the descriptor
    level, then print again every line that is not start-up chatter (a real error still shows).
    For the CLI; a no-op once TensorFlow is imported or where it is not installed."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    stderr = sys.stderr.fileno()
    sys.stderr.flush()
    saved = os.dup(stderr)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), stderr)
        try:
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices()
        except ImportError:
            pass  # installed but not importable here: the backend reports itself unavailable
        finally:
            sys.stderr.flush()
            os.dup2(saved, stderr)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode("utf-8", "replace").splitlines()
    kept = [line for line in lines if not STARTUP_NOISE.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


class TensorFlowBackend:
    """TensorFlow 2 / Keras 3 backend (NHWC inside; NCHW numpy at the boundary)."""

    name = "tensorflow"
    suffix = ".py"
    trains = True

    def available(self) -> bool:
        """True when TensorFlow and Keras import here."""
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except ImportError:
            return False
        return True

    def version(self) -> str:
        """TensorFlow's version string (with Keras')."""
        import keras
        import tensorflow as tf

        return f"{tf.__version__} (keras {keras.__version__})"

    def build(self, network: Network, *, num_classes: int | None = None) -> Any:
        """A Keras model built from the IR via runtime.py."""
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
    ) -> str:
        """Standalone Keras source defining ``build_model(num_classes=None)``."""
        from .emit import emit

        refuse_weights(weights, "Keras")
        return emit(network, origin=origin, command=command, for_inference=for_inference)

    def load_emitted(self, path: str | Path, *, num_classes: int | None = None) -> Any:
        """``build_model(num_classes)`` of a generated file (fresh weights)."""
        return load_generated(path).build_model(num_classes)

    def export_weights(self, model: Any) -> Weights:
        """Canonical weights of ``model``."""
        from .weights import export_weights

        return export_weights(model)

    def import_weights(self, model: Any, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
        """Load canonical weights; a missing, extra or mis-shaped tensor raises SpecError."""
        from .weights import import_weights

        import_weights(model, weights, cast=cast)

    def forward(
        self, model: Any, x: np.ndarray, *, training: bool = False, device: str = "cpu"
    ) -> np.ndarray | list[np.ndarray]:
        """Run NCHW float32 ``x`` through ``model`` (transposed to NHWC here, and feature maps back)."""
        from .train import nchw, run_model

        out = run_model(model, x, training=training, device=device)
        if not getattr(model, "feature_info", None):
            return nchw(out)  # logits or pooled features as they are; an unpooled map to NCHW
        # a features-only model's maps (Keras returns a one-level pyramid as a bare tensor)
        return [nchw(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    def trace(
        self, model: Any, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        """Eval-mode outputs at the canonical ``taps``, NCHW."""
        from .train import trace

        return trace(model, x, taps, device=device)

    def train_step(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep:
        """One training forward, loss, gradients and SGD step (the model is changed)."""
        from .train import train_step

        return train_step(model, batch, taps, device=device)

    def sensitivity(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep | None:
        """None: measuring needs the model in float64 with perturbed batch-norm reductions, which
        only the torch backend builds so far; conformance asks the next backend."""
        return None

    def stochastic_layers(self, model: Any) -> dict[str, StochasticFn]:
        """The model's drop-path and dropout layers by canonical name."""
        from .train import stochastic_layers

        return stochastic_layers(model)

    def optimize_for_inference(self, model: Any) -> Any:
        """A new model with every batch norm folded into its conv."""
        from .build import optimize_for_inference

        return optimize_for_inference(model)

    def measure(self, model: Any, resolution: int) -> Measured:
        """Params, buffers and MACs counted by TensorFlow."""
        from .measure import measure

        return measure(model, resolution)

    def devices(self) -> list[str]:
        """``["cpu"]`` plus ``"cuda"`` when TensorFlow sees a GPU."""
        import tensorflow as tf

        return ["cpu"] + (["cuda"] if tf.config.list_physical_devices("GPU") else [])

    def use_device(self, device: str) -> str:
        """``cuda`` where TensorFlow sees a GPU (TF32 then off), else ``cpu``."""
        if device != "cuda" or "cuda" not in self.devices():
            return "cpu"
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        return "cuda"


BACKEND = TensorFlowBackend()
