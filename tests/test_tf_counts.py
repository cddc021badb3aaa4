"""TensorFlow's own counts (weight sizes, op flops of the traced graph) equal the cost model."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.backends.tensorflow import BACKEND  # noqa: E402
from scalespec.backends.tensorflow.measure import flops_by_op_type, traced_graph  # noqa: E402
from scalespec.ir.cost import network_cost  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model  # noqa: E402

pytestmark = pytest.mark.tensorflow

MAC_RESOLUTION = 64  # MACs scale with resolution; params do not.
# Checked again at their nominal size against independent figures (one build serves both sizes):
# torchvision's efficientnet_b7 at 600 px; torchvision-derived efficientnet_v2_s counts at 384 px
# (see tests/test_zoo_counts.py).
# Entries: resolution, params, MACs, and the digits MACs are published to (b7: 37.746 GMACs).
NOMINAL = {
    "efficientnet-b7": (600, 66_347_960, 37_746_000_000, -6),
    "efficientnetv2-s": (384, 21_458_488, 8_365_617_152, 0),
}


def _measure(name: str, resolutions: list[int], profile: str | None = None):
    """[(measured, cost)] for ``name`` at each of ``resolutions``, from one built model."""
    ref = load_model(name)
    network = resolve(ref.spec, variant=ref.variant, resolution=resolutions[0], profile=profile)
    model = BACKEND.build(network)
    try:
        return [(BACKEND.measure(model, r), network_cost(network, r).total) for r in resolutions]
    finally:
        del model
        keras.backend.clear_session()


def _assert_equal(measured, cost):
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)


# Every zoo model's TensorFlow counts at 64 px (l2 at 32) are conformance's params, buffers and
# macs checks (tests/conformance/test_conformance_zoo.py); here, the two that have independent
# figures at their nominal size.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOMINAL))
def test_counts_equal_cost_model(name):
    nominal = NOMINAL[name]
    results = _measure(name, [MAC_RESOLUTION, nominal[0]])
    for measured, cost in results:
        _assert_equal(measured, cost)
    measured, (_, params, macs, digits) = results[-1][0], nominal
    assert (measured.params, round(measured.macs, digits)) == (params, macs)


@pytest.mark.parametrize("name", ["efficientnet-b0", "efficientnetv2-s"])
def test_counts_keras_profile(name):
    _assert_equal(*_measure(name, [MAC_RESOLUTION], profile="keras")[0])


def test_profiler_counts_conv_as_two_flops_per_mac_and_skips_bias():
    """One 3x3 conv with bias and one dense layer: TF's flops are 2 x MACs, BiasAdd excluded."""
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=True)(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)
    model = keras.Model(inputs, outputs)
    flops = flops_by_op_type(traced_graph(model, 8))
    conv_macs = 8 * 8 * 6 * 4 * 3 * 3
    dw_macs = 8 * 8 * 6 * 3 * 3
    dense_macs = 6 * 5
    assert flops == {"Conv2D": 2 * conv_macs, "DepthwiseConv2dNative": 2 * dw_macs, "MatMul": 2 * dense_macs}
    assert BACKEND.measure(model, 8).macs == conv_macs + dw_macs + dense_macs
    # The public tf.compat.v1 profiler (float ops per op type) reports the same statistics,
    # and shows that the biases are a separate BiasAdd entry, which measure() leaves out.
    import tensorflow as tf

    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    pending, by_type = (
        list(tf.compat.v1.profiler.profile(graph=traced_graph(model, 8), cmd="op", options=options).children),
        {},
    )
    while pending:  # one node per op type, nested
        node = pending.pop()
        by_type[node.name] = node.float_ops
        pending.extend(node.children)
    assert {k: by_type[k] for k in flops} == flops
    assert by_type["BiasAdd"] == 8 * 8 * 6 + 8 * 8 * 6 + 5
