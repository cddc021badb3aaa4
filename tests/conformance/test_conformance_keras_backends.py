"""The Keras runtime on every Keras 3 backend, in one check: ``--backends keras-jax,keras-torch``
run the same models in worker processes (KERAS_BACKEND=jax / torch) beside TensorFlow, and
their fresh draws, counts (MACs from JAX's and PyTorch's own programs), outputs and taps
must agree with TensorFlow's and ONNX's."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("jax")
pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from scalespec.cli import main  # noqa: E402

TINY = Path(__file__).parents[1] / "data" / "tiny_all_blocks.yaml"  # every block kind and activation


@pytest.mark.parametrize("padding, resolution", [("same", "33"), ("symmetric", "30")])
def test_keras_on_jax_and_torch_conforms_with_tensorflow_and_onnx(tmp_path, capsys, padding, resolution):
    spec = tmp_path / f"tiny-{padding}.yaml"
    spec.write_text(TINY.read_text() + f"padding: {padding}\n", encoding="utf-8")
    code = main(
        [
            "conform",
            str(spec),
            "--resolution",
            resolution,
            "--backends",
            "tensorflow,keras-jax,keras-torch,onnx",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for subject in ("keras-jax vs tensorflow", "keras-torch vs tensorflow", "onnx vs tensorflow"):
        assert out.count(subject) >= 3, subject  # outputs, taps and features compared
    for check in ("init", "params", "macs"):
        section = out.split(f"== {check}")[1].split("==")[0]
        assert "keras-jax" in section and "keras-torch" in section and "FAIL" not in section
