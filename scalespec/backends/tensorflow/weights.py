"""Canonical weights (convention 4) in and out of Keras models built by runtime.py.

Keras layers carry the canonical prefixes as names (``__`` for ``.``), so a tensor's
canonical name is the layer name mapped back plus its role; layouts are converted here: conv kernels HWIO <-> OIHW,
depthwise (kh, kw, in, 1) <-> (in, 1, kh, kw), dense (in, out) <-> (out, in).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from ...ir.weights import check_weights
from .runtime import canonical_name

BN_ROLES = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def _kernel_to_canonical(layer: keras.layers.Layer, kernel: np.ndarray) -> np.ndarray:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, cin, mult = kernel.shape
        return kernel.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
    if isinstance(layer, keras.layers.Conv2D):
        return kernel.transpose(3, 2, 0, 1)
    return kernel.T  # Dense


def _kernel_from_canonical(layer: keras.layers.Layer, tensor: np.ndarray, shape: tuple) -> np.ndarray:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, cin, mult = shape
        return tensor.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return tensor.transpose(2, 3, 1, 0)
    return tensor.T


def _role(variable) -> str:
    return variable.path.rsplit("/", 1)[-1]


def _canonical_suffix(layer: keras.layers.Layer, variable) -> str:
    role = _role(variable)
    if isinstance(layer, keras.layers.BatchNormalization):
        return BN_ROLES[role]
    return {"kernel": "weight", "bias": "bias"}[role]


def tensor_slots(model: keras.Model) -> dict[str, tuple[keras.layers.Layer, object]]:
    """Canonical name -> (layer, variable) for every weight of ``model``, in layer order."""
    slots = {}
    for layer in model.layers:
        for variable in layer.weights:
            slots[f"{canonical_name(layer.name)}.{_canonical_suffix(layer, variable)}"] = (layer, variable)
    return slots


def to_canonical(layer: keras.layers.Layer, variable, value: np.ndarray) -> np.ndarray:
    """A Keras variable's value in the canonical (PyTorch) layout."""
    if _role(variable) == "kernel":
        value = _kernel_to_canonical(layer, value)
    return np.ascontiguousarray(value, dtype=np.float32)


def canonical_shape(layer: keras.layers.Layer, variable) -> tuple[int, ...]:
    """The canonical shape of one Keras variable."""
    return to_canonical(layer, variable, np.zeros(tuple(variable.shape), np.float32)).shape


def export_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """Canonical weights of ``model``: name -> float32 array in PyTorch layout."""
    return {
        name: to_canonical(layer, var, np.asarray(var.numpy()))
        for name, (layer, var) in tensor_slots(model).items()
    }


def import_weights(model: keras.Model, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
    """Load canonical ``weights`` into ``model``; nothing is assigned unless all tensors fit."""
    slots = tensor_slots(model)
    check_weights(
        {name: canonical_shape(layer, var) for name, (layer, var) in slots.items()}, weights, cast=cast
    )
    for name, (layer, var) in slots.items():
        value = np.asarray(weights[name], dtype=np.float32)
        if _role(var) == "kernel":
            value = _kernel_from_canonical(layer, value, tuple(var.shape))
        var.assign(value)
