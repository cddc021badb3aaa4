"""Training-mode access to torch models for conformance: canonical taps, one SGD step, drop layers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import StochasticFn, TrainBatch, TrainStep
from .runtime import Block, DropoutLinear, drop_path
from .weights import export_weights


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy().copy()


class _Taps:
    """Forward hooks that copy each named submodule's output as the model runs."""

    def __init__(self, model: nn.Module, names: Sequence[str]):
        self.outputs: dict[str, np.ndarray] = {}
        self.handles = [model.get_submodule(name).register_forward_hook(self._saver(name)) for name in names]

    def _saver(self, name: str):
        def save(_module, _inputs, output):
            self.outputs[name] = _numpy(output)

        return save

    def __enter__(self) -> _Taps:
        return self

    def __exit__(self, *_) -> None:
        for handle in self.handles:
            handle.remove()


def _input(x: np.ndarray, device: str, *, grad: bool = False) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    return tensor.requires_grad_(grad)


def trace(
    model: nn.Module, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Eval-mode outputs at ``taps``; the model's mode is restored afterwards."""
    was_training = model.training
    model.to(device).eval()
    try:
        with _Taps(model, taps) as hooks, torch.no_grad():
            model(_input(x, device))
    finally:
        model.train(was_training)
    return {name: hooks.outputs[name] for name in taps}


def cross_entropy(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy: softmax over the outputs, or sigmoid when there is one output."""
    if output.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(output[:, 0], labels.to(output.dtype))
    return F.cross_entropy(output, labels)


def train_step(model: nn.Module, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu") -> TrainStep:
    """A training-mode forward with drop-path and dropout off, mean cross-entropy, backward, and
    one ``torch.optim.SGD`` step; the model keeps the step and stays in training mode."""
    x, labels, lr = batch.x, batch.labels, batch.lr
    model.to(device).train()
    image = _input(x, device, grad=True)
    with _Taps(model, taps) as hooks, _stochastic_off(model):
        loss = cross_entropy(model(image), torch.from_numpy(labels).long().to(device))
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {
        name: _numpy(p.grad) if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
        for name, p in model.named_parameters()
    }
    torch.optim.SGD(model.parameters(), lr=lr).step()
    return TrainStep(
        taps={name: hooks.outputs[name] for name in taps},
        loss=float(loss.detach()),
        grads=grads,
        input_grad=_numpy(image.grad) if image.grad is not None else np.zeros_like(x, np.float32),
        after=export_weights(model),
    )


@contextmanager
def _stochastic_off(model: nn.Module) -> Iterator[None]:
    """Drop-path and dropout rates set to 0 for the duration (restored afterwards)."""
    saved = []
    for module in model.modules():
        if isinstance(module, Block):
            saved.append((module, "drop_path_rate", module.drop_path_rate))
            module.drop_path_rate = 0.0
        elif isinstance(module, nn.Dropout):
            saved.append((module, "p", module.p))
            module.p = 0.0
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def stochastic_layers(model: nn.Module) -> dict[str, StochasticFn]:
    """Each drop-path (residual blocks) and dropout (dense layers) of the model with its own rate."""
    found: dict[str, StochasticFn] = {}
    for name, module in model.named_modules():
        if isinstance(module, Block) and module.residual and module.drop_path_rate > 0:
            found[f"{name}.drop_path"] = _drop_path_fn(module.drop_path_rate)
        elif isinstance(module, DropoutLinear) and module.dropout.p > 0:
            found[f"{name}.dropout"] = _module_fn(module.dropout)
    return found


def _drop_path_fn(rate: float) -> StochasticFn:
    def run(x: np.ndarray, training: bool) -> np.ndarray:
        return _numpy(drop_path(torch.from_numpy(x), rate, training))

    return run


def _module_fn(module: nn.Module) -> StochasticFn:
    def run(x: np.ndarray, training: bool) -> np.ndarray:
        module.train(training)
        with torch.no_grad():
            return _numpy(module(torch.from_numpy(x)))

    return run
