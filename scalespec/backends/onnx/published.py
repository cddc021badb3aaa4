"""Importer for weights published as ONNX files: initializers under the canonical names.

A .onnx file written by scalespec (or any graph keeping the canonical names as initializer
names) gives its weights back by name, checked against the network's canonical tensors, so a
deployed graph's weights can be loaded into a PyTorch or Keras model again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import SpecError
from ...ir.network import Network
from ...ir.weights import check_weights, tensor_specs


def from_published(network: Network, path: str | Path) -> dict[str, np.ndarray]:
    """Canonical weights of ``network`` read from the initializers of the ONNX file at ``path``."""
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:
        raise SpecError([("weights", f"{path}: not a readable ONNX file ({exc})")]) from None
    specs = tensor_specs(network)
    found = {t.name: np.asarray(numpy_helper.to_array(t)) for t in graph.initializer if t.name in specs}
    check_weights({name: spec.shape for name, spec in specs.items()}, found, cast=True)
    return {name: found[name].astype(np.float32) for name in specs}
