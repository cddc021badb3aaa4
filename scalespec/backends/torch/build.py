"""IR -> torch.nn.Module, through runtime.py and the network's plain table (nothing re-derived)."""

from __future__ import annotations

from torch import nn

from ...errors import SpecError
from ...ir.network import Network
from .runtime import build_from_table

NETWORK_ATTR = "scalespec_network"  # the IR a built model came from, for weight-name checks


def build(network: Network, *, num_classes: int | None = None) -> nn.Module:
    """The network as an eval-mode nn.Module whose state_dict keys are the canonical weight names."""
    try:
        model = build_from_table(network.to_table(), num_classes)
    except ValueError as exc:
        raise SpecError([("num_classes", str(exc))]) from None
    if num_classes is None:
        setattr(model, NETWORK_ATTR, network)
    return model


def network_of(model: nn.Module) -> Network | None:
    """The IR ``model`` was built from, when build() recorded it and the classifier is unchanged."""
    return getattr(model, NETWORK_ATTR, None)
