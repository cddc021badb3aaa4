"""The analytic cost model against tiny networks counted by hand (arithmetic written out)."""

from __future__ import annotations

from scalespec.ir.cost import network_cost
from scalespec.ir.network import Network, padding_amounts
from scalespec.ir.resolve import resolve
from scalespec.spec.io import parse_spec


def _mbconv_net(resolution: int = 8) -> Network:
    """stem conv 3->8 k3 s2, one MBConv (expand 2, k3, SE 0.25), head 1x1 ->16, classifier 16->10."""
    spec = parse_spec(
        {
            "name": "hand",
            "input": {"channels": 3, "resolution": 8},
            "stem": {"out": 8, "kernel": 3, "stride": 2},
            "stages": [
                {
                    "block": {
                        "type": "mbconv",
                        "expand": 2,
                        "kernel": 3,
                        "stride": 1,
                        "out": 8,
                        "se": {"ratio": 0.25},
                    }
                }
            ],
            "head": {"out": 16},
            "classifier": {"num_classes": 10},
        }
    )
    return resolve(spec, resolution=resolution)


# Parameters (trainable) and buffers (BN running mean + var), layer by layer:
#   stem     conv 8*3*3*3 = 216, BN 8+8 = 16          -> 232    buffers 16
#   expand   conv 16*8*1*1 = 128, BN 16+16 = 32       -> 160    buffers 32
#   dw       conv 16*1*3*3 = 144, BN 32               -> 176    buffers 32
#   se       squeeze floor(8*0.25) = 2: reduce 2*16+2 = 34, expand 16*2+16 = 48 -> 82
#   project  conv 8*16 = 128, BN 8+8 = 16             -> 144    buffers 16
#   head     conv 16*8 = 128, BN 32                   -> 160    buffers 32
#   classifier 10*16 + 10 = 170                       -> 170
HAND_PARAMS = 232 + 160 + 176 + 82 + 144 + 160 + 170  # 1124
HAND_BUFFERS = 16 + 32 + 32 + 16 + 32  # 128

# MACs at 8x8: the stem's stride 2 gives 4x4 (16 pixels) for everything after it.
#   stem     8 ch * 16 px * (3*3*3 = 27)   = 3456
#   expand   16 * 16 * 8                   = 2048
#   dw       16 * 16 * 9                   = 2304
#   se       16->2 and 2->16 on one pixel  = 64
#   project  8 * 16 * 16                   = 2048
#   head     16 * 16 * 8                   = 2048
#   classifier 16 * 10                     = 160
HAND_MACS_8 = 3456 + 2048 + 2304 + 64 + 2048 + 2048 + 160  # 12128
# At 9x9 the stem gives ceil(9/2) = 5, so 25 pixels:
#   8*25*27 + 16*25*8 + 16*25*9 + 64 + 8*25*16 + 16*25*8 + 160
HAND_MACS_9 = 5400 + 3200 + 3600 + 64 + 3200 + 3200 + 160  # 18824

# other_ops at 8x8, by the rules documented in scalespec/ir/cost.py (BN = 2 ops per output
# element, activation 1, SE: pool adds C*px, biases, inner act, gate, broadcast multiply C*px):
#   stem 128 el * 3 = 384; expand 256 * 3 = 768; dw 256 * 3 = 768
#   se 16*16 + 2 + 16 + 2 + 16 + 16*16 = 548; project 128 * 2 = 256; residual add 8*16 = 128
#   head 256 * 3 = 768; pool 16*16 = 256; classifier bias adds 10
HAND_OTHER_OPS_8 = 384 + 768 + 768 + 548 + 256 + 128 + 768 + 256 + 10  # 3886


def test_hand_computed_params_and_buffers() -> None:
    total = network_cost(_mbconv_net()).total
    assert (total.params, total.buffers) == (HAND_PARAMS, HAND_BUFFERS) == (1124, 128)


def test_hand_computed_macs_and_flops() -> None:
    """MACs count only conv and linear multiply-accumulates; flops are twice that."""
    total = network_cost(_mbconv_net()).total
    assert total.macs == HAND_MACS_8 == 12128
    assert total.flops == 2 * HAND_MACS_8


def test_other_ops_are_kept_apart_from_macs() -> None:
    """BN, activations, pooling, adds and the SE multiply land in other_ops, not in macs."""
    cost = network_cost(_mbconv_net())
    assert cost.total.other_ops == HAND_OTHER_OPS_8
    for row in cost.layers:
        if row.kind in ("add", "pool"):
            assert row.cost.macs == 0 and row.cost.other_ops > 0


def test_per_group_split() -> None:
    """Stem, stage 0, head (conv + pool) and classifier partition the totals."""
    groups = network_cost(_mbconv_net()).groups
    assert {name: cost.macs for name, cost in groups.items()} == {
        "stem": 3456,
        "stage 0": 2048 + 2304 + 64 + 2048,
        "head": 2048,
        "classifier": 160,
    }
    assert sum(cost.params for cost in groups.values()) == HAND_PARAMS


def test_network_cost_at_another_resolution() -> None:
    """Asking the 8px network for 9px equals resolving at 9px, and matches the hand count."""
    net = _mbconv_net()
    at_nine = network_cost(net, 9)
    assert at_nine.resolution == 9
    assert at_nine.total.macs == HAND_MACS_9 == 18824
    assert at_nine.total.params == HAND_PARAMS
    assert network_cost(_mbconv_net(resolution=9)).total == at_nine.total


def _mixed_net() -> Network:
    """SAME padding at 10px, divisor 4: stem, fused MBConv s2, DS with SE and residual, conv s2."""
    spec = parse_spec(
        {
            "name": "mixed",
            "input": {"channels": 3, "resolution": 10},
            "padding": "same",
            "rounding": {"divisor": 4},
            "stem": {"out": 4, "kernel": 3, "stride": 1},
            "stages": [
                {"block": {"type": "fused_mbconv", "expand": 4, "kernel": 3, "stride": 2, "out": 8}},
                {"block": {"type": "ds", "kernel": 5, "out": 8, "se": {"ratio": 0.5}}},
                {"block": {"type": "conv", "kernel": 1, "stride": 2, "out": 12}},
            ],
            "head": {"out": None},
            "classifier": {"num_classes": 0},
        }
    )
    return resolve(spec)


def test_mixed_blocks_hand_computed() -> None:
    """Sizes 10 -> 10 -> 5 -> 5 -> 3; params, buffers and MACs counted layer by layer."""
    net = _mixed_net()
    # stem 4*3*9+8 = 116; fused expand 16*4*9+32 = 608; project 8*16+16 = 144;
    # dw 8*1*25+16 = 216; se (8 -> floor(8*0.5) = 4) 4*8+4 + 8*4+8 = 76; pw 8*8+16 = 80; conv 12*8+24 = 120
    params = 116 + 608 + 144 + 216 + 76 + 80 + 120
    buffers = 8 + 32 + 16 + 16 + 16 + 24
    # stem 4*100*27; expand 16*25*36; project 8*25*16; dw 8*25*25; se 2*8*4; pw 8*25*8; conv 12*9*8
    macs = 10800 + 14400 + 3200 + 5000 + 64 + 1600 + 864
    total = network_cost(net).total
    assert (total.params, total.buffers, total.macs) == (params, buffers, macs) == (1360, 112, 35928)
    assert net.num_features == 12 and net.classifier is None and net.head is None
    assert [block.residual for block in net.blocks] == [False, True, False]


def test_same_padding_amounts_hand_computed() -> None:
    """TF SAME: total = max((ceil(n/s)-1)*s + k - n, 0), the odd pixel after."""
    assert padding_amounts(10, 3, 1, "same") == (1, 1)  # 9*1 + 3 - 10 = 2
    assert padding_amounts(10, 3, 2, "same") == (0, 1)  # 4*2 + 3 - 10 = 1
    assert padding_amounts(5, 5, 1, "same") == (2, 2)  # 4*1 + 5 - 5 = 4
    assert padding_amounts(5, 1, 2, "same") == (0, 0)  # 2*2 + 1 - 5 = 0
    assert padding_amounts(9, 3, 2, "same") == (1, 1)  # 4*2 + 3 - 9 = 2
    assert padding_amounts(10, 5, 2, "symmetric") == (2, 2)
