"""Properties of the compound-scaling arithmetic in scalespec/spec/scaling.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from scalespec.spec.network import Compound, Rounding
from scalespec.spec.scaling import (
    compound_multipliers,
    expanded_channels,
    flops_constraint_gap,
    make_divisible,
    scale_channels,
    scale_depth,
    squeeze_channels,
)

divisors = st.sampled_from([1, 2, 4, 8, 16, 32, 64])
round_limits = st.sampled_from([0.0, 0.5, 0.9, 1.0]) | st.floats(0, 1)
widths = st.floats(0.05, 8.0, allow_nan=False)
depths = st.floats(0.05, 8.0, allow_nan=False)
channels = st.integers(1, 2048)


@st.composite
def roundings(draw: st.DrawFn, aligned_min: bool = True) -> Rounding:
    """A Rounding; ``aligned_min`` keeps min_value a multiple of the divisor (or unset)."""
    divisor = draw(divisors)
    if aligned_min:
        min_value = draw(st.none() | st.integers(1, 8).map(lambda k: k * divisor))
    else:
        min_value = draw(st.none() | st.integers(1, 200))
    return Rounding(
        divisor=divisor,
        min_value=min_value,
        round_limit=draw(round_limits),
        depth=draw(st.sampled_from(["ceil", "round"])),
        expanded=draw(st.sampled_from(["raw", "divisible"])),
        se=draw(st.sampled_from(["floor", "round", "divisible"])),
    )


@given(channels, widths, roundings())
def test_scaled_channels_are_multiples_of_the_divisor(c: int, width: float, rounding: Rounding) -> None:
    """With min_value unset or aligned, every scaled width is a multiple of the divisor."""
    assert scale_channels(c, width, rounding) % rounding.divisor == 0


@given(channels, widths, roundings(aligned_min=False))
def test_scaled_channels_respect_round_limit_and_min_value(c: int, width: float, rounding: Rounding) -> None:
    """Rounding never loses more than the round limit, and never goes below min_value."""
    raw = c * width
    rounded = scale_channels(c, width, rounding)
    assert rounded >= rounding.round_limit * raw
    assert rounded >= (rounding.min_value or rounding.divisor)


@given(st.floats(0.1, 10_000, allow_nan=False), roundings())
def test_make_divisible_is_near_the_value(value: float, rounding: Rounding) -> None:
    """The result is at most one divisor plus half a divisor above the value, or the minimum."""
    rounded = make_divisible(value, rounding)
    floor = rounding.min_value or rounding.divisor
    assert rounded <= max(floor, value + 1.5 * rounding.divisor)


@given(channels, widths, widths, roundings())
def test_scaled_channels_monotone_in_width(c: int, w1: float, w2: float, rounding: Rounding) -> None:
    """With min_value a multiple of the divisor, a wider multiplier never yields fewer channels."""
    lo, hi = sorted((w1, w2))
    note(f"{scale_channels(c, lo, rounding)=} {scale_channels(c, hi, rounding)=}")
    assert scale_channels(c, lo, rounding) <= scale_channels(c, hi, rounding)


def test_min_value_below_divisor_is_neither_multiple_nor_monotone() -> None:
    """torchvision's _make_divisible, by hand: divisor 8, min_value 1, round_limit 0.5.

    1 x 3.0: int(3 + 4) // 8 * 8 = 0, raised to min_value 1; 1 < 0.5 * 3 so one divisor more: 9.
    1 x 4.0: int(4 + 4) // 8 * 8 = 8, and 8 >= 0.5 * 4: 8. So 9 channels at width 3, 8 at 4.
    """
    rounding = Rounding(divisor=8, min_value=1, round_limit=0.5)
    assert scale_channels(1, 3.0, rounding) == 9
    assert scale_channels(1, 4.0, rounding) == 8


@pytest.mark.parametrize(
    ("value", "divisor", "round_limit", "expected"),
    [
        # int(35.2 + 4) // 8 * 8 = 32, and 32 >= 0.9 * 35.2 = 31.68: no bump
        (35.2, 8, 0.9, 32),
        # int(12 + 4) // 8 * 8 = 16
        (12.0, 8, 0.9, 16),
        # int(11.9 + 4) // 8 * 8 = 8 < 0.9 * 11.9 = 10.71: bumped one divisor to 16
        (11.9, 8, 0.9, 16),
        # the same without the 10% rule (Keras V2's round_filters): 8
        (11.9, 8, 0.0, 8),
        # int(3 + 4) // 8 * 8 = 0, raised to the minimum (the divisor)
        (3.0, 8, 0.9, 8),
        # int(17.5 + 4) // 8 * 8 = 16 >= 15.75
        (17.5, 8, 0.9, 16),
    ],
)
def test_make_divisible_hand_computed(value: float, divisor: int, round_limit: float, expected: int) -> None:
    """Worked examples of torchvision's _make_divisible rule, computed by hand."""
    assert make_divisible(value, Rounding(divisor=divisor, round_limit=round_limit)) == expected


@given(st.integers(1, 50), depths, roundings())
def test_depth_rounding_bounds(repeats: int, depth: float, rounding: Rounding) -> None:
    """ceil never rounds below the raw product; round stays within half a block of it."""
    raw = repeats * depth
    result = scale_depth(repeats, depth, rounding)
    assert result >= 1
    if rounding.depth == "ceil":
        assert result >= raw
        assert result < raw + 1
    elif raw >= 0.5:
        assert abs(result - raw) <= 0.5
    else:
        assert result == 1


@given(st.integers(1, 50), depths, depths, roundings())
def test_depth_rounding_monotone(repeats: int, d1: float, d2: float, rounding: Rounding) -> None:
    """A deeper multiplier never yields fewer repeats."""
    lo, hi = sorted((d1, d2))
    assert scale_depth(repeats, lo, rounding) <= scale_depth(repeats, hi, rounding)


def test_depth_rounding_hand_computed() -> None:
    """b3's depth 1.4: ceil(2 * 1.4) = 3 repeats; round(3 * 1.1 = 3.3) = 3, round(3 * 1.5) = 5."""
    assert scale_depth(2, 1.4, Rounding(depth="ceil")) == 3
    assert scale_depth(3, 1.1, Rounding(depth="round")) == 3
    assert scale_depth(3, 1.5, Rounding(depth="round")) == 5


@given(st.integers(1, 4096), st.floats(0.01, 1.0), roundings())
def test_squeeze_channels_at_least_one(base: int, ratio: float, rounding: Rounding) -> None:
    """Every SE rounding mode keeps at least one squeeze channel."""
    assert squeeze_channels(base, ratio, rounding) >= 1


@given(st.integers(1, 4096), st.floats(0.01, 1.0), roundings())
def test_squeeze_channels_follow_their_mode(base: int, ratio: float, rounding: Rounding) -> None:
    """floor/round/divisible each relate to the raw base * ratio as their names say."""
    raw = base * ratio
    result = squeeze_channels(base, ratio, rounding)
    if rounding.se == "floor":
        assert result == max(1, math.floor(raw))
    elif rounding.se == "round":
        assert abs(result - raw) <= 0.5 or result == 1
    else:
        assert result % rounding.divisor == 0


@given(st.integers(1, 1024), st.floats(1.0, 8.0), roundings())
def test_expanded_channels_follow_their_mode(cin: int, ratio: float, rounding: Rounding) -> None:
    """raw keeps int(in * ratio); divisible makes it a multiple of the divisor."""
    result = expanded_channels(cin, ratio, rounding)
    if rounding.expanded == "raw":
        assert result == int(cin * ratio)
    else:
        assert result % rounding.divisor == 0
        assert result >= rounding.round_limit * cin * ratio


compounds = st.builds(
    Compound,
    alpha=st.floats(1.0, 2.0),
    beta=st.floats(1.0, 2.0),
    gamma=st.floats(1.0, 2.0),
    resolution_divisor=st.sampled_from([1, 4, 8, 16, 32]),
)


@given(compounds, st.floats(-3, 8), st.floats(-3, 8), st.integers(32, 512))
def test_compound_multipliers_monotone_in_phi(compound: Compound, p1: float, p2: float, base: int) -> None:
    """With coefficients >= 1, a larger phi never shrinks width, depth or resolution."""
    lo, hi = sorted((p1, p2))
    small = compound_multipliers(lo, compound, base)
    large = compound_multipliers(hi, compound, base)
    assert all(a <= b for a, b in zip(small, large, strict=True))


@given(compounds, st.floats(-3, 8), st.integers(8, 1024))
def test_compound_resolution_is_a_multiple_of_its_divisor(compound: Compound, phi: float, base: int) -> None:
    """The compound resolution is a positive multiple of resolution_divisor near base * gamma^phi."""
    width, depth, resolution = compound_multipliers(phi, compound, base)
    step = compound.resolution_divisor
    assert resolution % step == 0
    assert resolution >= step
    assert abs(resolution - base * compound.gamma**phi) <= step / 2 or resolution == step
    assert width == pytest.approx(compound.beta**phi)
    assert depth == pytest.approx(compound.alpha**phi)


def test_compound_multipliers_hand_computed() -> None:
    """phi=1 with the paper's coefficients: width 1.1, depth 1.2, 224 * 1.15 = 257.6 -> 256."""
    width, depth, resolution = compound_multipliers(1, Compound(), 224)
    assert (width, depth, resolution) == (pytest.approx(1.1), pytest.approx(1.2), 256)


def test_flops_constraint_gap_of_the_paper_coefficients() -> None:
    """alpha * beta^2 * gamma^2 - 2 for 1.2, 1.1, 1.15: 1.2 * 1.21 * 1.3225 - 2 = 1.92027 - 2."""
    by_hand = 1.2 * 1.1**2 * 1.15**2 - 2.0
    assert by_hand == pytest.approx(-0.07973, abs=1e-5)
    assert flops_constraint_gap(Compound(alpha=1.2, beta=1.1, gamma=1.15)) == pytest.approx(by_hand)
    # an exactly-doubling choice has no gap: 2 * 1 * 1
    assert flops_constraint_gap(Compound(alpha=2.0, beta=1.0, gamma=1.0)) == pytest.approx(0.0)
