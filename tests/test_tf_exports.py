"""Exports of a built model: SavedModel, .keras, TFLite, and XLA compilation keep its outputs."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from weights import randomised

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.spec.io import load_spec  # noqa: E402

pytestmark = [pytest.mark.tensorflow, pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")]

SIZE = 32
TINY = Path(__file__).parent / "data" / "tiny_all_blocks.yaml"  # every block kind and activation
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # convention 7


@pytest.fixture(scope="module", params=["symmetric", "same"])
def model_and_data(request, tmp_path_factory):
    """The tiny all-blocks network with random weights and BN statistics, and its SavedModel."""
    network = resolve(load_spec(TINY).model_copy(update={"padding": request.param}))
    model = randomised("tensorflow", network)
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1, (2, SIZE, SIZE + 1, 3)).astype("float32")  # even and odd sides
    expected = np.asarray(model(images, training=False))
    assert np.abs(expected).max() > 1e-2
    saved = tmp_path_factory.mktemp(request.param) / "saved"
    model.export(str(saved), verbose=False)
    return model, images, expected, saved


def test_savedmodel_export(model_and_data):
    _, images, expected, saved = model_and_data
    loaded = tf.saved_model.load(str(saved))
    np.testing.assert_allclose(loaded.serve(images).numpy(), expected, **TOLERANCE)


def test_keras_file_round_trip(model_and_data, tmp_path):
    model, images, expected, _ = model_and_data
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(np.asarray(loaded(images, training=False)), expected)


def test_tflite_conversion(model_and_data):
    _, images, expected, saved = model_and_data
    flatbuffer = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
    with warnings.catch_warnings():  # tf.lite.Interpreter is deprecated in favour of ai_edge_litert
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], images)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, **TOLERANCE)


def test_xla_equals_eager(model_and_data):
    model, images, expected, _ = model_and_data
    compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
    np.testing.assert_allclose(compiled(tf.constant(images)).numpy(), expected, **TOLERANCE)
