"""Canonical weights (convention 4) in and out of ONNX graphs: the initializers are the weights.

runtime.py writes every tensor as an initializer under its canonical name and in the
canonical layout, so export reads them back as they are, and import replaces them in place.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from onnx import numpy_helper

from ...ir.weights import check_weights, tensor_specs
from .build import OnnxModel


def expected_shapes(model: OnnxModel) -> dict[str, tuple[int, ...]]:
    """Name -> shape the model expects: the IR's tensor_specs when known, else the graph's own."""
    if model.network is not None:
        return {name: spec.shape for name, spec in tensor_specs(model.network).items()}
    return {tensor.name: tuple(tensor.dims) for tensor in model.proto.graph.initializer}


def export_weights(model: OnnxModel) -> dict[str, np.ndarray]:
    """Every initializer of the graph as a float32 array, in the graph's (execution) order."""
    return {
        tensor.name: np.asarray(numpy_helper.to_array(tensor), dtype=np.float32)
        for tensor in model.proto.graph.initializer
    }


def import_weights(model: OnnxModel, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
    """Replace every initializer with the canonical tensor of its name; nothing changes unless all fit."""
    check_weights(expected_shapes(model), weights, cast=cast)
    initializers = model.proto.graph.initializer
    check_weights({tensor.name: tuple(tensor.dims) for tensor in initializers}, weights, cast=cast)
    for tensor in initializers:
        value = np.ascontiguousarray(weights[tensor.name], dtype=np.float32)
        tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
    model.weights_changed()
