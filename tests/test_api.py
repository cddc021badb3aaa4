"""scalespec.create_model: one call from a name to a native model, the same in every framework."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import scalespec
from scalespec.backends import BACKEND_NAMES, get_backend
from scalespec.backends.base import TrainBatch
from scalespec.conformance.checks import random_input, random_weights
from scalespec.errors import SpecError
from scalespec.files import save_safetensors
from scalespec.ir.cost import network_cost
from scalespec.zoo import resolve_model


@pytest.fixture(params=BACKEND_NAMES)
def framework(request) -> str:
    if not get_backend(request.param).available():
        pytest.skip(f"{request.param} is not installed")
    return request.param


def test_importing_scalespec_imports_no_framework():
    """create_model is there at once, and a fresh ``import scalespec`` loads no framework."""
    import subprocess

    probe = "import sys, scalespec; scalespec.create_model; print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_create_model_builds_the_named_network(framework):
    model = scalespec.create_model("efficientnet-b0", framework, resolution=64, num_classes=10)
    measured = get_backend(framework).measure(model, 64)
    _, network = resolve_model("efficientnet-b0", resolution=64, num_classes=10)
    assert measured.params == network_cost(network).total.params


def test_create_model_loads_canonical_weights_in_every_framework(framework, tmp_path):
    _, network = resolve_model("efficientnet-b0", resolution=32, profile="keras")
    path = save_safetensors(random_weights(network, 7), tmp_path / "w.safetensors")
    outputs = {}
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        if backend.available():
            model = scalespec.create_model(
                "efficientnet-b0", name, resolution=32, profile="keras", weights=path
            )
            outputs[name] = backend.forward(model, random_input(network, 32, seed=1))
    first = next(iter(outputs.values()))
    for out in outputs.values():
        np.testing.assert_allclose(out, first, rtol=1e-4, atol=1e-5)


def test_create_model_errors_name_the_field(tmp_path):
    with pytest.raises(SpecError, match="framework"):
        scalespec.create_model("efficientnet-b0", "caffe")
    with pytest.raises(SpecError, match="model"):
        scalespec.create_model("efficientnet-b42")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(SpecError, match="weights"):
        scalespec.create_model("efficientnet-b0", resolution=32, weights=bad)


def test_fine_tuning_to_10_classes_from_a_1000_class_checkpoint(framework, tmp_path):
    """The head is skipped with a warning naming it; every other tensor is the checkpoint's."""
    _, network = resolve_model("efficientnet-b0", resolution=32)
    checkpoint = random_weights(network, 11)
    path = save_safetensors(checkpoint, tmp_path / "b0-1000.safetensors")
    with pytest.warns(UserWarning, match="the classifier differs") as caught:
        model = scalespec.create_model(
            "efficientnet-b0", framework, resolution=32, num_classes=10, weights=path
        )
    message = str(caught[0].message)
    assert "classifier.weight (1000, 1280)" in message and "classifier.bias (1000,)" in message
    backend = get_backend(framework)
    loaded = backend.export_weights(model)
    assert loaded["classifier.weight"].shape == (10, 1280)
    assert all(
        np.array_equal(loaded[name], checkpoint[name])
        for name in checkpoint
        if not name.startswith("classifier.")
    )
    _, ten = resolve_model("efficientnet-b0", resolution=32, num_classes=10)
    assert backend.forward(model, random_input(ten, 32, seed=0)).shape == (2, 10)
    if not backend.trains:
        return  # an inference graph (onnx) takes the fine-tuning checkpoint; training is the frameworks'
    # and it trains: a few SGD steps on one batch of the 10 classes lower the loss
    taps = [tap.name for tap in ten.taps()]
    x = random_input(ten, 32, seed=3, batch=16)
    batch = TrainBatch(x, np.arange(16) % 10, 0.01)
    losses = [backend.train_step(model, batch, taps).loss for _ in range(4)]
    assert losses[-1] < losses[0], losses


# timm's efficientnet_b0(features_only=True).feature_info: (channels, reduction) of the last
# block at each reduction, from the published B0 table (stages of 16, 24, 40, 80, 112, 192, 320)
B0_FEATURES = [(16, 2), (24, 4), (40, 8), (112, 16), (320, 32)]


def test_features_only_gives_the_pyramid_in_every_framework(framework):
    """Maps at reductions 2..32 with timm's channels, the same shapes in both frameworks
    (NCHW from PyTorch, NHWC from Keras), and ``out_indices`` picks levels."""
    model = scalespec.create_model("efficientnet-b0", framework, resolution=64, features_only=True)
    assert [(level.channels, level.reduction) for level in model.feature_info] == B0_FEATURES
    backend = get_backend(framework)
    _, network = resolve_model("efficientnet-b0", resolution=64)
    maps = backend.forward(model, random_input(network, 64, seed=0))  # NCHW from both
    assert [m.shape for m in maps] == [(2, c, 64 // r, 64 // r) for c, r in B0_FEATURES]
    picked = scalespec.create_model("efficientnet-b0", framework, features_only=True, out_indices=(1, -1))
    assert [level.reduction for level in picked.feature_info] == [4, 32]
    assert [m.shape[1] for m in backend.forward(picked, random_input(network, 64, seed=0))] == [24, 320]


def test_features_only_params_are_the_trunk():
    """The features-only b0 holds torchvision's 5,288,548 parameters less the head conv
    (320 -> 1280, with BN) and the 1280 -> 1000 classifier, all published shapes."""
    _, network = resolve_model("efficientnet-b0")
    head = 320 * 1280 + 2 * 1280
    classifier = 1280 * 1000 + 1000
    assert network_cost(network.with_features()).total.params == 5_288_548 - head - classifier


def test_features_only_loads_a_full_checkpoint(framework, tmp_path):
    """A full checkpoint loads into a features-only model: it takes the trunk, silently."""
    _, network = resolve_model("efficientnet-b0", resolution=32)
    checkpoint = random_weights(network, 5)
    path = save_safetensors(checkpoint, tmp_path / "b0.safetensors")
    model = scalespec.create_model(
        "efficientnet-b0", framework, resolution=32, features_only=True, weights=path
    )
    loaded = get_backend(framework).export_weights(model)
    assert loaded and all(np.array_equal(value, checkpoint[name]) for name, value in loaded.items())
    assert "head.conv.weight" not in loaded


def test_in_chans_adapts_the_stem_as_timm_does(framework, tmp_path):
    """A 3-channel checkpoint into 1 and 4 input channels: the stem kernel summed, or tiled and
    scaled by 3/4, so an image with equal bands gives the 3-channel model's stem output."""
    _, network = resolve_model("efficientnet-b0", resolution=32)
    checkpoint = random_weights(network, 2)
    path = save_safetensors(checkpoint, tmp_path / "b0.safetensors")
    stem = checkpoint["stem.conv.weight"]
    backend = get_backend(framework)
    for chans, expected in (
        (1, stem.sum(axis=1, keepdims=True)),
        (4, np.concatenate([stem, stem[:, :1]], 1) * 0.75),
    ):
        with pytest.warns(UserWarning, match=f"from 3 to {chans} input channels"):
            model = scalespec.create_model(
                "efficientnet-b0", framework, resolution=32, in_chans=chans, weights=path
            )
        np.testing.assert_allclose(backend.export_weights(model)["stem.conv.weight"], expected, rtol=1e-6)
    grey = np.repeat(random_input(network, 32, seed=4)[:, :1], 4, axis=1)
    four = scalespec.create_model("efficientnet-b0", framework, resolution=32, in_chans=4, weights=path)
    three = scalespec.create_model("efficientnet-b0", framework, resolution=32, weights=path)
    np.testing.assert_allclose(
        backend.forward(four, grey), backend.forward(three, grey[:, :3]), rtol=1e-4, atol=1e-5
    )


def test_fine_tuning_options_reach_the_model():
    """drop_rate and drop_path_rate replace the spec's, as timm's arguments do."""
    _, network = resolve_model("efficientnet-b0", drop_rate=0.5, drop_path_rate=0.1)
    assert network.classifier.dropout == 0.5
    _, default = resolve_model("efficientnet-b0")
    rates = [
        (a.drop_path_rate, b.drop_path_rate) for a, b in zip(network.blocks, default.blocks, strict=True)
    ]
    assert all(abs(ours - theirs / 2) < 1e-12 for ours, theirs in rates)  # the spec's 0.2 -> 0.1


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"out_indices": (0,)}, "out_indices"),
        ({"features_only": True, "out_indices": (5,)}, "out_indices"),
        ({"features_only": True, "out_indices": ("a",)}, "out_indices"),
        ({"features_only": True, "num_classes": 10}, "num_classes"),
        ({"in_chans": 0}, "in_chans"),
        ({"drop_rate": 1.0}, "drop_rate"),
        ({"drop_path_rate": -0.1}, "drop_path_rate"),
    ],
)
def test_fine_tuning_options_are_checked_by_name(options, field):
    with pytest.raises(SpecError, match=field):
        scalespec.create_model("efficientnet-b0", "torch", **options)


@pytest.mark.parametrize(
    ("options", "shape"),
    [
        ({"include_top": False}, (2, 1280, 2, 2)),
        ({"include_top": False, "pooling": "avg"}, (2, 1280)),
        ({"include_top": False, "pooling": "max"}, (2, 1280)),
        ({"classifier_activation": "softmax"}, (2, 1000)),
    ],
)
def test_keras_applications_top_options_agree_across_frameworks(options, shape, tmp_path):
    """include_top, pooling and classifier_activation as keras.applications names them: the
    same shapes (NCHW here) and values in every framework from one checkpoint, counted as the
    cost model says; softmax rows sum to 1, and max pooling is the maximum of the map."""
    for name in BACKEND_NAMES:
        if not get_backend(name).available():
            pytest.skip(f"{name} is not installed")
    _, network = resolve_model("efficientnet-b0", resolution=64)
    path = save_safetensors(random_weights(network, 9), tmp_path / "b0.safetensors")
    x = random_input(network, 64, seed=2)
    outputs = {}
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        model = scalespec.create_model("efficientnet-b0", name, resolution=64, weights=path, **options)
        outputs[name] = backend.forward(model, x)
        assert outputs[name].shape == shape
        expected = network_cost(network.with_top(**options)).total
        assert backend.measure(model, 64).params == expected.params
    torch_out = outputs["torch"]
    for name, out in outputs.items():
        np.testing.assert_allclose(out, torch_out, rtol=1e-4, atol=1e-5, err_msg=name)
    if options.get("classifier_activation"):
        np.testing.assert_allclose(torch_out.sum(axis=1), 1.0, rtol=1e-5)
    if options.get("pooling") == "max":
        unpooled = scalespec.create_model(
            "efficientnet-b0", "torch", resolution=64, weights=path, include_top=False
        )
        np.testing.assert_allclose(
            torch_out, get_backend("torch").forward(unpooled, x).max(axis=(2, 3)), rtol=1e-6
        )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"pooling": "avg"}, "pooling"),
        ({"include_top": False, "pooling": "sum"}, "pooling"),
        ({"classifier_activation": "sigmoid"}, "classifier_activation"),
        ({"include_top": False, "classifier_activation": "softmax"}, "classifier_activation"),
        ({"include_top": False, "num_classes": 10}, "num_classes"),
        ({"features_only": True, "include_top": False}, "features_only"),
    ],
)
def test_top_options_are_checked_by_name(options, field):
    with pytest.raises(SpecError, match=field):
        scalespec.create_model("efficientnet-b0", "torch", **options)


def test_preprocessing_travels_with_zoo_models():
    """Each zoo model's published weights carry their input pipeline; the crops are the
    published eval crops (the shared reference file), and a model the weights were not
    published for (another phi, the keras profile) has none."""
    from published import PUBLISHED

    from scalespec.zoo import preprocessing

    for variant, figures in PUBLISHED.items():
        found = preprocessing(f"efficientnet-{variant}")
        assert found.crop == figures["crop"] and found.resize >= found.crop
        assert len(found.mean) == len(found.std) == 3 and all(0 < s < 1 for s in found.std)
    assert preprocessing("efficientnet-b0", profile="keras") is None
    model = scalespec.create_model("efficientnet-b0", "torch", resolution=64)
    assert model.preprocessing == preprocessing("efficientnet-b0")
    assert scalespec.create_model("efficientnet-b0", "torch", phi=0.5, resolution=64).preprocessing is None


TORCHVISION_TRANSFORMS = """
import json, torchvision.models as M
found = {}
for name, weights in [(f"efficientnet-b{i}", f"EfficientNet_B{i}_Weights") for i in range(8)] + [
        (f"efficientnetv2-{s}", f"EfficientNet_V2_{s.upper()}_Weights") for s in "sml"]:
    t = getattr(M, weights).DEFAULT.transforms()
    found[name] = [t.resize_size[0], t.crop_size[0], t.interpolation.value, list(t.mean), list(t.std)]
print(json.dumps(found))
"""


def test_preprocessing_is_torchvisions():
    """The table equals torchvision's Weights.DEFAULT.transforms(), read in the parity venv."""
    import json

    from test_port import _torchvision_python

    from scalespec.zoo import preprocessing

    python = _torchvision_python()
    if python is None:
        pytest.skip("no interpreter with torchvision (make .venv-tv, docs/performance.md)")
    done = subprocess.run([python, "-c", TORCHVISION_TRANSFORMS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name, (resize, crop, interpolation, mean, std) in json.loads(done.stdout).items():
        ours = preprocessing(name)
        assert (ours.resize, ours.crop, ours.interpolation) == (resize, crop, interpolation), name
        assert list(ours.mean) == mean and list(ours.std) == std, name


def test_reset_classifier_in_every_framework(framework):
    """timm's reset_classifier: a fresh classifier of the new size on the same trunk (PyTorch in
    place, Keras as a new model sharing the layers); 0 leaves the pooled features."""
    backend = get_backend(framework)
    _, network = resolve_model("efficientnet-b0", resolution=32)
    model = scalespec.create_model("efficientnet-b0", framework, resolution=32)
    backend.import_weights(model, random_weights(network, 4))
    x = random_input(network, 32, seed=1)
    ten = scalespec.reset_classifier(model, 10)
    assert backend.forward(ten, x).shape == (2, 10)
    weights = backend.export_weights(ten)
    assert weights["classifier.weight"].shape == (10, 1280)
    features = scalespec.reset_classifier(ten, 0)
    _, headless = resolve_model("efficientnet-b0", resolution=32, num_classes=0)
    reference = backend.build(headless)
    backend.import_weights(reference, {k: v for k, v in weights.items() if not k.startswith("classifier.")})
    np.testing.assert_allclose(
        backend.forward(features, x), backend.forward(reference, x), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(ValueError, match="num_classes"):
        scalespec.reset_classifier(model, -1)


def test_classifier_less_models_take_a_full_checkpoint(framework, tmp_path):
    """num_classes=0 and include_top=False load a 1000-class checkpoint, skipping its
    classifier with a warning; the trunk is the checkpoint's."""
    _, network = resolve_model("efficientnet-b0", resolution=32)
    checkpoint = random_weights(network, 6)
    path = save_safetensors(checkpoint, tmp_path / "b0.safetensors")
    for options in ({"num_classes": 0}, {"include_top": False}):
        with pytest.warns(UserWarning, match="skipped classifier.weight"):
            model = scalespec.create_model(
                "efficientnet-b0", framework, resolution=32, weights=path, **options
            )
        loaded = get_backend(framework).export_weights(model)
        assert "classifier.weight" not in loaded
        assert all(np.array_equal(value, checkpoint[name]) for name, value in loaded.items())


def test_optimize_for_inference_folds_every_batch_norm_exactly(framework):
    """The optimized model holds the folded canonical weights (no BN tensor left, a bias on every
    conv that had one), gives the model's eval outputs within convention 7, and leaves the model
    as it was; SE and dense layers are untouched."""
    from scalespec.ir.weights import fold_batch_norms

    backend = get_backend(framework)
    _, network = resolve_model("efficientnet-b0", resolution=33, profile="keras")
    model = backend.build(network)
    weights = random_weights(network, 5)
    backend.import_weights(model, weights)
    fast = scalespec.optimize_for_inference(model)
    folded = backend.export_weights(fast)
    expected = fold_batch_norms(weights, network.norm_eps)
    assert set(folded) == set(expected) and not any(".bn." in name for name in folded)
    assert all(np.array_equal(folded[name], expected[name]) for name in expected)
    assert all(np.array_equal(value, weights[name]) for name, value in backend.export_weights(model).items())
    x = random_input(network, 33, seed=4)
    np.testing.assert_allclose(backend.forward(fast, x), backend.forward(model, x), rtol=1e-4, atol=1e-5)


def test_optimize_for_inference_names_what_it_cannot_take():
    with pytest.raises(SpecError, match="model: not a model scalespec built: dict"):
        scalespec.optimize_for_inference({})
