"""IR -> Keras model, through runtime.py and the IR's plain table (the same path emit takes)."""

from __future__ import annotations

import keras

from ...ir.network import Network
from . import runtime


def build(network: Network, *, num_classes: int | None = None) -> keras.Model:
    """A Keras functional model of ``network`` (NHWC input, any spatial size)."""
    return runtime.build_from_table(network.to_table(), num_classes=num_classes)
