"""The resolved network: every width, stride, padding and rate decided once, frozen.

Backends consume this IR through its architecture table (``to_table()``, rows defined in
ir/table.py) and never re-derive a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from ..errors import SpecError
from .table import (
    POOLS,
    BlockRow,
    ConvRow,
    FeatureLevel,
    LinearRow,
    block_layers,
    feature_levels,
    read_architecture,
)

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


@dataclass(frozen=True, kw_only=True)
class Conv:
    """conv (no bias) -> BN -> optional activation. Weights: ``{name}.conv.weight``, ``{name}.bn.*``."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    depthwise: bool = False
    activation: str | None
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    op: Literal["conv"] = "conv"

    @property
    def groups(self) -> int:
        """Convolution groups: one per channel for a depthwise conv, else 1."""
        return self.in_channels if self.depthwise else 1


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class Block:
    """One block: its table row (kind, widths, activations, SE, residual) and the ops it expands to."""

    name: str
    stage: int
    index: int
    row: BlockRow
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    ops: tuple[Op, ...]

    def __getattr__(self, name: str) -> object:
        """The row's fields read as block attributes (``block.in_channels``, ``block.residual``...)."""
        if name.startswith("__") or name == "row":
            raise AttributeError(name)
        return getattr(self.row, ROW_ALIASES.get(name, name))


ROW_ALIASES = {"expanded_channels": "mid_channels", "drop_path_rate": "drop_path"}


@dataclass(frozen=True, kw_only=True)
class Linear:
    """A dense layer with bias; ``dropout`` is applied to its input in train mode."""

    name: str
    in_features: int
    out_features: int
    activation: str | None = None
    dropout: float = 0.0


@dataclass(frozen=True)
class Tap:
    """A point where every backend exposes its intermediate output (convention 10).

    ``name`` is the module's canonical prefix (``stem``, ``stages.3.1``, ``head``, ``pool``,
    ``pre_logits``, ``classifier``); ``what`` says what computes it, for divergence reports.
    """

    name: str
    what: str


@dataclass(frozen=True)
class StochasticLayer:
    """A layer that acts only in training: per-sample drop-path or element-wise dropout."""

    name: str  # ``stages.1.0.drop_path``, ``pre_logits.dropout``, ``classifier.dropout``
    kind: str  # drop_path or dropout
    rate: float


@dataclass(frozen=True, kw_only=True)
class Multipliers:
    """The scaling a network was resolved with, and the arguments that named it."""

    width: float  # channel multiplier before rounding
    depth: float  # repeat multiplier before rounding
    resolution: int  # nominal input size
    phi: float | None = None  # the compound coefficient, when one was given
    variant: str | None = None  # the named variant, when one was used
    profile: str | None = None  # the convention profile applied


@dataclass(frozen=True, kw_only=True)
class Network:
    """A fully resolved network. ``resolution`` is the nominal input size the sizes refer to.

    ``dropout`` is the classifier's input dropout, kept when there is no classifier so that
    one added later (``num_classes``) gets the spec's rate.
    """

    name: str
    resolution: int
    padding: Padding
    norm_eps: float
    norm_momentum: float
    init: str  # fresh-weight scheme (ir/table.py INIT_SCHEMES, convention 8)
    stem: Conv
    blocks: tuple[Block, ...]
    head: Conv | None
    pre_logits: Linear | None
    classifier: Linear | None
    dropout: float
    num_features: int
    multipliers: Multipliers = field(compare=False)
    features: tuple[str, ...] | None = None  # features-only: the taps returned, shallow to deep
    pool: str | None = "avg"  # global pooling before the dense layers: avg, max, or none (maps out)

    @property
    def input_channels(self) -> int:
        return self.stem.in_channels

    @property
    def num_stages(self) -> int:
        return 1 + max(block.stage for block in self.blocks)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features if self.classifier else 0

    @property
    def last_map(self) -> Conv | Block:
        """What makes the last feature map (the head conv, else the last block, else the stem):
        its ``out_channels`` and ``out_size`` are an unpooled network's output."""
        return self.head or (self.blocks[-1] if self.blocks else self.stem)

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

    def taps(self) -> list[Tap]:
        """The canonical taps in execution order; the last is the model's output (of a
        features-only network: its deepest feature map)."""
        found = [Tap("stem", _conv_what(self.stem))]
        for block in self.blocks:
            row = block.row
            ops = ", ".join(name for name, _ in block_layers(row))
            extras = "".join(f", {x}" for x in (row.act, "residual" if row.residual else None) if x)
            found.append(Tap(block.name, f"{row.kind} k{row.kernel} s{row.stride} ({ops}){extras}"))
        if self.features:  # the outputs are the feature maps; nothing follows the deepest
            return found
        if self.head:
            found.append(Tap("head", _conv_what(self.head)))
        if self.pool:
            found.append(Tap("pool", f"global {'average' if self.pool == 'avg' else 'max'} pool"))
        for linear, what in ((self.pre_logits, "pre-logits"), (self.classifier, "logits")):
            if linear:
                found.append(Tap(linear.name, f"{what} ({linear.in_features} -> {linear.out_features})"))
        return found

    def stochastic_layers(self) -> list[StochasticLayer]:
        """Every layer that drops in training (rate > 0), in execution order."""
        found = [
            StochasticLayer(f"{block.name}.drop_path", "drop_path", block.row.drop_path)
            for block in self.blocks
            if block.row.residual and block.row.drop_path > 0
        ]
        for linear in (self.pre_logits, self.classifier):
            if linear and linear.dropout > 0:
                found.append(StochasticLayer(f"{linear.name}.dropout", "dropout", linear.dropout))
        return found

    def to_table(self) -> dict:
        """The architecture table (ir/table.py) as plain data: one tuple per block, grouped by stage."""
        act = self.classifier.activation if self.classifier else None
        classifier = LinearRow(self.num_features, self.num_classes, act, self.dropout)
        return {
            "name": self.name,
            "resolution": self.resolution,
            "padding": self.padding,
            "bn_eps": self.norm_eps,
            "bn_momentum": self.norm_momentum,
            "init": self.init,
            "stem": _conv_row(self.stem),
            "stages": [[tuple(block.row) for block in self.stage(s)] for s in range(self.num_stages)],
            "head": _conv_row(self.head) if self.head else None,
            "pre_logits": _linear_row(self.pre_logits) if self.pre_logits else None,
            "classifier": classifier._asdict(),
            "features": list(self.features) if self.features else None,
            "pool": self.pool,
        }

    def with_top(
        self,
        *,
        include_top: bool = True,
        pooling: str | None = None,
        classifier_activation: str | None = None,
    ) -> Network:
        """The network's end as keras.applications names it: ``include_top=False`` removes the
        dense layers (pre-logits and classifier); then ``pooling`` None leaves the last feature
        map as the output, ``avg`` or ``max`` pools it. ``classifier_activation`` ``softmax``
        turns the logits into probabilities (None: logits, the default everywhere here)."""
        if pooling not in (*POOLS, None):
            raise SpecError([("pooling", f"pooling must be one of avg, max or None, got {pooling!r}")])
        if classifier_activation not in CLASSIFIER_ACTIVATIONS:
            raise SpecError(
                [
                    (
                        "classifier_activation",
                        f"classifier_activation must be None or 'softmax', got {classifier_activation!r}",
                    )
                ]
            )
        if include_top:
            if pooling is not None:
                raise SpecError(
                    [("pooling", "pooling applies with include_top=False (the top pools by average)")]
                )
            if classifier_activation and not self.classifier:
                raise SpecError(
                    [("classifier_activation", "the network has no classifier (num_classes is 0)")]
                )
            if not classifier_activation:
                return self
            return replace(self, classifier=replace(self.classifier, activation=classifier_activation))
        if classifier_activation:
            raise SpecError([("classifier_activation", "include_top=False has no classifier to activate")])
        channels = self.last_map.out_channels
        return replace(self, pre_logits=None, classifier=None, pool=pooling, num_features=channels)

    def feature_levels(self) -> list[FeatureLevel]:
        """Every feature-pyramid level (``table.feature_levels``): tap, channels, reduction."""
        return feature_levels(read_architecture(self.to_table()))

    def with_features(self, out_indices: Sequence[int] | None = None) -> Network:
        """This network as a features-only network: the maps at the chosen levels (all when
        ``out_indices`` is None; negative indices count from the deepest) are its outputs, and
        every layer after the deepest one (later blocks, head, pool, classifier) is gone."""
        levels = self.feature_levels()
        chosen = _chosen_levels(len(levels), out_indices)
        taps = tuple(levels[index].tap for index in chosen)
        deepest = taps[-1]
        blocks = () if deepest == "stem" else self.blocks[: 1 + self._block_index(deepest)]
        return replace(
            self,
            blocks=blocks,
            head=None,
            pre_logits=None,
            classifier=None,
            num_features=levels[chosen[-1]].channels,
            features=taps,
        )

    def _block_index(self, name: str) -> int:
        return next(i for i, block in enumerate(self.blocks) if block.name == name)


def _conv_what(conv: Conv) -> str:
    return f"conv k{conv.kernel} s{conv.stride}{', ' + conv.activation if conv.activation else ''}"


def _conv_row(conv: Conv) -> dict:
    return ConvRow(conv.in_channels, conv.out_channels, conv.kernel, conv.stride, conv.activation)._asdict()


def _linear_row(linear: Linear) -> dict:
    return LinearRow(linear.in_features, linear.out_features, linear.activation, linear.dropout)._asdict()


CLASSIFIER_ACTIVATIONS = (None, "softmax")


def _chosen_levels(count: int, out_indices: Sequence[int] | None) -> list[int]:
    """``out_indices`` as sorted, distinct level indices in range; the error names the field."""
    if out_indices is None:
        return list(range(count))
    chosen = set()
    for index in out_indices:
        if isinstance(index, bool) or not isinstance(index, int):
            raise SpecError([("out_indices", f"{index!r} is not an integer level index")])
        if not -count <= index < count:
            raise SpecError(
                [("out_indices", f"{index} is out of range: this network has {count} levels (0-{count - 1})")]
            )
        chosen.add(index % count)
    if not chosen:
        raise SpecError([("out_indices", "choose at least one level")])
    return sorted(chosen)
