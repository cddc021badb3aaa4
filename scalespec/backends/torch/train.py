"""Training-mode access to torch models for conformance: canonical taps, one SGD step, drop layers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy

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


def _input(x: np.ndarray, device: str, *, grad: bool = False, dtype=torch.float32) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(x)).to(device, dtype)
    return tensor.requires_grad_(grad)


def _dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters(), torch.empty(0)).dtype


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
    image = _input(x, device, grad=True, dtype=_dtype(model))
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


# ---------------------------------------------------------------- rounding sensitivity

UNIT_ROUNDOFF = 2.0**-24  # float32's, the size of the perturbations below
SENSITIVITY_RUNS = 2


class _Perturbation:
    """Float32-sized errors injected into a float64 model, forward and backward.

    Each result is moved by up to u times the sum of its terms' magnitudes: a conv or dense
    output by u (|W| * |x| + |b|), a batch-norm output by u (|x - mean| |scale| + |bias|), an
    elementwise result and each gradient flowing back into a layer by u times itself; each
    batch-norm reduction over n values (mean and variance forward, their sums backward) by
    u sqrt(n) times its terms' magnitudes. Sums that cancel (a ReLU input near its kink, a
    batch-norm backward that removes nearly all of a gradient) are where this matters.
    """

    def __init__(self, amplitude: float, seed: int):
        self.amplitude = amplitude
        self.generator = torch.Generator().manual_seed(seed)
        self.measuring = False

    def signs(self, like: torch.Tensor) -> torch.Tensor:
        """Uniform draws in [-1, 1], shaped and placed like ``like``."""
        draws = torch.rand(like.shape, generator=self.generator, dtype=torch.float64)
        return (2 * draws - 1).to(like.device, like.dtype)

    def moved(self, t: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        return t + self.amplitude * magnitude * self.signs(t)

    def relative(self, t: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.moved(t, scale * t.abs())

    def leaf_hook(self, module: nn.Module, inputs, output):
        if not isinstance(output, torch.Tensor) or self.measuring:
            return output
        if isinstance(getattr(module, "weight", None), torch.Tensor) and inputs:
            self.measuring = True  # the call below runs this hook again
            try:
                with torch.no_grad():  # the same layer on magnitudes: the sum of |terms| per output
                    absolute = {name: p.abs() for name, p in module.named_parameters(recurse=False)}
                    magnitude = torch.func.functional_call(module, absolute, (inputs[0].abs(),))
            finally:
                self.measuring = False
            output = self.moved(output, magnitude)
        else:
            output = self.relative(output)
        if output.requires_grad:
            output.register_hook(self.relative)
        return output

    def batch_norm(self, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        """Training-mode batch norm written out, its reductions perturbed both ways."""
        n = x.shape[0] * x.shape[2] * x.shape[3]
        error = self.amplitude * n**0.5
        mean = x.mean((0, 2, 3))
        mean = mean + error * x.abs().mean((0, 2, 3)) * self.signs(mean)
        centred = x - _PerturbedBroadcast.apply(mean, x, error, self)
        variance = self.relative((centred * centred).mean((0, 2, 3)), n**0.5)
        with torch.no_grad():
            bn.running_mean.lerp_(mean, bn.momentum)
            bn.running_var.lerp_(variance * n / max(n - 1, 1), bn.momentum)
        scale = _PerturbedBroadcast.apply(torch.rsqrt(variance + bn.eps) * bn.weight, x, error, self)
        bias = _PerturbedBroadcast.apply(bn.bias, x, error, self)
        out = centred * scale + bias
        return self.moved(out, (centred * scale).abs().detach() + bias.abs().detach())


class _PerturbedBroadcast(torch.autograd.Function):
    """A per-channel vector broadcast over NCHW; backward sums over N, H, W with a float32-sized error."""

    @staticmethod
    def forward(ctx, vector, like, error, perturbation):
        ctx.error, ctx.perturbation = error, perturbation
        return vector.reshape(1, -1, 1, 1).expand_as(like)

    @staticmethod
    def backward(ctx, grad):
        total = grad.sum((0, 2, 3))
        magnitude = grad.abs().sum((0, 2, 3))
        return total + ctx.error * magnitude * ctx.perturbation.signs(total), None, None, None


def _perturbed(model: nn.Module, perturbation: _Perturbation) -> nn.Module:
    """``model`` (a float64 copy) with every batch norm and leaf module perturbed."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.forward = lambda x, bn=module: perturbation.batch_norm(bn, x)
        elif not any(module.children()):
            module.register_forward_hook(perturbation.leaf_hook)
        if getattr(module, "inplace", False):
            module.inplace = False  # the hooks scale outputs out of place
    return model


def sensitivity(
    model: nn.Module, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu", seed: int = 0
) -> TrainStep:
    """How far float32-sized errors can move one training step: in float64, the largest
    difference between a perturbed step (``_Perturbation``) and an exact one, per element of
    every tap, gradient and the input gradient, over SENSITIVITY_RUNS perturbations.
    ``model`` is not changed."""

    def step(amplitude: float, run: int) -> TrainStep:
        copy = _perturbed(deepcopy(model).double(), _Perturbation(amplitude, seed + run))
        return train_step(copy, batch, taps, device=device)

    exact = step(0.0, 0)
    spread = TrainStep(taps={}, loss=0.0, grads={}, input_grad=np.zeros_like(exact.input_grad), after={})
    for run in range(SENSITIVITY_RUNS):
        moved = step(UNIT_ROUNDOFF, run + 1)
        spread.loss = max(spread.loss, abs(moved.loss - exact.loss))
        spread.input_grad = np.maximum(spread.input_grad, np.abs(moved.input_grad - exact.input_grad))
        for into, new, old in (
            (spread.taps, moved.taps, exact.taps),
            (spread.grads, moved.grads, exact.grads),
        ):
            for name, value in new.items():
                difference = np.abs(value - old[name])
                into[name] = np.maximum(into[name], difference) if name in into else difference
    return spread
