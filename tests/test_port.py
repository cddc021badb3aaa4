"""``scalespec port``: published checkpoints become canonical weights that reproduce the source's
logits in the other framework (convention 7), and bad input is refused by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scalespec
from scalespec.backends import get_backend
from scalespec.cli import main
from scalespec.conformance.checks import ATOL, RTOL, random_input, random_weights
from scalespec.files import save_safetensors
from scalespec.zoo import resolve_model

ROOT = Path(__file__).resolve().parents[1]


def _require(framework: str) -> None:
    if not get_backend(framework).available():
        pytest.skip(f"{framework} is not installed")


def _randomised_keras_b0(seed: int):
    """keras.applications' B0 (logits out) with every weight random, BN variances positive:
    a checkpoint whose every tensor matters, unlike a fresh one's unit BN statistics."""
    import keras

    from scalespec.backends.tensorflow.published import PREPROCESSING

    rng = np.random.default_rng(seed)
    model = keras.applications.EfficientNetB0(weights=None, classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, PREPROCESSING):
            continue
        for variable in layer.weights:
            shape = tuple(variable.shape)
            if "variance" in variable.path or "gamma" in variable.path:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0.0, 0.1, shape)
            variable.assign(value.astype(np.float32))
    return model


def test_keras_applications_b0_ports_to_torch(tmp_path, capsys):
    """keras.applications B0 weights -> port (keras profile) -> a torch model whose logits are
    keras.applications' own, within convention 7."""
    _require("tensorflow")
    _require("torch")
    from scalespec.backends.tensorflow.published import preprocess

    published = _randomised_keras_b0(3)
    source = tmp_path / "b0.weights.h5"
    published.save_weights(source)
    out = tmp_path / "b0.safetensors"
    assert (
        main(["port", str(source), "--model", "efficientnet-b0", "--profile", "keras", "-o", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "keras layout, 311 tensors" in printed and "FAIL" not in printed
    raw = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(published(raw, training=False))
    model = scalespec.create_model("efficientnet-b0", "torch", profile="keras", weights=out)
    images = np.ascontiguousarray(np.transpose(preprocess(published, raw), (0, 3, 1, 2)))
    logits = get_backend("torch").forward(model, images)
    assert np.abs(expected).max() > 0.1  # not a proof on zeros
    np.testing.assert_allclose(logits, expected, rtol=RTOL, atol=ATOL)


def test_keras_weights_need_the_keras_profile(tmp_path, capsys):
    """Into torchvision's conventions they are refused by name (exit 2, no file); with
    --ignore-conventions they are written, with a warning and a failing proof shown."""
    _require("tensorflow")
    source = tmp_path / "b0.weights.h5"
    _randomised_keras_b0(4).save_weights(source)
    out = tmp_path / "b0.safetensors"
    assert main(["port", str(source), "--model", "efficientnet-b0", "-o", str(out)]) == 2
    assert "--profile" in capsys.readouterr().err and not out.exists()
    command = ["port", str(source), "--model", "efficientnet-b0", "-o", str(out), "--ignore-conventions"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "warning: keras.applications weights" in captured.err
    assert "FAIL" in captured.out and out.exists()


def test_canonical_checkpoint_round_trip(tmp_path, capsys):
    """A canonical file ports to itself, proved by the backends agreeing with each other."""
    _, network = resolve_model("efficientnet-b0")
    weights = random_weights(network, 1)
    source = save_safetensors(weights, tmp_path / "in.safetensors")
    out = tmp_path / "out.safetensors"
    assert (
        main(["port", str(source), "--model", "efficientnet-b0", "-o", str(out), "--from", "canonical"]) == 0
    )
    assert "could not run here" in capsys.readouterr().out
    from scalespec.files import load_safetensors

    ported = load_safetensors(out)
    assert set(ported) == set(weights) and all(np.array_equal(ported[k], weights[k]) for k in weights)


def test_bad_sources_are_refused_by_name(tmp_path, capsys):
    """Not a checkpoint, a pickle that would run code, a wrong model, an existing output: exit 2
    naming the field, and no file written."""
    torch = pytest.importorskip("torch")
    out = tmp_path / "out.safetensors"
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"weights": Path("/etc/passwd")}, unsafe)  # a pickled object, not tensors
    _, small = resolve_model("efficientnet-b0", width=0.5, depth=0.5)
    wrong = save_safetensors(random_weights(small, 0), tmp_path / "small.safetensors")
    for source, field in (
        (junk, "source"),
        (unsafe, "source"),
        (tmp_path / "none.pth", "source"),
        (wrong, "source"),
    ):
        assert main(["port", str(source), "--model", "efficientnet-b0", "-o", str(out)]) == 2, source
        assert f"{field}:" in capsys.readouterr().err
        assert not out.exists()
    out.write_text("mine")
    _, network = resolve_model("efficientnet-b0")
    good = save_safetensors(random_weights(network, 0), tmp_path / "good.safetensors")
    assert main(["port", str(good), "--model", "efficientnet-b0", "-o", str(out)]) == 2
    assert out.read_text() == "mine"


def _torchvision_python() -> str | None:
    """An interpreter with torchvision: SCALESPEC_TORCHVISION_PYTHON, else the parity venv."""
    for candidate in (
        os.environ.get("SCALESPEC_TORCHVISION_PYTHON"),
        str(ROOT / ".venv-tv" / "bin" / "python"),
    ):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import torchvision"], capture_output=True, timeout=120)
            if probe.returncode == 0:
                return candidate
    return None


TORCHVISION_CHECKPOINT = """
import sys, numpy as np, torch, torchvision
torch.manual_seed(0)
model = torchvision.models.efficientnet_b0(weights=None).eval()
with torch.no_grad():
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1); module.running_var.uniform_(0.5, 1.5)
            module.weight.uniform_(0.5, 1.5); module.bias.normal_(0, 0.1)
torch.save(model.state_dict(), sys.argv[1])
images = np.load(sys.argv[2])
with torch.no_grad():
    np.save(sys.argv[3], model(torch.from_numpy(images)).numpy())
"""


def test_torchvision_b0_ports_to_keras(tmp_path):
    """torchvision's efficientnet_b0 saved with torch.save(model.state_dict()), ported, loaded
    into a Keras model: torchvision's logits within convention 7. torchvision runs in its
    parity environment (docs/performance.md), never beside scalespec."""
    _require("tensorflow")
    python = _torchvision_python()
    if python is None:
        pytest.skip("no interpreter with torchvision (make .venv-tv, docs/performance.md)")
    _, network = resolve_model("efficientnet-b0")
    images = random_input(network, 128, seed=5)
    np.save(tmp_path / "images.npy", images)
    made = subprocess.run(
        [
            python,
            "-c",
            TORCHVISION_CHECKPOINT,
            tmp_path / "b0.pth",
            tmp_path / "images.npy",
            tmp_path / "logits.npy",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "b0.safetensors"
    assert main(["port", str(tmp_path / "b0.pth"), "--model", "efficientnet-b0", "-o", str(out)]) == 0
    model = scalespec.create_model("efficientnet-b0", "tensorflow", weights=out)
    expected = np.load(tmp_path / "logits.npy")
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(
        get_backend("tensorflow").forward(model, images), expected, rtol=RTOL, atol=ATOL
    )


def test_port_help_names_every_layout():
    done = subprocess.run(
        [sys.executable, "-m", "scalespec", "port", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    for word in ("torchvision", "timm", "keras", "canonical", "--ignore-conventions"):
        assert word in done.stdout
