"""IR -> torch.nn.Module, through runtime.py and the network's architecture table (nothing re-derived)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ...errors import SpecError
from ...ir.network import Network
from ...ir.weights import fold_batch_norm
from ..base import architecture
from .runtime import Block, ConvNormAct, build_network

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


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An eval-only copy of ``model`` for fast inference: every batch norm folded into the conv
    before it (``ir.weights.fold_batch_norm``, exact up to rounding), weights in channels_last,
    no gradients; the squeeze-excite rescale and the residual add overwrite the fresh tensors
    they read (as ``build_network(arch, folded=True)`` builds it). SiLU and squeeze-excite
    compute as they did. ``model`` is not changed."""
    fast = copy.deepcopy(model).eval()
    for module in fast.modules():
        if _is_conv_norm_act(module) and isinstance(module.bn, nn.BatchNorm2d):
            _fold(module)
        elif type(module).__name__ == Block.__name__ and hasattr(module, "run_in_place"):
            module.run_in_place()
    left = [
        name for name, module in fast.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    if left:  # folding nothing would pass every output comparison while speeding nothing up
        raise SpecError(
            [("model", f"batch norm {left[0]} follows no scalespec conv, so it cannot be folded")]
        )
    fast.requires_grad_(False)
    return fast.to(memory_format=torch.channels_last)


def _is_conv_norm_act(module: nn.Module) -> bool:
    """runtime.ConvNormAct, or the same class in a generated file (a copy of runtime.py's source,
    so not the same Python class): conv -> bn -> act with those children."""
    named = isinstance(module, ConvNormAct) or type(module).__name__ == ConvNormAct.__name__
    return named and isinstance(getattr(module, "conv", None), nn.Conv2d)


def _fold(layer: nn.Module) -> None:
    conv, bn = layer.conv, layer.bn
    kernel, bias = fold_batch_norm(
        *(
            t.detach().cpu().numpy()
            for t in (conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        ),
        bn.eps,
    )
    device = conv.weight.device
    conv.weight = nn.Parameter(torch.from_numpy(kernel).to(device))
    conv.bias = nn.Parameter(torch.from_numpy(bias).to(device))
    layer.bn = nn.Identity()
