"""Canonical weights (convention 4) in and out of torch models, safetensors files, torchvision layouts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ...errors import SpecError
from ...ir.network import Network
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


def import_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Load canonical weights into ``model`` after checking names and shapes against the IR."""
    check_weights(expected_shapes(model), weights)
    state = _canonical_state(model)
    check_weights({k: tuple(v.shape) for k, v in state.items()}, weights)
    with torch.no_grad():
        for name, tensor in state.items():
            value = torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32))
            tensor.copy_(value.to(tensor.dtype))


def _role(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_published_keys(network: Network, state: Mapping[str, object]) -> dict[str, str]:
    """Canonical name -> published key, pairing both in execution order and checking role and shape.

    Works for any layout that stores the same tensors in the same order as the IR (torchvision's
    efficientnet / efficientnet_v2 do), so no per-model table is needed.
    """
    theirs = [k for k in state if _role(k) not in SKIPPED_BUFFERS]
    ours = tensor_specs(network)
    if len(theirs) != len(ours):
        raise SpecError([("weights", f"{len(theirs)} published tensors, the network has {len(ours)}")])
    mapping: dict[str, str] = {}
    for (name, spec), key in zip(ours.items(), theirs, strict=True):
        shape = tuple(getattr(state[key], "shape", ()))
        if _role(name) != _role(key) or shape != spec.shape:
            raise SpecError(
                [(name, f"pairs with published {key} {shape}, expected {_role(name)} {spec.shape}")]
            )
        mapping[name] = key
    return mapping


def from_published(network: Network, state: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Canonical weights from a published state_dict (e.g. torchvision efficientnet_b0)."""
    mapping = map_published_keys(network, state)
    out = {}
    for name, key in mapping.items():
        value = state[key]
        value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        out[name] = value.astype(np.float32)
    return out


def import_published(model: nn.Module, state: Mapping[str, object], network: Network | None = None) -> None:
    """Load a published state_dict (torchvision layout) into a model built from ``network``."""
    network = network or network_of(model)
    if network is None:
        raise SpecError([("weights", "the model does not record its network; pass network=")])
    import_weights(model, from_published(network, state))
