"""spec x (variant | phi | explicit multipliers) -> one frozen, fully resolved Network."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError
from ..spec.blocks import ConvBlock, DepthwiseSeparable, FusedMBConv, MBConv, canonical_activation
from ..spec.network import NetworkSpec, Stage, Variant
from ..spec.scaling import (
    compound_multipliers,
    expanded_channels,
    scale_channels,
    scale_depth,
    squeeze_channels,
)
from .network import Block, Conv, Linear, Multipliers, Network, SqueezeExcite, conv_output_size


@dataclass(frozen=True)
class Budget:
    """Sizes past which a request is taken for a mistake (an absurd phi), not a model."""

    max_blocks: int = 2_000
    max_channels: int = 1 << 20
    max_params: float = 1e10
    max_macs: float = 1e13


DEFAULT_BUDGET = Budget()


@dataclass(frozen=True)
class _Plan:
    """The multipliers and the (possibly variant-replaced) parts the resolver builds from."""

    multipliers: Multipliers
    stem: object
    stages: list[Stage]
    head: object
    dropout: float
    label: str


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
    budget: Budget = DEFAULT_BUDGET,
) -> Network:
    """Resolve ``spec`` into a Network; pick at most one of ``variant``, ``phi``, ``width/depth``.

    ``resolution`` overrides the input size the spatial sizes refer to; ``profile`` applies a
    named set of convention overrides (``keras``); ``num_classes`` replaces the classifier size.
    """
    spec = spec.with_profile(profile)
    plan = _plan(spec, variant, phi, width, depth, resolution, profile)
    _check_plan_budget(spec, plan, budget)
    network = _Builder(spec, plan, num_classes).build()
    _check_cost_budget(network, plan, budget)
    return network


def _plan(spec, variant, phi, width, depth, resolution, profile) -> _Plan:
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
        w, d, res = compound_multipliers(phi, spec.scaling.compound, spec.input.resolution)
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
    multipliers = Multipliers(w, d, res, phi=phi, variant=variant, profile=profile)
    return _Plan(
        multipliers=multipliers,
        stem=base.stem or spec.stem,
        stages=base.stages or spec.stages,
        head=base.head or spec.head,
        dropout=dropout,
        label=label if profile is None else f"{label}:{profile}",
    )


def _what(plan: _Plan) -> str:
    m = plan.multipliers
    if m.phi is not None:
        return f"phi={m.phi:g}"
    return f"variant {m.variant!r}" if m.variant else f"width={m.width:g}, depth={m.depth:g}"


def _check_plan_budget(spec: NetworkSpec, plan: _Plan, budget: Budget) -> None:
    m = plan.multipliers
    field = "phi" if m.phi is not None else ("variant" if m.variant else "width")
    blocks = sum(_repeats(stage, m.depth, spec) for stage in plan.stages)
    if blocks > budget.max_blocks:
        raise SpecError(
            [(field, f"{_what(plan)} gives {blocks} blocks, past the limit of {budget.max_blocks}")]
        )
    widest = max([plan.stem.out, *(stage.block.out for stage in plan.stages)]) * m.width
    if widest > budget.max_channels:
        raise SpecError(
            [
                (
                    field,
                    f"{_what(plan)} gives a layer {widest:.0f} channels wide, past the limit of {budget.max_channels}",
                )
            ]
        )


def _check_cost_budget(network: Network, plan: _Plan, budget: Budget) -> None:
    from .cost import network_cost  # the cost model imports this module's IR only

    total = network_cost(network).total
    field = (
        "phi" if plan.multipliers.phi is not None else ("variant" if plan.multipliers.variant else "width")
    )
    if total.params > budget.max_params:
        raise SpecError(
            [
                (
                    field,
                    f"{_what(plan)} gives {total.params:.3g} parameters, past the limit of {budget.max_params:.3g}",
                )
            ]
        )
    if total.macs > budget.max_macs:
        raise SpecError(
            [
                (
                    field,
                    f"{_what(plan)} gives {total.macs:.3g} MACs at {network.resolution}px, past the limit of {budget.max_macs:.3g}",
                )
            ]
        )


def _repeats(stage: Stage, depth: float, spec: NetworkSpec) -> int:
    return scale_depth(stage.repeats, depth, spec.rounding) if stage.scale_depth else stage.repeats


class _Builder:
    """Walks the spec once, tracking channels and spatial size, emitting IR nodes."""

    def __init__(self, spec: NetworkSpec, plan: _Plan, num_classes: int | None):
        self.spec, self.plan = spec, plan
        self.num_classes = spec.classifier.num_classes if num_classes is None else num_classes
        self.size = (plan.multipliers.resolution, plan.multipliers.resolution)

    def act(self, name: str | None) -> str:
        return canonical_activation(name or self.spec.activation)

    def width(self, channels: int, scaled: bool = True) -> int:
        if not scaled:
            return channels
        return scale_channels(channels, self.plan.multipliers.width, self.spec.rounding)

    def conv(self, name, cin, cout, kernel, stride, act, groups=1) -> Conv:
        size_in = self.size
        self.size = tuple(conv_output_size(s, kernel, stride, self.spec.padding) for s in size_in)
        return Conv(name, cin, cout, kernel, stride, groups, True, act, size_in, self.size)

    def se(self, name, channels, base, se_spec, block_act) -> SqueezeExcite:
        squeeze = squeeze_channels(base, se_spec.ratio, self.spec.rounding)
        act = self.act(se_spec.activation or block_act)
        return SqueezeExcite(name, channels, squeeze, act, se_spec.gate, self.size)

    def build(self) -> Network:
        plan, spec = self.plan, self.spec
        stem_out = self.width(plan.stem.out, plan.stem.scale_width)
        stem = self.conv(
            "stem",
            spec.input.channels,
            stem_out,
            plan.stem.kernel,
            plan.stem.stride,
            self.act(plan.stem.activation),
        )
        blocks = self.blocks(stem_out)
        channels = blocks[-1].out_channels if blocks else stem_out
        head = None
        if plan.head.out is not None:
            head_out = self.width(plan.head.out, plan.head.scale_width)
            head = self.conv("head", channels, head_out, 1, 1, self.act(plan.head.activation))
            channels = head_out
        pre_logits = None
        if plan.head.pre_logits is not None:
            pl = plan.head.pre_logits
            features = self.width(pl.features, pl.scale_width)
            pre_logits = Linear("pre_logits", channels, features, self.act(pl.activation))
            channels = features
        classifier = None
        if self.num_classes > 0:
            classifier = Linear("classifier", channels, self.num_classes, None, plan.dropout)
        return Network(
            name=plan.label,
            input_channels=spec.input.channels,
            resolution=plan.multipliers.resolution,
            padding=spec.padding,
            norm_eps=spec.norm.eps,
            norm_momentum=spec.norm.momentum,
            stem=stem,
            blocks=tuple(blocks),
            head=head,
            pre_logits=pre_logits,
            classifier=classifier,
            num_features=channels,
            multipliers=plan.multipliers,
        )

    def blocks(self, channels: int) -> list[Block]:
        repeats = [_repeats(stage, self.plan.multipliers.depth, self.spec) for stage in self.plan.stages]
        total, counter, blocks = sum(repeats), 0, []
        for s, (stage, count) in enumerate(zip(self.plan.stages, repeats, strict=False)):
            for i in range(count):
                rate = self.spec.drop_path_rate * counter / total
                stride = stage.block.stride if i == 0 else 1
                block = self.block(f"stages.{s}.{i}", s, i, stage.block, channels, stride, rate)
                blocks.append(block)
                channels, counter = block.out_channels, counter + 1
        return blocks

    def block(self, name, stage, index, spec, cin, stride, rate) -> Block:
        size_in = self.size
        cout = self.width(spec.out)
        act = self.act(spec.activation)
        expanded, ops = self.block_ops(name, spec, cin, cout, stride, act)
        residual = not isinstance(spec, ConvBlock) and spec.residual == "auto" and stride == 1 and cin == cout
        return Block(
            name=name,
            kind=spec.type,
            stage=stage,
            index=index,
            in_channels=cin,
            out_channels=cout,
            expanded_channels=expanded,
            stride=stride,
            kernel=spec.kernel,
            residual=residual,
            drop_path_rate=rate if residual else 0.0,
            in_size=size_in,
            out_size=self.size,
            ops=tuple(ops),
        )

    def block_ops(self, name, spec, cin, cout, stride, act) -> tuple[int, list]:
        k = spec.kernel
        if isinstance(spec, ConvBlock):
            return cout, [self.conv(f"{name}.conv", cin, cout, k, stride, act)]
        if isinstance(spec, DepthwiseSeparable):
            ops = [self.conv(f"{name}.dw", cin, cin, k, stride, act, groups=cin)]
            if spec.se:
                ops.append(self.se(f"{name}.se", cin, cin, spec.se, act))
            ops.append(self.conv(f"{name}.pw", cin, cout, 1, 1, act if spec.pointwise_activation else None))
            return cin, ops
        expanded = expanded_channels(cin, spec.expand, self.spec.rounding)
        se_base = cin if spec.se and spec.se.base == "input" else expanded
        ops = []
        if isinstance(spec, MBConv):
            if expanded != cin:
                ops.append(self.conv(f"{name}.expand", cin, expanded, 1, 1, act))
            else:
                expanded = cin
            ops.append(self.conv(f"{name}.dw", expanded, expanded, k, stride, act, groups=expanded))
            if spec.se:
                ops.append(self.se(f"{name}.se", expanded, se_base, spec.se, act))
            ops.append(self.conv(f"{name}.project", expanded, cout, 1, 1, None))
            return expanded, ops
        assert isinstance(spec, FusedMBConv)
        if expanded == cin:
            if spec.se:
                ops.append(self.se(f"{name}.se", cin, cin, spec.se, act))
            ops.append(self.conv(f"{name}.conv", cin, cout, k, stride, act))
            return cin, ops
        ops.append(self.conv(f"{name}.expand", cin, expanded, k, stride, act))
        if spec.se:
            ops.append(self.se(f"{name}.se", expanded, se_base, spec.se, act))
        ops.append(self.conv(f"{name}.project", expanded, cout, 1, 1, None))
        return expanded, ops
