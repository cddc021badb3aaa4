"""Properties of the resolver (spec -> IR): channels, sizes, residuals, drop rates, names, growth."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scalespec.conformance.strategies import specs
from scalespec.errors import SpecError
from scalespec.ir.cost import network_cost
from scalespec.ir.network import Network, SqueezeExcite, padding_amounts
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import op_tensors, tensor_specs
from scalespec.spec.io import json_schema, parse_spec
from scalespec.spec.network import NetworkSpec
from scalespec.spec.scaling import scale_channels
from scalespec.zoo import load_family


def _ceil_div(size: int, stride: int) -> int:
    """Expected output size of an odd-kernel conv under either padding mode."""
    return -(-size // stride)


def _resolve_or_skip(spec: NetworkSpec, **kwargs) -> Network:
    """Resolve, discarding the rare random spec a budget rejects."""
    try:
        return resolve(spec, **kwargs)
    except SpecError as exc:
        assume(False)
        raise AssertionError("unreachable") from exc


@given(specs())
def test_channels_chain_through_blocks_and_ops(spec: NetworkSpec) -> None:
    """Each block takes the previous one's output; inside a block each op takes what flows."""
    net = _resolve_or_skip(spec)
    flowing = net.stem.out_channels
    assert net.stem.in_channels == spec.input.channels
    for block in net.blocks:
        assert block.in_channels == flowing
        for op in block.ops:
            if isinstance(op, SqueezeExcite):
                assert op.channels == flowing
                assert op.squeeze_channels >= 1
            else:
                assert op.in_channels == flowing
                assert op.groups in (1, op.in_channels)
                if op.groups > 1:
                    assert op.out_channels == op.in_channels
                flowing = op.out_channels
        assert block.out_channels == flowing
    if net.head:
        assert net.head.in_channels == flowing
        flowing = net.head.out_channels
    for linear in (net.pre_logits, net.classifier):
        if linear:
            assert linear.in_features == flowing
            flowing = linear.out_features
    assert net.num_classes == spec.classifier.num_classes


@given(specs(), st.integers(8, 64))
def test_spatial_sizes_follow_strides(spec: NetworkSpec, resolution: int) -> None:
    """Every odd-kernel conv maps n to ceil(n / stride) under both padding modes; SE keeps the size."""
    net = _resolve_or_skip(spec, resolution=resolution)
    size = (resolution, resolution)
    assert net.resolution == resolution
    for conv_or_block in [net.stem, *net.blocks]:
        ops = conv_or_block.ops if hasattr(conv_or_block, "ops") else (conv_or_block,)
        assert conv_or_block.in_size == size
        for op in ops:
            if isinstance(op, SqueezeExcite):
                assert op.size == size
                continue
            assert op.in_size == size
            size = (_ceil_div(size[0], op.stride), _ceil_div(size[1], op.stride))
            assert op.out_size == size
        assert conv_or_block.out_size == size
    if net.head:
        assert net.head.in_size == net.head.out_size == size


@given(specs(), st.integers(8, 64))
def test_cost_rows_follow_the_ir_sizes(spec: NetworkSpec, resolution: int) -> None:
    """The cost model, recomputing sizes at another resolution, agrees with the IR resolved there."""
    nominal = _resolve_or_skip(spec)
    at_res = _resolve_or_skip(spec, resolution=resolution)
    rows = {row.name: row for row in network_cost(nominal, resolution).layers}
    for conv in at_res.convs():
        assert rows[conv.name].out_shape == (conv.out_channels, *conv.out_size)
    assert network_cost(nominal, resolution).total == network_cost(at_res).total


@given(
    st.integers(1, 80),
    st.sampled_from([1, 3, 5, 7, 2, 4]),
    st.sampled_from([1, 2, 3]),
    st.sampled_from(["symmetric", "same"]),
)
def test_padding_amounts_match_the_conventions(size: int, kernel: int, stride: int, mode: str) -> None:
    """symmetric pads (k-1)//2 each side; same pads TF's total with the extra pixel after."""
    before, after = padding_amounts(size, kernel, stride, mode)
    if mode == "symmetric":
        assert before == after == (kernel - 1) // 2
    else:
        total = max((_ceil_div(size, stride) - 1) * stride + kernel - size, 0)
        assert (before, after) == (total // 2, total - total // 2)
        assert (size + before + after - kernel) // stride + 1 == _ceil_div(size, stride)


@given(specs())
def test_residual_exactly_when_shapes_allow(spec: NetworkSpec) -> None:
    """A block adds its input only at stride 1 with in == out, for residual-capable kinds set to auto."""
    net = _resolve_or_skip(spec)
    for block in net.blocks:
        block_spec = spec.stages[block.stage].block
        allowed = block.stride == 1 and block.in_channels == block.out_channels
        wanted = block_spec.type != "conv" and block_spec.residual == "auto"
        assert block.residual == (allowed and wanted)
        if block.residual:
            assert block.in_size == block.out_size


@given(specs())
def test_drop_path_rates_grow_and_stay_below_the_network_rate(spec: NetworkSpec) -> None:
    """Residual blocks get drop_path_rate * index / count (torchvision's rule); others get none."""
    net = _resolve_or_skip(spec)
    rate, count = spec.drop_path_rate, len(net.blocks)
    previous = -1.0
    for index, block in enumerate(net.blocks):
        if not block.residual:
            assert block.drop_path_rate == 0.0
            continue
        assert block.drop_path_rate == pytest.approx(rate * index / count)
        assert block.drop_path_rate < rate or rate == block.drop_path_rate == 0.0
        assert block.drop_path_rate >= previous
        previous = block.drop_path_rate


def _ops(net: Network) -> list:
    """Every weighted op of ``net`` in execution order."""
    inner = [op for block in net.blocks for op in block.ops]
    return [op for op in (net.stem, *inner, net.head, net.pre_logits, net.classifier) if op is not None]


@given(specs())
def test_canonical_tensor_names_are_unique(spec: NetworkSpec) -> None:
    """No two ops share a name, so no tensor of one op overwrites another's."""
    net = _resolve_or_skip(spec)
    names = [op.name for op in _ops(net)]
    assert len(names) == len(set(names))
    per_op = [name for op in _ops(net) for name in op_tensors(op)]
    assert len(per_op) == len(set(per_op))
    assert list(tensor_specs(net)) == per_op


def _cost_at_phi(spec: NetworkSpec, phi: float) -> tuple[int, int]:
    total = network_cost(_resolve_or_skip(spec, phi=phi)).total
    return total.params, total.macs


@given(specs(), st.floats(0, 3), st.floats(0, 3))
def test_params_and_macs_grow_with_phi_for_random_specs(spec: NetworkSpec, p1: float, p2: float) -> None:
    """With the default coefficients (all >= 1), a larger phi never shrinks the network."""
    lo, hi = sorted((p1, p2))
    small, large = _cost_at_phi(spec, lo), _cost_at_phi(spec, hi)
    assert small[0] <= large[0]
    assert small[1] <= large[1]


@pytest.mark.parametrize("family", ["efficientnet", "efficientnetv2"])
def test_params_and_macs_grow_with_phi_for_the_zoo(family: str) -> None:
    """Zoo specs along phi = 0, 0.5, ..., 4: params and MACs never shrink."""
    spec = load_family(family)
    counts = [_cost_at_phi(spec, phi / 2) for phi in range(9)]
    assert counts == sorted(counts)
    assert [c[1] for c in counts] == sorted(c[1] for c in counts)
    assert counts[0] < counts[-1]


@given(specs(), st.integers(8, 64), st.integers(8, 64))
def test_macs_grow_with_resolution_and_params_do_not_change(spec: NetworkSpec, r1: int, r2: int) -> None:
    """A larger input never lowers MACs; parameter and buffer counts do not depend on it."""
    lo, hi = sorted((r1, r2))
    net = _resolve_or_skip(spec)
    small, large = network_cost(net, lo).total, network_cost(net, hi).total
    assert small.macs <= large.macs
    assert (small.params, small.buffers) == (large.params, large.buffers)


def test_zoo_macs_grow_with_resolution() -> None:
    """efficientnet-b0 from 32 to 320 px: strictly more MACs each step, same params."""
    net = resolve(load_family("efficientnet"), variant="b0")
    totals = [network_cost(net, res).total for res in range(32, 321, 32)]
    assert all(a.macs < b.macs for a, b in zip(totals, totals[1:], strict=False))
    assert len({t.params for t in totals}) == 1


def test_phi_zero_is_the_baseline() -> None:
    """phi = 0 gives multipliers 1, 1 and the spec's resolution: the same network as b0."""
    spec = load_family("efficientnet")
    assert network_cost(resolve(spec, phi=0)).total == network_cost(resolve(spec, variant="b0")).total


def test_explicit_width_depth_equal_the_variant() -> None:
    """width/depth given directly resolve to the same layers as the variant that names them."""
    spec = load_family("efficientnet")
    by_variant = resolve(spec, variant="b3")
    by_numbers = resolve(spec, width=1.2, depth=1.4, resolution=300)
    assert by_variant.convs() == by_numbers.convs()
    assert by_variant.blocks == by_numbers.blocks


def test_num_classes_override_replaces_the_classifier() -> None:
    """num_classes=0 drops the classifier; 10 resizes it."""
    spec = load_family("efficientnet")
    assert resolve(spec, num_classes=0).classifier is None
    assert resolve(spec, num_classes=10).classifier.out_features == 10


def test_only_one_way_of_scaling_at_a_time() -> None:
    """variant together with phi is ambiguous and names the second one given."""
    with pytest.raises(SpecError, match="phi"):
        resolve(load_family("efficientnet"), variant="b1", phi=1.0)


def _keras_like_spec() -> NetworkSpec:
    return parse_spec(
        {
            "name": "p",
            "norm": {"eps": 1e-5, "momentum": 0.2},
            "rounding": {"divisor": 4, "round_limit": 0.5},
            "stages": [{"block": {"type": "mbconv", "out": 8}}],
            "profiles": {
                "keras": {"norm": {"eps": 1e-3}, "rounding": {"expanded": "raw"}, "padding": "same"}
            },
        }
    )


def test_profile_merges_only_the_fields_it_sets() -> None:
    """A profile's rounding/norm overrides leave the spec's other rounding/norm fields alone."""
    merged = _keras_like_spec().with_profile("keras")
    assert merged.rounding.expanded == "raw"
    assert (merged.rounding.divisor, merged.rounding.round_limit) == (4, 0.5)
    assert (merged.norm.eps, merged.norm.momentum) == (1e-3, 0.2)
    assert merged.padding == "same"
    assert merged.stages == _keras_like_spec().stages
    assert _keras_like_spec().with_profile(None) == _keras_like_spec()


def test_zoo_keras_profiles_keep_the_divisor() -> None:
    """The zoo's keras profiles change expanded rounding (and V2's round limit), not the divisor."""
    v1 = load_family("efficientnet").with_profile("keras")
    assert (v1.rounding.expanded, v1.rounding.divisor, v1.rounding.round_limit) == ("raw", 8, 0.9)
    assert (v1.padding, v1.norm.eps, v1.norm.momentum) == ("same", 1e-3, 0.01)
    v2 = load_family("efficientnetv2").with_profile("keras")
    assert (v2.rounding.expanded, v2.rounding.divisor, v2.rounding.round_limit) == ("raw", 8, 0.0)
    assert v2.norm == load_family("efficientnetv2").norm


def test_unknown_profile_is_a_spec_error_naming_profile() -> None:
    """Asking for a profile the spec lacks names the `profile` field and the known ones."""
    with pytest.raises(SpecError) as info:
        resolve(load_family("efficientnet"), profile="kerass")
    assert info.value.problems[0][0] == "profile"
    assert "kerass" in str(info.value) and "keras" in str(info.value)
    with pytest.raises(SpecError) as direct:
        load_family("efficientnet").with_profile("nope")
    assert direct.value.problems[0][0] == "profile"


def test_same_padding_sizes_differ_from_symmetric_only_in_padding() -> None:
    """Both padding modes give ceil(n/s) outputs for odd kernels at odd and even inputs."""
    spec = load_family("efficientnet")
    for res in (33, 64):
        sym = resolve(spec, variant="b0", resolution=res)
        same = resolve(spec, variant="b0", resolution=res, profile="keras")
        assert [c.out_size for c in sym.convs()] == [c.out_size for c in same.convs()]
        assert sym.stem.out_size == (math.ceil(res / 2),) * 2


def test_variant_norm_applies_unless_a_profile_sets_norm() -> None:
    data = {
        "name": "n",
        "norm": {"eps": 1e-5, "momentum": 0.1},
        "stages": [{"block": {"type": "conv", "out": 8}}],
        "scaling": {"variants": {"big": {"width": 2.0, "norm": {"eps": 0.002, "momentum": 0.03}}}},
        "profiles": {"tf": {"norm": {"eps": 0.004, "momentum": 0.05}}, "pad": {"padding": "same"}},
    }
    spec = parse_spec(data)
    assert (resolve(spec).norm_eps, resolve(spec).norm_momentum) == (1e-5, 0.1)
    big = resolve(spec, variant="big")
    assert (big.norm_eps, big.norm_momentum) == (0.002, 0.03)
    assert resolve(spec, variant="big", profile="pad").norm_eps == 0.002
    assert resolve(spec, variant="big", profile="tf").norm_eps == 0.004
    assert resolve(spec, phi=1.0).norm_eps == 1e-5


def _mobile(block: dict) -> NetworkSpec:
    return parse_spec({"name": "m", "stem": {"out": 24}, "stages": [{"block": {"out": 40, **block}}]})


@pytest.mark.parametrize("kind", ["mbconv", "fused_mbconv"])
@pytest.mark.parametrize("width", [1.0, 0.75, 1.3])
def test_absolute_expanded_width_scales_like_channels(kind: str, width: float) -> None:
    """``expanded: 88`` is channels before width scaling, rounded like any width (MobileNetV3)."""
    spec = _mobile({"type": kind, "expanded": 88})
    block = resolve(spec, width=width, depth=1.0).blocks[0]
    assert block.expanded_channels == scale_channels(88, width, spec.rounding)
    assert block.ops[0].name.endswith(".expand") and block.ops[0].out_channels == block.expanded_channels


def test_expand_and_expanded_exclude_each_other() -> None:
    with pytest.raises(SpecError, match="expand .* or expanded"):
        _mobile({"type": "mbconv", "expand": 4, "expanded": 88})
    assert "expanded" in json.dumps(json_schema())
