"""Import keras.applications EfficientNet (B0..B7, V2-S/M/L) weights into canonical form.

The name mapping is not a table: the network's canonical tensors, in execution order, are
walked alongside the Keras model's weighted layers, and each pair must agree in role and
shape. The leading Rescaling/Normalization layers are input preprocessing: they are not
part of the scalespec network, which expects already-normalised input; ``preprocess``
applies them so the two models can be fed the same image.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ...errors import SpecError
from ...ir.network import Network
from ...ir.weights import tensor_specs
from .weights import _canonical_suffix, to_canonical

PREPROCESSING = (keras.layers.Rescaling, keras.layers.Normalization)

# zoo model -> the keras.applications constructor that publishes the same architecture
APPLICATIONS = {
    **{f"efficientnet-b{i}": f"EfficientNetB{i}" for i in range(8)},
    **{f"efficientnetv2-{v}": f"EfficientNetV2{v.upper()}" for v in "sml"},
}


def application(model: str) -> Callable[..., keras.Model]:
    """The keras.applications constructor for a zoo model name (e.g. ``efficientnet-b0``)."""
    if model not in APPLICATIONS:
        raise SpecError([("model", f"no keras.applications counterpart for {model!r}")])
    return getattr(keras.applications, APPLICATIONS[model])


def preprocessing_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The Rescaling/Normalization layers a keras.applications model applies to its input."""
    return [layer for layer in model.layers if isinstance(layer, PREPROCESSING)]


def preprocess(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """``images`` (NHWC) passed through ``model``'s input preprocessing layers, in order."""
    x = images
    for layer in preprocessing_layers(model):
        x = layer(x)
    return np.asarray(x)


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if layer.weights and not isinstance(layer, PREPROCESSING)]


def _prefixes(network: Network) -> list[str]:
    """Canonical layer prefixes (``stages.0.0.dw.conv``) in execution order."""
    return list(dict.fromkeys(name.rsplit(".", 1)[0] for name in tensor_specs(network)))


def import_keras_application(model: keras.Model, network: Network) -> dict[str, np.ndarray]:
    """Canonical weights of a keras.applications ``model`` laid out as ``network``."""
    specs = tensor_specs(network)
    layers, prefixes = _weighted_layers(model), _prefixes(network)
    weights = {}
    for layer, prefix in zip(layers, prefixes, strict=False):  # a length mismatch is reported below
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        if is_bn != prefix.endswith(".bn"):
            raise SpecError(
                [(prefix, f"keras layer {layer.name!r} ({type(layer).__name__}) is not its counterpart")]
            )
        for variable in layer.weights:
            name = f"{prefix}.{_canonical_suffix(layer, variable)}"
            value = to_canonical(layer, variable, np.asarray(variable.numpy()))
            if name not in specs or specs[name].shape != value.shape:
                want = specs[name].shape if name in specs else "no such tensor"
                raise SpecError([(name, f"keras {variable.path} has shape {value.shape}, expected {want}")])
            weights[name] = value
    missing = [name for name in specs if name not in weights]
    if missing:
        raise SpecError([(name, "not found in the keras model") for name in missing])
    if len(layers) > len(prefixes):
        extra = ", ".join(layer.name for layer in layers[len(prefixes) :])
        raise SpecError([("", f"keras layers without a counterpart in {network.name}: {extra}")])
    return weights
