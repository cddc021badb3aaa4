"""IR -> standalone Keras source: the shared file layout of backends/source.py, the Keras runtime."""

from __future__ import annotations

from pathlib import Path

from ..source import Footer, source_emitter

RUNTIME_PATH = Path(__file__).with_name("runtime.py")

BUILD = '''
def build_model(num_classes: int | None = None) -> keras.Model:
    """The network as a Keras model (NHWC input of any size); ``num_classes`` resizes the classifier
    (0: none, pooled features out). When ARCHITECTURE names ``features``, a model with one NHWC
    output per feature level."""
    return build_keras_model(read_architecture(ARCHITECTURE, num_classes))
'''

BUILD_FOR_INFERENCE = '''
def build_model(num_classes: int | None = None) -> keras.Model:
    """The network for inference only, as a Keras model (NHWC input of any size) with every
    batch norm folded into its conv: load the weights of the model that
    ``scalespec.optimize_for_inference`` returns (``set_weights(fast.get_weights())``, or
    ``save_weights``/``load_weights``); ``num_classes`` resizes the classifier."""
    return build_keras_model(read_architecture(ARCHITECTURE, num_classes), folded=True)
'''

MAIN = """
if __name__ == "__main__":  # run once on a blank image at the nominal size
    import math

    model = build_model()
    size = ARCHITECTURE["resolution"]
    out = model(keras.ops.zeros((1, size, size, ARCHITECTURE["stem"]["in_channels"])))
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    shapes = [tuple(o.shape) for o in out] if isinstance(out, list) else tuple(out.shape)
    print(f"{ARCHITECTURE['name']}: output {shapes}, {params} parameters")
"""


emit = source_emitter("TensorFlow/Keras", RUNTIME_PATH, Footer(BUILD, BUILD_FOR_INFERENCE, MAIN))
