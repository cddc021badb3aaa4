"""The Backend protocol: what every framework folder offers the CLI and the conformance suite.

Each backend package (``scalespec.backends.torch``, ``.tensorflow``, ``.onnx``) has the same
parts: runtime.py (framework blocks, or ONNX's graph writer, over the architecture table),
build.py, emit.py, weights.py, published.py (importer of the framework's published weight
layouts), measure.py, train.py (taps and the training step), and backend.py, whose
``BACKEND`` object satisfies this protocol and is re-exported by the package's ``__init__``.

Two things differ between backends and are declared, not guessed: ``suffix`` is what
``emit`` makes (``.py`` source defining ``build_model``, or an ``.onnx`` graph holding its
weights), and ``trains`` says whether the backend runs training (an ONNX inference graph
does not: no training forward, ``train_step`` or ``stochastic_layers``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import SpecError
from ..ir.network import Network
from ..ir.table import Architecture, read_architecture
from ..zoo import ModelRef

Weights = dict[str, np.ndarray]  # canonical name -> float32 array in PyTorch layout (convention 4)


@dataclass(frozen=True)
class Measured:
    """Counts a framework computes itself (never copied from ir/cost)."""

    params: int
    buffers: int
    macs: int
    how: str  # one line: which framework facility produced the numbers


@dataclass
class TrainStep:
    """What one training step on a batch gave, all in canonical names and layouts (NCHW).

    ``taps``: the training-mode forward at every tap; ``loss``: mean cross-entropy of the output
    against the labels; ``grads``: the gradient of every trainable canonical tensor;
    ``input_grad``: the gradient of the input; ``after``: every canonical tensor after the
    forward (BN running statistics) and one plain SGD step.
    """

    taps: dict[str, np.ndarray]
    loss: float
    grads: Weights
    input_grad: np.ndarray
    after: Weights


@dataclass(frozen=True)
class TrainBatch:
    """What one training step runs on: NCHW float32 images, integer labels, the SGD learning rate."""

    x: np.ndarray
    labels: np.ndarray
    lr: float


# a training-only layer run on its own: (NCHW or (N, F) float32 input, training) -> output
StochasticFn = Callable[[np.ndarray, bool], np.ndarray]


@runtime_checkable
class Backend(Protocol):
    name: str  # "torch", "tensorflow" or "onnx"
    suffix: str  # the file emit() makes: ".py" (source defining build_model) or ".onnx"
    trains: bool  # training forward, train_step, sensitivity and stochastic_layers run

    def available(self) -> bool:
        """True when the framework imports here."""

    def version(self) -> str:
        """The framework's version string."""

    def build(self, network: Network, *, num_classes: int | None = None) -> Any:
        """A framework model built from the IR via runtime.py; ``num_classes`` as in ``architecture``."""

    def emit(
        self,
        network: Network,
        *,
        origin: ModelRef | None = None,
        command: str | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
        for_inference: bool = False,
    ) -> str | bytes:
        """The standalone artifact: source defining ``build_model(num_classes=None)`` that imports
        only the framework, or a graph file's bytes with ``weights`` embedded (a source file
        holds no weights: giving them is a SpecError naming ``weights``). ``for_inference``:
        the model ``optimize_for_inference`` makes, every batch norm folded into its conv."""

    def load_emitted(self, path: str | Path, *, num_classes: int | None = None) -> Any:
        """A model from an emitted artifact: a source file's ``build_model(num_classes)``, or a
        graph's model (with a fresh ``num_classes``-way classifier when one is asked for)."""

    def export_weights(self, model: Any) -> Weights:
        """Canonical weights of ``model``."""

    def import_weights(self, model: Any, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
        """Load canonical float32 weights; a missing, extra, mis-shaped, other-dtype (unless ``cast``)
        or non-finite tensor raises SpecError naming it."""

    def forward(
        self, model: Any, x: np.ndarray, *, training: bool = False, device: str = "cpu"
    ) -> np.ndarray | list[np.ndarray]:
        """Run NCHW float32 ``x`` through ``model``: logits or pooled features as one array, or a
        features-only model's maps as a list of NCHW arrays, shallow to deep."""

    def trace(
        self, model: Any, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        """Eval-mode outputs of ``model`` at the named canonical taps (``Network.taps``), NCHW."""

    def train_step(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep:
        """One training-mode forward, loss, backward and SGD step on ``batch`` (the model is changed)."""

    def sensitivity(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep | None:
        """How far float32-sized rounding can move ``train_step``'s taps and gradients in this
        model: per element, measured in float64 under perturbation (the model is not changed);
        None where the framework cannot measure it. Conformance's second opinion on gradients."""

    def stochastic_layers(self, model: Any) -> dict[str, StochasticFn]:
        """The model's own training-only layers, by canonical name (``Network.stochastic_layers``)."""

    def optimize_for_inference(self, model: Any) -> Any:
        """A model for inference only computing the same outputs faster: batch norms folded into
        their convs (exact up to rounding); ``model`` is not changed."""

    def measure(self, model: Any, resolution: int) -> Measured:
        """Params, buffers and MACs counted by the framework at ``resolution``."""

    def devices(self) -> list[str]:
        """Devices this framework can run on here, e.g. ``["cpu"]`` or ``["cpu", "cuda"]``."""

    def use_device(self, device: str) -> str:
        """Where this backend runs when ``device`` (cpu or cuda) is asked for: ``cuda`` only where
        the framework sees a GPU, and then with TF32 off, so float32 means float32 (convention 7)."""


def refuse_weights(weights: Mapping[str, np.ndarray] | None, framework: str) -> None:
    """A generated source file builds fresh weights: embedding is an ONNX artifact's business."""
    if weights is not None:
        raise SpecError(
            [
                (
                    "weights",
                    f"a generated {framework} file holds no weights: load them with "
                    "create_model(..., weights=FILE) or the backend's import_weights",
                )
            ]
        )


def architecture(network: Network, num_classes: int | None = None) -> Architecture:
    """The network's architecture table as rows for a runtime, with the one ``num_classes`` rule.

    ``None`` keeps the spec's classifier, ``0`` removes it, ``N`` makes it N-way (added when the
    spec has none); every backend builds through here, and generated files apply the same rule.
    """
    try:
        return read_architecture(network.to_table(), num_classes)
    except ValueError as exc:
        raise SpecError([("num_classes", str(exc))]) from None
