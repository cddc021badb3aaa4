"""keras.applications EfficientNet weights load into the zoo's `keras` profile, outputs equal."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("tensorflow")

import keras  # noqa: E402

from scalespec.backends.tensorflow import BACKEND  # noqa: E402
from scalespec.backends.tensorflow.published import (  # noqa: E402
    application,
    import_keras_application,
    preprocess,
    preprocessing_layers,
)
from scalespec.errors import SpecError  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model  # noqa: E402

pytestmark = pytest.mark.tensorflow

SIZE = 64  # small input keeps CI fast; both models accept any size >= 32


def keras_model(name: str) -> keras.Model:
    """keras.applications' model with random weights and BN statistics, logits out."""
    model = application(name)(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, c).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.1, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
    return model


def keras_network(name: str, resolution: int = SIZE):
    ref = load_model(name)
    return resolve(ref.spec, variant=ref.variant, resolution=resolution, profile="keras")


@pytest.mark.parametrize("name", ["efficientnet-b0", "efficientnetv2-s"])
def test_outputs_equal_keras_applications(name):
    reference = keras_model(name)
    network = keras_network(name)
    ours = BACKEND.build(network)
    BACKEND.import_weights(ours, import_keras_application(reference, network))
    images = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    expected = np.asarray(reference(images, training=False))
    got = np.asarray(ours(preprocess(reference, images), training=False))
    assert np.abs(expected).max() > 1e-3  # the comparison is not between two near-zero outputs
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Keras counts BN moving statistics and its input Normalization constants too
    extra = sum(int(np.prod(w.shape)) for layer in preprocessing_layers(reference) for w in layer.weights)
    assert reference.count_params() == ours.count_params() + extra


def test_preprocessing_layers_are_the_documented_ones():
    b0 = [type(layer).__name__ for layer in preprocessing_layers(keras_model("efficientnet-b0"))]
    v2 = preprocessing_layers(keras_model("efficientnetv2-s"))
    assert b0 == ["Rescaling", "Normalization"]
    assert [type(layer).__name__ for layer in v2] == ["Rescaling"]
    assert (v2[0].scale, v2[0].offset) == (1.0 / 128.0, -1.0)


def test_wrong_network_is_an_error_naming_a_tensor():
    reference = keras_model("efficientnet-b0")
    with pytest.raises(SpecError, match=r"stages\.\d+\.\d+\.\w+"):
        import_keras_application(reference, keras_network("efficientnet-b1"))
