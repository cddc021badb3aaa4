"""Scaling strategies (scalespec/ir/strategies.py) and ``scalespec scale``: the rules as
published, then the spec's rounding, reported honestly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import scalespec
from scalespec.cli import main
from scalespec.errors import SpecError
from scalespec.ir.cost import network_cost
from scalespec.ir.resolve import resolve
from scalespec.ir.strategies import STRATEGIES, exponents
from scalespec.zoo import load_model

TINY = str(Path(__file__).parent / "conformance" / "specs" / "tiny-same.yaml")
EFFICIENTNET = (1.2, 1.1, 1.15)  # the paper's alpha, beta, gamma


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_spends_exactly_the_flops_asked_before_rounding(strategy):
    """MACs ~ depth x width^2 x resolution^2, so the exponents satisfy e_d + 2 e_w + 2 e_r = 1."""
    e = exponents(strategy, EFFICIENTNET)
    assert e.depth + 2 * e.width + 2 * e.resolution == pytest.approx(1.0)


def test_fast_scaling_is_dollars_rule():
    """Dollar et al. 2021: depth s^((1-a)/2), width s^(a/2), resolution s^((1-a)/4); a = 0.8."""
    e = exponents("fast", EFFICIENTNET)
    assert (e.depth, e.width, e.resolution) == pytest.approx((0.1, 0.4, 0.05))
    assert exponents("fast", EFFICIENTNET, alpha=0.5).width == pytest.approx(0.25)


def test_compound_by_one_unit_of_phi_is_the_spec_at_phi_1():
    """Asking for alpha * beta^2 * gamma^2 times the FLOPs is EfficientNet's phi = 1."""
    spec = load_model("efficientnet-b0").spec
    c = spec.scaling.compound
    scaled = scalespec.scale("efficientnet-b0", c.alpha * c.beta**2 * c.gamma**2, "compound")
    by_phi = resolve(spec, phi=1.0)
    assert scaled.network.multipliers.width == pytest.approx(by_phi.multipliers.width)
    assert scaled.network.multipliers.depth == pytest.approx(by_phi.multipliers.depth)
    assert scaled.network.resolution == by_phi.resolution
    assert scaled.cost == network_cost(by_phi).total


def test_fast_scaling_grows_activations_about_as_sqrt_s_and_compound_about_as_s():
    """Dollar et al.'s finding, on b0 at 16x the FLOPs: activations grow as s^0.62 under fast
    scaling and s^0.87 under compound scaling here (rounding included); the paper's ~0.5 and ~1."""
    grow = {}
    for strategy in ("fast", "compound"):
        scaled = scalespec.scale("efficientnet-b0", 16, strategy)
        grow[strategy] = math.log(scaled.cost.activations / scaled.base_cost.activations) / math.log(16)
    assert grow["fast"] < 0.75 < grow["compound"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("s", [0.5, 2.0, 8.0])
def test_realised_flops_stay_near_the_request(strategy, s):
    """Rounding moves the MACs (channels to 8, repeats up), within a factor of 2 either way."""
    scaled = scalespec.scale("efficientnet-b0", s, strategy)
    assert 0.5 < scaled.realised_flops_multiplier / s < 2.0
    assert scaled.base_cost == network_cost(resolve(load_model("efficientnet-b0").spec, variant="b0")).total


def test_scale_command_prints_the_request_and_what_rounding_made_of_it(capsys):
    assert main(["scale", "efficientnet-b0", "--flops-multiplier", "4", "--strategy", "fast"]) == 0
    out = capsys.readouterr().out
    assert "x4 FLOPs by fast (a = 0.8)" in out and "asked:" in out and "realised:" in out
    assert main(["scale", TINY, "--flops-multiplier", "2", "--strategy", "width", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["strategy"] == "width" and report["requested"]["width"] == pytest.approx(2**0.5)
    base = network_cost(resolve(load_model(TINY).spec)).total.macs
    assert report["cost"]["macs"] == pytest.approx(report["realised"]["flops_multiplier"] * base)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--flops-multiplier", "0"], "--flops-multiplier"),
        (["--flops-multiplier", "1e9"], "--flops-multiplier"),
        (["--flops-multiplier", "4", "--strategy", "fast", "--alpha", "1.5"], "--alpha"),
    ],
)
def test_bad_scale_requests_exit_2_naming_the_flag(capsys, argv, flag):
    assert main(["scale", "efficientnet-b0", *argv]) == 2
    assert f"error: {flag}" in capsys.readouterr().err


def test_an_unknown_strategy_is_named():
    with pytest.raises(SpecError, match="strategy: unknown strategy 'sideways'"):
        scalespec.scale("efficientnet-b0", 2, "sideways")


def test_single_dimension_strategies_move_only_their_dimension():
    """At 16x: depth makes 16x the blocks at the same widths and size; width 4x the channels
    (to the divisor's rounding) at the same depth and size; resolution 4x the size."""
    depth = scalespec.scale("efficientnet-b0", 16, "depth")
    assert depth.realised_depth == 16 and depth.realised_width == 1 and depth.network.resolution == 224
    width = scalespec.scale("efficientnet-b0", 16, "width")
    assert width.realised_depth == 1 and width.realised_width == pytest.approx(4, rel=0.05)
    size = scalespec.scale("efficientnet-b0", 16, "resolution")
    assert size.realised_depth == size.realised_width == 1 and size.network.resolution == 4 * 224
