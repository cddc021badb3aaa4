"""Proof that the suite catches bugs: plant one discrepancy in one backend, see the named check fail.

Each bug is planted with monkeypatch in the real backend code (undone after the test); the
first backend (torch) provides the weights, so the planted backend is held to it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.backends.tensorflow import measure as tf_measure  # noqa: E402
from scalespec.backends.tensorflow import runtime as tf_runtime  # noqa: E402
from scalespec.backends.tensorflow import weights as tf_weights  # noqa: E402
from scalespec.backends.torch import runtime as torch_runtime  # noqa: E402
from scalespec.conformance.report import render  # noqa: E402
from scalespec.conformance.runner import conform  # noqa: E402
from scalespec.ir.network import SqueezeExcite  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.spec.io import parse_spec  # noqa: E402

BACKENDS = ["torch", "tensorflow"]
TINY = {
    "name": "tiny",
    "padding": "same",
    "norm": {"eps": 1.0e-5, "momentum": 0.1},
    "stem": {"out": 16, "kernel": 3, "stride": 2},
    "stages": [
        {
            "repeats": 2,
            "block": {
                "type": "mbconv",
                "expand": 4,
                "kernel": 3,
                "stride": 2,
                "out": 16,
                "se": {"ratio": 0.25},
            },
        },
        {
            "repeats": 1,
            "block": {
                "type": "mbconv",
                "expand": 6,
                "kernel": 5,
                "stride": 2,
                "out": 24,
                "se": {"ratio": 0.3},
            },
        },
        {"repeats": 1, "block": {"type": "ds", "kernel": 3, "out": 24, "se": {"ratio": 0.25}}},
    ],
    "head": {"out": 32},
    "classifier": {"num_classes": 10},
}


@pytest.fixture(scope="module")
def network():
    """A tiny net with TF SAME padding at an even size, so stride-2 convs pad one side more."""
    return resolve(parse_spec(TINY), resolution=32)


def _failed(network, **builders):
    report = conform(network, BACKENDS, builders=builders or None)
    return report, report.failed_names()


def test_unplanted_network_passes(network):
    report, failed = _failed(network)
    assert failed == [], render(report)


def test_padding_side_at_stride_2(network, monkeypatch):
    """The extra SAME pixel put top/left instead of bottom/right in torch."""

    same_padding = torch_runtime.same_padding

    def wrong_side(size, kernel, stride):
        before, after = same_padding(size, kernel, stride)
        return after, before

    monkeypatch.setattr(torch_runtime, "same_padding", wrong_side)
    report, failed = _failed(network)
    assert failed == ["outputs"]
    assert "FAIL: outputs" in render(report)


def test_bn_eps(network, monkeypatch):
    """Keras BN built with its own default eps (1e-3) instead of the spec's 1e-5."""

    class DefaultEps(keras.layers.BatchNormalization):
        def __init__(self, *args, epsilon=None, **kwargs):
            super().__init__(*args, epsilon=1e-3, **kwargs)

    monkeypatch.setattr(tf_runtime.keras.layers, "BatchNormalization", DefaultEps)
    report, failed = _failed(network)
    assert failed == ["outputs"]
    assert report.failures()[0].figures["worst"] > 1


def test_se_channel_rounding(network):
    """TensorFlow builds one SE with the squeeze width rounded up instead of floored."""
    block = next(b for b in network.blocks if any(isinstance(op, SqueezeExcite) for op in b.ops))
    row = block.row._replace(se=block.row.se + 1)  # runtimes build blocks from their table rows
    planted = dataclasses.replace(
        network, blocks=tuple(dataclasses.replace(b, row=row) if b is block else b for b in network.blocks)
    )
    report, failed = _failed(network, tensorflow=planted)
    assert "params" in failed and "weights" in failed
    weights = next(c for c in report.failures() if c.name == "weights")
    assert f"{block.name}.se.reduce.weight" in weights.message
    params = next(c for c in report.failures() if c.name == "params")
    se = next(op for op in block.ops if isinstance(op, SqueezeExcite))
    assert params.figures["diff"] == 2 * se.channels + 1  # one more reduce row, bias, expand column


def test_depthwise_weight_layout(network, monkeypatch):
    """Depthwise kernels moved with kh and kw swapped both ways (so the round trip still holds)."""
    to_canonical, from_canonical = tf_weights._kernel_to_canonical, tf_weights._kernel_from_canonical

    def out(layer, kernel):
        value = to_canonical(layer, kernel)
        return value.transpose(0, 1, 3, 2) if isinstance(layer, keras.layers.DepthwiseConv2D) else value

    def into(layer, tensor, shape):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            tensor = np.ascontiguousarray(tensor.transpose(0, 1, 3, 2))
        return from_canonical(layer, tensor, shape)

    monkeypatch.setattr(tf_weights, "_kernel_to_canonical", out)
    monkeypatch.setattr(tf_weights, "_kernel_from_canonical", into)
    report, failed = _failed(network)
    assert failed == ["outputs"]


def test_missing_activation(network, monkeypatch):
    """Keras drops the activation after every depthwise conv."""
    activation = tf_runtime.activation

    def skip_dw(x, name, layer_name):
        return x if layer_name.endswith(".dw.act") else activation(x, name, layer_name)

    monkeypatch.setattr(tf_runtime, "activation", skip_dw)
    report, failed = _failed(network)
    assert failed == ["outputs"]


def test_mac_count_missing_the_classifier(network, monkeypatch):
    """TensorFlow's MAC count leaves out MatMul (the classifier): only the macs check fails."""
    monkeypatch.setattr(tf_measure, "MAC_OPS", ("Conv2D", "DepthwiseConv2dNative"))
    report, failed = _failed(network)
    assert failed == ["macs"]
    macs = report.failures()[0]
    assert macs.subject == "tensorflow" and macs.figures["diff"] == -(32 * 10)
