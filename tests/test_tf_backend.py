"""The TensorFlow backend: padding arithmetic, every block kind, weights, emit, train vs eval."""

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from nets import one_conv as one_conv_net
from weights import randomised

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.backends.tensorflow import BACKEND  # noqa: E402
from scalespec.ir.network import Network  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.spec.io import parse_spec  # noqa: E402

pytestmark = pytest.mark.tensorflow

TINY = yaml.safe_load((Path(__file__).parent / "data" / "tiny_all_blocks.yaml").read_text())


def tiny(padding: str = "symmetric", **overrides) -> Network:
    return resolve(parse_spec({**TINY, "padding": padding, **overrides}))


def one_conv(kernel: int, stride: int, padding: str, size: int) -> Network:
    """A single-channel stem conv (plus a 1x1 conv block); the model takes any ``size``."""
    return one_conv_net(padding, kernel=kernel, stride=stride)


def nchw(rng, n, c, h, w=None):
    return rng.normal(0, 1, (n, c, h, w or h)).astype("float32")


# Hand computation: a 3x3 all-ones kernel, stride 2, on an all-ones image counts how many
# real (unpadded) pixels each window covers.
#   4x4, symmetric: 1 zero row/col each side -> windows rows {-1..1},{1..3}: [[4,6],[6,9]]
#   4x4, same: total pad (2-1)*2+3-4 = 1, all at bottom/right -> rows {0..2},{2..4}: [[9,6],[6,4]]
#   5x5, both: pad 1 each side -> [[4,6,4],[6,9,6],[4,6,4]]
HAND = {
    ("symmetric", 4): [[4, 6], [6, 9]],
    ("same", 4): [[9, 6], [6, 4]],
    ("symmetric", 5): [[4, 6, 4], [6, 9, 6], [4, 6, 4]],
    ("same", 5): [[4, 6, 4], [6, 9, 6], [4, 6, 4]],
}


@pytest.mark.parametrize("padding,size", list(HAND))
def test_padding_hand_computed(padding, size):
    model = BACKEND.build(one_conv(3, 2, padding, size))
    model.get_layer("stem__conv").kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    out = model(np.ones((1, size, size, 1), "float32")).numpy()  # features: pooled
    fmap = keras.Model(model.input, model.get_layer("stem__conv").output)(
        np.ones((1, size, size, 1), "float32")
    )
    np.testing.assert_array_equal(np.asarray(fmap)[0, :, :, 0], np.array(HAND[padding, size], "float32"))
    assert out.shape == (1, 1)


def reference_conv(image: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Direct single-channel convolution, padding written out from convention 1."""
    k, size = kernel.shape[0], image.shape[0]
    if padding == "symmetric":
        top = bottom = (k - 1) // 2
    else:
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        top, bottom = total // 2, total - total // 2
    padded = np.pad(image, ((top, bottom), (top, bottom)))
    n = (padded.shape[0] - k) // stride + 1
    return np.array(
        [
            [
                np.sum(padded[i * stride : i * stride + k, j * stride : j * stride + k] * kernel)
                for j in range(n)
            ]
            for i in range(n)
        ]
    )


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [6, 7, 8, 9])
@pytest.mark.parametrize("kernel,stride", [(3, 1), (3, 2), (5, 2)])
def test_padding_matches_definition(padding, size, kernel, stride):
    rng = np.random.default_rng(size * kernel + stride)
    model = BACKEND.build(one_conv(kernel, stride, padding, size))
    weight = rng.normal(0, 1, (kernel, kernel)).astype("float32")
    model.get_layer("stem__conv").kernel.assign(weight[:, :, None, None])
    image = rng.normal(0, 1, (size, size)).astype("float32")
    fmap = keras.Model(model.input, model.get_layer("stem__conv").output)(image[None, :, :, None])
    np.testing.assert_allclose(
        np.asarray(fmap)[0, :, :, 0], reference_conv(image, weight, stride, padding), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [30, 31, 33])
def test_output_shapes_even_and_odd(padding, size):
    network = tiny(padding)
    model = BACKEND.build(network, num_classes=0)
    head = keras.Model(model.input, model.get_layer("head__act").output)
    expected = size
    for _ in range(3):  # stem, stage 2 and stage 5 have stride 2; odd kernels give ceil(H/2)
        expected = -(-expected // 2)
    assert head(np.zeros((1, size, size, 3), "float32")).shape == (1, expected, expected, 32)
    assert BACKEND.forward(model, np.zeros((2, 3, size, size + 1), "float32")).shape == (2, 24)


def test_bn_uses_ir_eps_and_momentum():
    network = tiny(norm={"eps": 0.0123, "momentum": 0.3})
    model = BACKEND.build(network)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(bn.epsilon == 0.0123 and abs(bn.momentum - 0.7) < 1e-12 for bn in bns)


def test_bn_momentum_means_pytorch_weight_of_new_batch():
    model = BACKEND.build(one_conv(1, 1, "symmetric", 4))
    model.get_layer("stem__conv").kernel.assign(np.ones((1, 1, 1, 1), "float32"))
    x = np.arange(32, dtype="float32").reshape(2, 4, 4, 1)
    model(x, training=True)
    # new running mean = (1 - 0.1) * 0 + 0.1 * batch mean (PyTorch's momentum 0.1)
    np.testing.assert_allclose(model.get_layer("stem__bn").moving_mean.numpy(), [0.1 * x.mean()], rtol=1e-6)


def test_train_vs_eval():
    model = randomised("tensorflow", tiny())
    x = nchw(np.random.default_rng(1), 4, 3, 32)
    eval_a = BACKEND.forward(model, x)
    assert np.array_equal(eval_a, BACKEND.forward(model, x))
    train = BACKEND.forward(model, x, training=True)
    assert train.shape == eval_a.shape and not np.allclose(train, eval_a)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    model = BACKEND.build(tiny())
    layer = model.get_layer("stages__1__1__drop_path")
    rate = tiny().blocks[2].drop_path_rate
    assert rate > 0 and abs(layer.rate - rate) < 1e-12
    ones = np.ones((64, 3, 3, 8), "float32")
    assert np.array_equal(np.asarray(layer(ones, training=False)), ones)
    out = np.asarray(layer(ones, training=True))
    per_sample = out.reshape(64, -1)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))  # one decision per sample
    first = per_sample[:, 0]
    dropped, kept = np.isclose(first, 0.0), np.isclose(first, 1 / (1 - rate), rtol=1e-6)
    assert np.all(dropped | kept) and dropped.any() and kept.any()


def test_classifier_dropout_is_training_only():
    model = BACKEND.build(tiny())
    assert model.get_layer("classifier__dropout").rate == pytest.approx(0.3)
    features = model.get_layer("classifier__dropout")
    x = np.ones((2, 24), "float32")
    assert np.array_equal(np.asarray(features(x, training=False)), x)


def test_layer_names_work_on_every_keras_backend():
    """Keras' torch backend refuses dots in layer names: canonical prefixes map to ``__``."""
    from scalespec.backends.tensorflow.runtime import canonical_name, keras_name

    names = [layer.name for layer in BACKEND.build(tiny()).layers]
    assert names and not any("." in name or "/" in name for name in names)
    assert keras_name("stages.1.0.dw.conv") == "stages__1__0__dw__conv"
    assert canonical_name(keras_name("pre_logits")) == "pre_logits"


def test_weights_layouts_follow_pytorch():
    network = tiny()
    model = randomised("tensorflow", network, seed=4)
    weights = BACKEND.export_weights(model)
    dw = model.get_layer("stages__1__0__dw__conv").kernel.numpy()  # (kh, kw, in, 1)
    np.testing.assert_array_equal(weights["stages.1.0.dw.conv.weight"][5, 0], dw[:, :, 5, 0])
    conv = model.get_layer("stem__conv").kernel.numpy()  # (kh, kw, in, out)
    np.testing.assert_array_equal(weights["stem.conv.weight"][7, 2], conv[:, :, 2, 7])
    dense = model.get_layer("classifier").kernel.numpy()  # (in, out)
    np.testing.assert_array_equal(weights["classifier.weight"][4], dense[:, 4])
    bn = model.get_layer("head__bn")
    np.testing.assert_array_equal(weights["head.bn.running_var"], bn.moving_variance.numpy())


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [30, 31])
def test_matches_torch_backend(padding, size):
    pytest.importorskip("torch")
    from scalespec.backends.torch import BACKEND as TORCH

    network = tiny(padding)
    keras_model, torch_model = randomised("tensorflow", network, seed=size), TORCH.build(network)
    TORCH.import_weights(torch_model, BACKEND.export_weights(keras_model))
    x = nchw(np.random.default_rng(size), 2, 3, size)
    np.testing.assert_allclose(
        BACKEND.forward(keras_model, x), TORCH.forward(torch_model, x), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [4, 5])
def test_one_conv_matches_torch_backend(padding, size):
    pytest.importorskip("torch")
    from scalespec.backends.torch import BACKEND as TORCH
    from scalespec.conformance.checks import random_weights

    network = one_conv(3, 2, padding, size)
    keras_model, torch_model = BACKEND.build(network), TORCH.build(network)
    weights = random_weights(network, size)
    weights["stem.conv.weight"] = np.arange(9, dtype="float32").reshape(1, 1, 3, 3)
    BACKEND.import_weights(keras_model, weights)
    TORCH.import_weights(torch_model, weights)
    x = np.arange(size * size, dtype="float32").reshape(1, 1, size, size)
    np.testing.assert_allclose(
        BACKEND.forward(keras_model, x), TORCH.forward(torch_model, x), rtol=1e-5, atol=1e-5
    )


# A generated Keras file run on another Keras 3 backend, with the same canonical weights.
ON_ANOTHER_BACKEND = """
import sys
import numpy as np
import keras
from scalespec.backends.source import load_generated
from scalespec.backends.tensorflow.weights import import_weights
from scalespec.files import load_safetensors
model = load_generated(sys.argv[1]).build_model()
import_weights(model, load_safetensors(sys.argv[2]))
x = np.load(sys.argv[3])
np.save(sys.argv[4], keras.ops.convert_to_numpy(model(x, training=False)))
print(keras.backend.backend())
"""


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_generated_file_runs_on_keras_torch_backend_with_the_same_outputs(tmp_path, padding):
    """Keras 3 on PyTorch (layer names without dots) gives the TensorFlow backend's outputs."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    from scalespec.conformance.checks import random_input, random_weights
    from scalespec.files import save_safetensors

    network = tiny(padding)
    weights = random_weights(network, 3)
    model = randomised("tensorflow", network, seed=3)
    x = np.ascontiguousarray(
        np.transpose(random_input(network, 32, seed=4), (0, 2, 3, 1))
    )  # even: SAME's extra pixel
    expected = np.asarray(model(x, training=False))
    (tmp_path / "model.py").write_text(BACKEND.emit(network), encoding="utf-8")
    save_safetensors(weights, tmp_path / "w.safetensors")
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    paths = [str(tmp_path / name) for name in ("model.py", "w.safetensors", "x.npy", "out.npy")]
    done = subprocess.run(
        [sys.executable, "-c", ON_ANOTHER_BACKEND, *paths],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "torch"
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-4, atol=1e-5)
