"""Importer for published PyTorch layouts: torchvision's efficientnet_b0..b7 and efficientnet_v2_s/m/l.

Published tensors are paired with the IR's canonical tensors in execution order, each pair
checked by role and shape, so no per-model key table exists.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ...errors import SpecError
from ...ir.network import Network
from ...ir.weights import tensor_specs
from .build import network_of
from .weights import SKIPPED_BUFFERS, import_weights


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
