"""Canonical weight names and shapes (convention 4), derived from the IR in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from .network import Conv, Linear, Network, SqueezeExcite


@dataclass(frozen=True)
class TensorSpec:
    """A canonical tensor: its PyTorch-layout shape and whether it is trained or a BN buffer."""

    shape: tuple[int, ...]
    trainable: bool


def _conv_tensors(conv: Conv) -> dict[str, TensorSpec]:
    shape = (conv.out_channels, conv.in_channels // conv.groups, conv.kernel, conv.kernel)
    channels = (conv.out_channels,)
    return {
        f"{conv.name}.conv.weight": TensorSpec(shape, True),
        f"{conv.name}.bn.weight": TensorSpec(channels, True),
        f"{conv.name}.bn.bias": TensorSpec(channels, True),
        f"{conv.name}.bn.running_mean": TensorSpec(channels, False),
        f"{conv.name}.bn.running_var": TensorSpec(channels, False),
    }


def _se_tensors(se: SqueezeExcite) -> dict[str, TensorSpec]:
    wide, narrow = se.channels, se.squeeze_channels
    return {
        f"{se.name}.reduce.weight": TensorSpec((narrow, wide, 1, 1), True),
        f"{se.name}.reduce.bias": TensorSpec((narrow,), True),
        f"{se.name}.expand.weight": TensorSpec((wide, narrow, 1, 1), True),
        f"{se.name}.expand.bias": TensorSpec((wide,), True),
    }


def _linear_tensors(linear: Linear) -> dict[str, TensorSpec]:
    return {
        f"{linear.name}.weight": TensorSpec((linear.out_features, linear.in_features), True),
        f"{linear.name}.bias": TensorSpec((linear.out_features,), True),
    }


def tensor_specs(network: Network) -> dict[str, TensorSpec]:
    """Every canonical tensor of ``network`` in execution order."""
    return {name: spec for layer in network.layers() for name, spec in op_tensors(layer).items()}


def op_tensors(op: Conv | SqueezeExcite | Linear) -> dict[str, TensorSpec]:
    """The canonical tensors of one op (used by the cost model's per-layer rows)."""
    if isinstance(op, Conv):
        return _conv_tensors(op)
    if isinstance(op, SqueezeExcite):
        return _se_tensors(op)
    return _linear_tensors(op)


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


def swap_head(
    checkpoint: Mapping[str, np.ndarray], fresh: Mapping[str, np.ndarray]
) -> tuple[dict, list[str]]:
    """A checkpoint made to fit a network whose classifier differs (fine-tuning to other classes).

    The checkpoint's classifier tensors that the network lacks or shapes differently are
    dropped, and the network's own (``fresh``) classifier tensors take their place; every
    other tensor is left for the strict import to check. Returns the weights and what was
    skipped, as ``name (shape)``.
    """
    adapted = {k: v for k, v in checkpoint.items() if not k.startswith(HEAD_PREFIX)}
    skipped = []
    for name, value in checkpoint.items():
        if not name.startswith(HEAD_PREFIX):
            continue
        if name in fresh and tuple(np.shape(value)) == tuple(np.shape(fresh[name])):
            adapted[name] = value
        else:
            skipped.append(f"{name} {tuple(np.shape(value))}")
    for name, value in fresh.items():
        if name.startswith(HEAD_PREFIX) and name not in adapted:
            adapted[name] = value
    return adapted, skipped
