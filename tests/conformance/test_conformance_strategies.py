"""The spec strategies cover the whole language and only produce valid, resolvable, tiny specs."""

from __future__ import annotations

from hypothesis import find, given, settings

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


def _ops(case):
    return [op for block in case.network().blocks for op in block.ops]


def _found(condition) -> None:
    """Hypothesis can reach a case where ``condition`` holds (find raises NoSuchExample if not)."""
    find(cases(), condition, settings=settings(max_examples=2000, database=None))


def test_every_block_kind_activation_and_gate_is_reachable():
    for kind in BLOCK_KINDS:
        _found(lambda c, kind=kind: any(b.kind == kind for b in c.network().blocks))
    for act in set(ACTIVATIONS) - {"swish"}:
        _found(lambda c, act=act: any(getattr(op, "activation", None) == act for op in _ops(c)))
    for gate in GATES:
        _found(lambda c, gate=gate: any(isinstance(op, SqueezeExcite) and op.gate == gate for op in _ops(c)))


def test_conventions_and_shapes_are_reachable():
    _found(lambda c: c.network().padding == "same" and c.network().resolution % 2 == 0)
    _found(lambda c: c.network().padding == "same" and c.network().resolution % 2 == 1)
    _found(lambda c: c.network().padding == "symmetric" and c.network().resolution % 2 == 1)
    _found(lambda c: c.network().head is None and c.network().classifier is None)
    _found(lambda c: c.network().pre_logits is not None and c.network().classifier is not None)
    _found(lambda c: c.profile is not None)
    _found(lambda c: c.variant is not None and c.network().multipliers.width != 1.0)
    _found(lambda c: c.phi is not None)
    _found(lambda c: any(b.residual for b in c.network().blocks))
    _found(lambda c: any(isinstance(op, Conv) and op.kernel == 5 and op.stride == 2 for op in _ops(c)))
    _found(
        lambda c: c.spec.rounding.se == "divisible" and any(isinstance(op, SqueezeExcite) for op in _ops(c))
    )
    _found(lambda c: c.spec.rounding.expanded == "raw" and c.spec.rounding.depth == "round")
