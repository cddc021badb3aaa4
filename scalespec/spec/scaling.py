"""Compound-scaling arithmetic: pure functions, the one home of every rounding rule."""

from __future__ import annotations

import math

from .network import Compound, Rounding


def make_divisible(value: float, rounding: Rounding) -> int:
    """Round ``value`` to the nearest multiple of the divisor, never below ``round_limit*value``."""
    divisor = rounding.divisor
    floor = rounding.min_value or divisor
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < rounding.round_limit * value:
        rounded += divisor
    return rounded


def scale_channels(channels: int, width: float, rounding: Rounding) -> int:
    """Channels of a width-scaled layer (torchvision ``_make_divisible``, Keras ``round_filters``)."""
    return make_divisible(channels * width, rounding)


def scale_depth(repeats: int, depth: float, rounding: Rounding) -> int:
    """Repeats of a depth-scaled stage: ``ceil`` (EfficientNet) or round-half-up."""
    raw = repeats * depth
    if rounding.depth == "ceil":
        # no float tolerance: torchvision and Keras both take math.ceil of the raw product
        return max(1, math.ceil(raw))
    return max(1, int(raw + 0.5))


def expanded_channels(in_channels: int, ratio: float, rounding: Rounding) -> int:
    """Width of an inverted-residual block's hidden layer."""
    if rounding.expanded == "raw":
        return max(1, int(in_channels * ratio))
    return make_divisible(in_channels * ratio, rounding)


def squeeze_channels(base_channels: int, ratio: float, rounding: Rounding) -> int:
    """Width of a squeeze-and-excitation bottleneck."""
    raw = base_channels * ratio
    if rounding.se == "floor":
        return max(1, int(raw))
    if rounding.se == "round":
        return max(1, int(raw + 0.5))
    return make_divisible(int(raw), rounding)


def compound_multipliers(phi: float, compound: Compound, base_resolution: int) -> tuple[float, float, int]:
    """(width, depth, resolution) for compound coefficient ``phi``."""
    width = compound.beta**phi
    depth = compound.alpha**phi
    return width, depth, scaled_resolution(base_resolution, compound.gamma**phi, compound.resolution_divisor)


def scaled_resolution(base_resolution: int, factor: float, divisor: int) -> int:
    """``base_resolution * factor`` rounded to the nearest multiple of ``divisor`` (at least one)."""
    return max(divisor, int(round(base_resolution * factor / divisor)) * divisor)


def flops_constraint_gap(compound: Compound) -> float:
    """How far ``alpha * beta^2 * gamma^2`` is from 2 (the paper's FLOPs-doubling constraint)."""
    return compound.alpha * compound.beta**2 * compound.gamma**2 - 2.0
