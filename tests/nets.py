"""Small specs for the backend tests: every block kind, activation, SE gate and padding mode."""

from __future__ import annotations

from scalespec.ir.network import Network
from scalespec.ir.resolve import resolve
from scalespec.spec.io import parse_spec

ACTIVATIONS = ["relu", "relu6", "silu", "hard_swish", "gelu", "sigmoid", "hard_sigmoid", "identity"]


def kitchen_sink(padding: str = "symmetric", name: str = "sink", pre_logits: bool = True, **extra) -> Network:
    """One block of every kind (with and without SE, both SE bases and gates), all activations."""
    se_in = {"ratio": 0.25, "base": "input", "gate": "hard_sigmoid", "activation": "relu"}
    se_ex = {"ratio": 0.25, "base": "expanded"}
    stages = [
        {"repeats": 1, "block": {"type": "conv", "kernel": 3, "stride": 1, "out": 8, "activation": "relu6"}},
        {"repeats": 2, "block": {"type": "ds", "kernel": 3, "out": 8, "se": se_in, "activation": "gelu"}},
        {
            "repeats": 1,
            "block": {
                "type": "ds",
                "kernel": 5,
                "out": 16,
                "stride": 2,
                "pointwise_activation": True,
                "activation": "hard_swish",
            },
        },
        {
            "repeats": 2,
            "block": {"type": "fused_mbconv", "expand": 1, "kernel": 3, "out": 16, "activation": "sigmoid"},
        },
        {
            "repeats": 2,
            "block": {"type": "fused_mbconv", "expand": 4, "kernel": 3, "stride": 2, "out": 24, "se": se_ex},
        },
        {
            "repeats": 2,
            "block": {
                "type": "mbconv",
                "expand": 1,
                "kernel": 3,
                "out": 24,
                "se": se_in,
                "activation": "identity",
            },
        },
        {
            "repeats": 2,
            "block": {
                "type": "mbconv",
                "expand": 6,
                "kernel": 5,
                "stride": 2,
                "out": 32,
                "se": se_ex,
                "activation": "hard_sigmoid",
            },
        },
        {
            "repeats": 1,
            "block": {
                "type": "mbconv",
                "expand": 3,
                "kernel": 7,
                "stride": 1,
                "out": 40,
                "activation": "relu",
            },
        },
    ]
    head = {"out": 64}
    if pre_logits:
        head["pre_logits"] = {"features": 48, "activation": "hard_swish"}
    data = {
        "name": name,
        "input": {"channels": 3, "resolution": 32},
        "padding": padding,
        "norm": {"eps": 1e-3, "momentum": 0.01},
        "drop_path_rate": 0.5,
        "stem": {"out": 8, "kernel": 3, "stride": 2},
        "stages": stages,
        "head": head,
        "classifier": {"num_classes": 10, "dropout": 0.5},
        **extra,
    }
    return resolve(parse_spec(data), resolution=32)


def one_conv(padding: str, kernel: int = 3, stride: int = 2) -> Network:
    """A network that is just a stem conv (one block of identity kind is required, so a 1x1 conv)."""
    data = {
        "name": "one",
        "input": {"channels": 1, "resolution": 8},
        "padding": padding,
        "rounding": {"divisor": 1},
        "stem": {
            "out": 1,
            "kernel": kernel,
            "stride": stride,
            "activation": "identity",
            "scale_width": False,
        },
        "stages": [
            {"repeats": 1, "block": {"type": "conv", "kernel": 1, "out": 1, "activation": "identity"}}
        ],
        "head": {"out": None},
        "classifier": {"num_classes": 0},
    }
    return resolve(parse_spec(data))


def tiny(padding: str = "same") -> Network:
    """Stem, an MBConv with SE and a residual, a strided MBConv: the smallest net with every op."""
    block = {"type": "mbconv", "expand": 2, "kernel": 3, "out": 8, "se": {"ratio": 0.25}}
    data = {
        "name": "tiny",
        "input": {"channels": 3, "resolution": 16},
        "padding": padding,
        "stem": {"out": 8, "kernel": 3, "stride": 2},
        "stages": [
            {"repeats": 1, "block": block},
            {"repeats": 1, "block": {**block, "stride": 2, "out": 16}},
        ],
        "head": {"out": 32},
        "classifier": {"num_classes": 4},
    }
    return resolve(parse_spec(data))
