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
from scalespec.zoo import load_model, zoo_models  # noqa: E402

pytestmark = pytest.mark.tensorflow

# torchvision's documented efficientnet_b7: num_params and GFLOPS (which are GMACs) at 600 px
# (/work/shared/reference/published-efficientnet.json).
B7_PUBLISHED = {"params": 66_347_960, "macs_g": 37.746}
MAC_RESOLUTION = 64  # MACs scale with resolution; params do not. b7 is also checked at 600.


def _measure(name: str, resolution: int, profile: str | None = None):
    ref = load_model(name)
    network = resolve(ref.spec, variant=ref.variant, resolution=resolution, profile=profile)
    model = BACKEND.build(network)
    try:
        return BACKEND.measure(model, resolution), network_cost(network, resolution).total
    finally:
        del model
        keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo_models())
def test_counts_equal_cost_model(name):
    measured, cost = _measure(name, MAC_RESOLUTION)
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)


@pytest.mark.parametrize("name", ["efficientnet-b0", "efficientnetv2-s"])
def test_counts_keras_profile(name):
    measured, cost = _measure(name, MAC_RESOLUTION, profile="keras")
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)


@pytest.mark.slow
def test_b7_macs_at_nominal_resolution():
    measured, cost = _measure("efficientnet-b7", 600)
    assert measured.macs == cost.macs
    assert round(measured.macs / 1e9, 3) == B7_PUBLISHED["macs_g"]
    assert measured.params == B7_PUBLISHED["params"]


@pytest.mark.slow
def test_v2_s_macs_at_nominal_resolution():
    """torchvision-derived efficientnet_v2_s counts at 384 px (see tests/test_zoo_counts.py)."""
    measured, _ = _measure("efficientnetv2-s", 384)
    assert (measured.params, measured.macs) == (21_458_488, 8_365_617_152)


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
