"""Training-mode access to torch models for conformance: canonical taps, one SGD step, drop layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import StochasticFn, TrainStep
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


def train_step(
    model: nn.Module,
    x: np.ndarray,
    labels: np.ndarray,
    taps: Sequence[str],
    *,
    lr: float,
    device: str = "cpu",
) -> TrainStep:
    """A training-mode forward, mean cross-entropy, backward, and one ``torch.optim.SGD`` step."""
    model.to(device).train()
    image = _input(x, device, grad=True)
    with _Taps(model, taps) as hooks:
        loss = F.cross_entropy(model(image), torch.from_numpy(labels).long().to(device))
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
