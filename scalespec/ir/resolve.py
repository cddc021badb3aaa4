"""spec x (variant | phi | explicit multipliers) -> one frozen, fully resolved Network."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import SpecError
from ..spec.blocks import ConvBlock, DepthwiseSeparable, FusedMBConv, MBConv, canonical_activation
from ..spec.network import MAX_CHANNELS, Head, NetworkSpec, Norm, Stage, Stem, Variant
from ..spec.scaling import (
    compound_multipliers,
    expanded_channels,
    scale_channels,
    scale_depth,
    squeeze_channels,
)
from .cost import network_cost
from .network import Block, Conv, Linear, Multipliers, Network, SqueezeExcite, conv_output_size
from .table import BlockRow, ConvLayer, block_layers


@dataclass(frozen=True)
class Budget:
    """Sizes past which a request is taken for a mistake (an absurd phi), not a model."""

    max_blocks: int = 2_000
    max_channels: int = 1 << 20
    max_params: float = 1e10
    max_macs: float = 1e13


DEFAULT_BUDGET = Budget()
BlockSpec = ConvBlock | DepthwiseSeparable | MBConv | FusedMBConv
MAX_CLASSES = 1_000_000  # as the spec's classifier.num_classes


@dataclass(frozen=True)
class _Plan:
    """The multipliers and the (possibly variant-replaced) parts the resolver builds from."""

    multipliers: Multipliers
    stem: Stem
    stages: list[Stage]
    head: Head
    dropout: float
    norm: Norm
    label: str
    blame: str  # the argument a budget error names: phi, variant or width

    @property
    def what(self) -> str:
        """How the multipliers were asked for, for budget messages."""
        m = self.multipliers
        if m.phi is not None:
            return f"phi={m.phi:g}"
        return f"variant {m.variant!r}" if m.variant else f"width={m.width:g}, depth={m.depth:g}"


def resolve(
    spec: NetworkSpec,
    *,
    variant: str | None = None,
    phi: float | None = None,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
    profile: str | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Network:
    """Resolve ``spec`` into a Network; pick at most one of ``variant``, ``phi``, ``width/depth``.

    ``resolution`` overrides the input size the spatial sizes refer to; ``profile`` applies a
    named set of convention overrides (``keras``); ``num_classes`` replaces the classifier size.
    For fine-tuning, as timm names them: ``in_chans`` replaces the input channels,
    ``drop_rate`` the classifier's dropout (whatever the variant or phi says) and
    ``drop_path_rate`` the spec's (the last block's) drop-path rate.
    """
    if num_classes is not None and not 0 <= num_classes <= MAX_CLASSES:
        raise SpecError([("num_classes", f"num_classes must be in [0, {MAX_CLASSES:,}], got {num_classes}")])
    spec = _tuned(spec.with_profile(profile), in_chans, drop_path_rate)
    plan = _plan(spec, variant, phi, width, depth, resolution, profile)
    if drop_rate is not None:
        plan = replace(plan, dropout=_rate("drop_rate", drop_rate))
    _check_plan_budget(spec, plan, budget)
    network = _Builder(spec, plan, num_classes).build()
    _check_cost_budget(network, plan, budget)
    return network


def _rate(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError([(field, f"{field} must be a number in [0, 1), got {value!r}")])
    return float(value)


def _tuned(spec: NetworkSpec, in_chans: int | None, drop_path_rate: float | None) -> NetworkSpec:
    """``spec`` with the input channels and drop-path rate replaced (each checked by name)."""
    update: dict = {}
    if in_chans is not None:
        if isinstance(in_chans, bool) or not isinstance(in_chans, int) or not 1 <= in_chans <= MAX_CHANNELS:
            raise SpecError(
                [("in_chans", f"in_chans must be an integer in [1, {MAX_CHANNELS}], got {in_chans!r}")]
            )
        update["input"] = spec.input.model_copy(update={"channels": in_chans})
    if drop_path_rate is not None:
        update["drop_path_rate"] = _rate("drop_path_rate", drop_path_rate)
    return spec.model_copy(update=update) if update else spec


def _plan(
    spec: NetworkSpec,
    variant: str | None,
    phi: float | None,
    width: float | None,
    depth: float | None,
    resolution: int | None,
    profile: str | None,
) -> _Plan:
    chosen = [name for name, value in (("variant", variant), ("phi", phi)) if value is not None]
    if width is not None or depth is not None:
        chosen.append("width/depth")
    if len(chosen) > 1:
        raise SpecError([(chosen[1], f"give only one of variant, phi or width/depth, got {chosen}")])
    if variant is None and phi is None and width is None and depth is None:
        variant = spec.scaling.default
    base = Variant()
    if variant is not None:
        if variant not in spec.scaling.variants:
            known = ", ".join(spec.scaling.variants) or "none"
            raise SpecError([("variant", f"unknown variant {variant!r} (known: {known})")])
        base = spec.scaling.variants[variant]
    dropout = spec.classifier.dropout
    if phi is not None:
        if not math.isfinite(phi) or abs(phi) > 50:
            raise SpecError([("phi", f"phi must be a finite number in [-50, 50], got {phi}")])
        try:
            w, d, res = compound_multipliers(phi, spec.scaling.compound, spec.input.resolution)
        except OverflowError:
            raise SpecError([("phi", f"phi={phi:g} overflows the compound rule's multipliers")]) from None
        if spec.scaling.compound.dropout is not None:
            dropout = spec.scaling.compound.dropout
        label = f"{spec.name}-phi{phi:g}"
    else:
        w = width if width is not None else base.width
        d = depth if depth is not None else base.depth
        res = base.resolution or spec.input.resolution
        dropout = base.dropout if base.dropout is not None else dropout
        label = f"{spec.name}-{variant}" if variant else spec.name
        if width is not None or depth is not None:
            label = f"{spec.name}-w{w:g}-d{d:g}"
        for field, value in (("width", w), ("depth", d)):
            if not math.isfinite(value) or not 0 < value <= 64:
                raise SpecError([(field, f"{field} multiplier must be in (0, 64], got {value}")])
    if resolution is not None:
        if not 8 <= resolution <= 8192:
            raise SpecError([("resolution", f"resolution must be in [8, 8192], got {resolution}")])
        res = resolution
    multipliers = Multipliers(width=w, depth=d, resolution=res, phi=phi, variant=variant, profile=profile)
    return _Plan(
        multipliers=multipliers,
        stem=base.stem or spec.stem,
        stages=base.stages or spec.stages,
        head=base.head or spec.head,
        dropout=dropout,
        norm=_norm(spec, base, profile),
        label=label if profile is None else f"{label}:{profile}",
        blame="phi" if phi is not None else ("variant" if variant else "width"),
    )


def _norm(spec: NetworkSpec, variant: Variant, profile: str | None) -> Norm:
    """BN constants: the profile's when it sets them, else the variant's, else the spec's
    (torchvision's B5-B7 use eps 1e-3 and momentum 0.01, B0-B4 eps 1e-5 and momentum 0.1)."""
    if profile is not None and spec.profiles[profile].norm is not None:
        return spec.norm
    return variant.norm or spec.norm


def _check_plan_budget(spec: NetworkSpec, plan: _Plan, budget: Budget) -> None:
    blocks = sum(_repeats(stage, plan.multipliers.depth, spec) for stage in plan.stages)
    if blocks > budget.max_blocks:
        _over(plan, f"{blocks} blocks, past the limit of {budget.max_blocks}")
    widest = max([plan.stem.out, *(stage.block.out for stage in plan.stages)]) * plan.multipliers.width
    if widest > budget.max_channels:
        _over(plan, f"a layer {widest:.0f} channels wide, past the limit of {budget.max_channels}")


def _check_cost_budget(network: Network, plan: _Plan, budget: Budget) -> None:
    total = network_cost(network).total
    if total.params > budget.max_params:
        _over(plan, f"{total.params:.3g} parameters, past the limit of {budget.max_params:.3g}")
    if total.macs > budget.max_macs:
        _over(
            plan, f"{total.macs:.3g} MACs at {network.resolution}px, past the limit of {budget.max_macs:.3g}"
        )


def _over(plan: _Plan, what: str) -> None:
    raise SpecError([(plan.blame, f"{plan.what} gives {what}")])


def _repeats(stage: Stage, depth: float, spec: NetworkSpec) -> int:
    return scale_depth(stage.repeats, depth, spec.rounding) if stage.scale_depth else stage.repeats


class _Builder:
    """Walks the spec once, tracking channels and spatial size, emitting IR nodes."""

    def __init__(self, spec: NetworkSpec, plan: _Plan, num_classes: int | None) -> None:
        self.spec, self.plan = spec, plan
        self.num_classes = spec.classifier.num_classes if num_classes is None else num_classes
        self.size = (plan.multipliers.resolution, plan.multipliers.resolution)

    def act(self, name: str | None) -> str:
        return canonical_activation(name or self.spec.activation)

    def width(self, channels: int, scaled: bool = True) -> int:
        if not scaled:
            return channels
        return scale_channels(channels, self.plan.multipliers.width, self.spec.rounding)

    def conv(self, name: str, layer: ConvLayer) -> Conv:
        """The IR conv for one table layer, advancing the tracked spatial size."""
        size_in = self.size
        self.size = tuple(conv_output_size(s, layer.kernel, layer.stride, self.spec.padding) for s in size_in)
        return Conv(
            name=name,
            in_channels=layer.in_channels,
            out_channels=layer.out_channels,
            kernel=layer.kernel,
            stride=layer.stride,
            depthwise=layer.depthwise,
            activation=layer.act,
            in_size=size_in,
            out_size=self.size,
        )

    def build(self) -> Network:
        plan, spec = self.plan, self.spec
        stem_out = self.width(plan.stem.out, plan.stem.scale_width)
        stem_act = self.act(plan.stem.activation)
        stem = self.conv(
            "stem",
            ConvLayer(spec.input.channels, stem_out, plan.stem.kernel, plan.stem.stride, False, stem_act),
        )
        blocks = self.blocks(stem_out)
        channels = blocks[-1].out_channels
        head = None
        if plan.head.out is not None:
            head_out = self.width(plan.head.out, plan.head.scale_width)
            head = self.conv(
                "head", ConvLayer(channels, head_out, 1, 1, False, self.act(plan.head.activation))
            )
            channels = head_out
        pre_logits = None
        if plan.head.pre_logits is not None:
            pl = plan.head.pre_logits
            features = self.width(pl.features, pl.scale_width)
            pre_logits = Linear(
                name="pre_logits",
                in_features=channels,
                out_features=features,
                activation=self.act(pl.activation),
            )
            channels = features
        classifier = None
        if self.num_classes > 0:
            classifier = Linear(
                name="classifier", in_features=channels, out_features=self.num_classes, dropout=plan.dropout
            )
        return Network(
            name=plan.label,
            resolution=plan.multipliers.resolution,
            padding=spec.padding,
            norm_eps=plan.norm.eps,
            norm_momentum=plan.norm.momentum,
            init=spec.init,
            stem=stem,
            blocks=tuple(blocks),
            head=head,
            pre_logits=pre_logits,
            classifier=classifier,
            dropout=plan.dropout,
            num_features=channels,
            multipliers=plan.multipliers,
        )

    def blocks(self, channels: int) -> list[Block]:
        repeats = [_repeats(stage, self.plan.multipliers.depth, self.spec) for stage in self.plan.stages]
        total, counter, blocks = sum(repeats), 0, []
        for s, (stage, count) in enumerate(zip(self.plan.stages, repeats, strict=True)):
            for i in range(count):
                # rounded so tables show 0.075, not 0.07500000000000001 (no effect at float32)
                rate = round(self.spec.drop_path_rate * counter / total, 12)
                stride = stage.block.stride if i == 0 else 1
                block = self.block(f"stages.{s}.{i}", s, i, self.row(stage.block, channels, stride, rate))
                blocks.append(block)
                channels, counter = block.out_channels, counter + 1
        return blocks

    def row(self, spec: BlockSpec, cin: int, stride: int, rate: float) -> BlockRow:
        """The table row of one block: every width, activation and rate decided here."""
        cout = self.width(spec.out)
        act = self.act(spec.activation)
        if isinstance(spec, ConvBlock):
            return BlockRow(
                spec.type, spec.kernel, stride, cin, cout, cout, act, act, 0, None, None, False, 0.0
            )
        if isinstance(spec, DepthwiseSeparable):
            mid = cin
        elif spec.expanded is not None:  # an absolute width scales like every channel count
            mid = self.width(spec.expanded)
        else:
            mid = expanded_channels(cin, spec.expand, self.spec.rounding)
        out_act = None
        if isinstance(spec, DepthwiseSeparable):
            out_act = act if spec.pointwise_activation else None
        elif isinstance(spec, FusedMBConv) and mid == cin:
            out_act = act  # one kxk conv, activated
        squeeze, se_act, gate = 0, None, None
        if spec.se:
            base = cin if spec.se.base == "input" else mid
            squeeze = squeeze_channels(base, spec.se.ratio, self.spec.rounding)
            se_act, gate = self.act(spec.se.activation or spec.activation), spec.se.gate
        residual = spec.residual == "auto" and stride == 1 and cin == cout
        return BlockRow(
            spec.type, spec.kernel, stride, cin, mid, cout, act, out_act, squeeze, se_act, gate,
            residual, rate if residual else 0.0,
        )  # fmt: skip

    def block(self, name: str, stage: int, index: int, row: BlockRow) -> Block:
        """The block's ops, expanded from its row by the one definition in ir/table.py."""
        size_in, ops = self.size, []
        for local, layer in block_layers(row):
            if isinstance(layer, ConvLayer):
                ops.append(self.conv(f"{name}.{local}", layer))
            else:
                ops.append(
                    SqueezeExcite(
                        name=f"{name}.{local}",
                        channels=layer.channels,
                        squeeze_channels=layer.squeeze,
                        activation=layer.act,
                        gate=layer.gate,
                        size=self.size,
                    )
                )
        return Block(
            name=name, stage=stage, index=index, row=row, in_size=size_in, out_size=self.size, ops=tuple(ops)
        )
