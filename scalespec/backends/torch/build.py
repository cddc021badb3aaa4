"""IR -> torch.nn.Module, through runtime.py and the network's architecture table (nothing re-derived)."""

from __future__ import annotations

from torch import nn

from ...ir.network import Network
from ..base import architecture
from .runtime import build_network

NETWORK_ATTR = "scalespec_network"  # the IR a built model came from, for weight-name checks


def build(network: Network, *, num_classes: int | None = None) -> nn.Module:
    """The network as an nn.Module whose state_dict keys are the canonical weight names.

    Like every nn.Module it starts in training mode (convention 9): call ``.eval()`` for inference.
    """
    model = build_network(architecture(network, num_classes))
    if num_classes is None:
        setattr(model, NETWORK_ATTR, network)
    return model


def network_of(model: nn.Module) -> Network | None:
    """The IR ``model`` was built from, when build() recorded it and the classifier is unchanged
    (``reset_classifier`` makes the record stale, so then there is none)."""
    network = getattr(model, NETWORK_ATTR, None)
    if network is None or getattr(model, "num_classes", network.num_classes) != network.num_classes:
        return None
    return network
