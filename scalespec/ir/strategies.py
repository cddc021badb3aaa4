"""Scaling strategies as data: how a FLOPs multiplier is spread over depth, width and resolution.

MACs grow about as depth x width^2 x resolution^2, so a strategy is three exponents
(e_d, e_w, e_r) with e_d + 2 e_w + 2 e_r = 1: a FLOPs multiplier s asks for depth x s^e_d,
width x s^e_w and resolution x s^e_r.

- ``compound``: EfficientNet's rule from the spec's own alpha, beta, gamma: phi = ln s /
  ln(alpha beta^2 gamma^2), then depth alpha^phi, width beta^phi, resolution gamma^phi.
- ``fast``: Dollar et al., "Fast and Accurate Model Scaling" (CVPR 2021): depth s^((1-a)/2),
  width s^(a/2), resolution s^((1-a)/4); a = 0.8 by default, pycls' suggested default, which
  grows activations about as sqrt(s) where compound scaling grows them about as s.
- ``width``, ``depth``, ``resolution``: all of s in one dimension.

The requested multipliers then go through the spec's own rounding (channels to the divisor,
repeats up, resolution to the compound rule's divisor), so the realised MACs differ from s;
``Scaled`` reports both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError
from ..spec.network import NetworkSpec
from ..spec.scaling import scaled_resolution
from .cost import Cost, network_cost
from .network import Network
from .resolve import resolve

STRATEGIES = ("compound", "fast", "width", "depth", "resolution")
FAST_ALPHA = 0.8  # Dollar et al.'s a: the share of the FLOPs growth given to width
MULTIPLIER_RANGE = (1e-3, 1e4)  # FLOPs multipliers accepted (the resolve budget still applies)


@dataclass(frozen=True)
class Exponents:
    """How ln s is shared out: multipliers s^depth, s^width, s^resolution."""

    depth: float
    width: float
    resolution: float


def exponents(strategy: str, compound: tuple[float, float, float], alpha: float = FAST_ALPHA) -> Exponents:
    """The exponents of ``strategy``; ``compound`` is the spec's (alpha, beta, gamma)."""
    if strategy == "compound":
        a, b, g = compound
        base = math.log(a * b * b * g * g)
        if base <= 0:
            raise SpecError(
                [("strategy", "compound: the spec's alpha * beta^2 * gamma^2 is 1, so it cannot scale")]
            )
        return Exponents(math.log(a) / base, math.log(b) / base, math.log(g) / base)
    if strategy == "fast":
        if not 0 <= alpha <= 1:
            raise SpecError([("alpha", f"alpha must be in [0, 1], got {alpha}")])
        return Exponents((1 - alpha) / 2, alpha / 2, (1 - alpha) / 4)
    single = {"width": Exponents(0, 0.5, 0), "depth": Exponents(1, 0, 0), "resolution": Exponents(0, 0, 0.5)}
    if strategy not in single:
        raise SpecError(
            [("strategy", f"unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")]
        )
    return single[strategy]


@dataclass(frozen=True)
class Scaled:
    """One scaled network: what was asked, what the rounding made of it, and its cost."""

    strategy: str
    flops_multiplier: float
    requested: tuple[float, float, float]  # depth, width, resolution multipliers before rounding
    network: Network
    cost: Cost
    base_cost: Cost
    realised_depth: float  # blocks / the base's blocks
    realised_width: float  # stages' output channels / the base's (geometric mean)

    @property
    def realised_flops_multiplier(self) -> float:
        return self.cost.macs / self.base_cost.macs

    def as_dict(self) -> dict:
        m = self.network.multipliers
        return {
            "strategy": self.strategy,
            "flops_multiplier": self.flops_multiplier,
            "requested": dict(zip(("depth", "width", "resolution"), self.requested, strict=True)),
            "resolved": {"depth": m.depth, "width": m.width, "resolution": self.network.resolution},
            "realised": {
                "depth": self.realised_depth,
                "width": self.realised_width,
                "flops_multiplier": self.realised_flops_multiplier,
            },
            "cost": self.cost.as_dict(),
        }


def _stage_widths(network: Network) -> list[int]:
    """Each stage's output channels."""
    return [network.stage(s)[-1].out_channels for s in range(network.num_stages)]


def realised_width(network: Network, base: Network) -> float:
    """The geometric mean over stages of output channels / the base's (repeats do not count)."""
    ratios = [a / b for a, b in zip(_stage_widths(network), _stage_widths(base), strict=True)]
    return math.prod(ratios) ** (1 / len(ratios))


def scale_network(
    spec: NetworkSpec,
    base: Network,
    flops_multiplier: float,
    strategy: str = "compound",
    *,
    alpha: float = FAST_ALPHA,
    profile: str | None = None,
) -> Scaled:
    """``base`` (a network resolved from ``spec``) scaled by ``strategy`` to about
    ``flops_multiplier`` times its MACs, resolved with the spec's rounding."""
    low, high = MULTIPLIER_RANGE
    if not low <= flops_multiplier <= high:
        raise SpecError([("flops_multiplier", f"must be in [{low:g}, {high:g}], got {flops_multiplier}")])
    c = spec.scaling.compound
    e = exponents(strategy, (c.alpha, c.beta, c.gamma), alpha)
    s = flops_multiplier
    depth, width, factor = s**e.depth, s**e.width, s**e.resolution
    m = base.multipliers
    resolution = scaled_resolution(base.resolution, factor, c.resolution_divisor)
    network = resolve(
        spec, width=m.width * width, depth=m.depth * depth, resolution=resolution, profile=profile
    )
    return Scaled(
        strategy=strategy,
        flops_multiplier=s,
        requested=(depth, width, factor),
        network=network,
        cost=network_cost(network).total,
        base_cost=network_cost(base).total,
        realised_depth=len(network.blocks) / len(base.blocks),
        realised_width=realised_width(network, base),
    )
