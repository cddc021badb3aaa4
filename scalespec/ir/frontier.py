"""Scaling frontiers: every strategy's networks over a range of FLOPs multipliers, with their
MACs, parameters, activations and memory, and the spec's named variants for comparison.

Framework-free: ``scalespec frontier`` plots these points (matplotlib) and may time them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import SpecError
from ..spec.network import NetworkSpec
from .cost import network_cost
from .memory import inference_memory, training_memory
from .network import Network
from .resolve import resolve
from .strategies import FAST_ALPHA, MULTIPLIER_RANGE, STRATEGIES, scale_network

CSV_COLUMNS = (
    "strategy",
    "variant",
    "flops_multiplier",
    "realised_flops_multiplier",
    "depth",
    "width",
    "resolution",
    "blocks",
    "params",
    "macs",
    "activations",
    "inference_bytes",
    "training_bytes",
    "latency_ms",
)


@dataclass(frozen=True, kw_only=True)
class FrontierPoint:
    """One network on a frontier: how it was scaled and what it costs. ``strategy`` is
    ``variant`` for the spec's named variants; ``latency_ms`` is filled in by timing."""

    strategy: str
    variant: str | None
    flops_multiplier: float | None  # asked for; None for a named variant
    realised_flops_multiplier: float  # its MACs / the base network's
    network: Network = field(repr=False)
    params: int
    macs: int
    activations: int
    inference_bytes: int  # folded weights + peak activations (ir/memory.py)
    training_bytes: int  # with SGD-momentum
    latency_ms: float | None = None

    def csv_row(self) -> dict:
        m = self.network.multipliers
        return {
            "strategy": self.strategy,
            "variant": self.variant or "",
            "flops_multiplier": "" if self.flops_multiplier is None else f"{self.flops_multiplier:.6g}",
            "realised_flops_multiplier": f"{self.realised_flops_multiplier:.6g}",
            "depth": f"{m.depth:.6g}",
            "width": f"{m.width:.6g}",
            "resolution": self.network.resolution,
            "blocks": len(self.network.blocks),
            "params": self.params,
            "macs": self.macs,
            "activations": self.activations,
            "inference_bytes": self.inference_bytes,
            "training_bytes": self.training_bytes,
            "latency_ms": "" if self.latency_ms is None else f"{self.latency_ms:.4g}",
        }


def multiplier_grid(max_multiplier: float, points: int) -> list[float]:
    """``points`` FLOPs multipliers spaced evenly in log scale from 1 to ``max_multiplier``."""
    low, high = 1.0, MULTIPLIER_RANGE[1]
    if not low < max_multiplier <= high:
        raise SpecError([("max_multiplier", f"must be in (1, {high:g}], got {max_multiplier}")])
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 100:
        raise SpecError([("points", f"must be an integer from 2 to 100, got {points!r}")])
    step = math.log(max_multiplier) / (points - 1)
    return [math.exp(i * step) for i in range(points)]


def _point(network: Network, base_macs: int, batch: int, dtype: str, **how) -> FrontierPoint:
    cost = network_cost(network).total
    return FrontierPoint(
        network=network,
        params=cost.params,
        macs=cost.macs,
        activations=cost.activations,
        realised_flops_multiplier=cost.macs / base_macs,
        inference_bytes=inference_memory(network, batch=batch, dtype=dtype).total,
        training_bytes=training_memory(network, batch=batch, dtype=dtype).total,
        **how,
    )


def frontier(
    spec: NetworkSpec,
    base: Network,
    *,
    strategies: Sequence[str] = STRATEGIES,
    multipliers: Sequence[float],
    alpha: float = FAST_ALPHA,
    profile: str | None = None,
    batch: int = 1,
    dtype: str = "float32",
) -> list[FrontierPoint]:
    """Each strategy's network at each FLOPs multiplier, scaled from ``base``, in that order."""
    unknown = [name for name in strategies if name not in STRATEGIES]
    if unknown or not strategies:
        raise SpecError([("strategies", f"choose from {', '.join(STRATEGIES)}, got {list(strategies)}")])
    base_macs = network_cost(base).total.macs
    points = []
    for strategy in strategies:
        for s in multipliers:
            scaled = scale_network(spec, base, s, strategy, alpha=alpha, profile=profile)
            how = {"strategy": strategy, "variant": None, "flops_multiplier": s}
            points.append(_point(scaled.network, base_macs, batch, dtype, **how))
    return points


def variant_points(
    spec: NetworkSpec,
    base: Network,
    *,
    profile: str | None = None,
    batch: int = 1,
    dtype: str = "float32",
) -> list[FrontierPoint]:
    """The spec's named variants (B0..B7), to mark on the curves."""
    base_macs = network_cost(base).total.macs
    return [
        _point(
            resolve(spec, variant=name, profile=profile),
            base_macs,
            batch,
            dtype,
            strategy="variant",
            variant=name,
            flops_multiplier=None,
        )
        for name in spec.scaling.variants
    ]
