"""IR -> Keras model, through runtime.py and the IR's architecture table (the same path emit takes)."""

from __future__ import annotations

import keras

from ...ir.network import Network
from ..base import architecture
from .runtime import build_keras_model


def build(network: Network, *, num_classes: int | None = None) -> keras.Model:
    """A Keras functional model of ``network`` (NHWC input, any spatial size)."""
    return build_keras_model(architecture(network, num_classes))
