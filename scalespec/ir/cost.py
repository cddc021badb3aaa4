"""Analytic cost model (convention 3): params, buffers, MACs and more, from the IR alone.

No ML framework is imported here; this is the reference every backend's measure() is held to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from ..errors import SpecError
from .network import Conv, Linear, Network, SqueezeExcite, conv_output_size
from .weights import op_tensors

# other_ops per output element: BN folds to one multiply and one add in eval mode
BN_OPS_PER_ELEMENT = 2
ACTIVATION_OPS_PER_ELEMENT = 1


@dataclass(frozen=True)
class Cost:
    """Counts for one layer, one stage or the network. ``flops`` is ``2 * macs``."""

    params: int = 0
    buffers: int = 0
    macs: int = 0
    other_ops: int = 0
    activations: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.buffers + other.buffers,
            self.macs + other.macs,
            self.other_ops + other.other_ops,
            self.activations + other.activations,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "activations": self.activations,
        }


@dataclass(frozen=True)
class LayerCost:
    name: str
    group: str
    kind: str
    out_shape: tuple[int, ...]
    cost: Cost


@dataclass(frozen=True)
class NetworkCost:
    resolution: int
    layers: tuple[LayerCost, ...]
    groups: dict[str, Cost] = field(default_factory=dict)
    total: Cost = Cost()


def _weights(op) -> tuple[int, int]:
    tensors = op_tensors(op).values()
    params = sum(prod(t.shape) for t in tensors if t.trainable)
    return params, sum(prod(t.shape) for t in tensors if not t.trainable)


def _conv_cost(conv: Conv, size: tuple[int, int], padding: str) -> tuple[Cost, tuple[int, int]]:
    out = tuple(conv_output_size(s, conv.kernel, conv.stride, padding) for s in size)
    elements = conv.out_channels * out[0] * out[1]
    macs = elements * (conv.in_channels // conv.groups) * conv.kernel**2
    other = elements * BN_OPS_PER_ELEMENT
    if conv.activation not in (None, "identity"):
        other += elements * ACTIVATION_OPS_PER_ELEMENT
    params, buffers = _weights(conv)
    return Cost(params, buffers, macs, other, elements), out


def _se_cost(se: SqueezeExcite, size: tuple[int, int]) -> Cost:
    pixels = size[0] * size[1]
    macs = 2 * se.channels * se.squeeze_channels
    # pool adds, both biases, inner activation, gate, and the broadcast multiply
    other = (
        se.channels * pixels
        + se.squeeze_channels
        + se.channels
        + se.squeeze_channels * (se.activation != "identity")
        + se.channels
        + se.channels * pixels
    )
    params, buffers = _weights(se)
    return Cost(params, buffers, macs, other, se.squeeze_channels + se.channels)


def _linear_cost(linear: Linear) -> Cost:
    params, buffers = _weights(linear)
    other = linear.out_features * (1 + (linear.activation not in (None, "identity")))
    return Cost(params, buffers, linear.in_features * linear.out_features, other, linear.out_features)


def network_cost(network: Network, resolution: int | None = None) -> NetworkCost:
    """Per-layer, per-group (stem, stage N, head, classifier) and total cost at ``resolution``.

    ``resolution`` defaults to the network's nominal size; any size the convs accept works,
    because spatial sizes are recomputed here from kernels, strides and the padding mode.
    """
    if resolution is not None and (
        isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1
    ):
        raise SpecError([("resolution", f"resolution must be a positive integer, got {resolution!r}")])
    res = resolution or network.resolution
    size = (res, res)
    rows: list[LayerCost] = []

    def add_conv(conv: Conv, group: str) -> None:
        nonlocal size
        cost, size = _conv_cost(conv, size, network.padding)
        kind = "dwconv" if conv.depthwise else "conv"
        rows.append(LayerCost(conv.name, group, kind, (conv.out_channels, *size), cost))

    add_conv(network.stem, "stem")
    for block in network.blocks:
        group = f"stage {block.stage}"
        for op in block.ops:
            if isinstance(op, Conv):
                add_conv(op, group)
            else:
                rows.append(LayerCost(op.name, group, "se", (op.channels, *size), _se_cost(op, size)))
        if block.residual:
            elements = block.out_channels * size[0] * size[1]
            rows.append(
                LayerCost(
                    f"{block.name}.add", group, "add", (block.out_channels, *size), Cost(other_ops=elements)
                )
            )
    if network.head:
        add_conv(network.head, "head")
    if network.pool and not network.features:  # otherwise the last map is the output
        channels = rows[-1].out_shape[0]
        pool = Cost(other_ops=channels * size[0] * size[1])
        rows.append(LayerCost("pool", "head", "pool", (channels,), pool))
    for linear, group in ((network.pre_logits, "pre_logits"), (network.classifier, "classifier")):
        if linear:
            rows.append(LayerCost(linear.name, group, "linear", (linear.out_features,), _linear_cost(linear)))
    groups: dict[str, Cost] = {}
    for row in rows:
        groups[row.group] = groups.get(row.group, Cost()) + row.cost
    total = sum((row.cost for row in rows), Cost())
    return NetworkCost(res, tuple(rows), groups, total)


@dataclass(frozen=True, kw_only=True)
class StageRow:
    """One row of ``show``'s summary: the stem, a stage, the head, pre-logits or the classifier."""

    group: str
    blocks: int
    kind: str
    in_channels: int
    out_channels: int
    expanded: int | None
    kernel: int | None
    stride: int | None
    size: tuple[int, ...]
    cost: Cost

    def as_dict(self) -> dict:
        """Plain data for ``show --json`` (the cost figures flattened in)."""
        return {
            "group": self.group,
            "blocks": self.blocks,
            "kind": self.kind,
            "in": self.in_channels,
            "out": self.out_channels,
            "expanded": self.expanded,
            "kernel": self.kernel,
            "stride": self.stride,
            "size": list(self.size),
            **self.cost.as_dict(),
        }


def stage_rows(network: Network, cost: NetworkCost) -> list[StageRow]:
    """Per-group summary rows: stem, every stage, head, pre_logits and classifier, with their costs."""

    def single(group: str, layer: Conv | Linear) -> StageRow:
        conv = isinstance(layer, Conv)
        return StageRow(
            group=group,
            blocks=1,
            kind="conv" if conv else "linear",
            in_channels=layer.in_channels if conv else layer.in_features,
            out_channels=layer.out_channels if conv else layer.out_features,
            expanded=None,
            kernel=layer.kernel if conv else None,
            stride=layer.stride if conv else None,
            size=layer.out_size if conv else (),
            cost=cost.groups.get(group, Cost()),
        )

    rows = [single("stem", network.stem)]
    for index in range(network.num_stages):
        blocks = network.stage(index)
        rows.append(
            StageRow(
                group=f"stage {index}",
                blocks=len(blocks),
                kind=blocks[0].kind,
                in_channels=blocks[0].in_channels,
                out_channels=blocks[-1].out_channels,
                expanded=blocks[0].expanded_channels,
                kernel=blocks[0].kernel,
                stride=blocks[0].stride,
                size=blocks[-1].out_size,
                cost=cost.groups.get(f"stage {index}", Cost()),
            )
        )
    if network.head:
        rows.append(single("head", network.head))
    for group, linear in (("pre_logits", network.pre_logits), ("classifier", network.classifier)):
        if linear:
            rows.append(single(group, linear))
    return rows
