"""Canonical weights (convention 4) in and out of torch models, safetensors files, torchvision layouts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ...ir.weights import check_weights, tensor_specs
from .build import network_of

SKIPPED_BUFFERS = ("num_batches_tracked",)  # BN step counters: not part of canonical weights
BN_ROLES = ("weight", "bias", "running_mean", "running_var")


def _canonical_state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in SKIPPED_BUFFERS}


def expected_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Name -> shape the model expects: the IR's tensor_specs when known, else the model's own."""
    network = network_of(model)
    if network is not None:
        return {name: spec.shape for name, spec in tensor_specs(network).items()}
    return {name: tuple(t.shape) for name, t in _canonical_state(model).items()}


def export_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Every canonical tensor of ``model`` as a float32 numpy array (num_batches_tracked dropped)."""
    return {k: v.detach().to("cpu", torch.float32).numpy().copy() for k, v in _canonical_state(model).items()}


def import_weights(model: nn.Module, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
    """Load canonical weights into ``model`` after checking names and shapes against the IR."""
    check_weights(expected_shapes(model), weights, cast=cast)
    state = _canonical_state(model)
    check_weights({k: tuple(v.shape) for k, v in state.items()}, weights, cast=cast)
    with torch.no_grad():
        for name, tensor in state.items():
            value = torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32))
            tensor.copy_(value.to(tensor.dtype))
