"""The spec strategies cover the whole language and only produce valid, resolvable, tiny specs."""

from __future__ import annotations

from hypothesis import given, settings

from scalespec.conformance.strategies import ACTIVATIONS, BLOCK_KINDS, GATES, cases
from scalespec.ir.cost import network_cost
from scalespec.ir.network import Conv, SqueezeExcite
from scalespec.spec.io import dump_spec, parse_text


@given(cases())
def test_cases_are_valid_resolvable_tiny_and_round_trip(case):
    assert parse_text(dump_spec(case.spec)) == case.spec
    network = case.network()
    assert 8 <= network.resolution <= 88  # 8..65, or base * 1.15^phi for phi <= 2
    assert len(network.blocks) <= 12
    assert max(conv.out_channels for conv in network.convs()) <= 300
    assert network_cost(network).total.params < 1_000_000


def _features(case) -> set[str]:
    """The language features one case exercises, as short labels."""
    network = case.network()
    ops = [op for block in network.blocks for op in block.ops]
    parity = "odd" if network.resolution % 2 else "even"
    found = {f"kind:{block.kind}" for block in network.blocks}
    found |= {f"act:{op.activation}" for op in ops if getattr(op, "activation", None)}
    found |= {f"gate:{op.gate}" for op in ops if isinstance(op, SqueezeExcite)}
    found |= {
        f"se-rounding:{case.spec.with_profile(case.profile).rounding.se}"
        for op in ops
        if isinstance(op, SqueezeExcite)
    }
    found.add(f"padding:{network.padding}:{parity}")
    found.add(f"expanded:{case.spec.rounding.expanded}")
    found.add(f"depth:{case.spec.rounding.depth}")
    flags = {
        "no-head-no-classifier": network.head is None and network.classifier is None,
        "pre-logits+classifier": network.pre_logits is not None and network.classifier is not None,
        "profile": case.profile is not None,
        "variant-width": case.variant is not None and network.multipliers.width != 1.0,
        "phi": case.phi is not None,
        "residual": any(block.residual for block in network.blocks),
        "k5-stride2": any(isinstance(op, Conv) and op.kernel == 5 and op.stride == 2 for op in ops),
        "se-base-expanded": any(
            s.block.type != "conv" and s.block.se and s.block.se.base == "expanded" for s in case.spec.stages
        ),
        "absolute-expanded": any(getattr(s.block, "expanded", None) for s in case.spec.stages),
    }
    return found | {name for name, hit in flags.items() if hit}


def test_strategies_reach_every_part_of_the_language():
    """400 derandomized cases cover every block kind, activation, gate, rounding rule and shape."""
    seen: set[str] = set()

    @settings(max_examples=400, derandomize=True, database=None)
    @given(cases())
    def collect(case):
        seen.update(_features(case))

    collect()
    wanted = {f"kind:{kind}" for kind in BLOCK_KINDS}
    wanted |= {f"act:{act}" for act in ACTIVATIONS if act != "swish"}  # swish resolves to silu
    wanted |= {f"gate:{gate}" for gate in GATES}
    wanted |= {f"se-rounding:{rule}" for rule in ("floor", "round", "divisible")}
    wanted |= {f"padding:{mode}:{parity}" for mode in ("same", "symmetric") for parity in ("odd", "even")}
    wanted |= {"expanded:raw", "expanded:divisible", "depth:ceil", "depth:round"}
    wanted |= {"no-head-no-classifier", "pre-logits+classifier", "profile", "variant-width", "phi"}
    wanted |= {"residual", "k5-stride2", "se-base-expanded", "absolute-expanded"}
    assert wanted - seen == set()
