"""scalespec.create_model: one call from a name to a native model, the same in every framework."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import scalespec
from scalespec.backends import BACKEND_NAMES, get_backend
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
