"""IR -> standalone Keras source: the shared file layout of backends/source.py, the Keras runtime."""

from __future__ import annotations

from pathlib import Path

from ...ir.network import Network
from ..source import Provenance, emit_source

RUNTIME_PATH = Path(__file__).with_name("runtime.py")

FOOTER = '''
def build_model(num_classes: int | None = None) -> keras.Model:
    """The network as a Keras model (NHWC input of any size); ``num_classes`` resizes the classifier
    (0: none, pooled features out)."""
    return build_keras_model(read_architecture(ARCHITECTURE, num_classes))


if __name__ == "__main__":
    build_model().summary()
'''


def emit(network: Network, *, provenance: Provenance | None = None) -> str:
    """Standalone source importing only Keras and defining ``build_model(num_classes=None)``."""
    return emit_source(
        network, framework="TensorFlow/Keras", runtime=RUNTIME_PATH, footer=FOOTER, provenance=provenance
    )
