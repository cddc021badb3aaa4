"""The TensorFlow backend: padding arithmetic, every block kind, weights, emit, train vs eval."""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from emitted import load_emitted
from keras_weights import randomize_keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.backends.base import Backend  # noqa: E402
from scalespec.backends.tensorflow import BACKEND  # noqa: E402
from scalespec.errors import SpecError  # noqa: E402
from scalespec.files import load_safetensors, save_safetensors  # noqa: E402
from scalespec.ir.network import Conv, Multipliers, Network  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.ir.weights import tensor_specs  # noqa: E402
from scalespec.spec.io import parse_spec  # noqa: E402

pytestmark = pytest.mark.tensorflow

TINY = yaml.safe_load((Path(__file__).parent / "data" / "tiny_all_blocks.yaml").read_text())


def tiny(padding: str = "symmetric", **overrides) -> Network:
    return resolve(parse_spec({**TINY, "padding": padding, **overrides}))


def randomize(model: keras.Model, seed: int = 0) -> None:
    """Random weights everywhere, BN statistics included, so no tensor goes unchecked."""
    randomize_keras(model, np.random.default_rng(seed))


def one_conv(kernel: int, stride: int, padding: str, size: int, norm: bool = False) -> Network:
    """A network that is one single-channel conv (no BN unless asked, no activation)."""
    out = (size, size)
    stem = Conv("stem", 1, 1, kernel, stride, 1, norm, None, (size, size), out)
    return Network("one", 1, size, padding, 1e-3, 0.1, stem, (), None, None, None, 1, Multipliers(1, 1, size))


def nchw(rng, n, c, h, w=None):
    return rng.normal(0, 1, (n, c, h, w or h)).astype("float32")


def test_backend_satisfies_protocol():
    assert isinstance(BACKEND, Backend)
    assert BACKEND.name == "tensorflow" and BACKEND.available()
    assert BACKEND.version().startswith(__import__("tensorflow").__version__)
    assert "cpu" in BACKEND.devices()


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
    model.get_layer("stem.conv").kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    out = model(np.ones((1, size, size, 1), "float32")).numpy()  # features: pooled
    fmap = keras.Model(model.input, model.get_layer("stem.conv").output)(
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
    model.get_layer("stem.conv").kernel.assign(weight[:, :, None, None])
    image = rng.normal(0, 1, (size, size)).astype("float32")
    fmap = keras.Model(model.input, model.get_layer("stem.conv").output)(image[None, :, :, None])
    np.testing.assert_allclose(
        np.asarray(fmap)[0, :, :, 0], reference_conv(image, weight, stride, padding), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [30, 31, 33])
def test_output_shapes_even_and_odd(padding, size):
    network = tiny(padding)
    model = BACKEND.build(network, num_classes=0)
    head = keras.Model(model.input, model.get_layer("head.act").output)
    expected = size
    for _ in range(3):  # stem, stage 2 and stage 5 have stride 2; odd kernels give ceil(H/2)
        expected = -(-expected // 2)
    assert head(np.zeros((1, size, size, 3), "float32")).shape == (1, expected, expected, 32)
    assert BACKEND.forward(model, np.zeros((2, 3, size, size + 1), "float32")).shape == (2, 24)


def test_layer_names_are_canonical_prefixes():
    network = tiny()
    weights = BACKEND.export_weights(BACKEND.build(network))
    specs = tensor_specs(network)
    assert list(weights) == list(specs)
    assert {k: v.shape for k, v in weights.items()} == {k: s.shape for k, s in specs.items()}


def test_bn_uses_ir_eps_and_momentum():
    network = tiny(norm={"eps": 0.0123, "momentum": 0.3})
    model = BACKEND.build(network)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(bn.epsilon == 0.0123 and abs(bn.momentum - 0.7) < 1e-12 for bn in bns)


def test_bn_momentum_means_pytorch_weight_of_new_batch():
    model = BACKEND.build(one_conv(1, 1, "symmetric", 4, norm=True))
    model.get_layer("stem.conv").kernel.assign(np.ones((1, 1, 1, 1), "float32"))
    x = np.arange(32, dtype="float32").reshape(2, 4, 4, 1)
    model(x, training=True)
    # new running mean = (1 - 0.1) * 0 + 0.1 * batch mean (PyTorch's momentum 0.1)
    np.testing.assert_allclose(model.get_layer("stem.bn").moving_mean.numpy(), [0.1 * x.mean()], rtol=1e-6)


def test_train_vs_eval():
    model = BACKEND.build(tiny())
    randomize(model)
    x = nchw(np.random.default_rng(1), 4, 3, 32)
    eval_a = BACKEND.forward(model, x)
    assert np.array_equal(eval_a, BACKEND.forward(model, x))
    train = BACKEND.forward(model, x, training=True)
    assert train.shape == eval_a.shape and not np.allclose(train, eval_a)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    model = BACKEND.build(tiny())
    layer = model.get_layer("stages.1.1.drop_path")
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
    assert model.get_layer("classifier.dropout").rate == pytest.approx(0.3)
    features = model.get_layer("classifier.dropout")
    x = np.ones((2, 24), "float32")
    assert np.array_equal(np.asarray(features(x, training=False)), x)


def test_num_classes_override():
    network = tiny()
    assert BACKEND.forward(
        BACKEND.build(network, num_classes=3), nchw(np.random.default_rng(0), 1, 3, 16)
    ).shape == (1, 3)
    assert BACKEND.forward(
        BACKEND.build(network, num_classes=0), nchw(np.random.default_rng(0), 1, 3, 16)
    ).shape == (1, 24)


def test_weights_round_trip_dict_and_safetensors(tmp_path):
    network = tiny("same")
    source, target = BACKEND.build(network), BACKEND.build(network)
    randomize(source, seed=3)
    weights = BACKEND.export_weights(source)
    path = save_safetensors(weights, tmp_path / "tiny.safetensors")
    BACKEND.import_weights(target, load_safetensors(path))
    x = nchw(np.random.default_rng(2), 2, 3, 31)
    np.testing.assert_array_equal(BACKEND.forward(source, x), BACKEND.forward(target, x))
    again = BACKEND.export_weights(target)
    assert all(np.array_equal(again[k], weights[k]) for k in weights)


def test_weights_layouts_follow_pytorch():
    network = tiny()
    model = BACKEND.build(network)
    randomize(model, seed=4)
    weights = BACKEND.export_weights(model)
    dw = model.get_layer("stages.1.0.dw.conv").kernel.numpy()  # (kh, kw, in, 1)
    np.testing.assert_array_equal(weights["stages.1.0.dw.conv.weight"][5, 0], dw[:, :, 5, 0])
    conv = model.get_layer("stem.conv").kernel.numpy()  # (kh, kw, in, out)
    np.testing.assert_array_equal(weights["stem.conv.weight"][7, 2], conv[:, :, 2, 7])
    dense = model.get_layer("classifier").kernel.numpy()  # (in, out)
    np.testing.assert_array_equal(weights["classifier.weight"][4], dense[:, 4])
    bn = model.get_layer("head.bn")
    np.testing.assert_array_equal(weights["head.bn.running_var"], bn.moving_variance.numpy())


@pytest.mark.parametrize(
    "change,name",
    [
        (lambda w: w.pop("stages.3.0.se.reduce.bias"), "stages.3.0.se.reduce.bias"),
        (lambda w: w.update({"stages.9.0.conv.weight": np.zeros(3, "float32")}), "stages.9.0.conv.weight"),
        (lambda w: w.update({"head.conv.weight": np.zeros((32, 24, 1, 2), "float32")}), "head.conv.weight"),
    ],
    ids=["missing", "extra", "shape"],
)
def test_weights_errors_name_the_tensor(change, name):
    model = BACKEND.build(tiny())
    weights = BACKEND.export_weights(model)
    change(weights)
    with pytest.raises(SpecError, match=name.replace(".", r"\.")):
        BACKEND.import_weights(model, weights)


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_built_and_emitted_models_agree(tmp_path, padding):
    network = tiny(padding)
    built = BACKEND.build(network)
    randomize(built, seed=5)
    emitted = load_emitted(BACKEND.emit(network), tmp_path / f"tiny_{padding}.py").build_model()
    assert [layer.name for layer in emitted.layers] == [layer.name for layer in built.layers]
    BACKEND.import_weights(emitted, BACKEND.export_weights(built))
    x = nchw(np.random.default_rng(6), 2, 3, 29)
    np.testing.assert_array_equal(BACKEND.forward(built, x), BACKEND.forward(emitted, x))


# Runs an emitted file with scalespec unimportable: a meta-path finder refuses it.
RUN_ALONE = textwrap.dedent(
    """
    import importlib.util, sys
    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "scalespec":
                raise ImportError("scalespec must not be needed")
    sys.meta_path.insert(0, Refuse())
    sys.path = [p for p in sys.path if p not in ("", ".")]
    spec = importlib.util.spec_from_file_location("emitted", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import numpy as np
    model = module.build_model()
    out = model.predict(np.zeros((2, 21, 21, 3), "float32"), verbose=0)
    assert not any(m.startswith("scalespec") for m in sys.modules)
    print("OUT", out.shape, module.TABLE["name"] == sys.argv[2])
    """
)


def run_alone(path, name: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, "-c", RUN_ALONE, str(path), name],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_emitted_file_imports_only_keras_and_stdlib():
    tree = ast.parse(BACKEND.emit(tiny()))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert "keras" in imported
    assert imported <= {"__future__", "keras", "tensorflow"} | set(sys.stdlib_module_names)


def test_emitted_file_runs_with_tensorflow_alone(tmp_path):
    network = tiny("same")
    path = tmp_path / "model.py"
    path.write_text(BACKEND.emit(network))
    done = run_alone(path, network.name, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OUT (2, 10) True" in done.stdout


def test_hostile_name_cannot_inject_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    name = f"x'''\"\"\"\n{payload}\n#\\ \" ' {payload}"
    network = tiny(name=name[:200])
    source = BACKEND.emit(network)
    ast.parse(source)
    assert payload not in "".join(
        line for line in source.splitlines() if "TABLE" not in line and "'name'" not in line
    )
    path = tmp_path / "hostile.py"
    path.write_text(source)
    done = run_alone(path, network.name, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OUT (2, 10) True" in done.stdout
    assert not marker.exists()


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("size", [30, 31])
def test_matches_torch_backend(padding, size):
    pytest.importorskip("torch")
    from scalespec.backends.torch import BACKEND as TORCH

    network = tiny(padding)
    keras_model, torch_model = BACKEND.build(network), TORCH.build(network)
    randomize(keras_model, seed=size)
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

    network = one_conv(3, 2, padding, size)
    keras_model, torch_model = BACKEND.build(network), TORCH.build(network)
    weights = {"stem.conv.weight": np.arange(9, dtype="float32").reshape(1, 1, 3, 3)}
    BACKEND.import_weights(keras_model, weights)
    TORCH.import_weights(torch_model, weights)
    x = np.arange(size * size, dtype="float32").reshape(1, 1, size, size)
    np.testing.assert_allclose(BACKEND.forward(keras_model, x), TORCH.forward(torch_model, x), rtol=1e-6)
