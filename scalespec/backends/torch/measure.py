"""Params, buffers and MACs counted by PyTorch itself (never copied from ir/cost)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ..base import Measured

COUNTED_BUFFERS = ("running_mean", "running_var")
HOW = (
    "torch: params = numel of parameters requiring grad; buffers = numel of BN running_mean/var; "
    "macs = torch.utils.flop_counter.FlopCounterMode total / 2 (conv and matmul FLOPs, bias not counted), "
    "batch 1, eval mode, on the meta device"
)


def count_params(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_buffers(model: nn.Module) -> int:
    """BN running statistics count (num_batches_tracked is not a weight)."""
    return sum(b.numel() for n, b in model.named_buffers() if n.rsplit(".", 1)[-1] in COUNTED_BUFFERS)


def count_macs(model: nn.Module, resolution: int, in_channels: int | None = None) -> int:
    """Multiply-accumulates of one forward pass at ``resolution`` counted by FlopCounterMode.

    The pass runs on meta tensors (shapes only), so a full-size B7 costs no arithmetic.
    """
    if in_channels is None:
        in_channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
    tensors = {n: torch.empty_like(t, device="meta") for n, t in model.state_dict(keep_vars=True).items()}
    x = torch.empty(1, in_channels, resolution, resolution, device="meta")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            functional_call(model, tensors, (x,))
    finally:
        model.train(was_training)
    flops = counter.get_total_flops()
    return flops // 2


def measure(model: nn.Module, resolution: int) -> Measured:
    """Counts of ``model`` at ``resolution`` by PyTorch's own facilities."""
    return Measured(count_params(model), count_buffers(model), count_macs(model, resolution), HOW)
