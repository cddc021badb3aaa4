"""The resolved network: every width, stride, padding and rate decided once, frozen.

Backends consume this IR (or its plain ``to_table()`` form) and never re-derive a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

Padding = Literal["symmetric", "same"]


def padding_amounts(size: int, kernel: int, stride: int, mode: Padding) -> tuple[int, int]:
    """Zero padding (before, after) along one axis: convention 1 of docs/conventions.md."""
    if mode == "symmetric":
        pad = (kernel - 1) // 2
        return pad, pad
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel: int, stride: int, mode: Padding) -> int:
    """Spatial output size of a convolution with the given padding mode."""
    before, after = padding_amounts(size, kernel, stride, mode)
    return (size + before + after - kernel) // stride + 1


@dataclass(frozen=True)
class Conv:
    """conv (+ optional BN, + optional activation). Weights: ``{name}.conv.weight``, ``{name}.bn.*``."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    norm: bool
    activation: str | None
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    op: Literal["conv"] = "conv"
    bias: bool = False

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels


@dataclass(frozen=True)
class SqueezeExcite:
    """pool -> reduce 1x1 (+bias) -> act -> expand 1x1 (+bias) -> gate -> multiply."""

    name: str
    channels: int
    squeeze_channels: int
    activation: str
    gate: str
    size: tuple[int, int]
    op: Literal["se"] = "se"


Op = Conv | SqueezeExcite


@dataclass(frozen=True)
class Block:
    """One block: its ops in order, then an optional residual add with stochastic depth."""

    name: str
    kind: str
    stage: int
    index: int
    in_channels: int
    out_channels: int
    expanded_channels: int
    stride: int
    kernel: int
    residual: bool
    drop_path_rate: float
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Linear:
    """A dense layer with bias; ``dropout`` is applied to its input in train mode."""

    name: str
    in_features: int
    out_features: int
    activation: str | None = None
    dropout: float = 0.0


@dataclass(frozen=True)
class Multipliers:
    width: float
    depth: float
    resolution: int
    phi: float | None = None
    variant: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Network:
    """A fully resolved network. ``resolution`` is the nominal input size the sizes refer to."""

    name: str
    input_channels: int
    resolution: int
    padding: Padding
    norm_eps: float
    norm_momentum: float
    stem: Conv
    blocks: tuple[Block, ...]
    head: Conv | None
    pre_logits: Linear | None
    classifier: Linear | None
    num_features: int
    multipliers: Multipliers = field(compare=False)

    @property
    def num_stages(self) -> int:
        return 1 + max(block.stage for block in self.blocks)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features if self.classifier else 0

    def stage(self, index: int) -> tuple[Block, ...]:
        return tuple(block for block in self.blocks if block.stage == index)

    def identity(self) -> dict:
        """What names this network: its resolved name and the resolve arguments that made it."""
        m = self.multipliers
        return {
            "name": self.name,
            "variant": m.variant,
            "phi": m.phi,
            "profile": m.profile,
            "width": m.width,
            "depth": m.depth,
            "resolution": self.resolution,
        }

    def convs(self) -> list[Conv]:
        """Every conv of the network in execution order."""
        return [layer for layer in self.layers() if isinstance(layer, Conv)]

    def layers(self) -> list[Conv | SqueezeExcite | Linear]:
        """Every weighted layer (conv, SE, linear) in execution order."""
        inner = [op for block in self.blocks for op in block.ops]
        tail = [layer for layer in (self.head, self.pre_logits, self.classifier) if layer]
        return [self.stem, *inner, *tail]

    def to_table(self) -> dict:
        """The architecture as plain data (str/int/float/bool/None/list/dict) for runtimes."""
        return {
            "name": self.name,
            "input_channels": self.input_channels,
            "resolution": self.resolution,
            "padding": self.padding,
            "norm_eps": self.norm_eps,
            "norm_momentum": self.norm_momentum,
            "stem": _op_table(self.stem),
            "blocks": [_block_table(block) for block in self.blocks],
            "head": _op_table(self.head) if self.head else None,
            "pre_logits": asdict(self.pre_logits) if self.pre_logits else None,
            "classifier": asdict(self.classifier) if self.classifier else None,
            "num_features": self.num_features,
        }


def _op_table(op: Op) -> dict:
    table = asdict(op)
    for key in ("in_size", "out_size", "size"):
        table.pop(key, None)
    return table


def _block_table(block: Block) -> dict:
    return {
        "name": block.name,
        "stage": block.stage,
        "residual": block.residual,
        "drop_path_rate": block.drop_path_rate,
        "ops": [_op_table(op) for op in block.ops],
    }
