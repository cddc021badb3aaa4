"""Canonical weight names and shapes (convention 4), derived from the IR in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from .network import Conv, Linear, Network, SqueezeExcite
from .table import ConvLayer, Init, SqueezeExciteLayer, layer_inits, linear_inits


@dataclass(frozen=True)
class TensorSpec:
    """A canonical tensor: its PyTorch-layout shape, whether it is trained (else a BN buffer),
    and how a fresh model draws it (convention 8)."""

    shape: tuple[int, ...]
    trainable: bool
    init: Init


def _conv_tensors(conv: Conv, scheme: str) -> dict[str, TensorSpec]:
    shape = (conv.out_channels, conv.in_channels // conv.groups, conv.kernel, conv.kernel)
    channels = (conv.out_channels,)
    layer = ConvLayer(conv.in_channels, conv.out_channels, conv.kernel, conv.stride, conv.depthwise, None)
    inits = layer_inits(scheme, layer)
    shapes = {"conv.weight": shape, "bn.weight": channels, "bn.bias": channels}
    shapes |= {"bn.running_mean": channels, "bn.running_var": channels}
    return {
        f"{conv.name}.{suffix}": TensorSpec(shapes[suffix], not suffix.startswith("bn.running"), init)
        for suffix, init in inits.items()
    }


def _se_tensors(se: SqueezeExcite, scheme: str) -> dict[str, TensorSpec]:
    wide, narrow = se.channels, se.squeeze_channels
    inits = layer_inits(scheme, SqueezeExciteLayer(wide, narrow, se.activation, se.gate))
    shapes = {
        "reduce.weight": (narrow, wide, 1, 1),
        "reduce.bias": (narrow,),
        "expand.weight": (wide, narrow, 1, 1),
        "expand.bias": (wide,),
    }
    return {f"{se.name}.{suffix}": TensorSpec(shapes[suffix], True, init) for suffix, init in inits.items()}


def _linear_tensors(linear: Linear, scheme: str) -> dict[str, TensorSpec]:
    inits = linear_inits(scheme, linear.out_features)
    shapes = {"weight": (linear.out_features, linear.in_features), "bias": (linear.out_features,)}
    return {
        f"{linear.name}.{suffix}": TensorSpec(shapes[suffix], True, init) for suffix, init in inits.items()
    }


def tensor_specs(network: Network) -> dict[str, TensorSpec]:
    """Every canonical tensor of ``network`` in execution order."""
    return {
        name: spec for layer in network.layers() for name, spec in op_tensors(layer, network.init).items()
    }


def op_tensors(op: Conv | SqueezeExcite | Linear, scheme: str = "torchvision") -> dict[str, TensorSpec]:
    """The canonical tensors of one op (the cost model's per-layer rows need only their shapes)."""
    if isinstance(op, Conv):
        return _conv_tensors(op, scheme)
    if isinstance(op, SqueezeExcite):
        return _se_tensors(op, scheme)
    return _linear_tensors(op, scheme)


def check_weights(
    expected: Mapping[str, tuple[int, ...]], weights: Mapping[str, np.ndarray], *, cast: bool = False
) -> None:
    """Raise SpecError naming every missing, extra, wrongly shaped, non-float32 or non-finite tensor.

    Canonical weights are float32 (convention 4): another dtype is refused unless ``cast``, as
    a silent cast would turn float64 1e300 into inf and bool masks into weights.
    """
    problems = [(name, "missing tensor") for name in expected if name not in weights]
    problems += [
        (name, "unexpected tensor (not in this network)") for name in weights if name not in expected
    ]
    for name, shape in expected.items():
        if name not in weights:
            continue
        value = weights[name]
        got = tuple(np.shape(value))
        if got != tuple(shape):
            problems.append((name, f"shape {got}, expected {tuple(shape)}"))
            continue
        dtype = np.asarray(value).dtype
        if dtype != np.float32 and not cast:
            problems.append((name, f"dtype {dtype}, expected float32 (ask for a cast to convert it)"))
        elif not np.all(np.isfinite(np.asarray(value, dtype=np.float64 if cast else dtype))):
            problems.append((name, "holds NaN or infinite values"))
        elif cast and not _fits_float32(value):
            problems.append((name, "does not fit in float32 (it would become infinite)"))
    if problems:
        raise SpecError(problems)


def _fits_float32(value: np.ndarray) -> bool:
    with np.errstate(over="ignore"):  # the overflow is the finding, not a warning to print
        return bool(np.all(np.isfinite(np.asarray(value).astype(np.float32))))


HEAD_PREFIX = "classifier."
STEM_KERNEL = "stem.conv.weight"


def fit_checkpoint(
    checkpoint: Mapping[str, np.ndarray], fresh: Mapping[str, np.ndarray], *, trunk_only: bool = False
) -> tuple[dict, list[str]]:
    """A checkpoint made to fit a model built for fine-tuning; returns it and one note per change.

    - A classifier the model lacks or shapes differently is skipped; the model's own fresh
      classifier takes its place.
    - A stem kernel for other input channels is adapted as timm's ``adapt_input_conv`` does:
      summed over its channels for 1 input channel, else repeated to cover the new channels
      and scaled by old/new channels, so an image of equal bands gives the same stem output.
    - ``trunk_only`` (a features-only model): tensors the model does not have are skipped.

    Everything else is left for the strict import to check by name and shape.
    """
    adapted, notes = {}, []
    for name, value in checkpoint.items():
        shape = tuple(np.shape(value))
        if name.startswith(HEAD_PREFIX) and (name not in fresh or shape != tuple(np.shape(fresh[name]))):
            notes.append(f"skipped {name} {shape} (the classifier differs)")
        elif trunk_only and name not in fresh:
            continue  # the layers after the deepest feature level
        elif name == STEM_KERNEL and name in fresh and shape[1:2] != tuple(np.shape(fresh[name]))[1:2]:
            adapted[name] = adapt_input_channels(np.asarray(value), int(np.shape(fresh[name])[1]))
            notes.append(f"adapted {name} from {shape[1]} to {np.shape(fresh[name])[1]} input channels")
        else:
            adapted[name] = value
    for name, value in fresh.items():
        if name.startswith(HEAD_PREFIX) and name not in adapted:
            adapted[name] = value
    return adapted, notes


def adapt_input_channels(kernel: np.ndarray, channels: int) -> np.ndarray:
    """A (out, in, k, k) kernel for ``channels`` inputs: summed for 1, else tiled and scaled by in/channels."""
    old = kernel.shape[1]
    if channels == 1:
        return kernel.sum(axis=1, keepdims=True).astype(kernel.dtype)
    tiled = np.tile(kernel, (1, -(-channels // old), 1, 1))[:, :channels]
    return (tiled * (old / channels)).astype(kernel.dtype)


def fold_batch_norm(
    kernel: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """A conv kernel (out first) and a new bias that compute conv -> eval-mode BN in one conv:
    kernel x s and beta - mean x s per output channel, s = gamma / sqrt(var + eps). Computed in
    float64, so the folded float32 model differs from the unfolded one by rounding alone."""
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    folded = np.asarray(kernel, np.float64) * scale.reshape(-1, *([1] * (np.ndim(kernel) - 1)))
    bias = np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * scale
    return folded.astype(np.float32), bias.astype(np.float32)


BN_SUFFIXES = ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")


def fold_batch_norms(weights: Mapping[str, np.ndarray], eps: float) -> dict[str, np.ndarray]:
    """Canonical weights with every ``P.bn.*`` folded into ``P.conv.weight`` and a new
    ``P.conv.bias``: the weights of the same network with its batch norms folded (inference)."""
    folded: dict[str, np.ndarray] = {}
    for name, value in weights.items():
        prefix, _, role = name.rpartition(".conv.")
        if role == "weight" and f"{prefix}.bn.weight" in weights:
            bn = [weights[f"{prefix}.{suffix}"] for suffix in BN_SUFFIXES]
            folded[name], folded[f"{prefix}.conv.bias"] = fold_batch_norm(value, *bn, eps)
        elif name.split(".")[-2:-1] != ["bn"]:  # the batch norms themselves are gone
            folded[name] = value
    return folded
