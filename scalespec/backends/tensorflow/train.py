"""Training-mode access to Keras models for conformance: canonical taps, one SGD step, drop layers.

Taps are read from the functional graph: a tap's output is the output of the last layer
whose name carries its canonical prefix (``stages__3__1__add`` for ``stages.3.1``). Taps
run under any Keras 3 backend; the training step and the drop layers use TensorFlow, which
is imported only for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import keras
import numpy as np

from ..base import StochasticFn, TrainBatch, TrainStep
from .runtime import canonical_name, keras_name
from .weights import export_weights, tensor_slots, to_canonical


def tf_device(device: str) -> str:
    """Map the suite's device names (cpu, cuda, cuda:1) onto TensorFlow's."""
    if device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        return f"/GPU:{index}"
    return "/CPU:0"


def nchw(value) -> np.ndarray:
    array = np.asarray(value, np.float32)
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2) if array.ndim == 4 else array)


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(x, np.float32), (0, 2, 3, 1)))


def _nhwc(x: np.ndarray):
    import tensorflow as tf

    return tf.constant(nhwc(x))


def run_model(model: keras.Model, x: np.ndarray, *, training: bool = False, device: str = "cpu"):
    """``model`` on NCHW ``x`` (given to it as NHWC) under whichever Keras backend is active;
    outputs as numpy (NHWC). TensorFlow runs on ``device``; other backends use their default."""
    if keras.backend.backend() != "tensorflow":
        out = model(nhwc(x), training=training)
        return (
            [keras.ops.convert_to_numpy(o) for o in out]
            if isinstance(out, (list, tuple))
            else keras.ops.convert_to_numpy(out)
        )
    import tensorflow as tf

    with tf.device(tf_device(device)):
        return model(_nhwc(x), training=training)


def tap_model(model: keras.Model, taps: Sequence[str]) -> keras.Model:
    """A model sharing ``model``'s layers whose outputs are the named taps, in order."""
    outputs = []
    for tap in taps:
        prefix = keras_name(tap)
        layers = [
            layer for layer in model.layers if layer.name == prefix or layer.name.startswith(prefix + "__")
        ]
        if not layers:
            raise ValueError(f"the model has no layer for tap {tap!r}")
        outputs.append(layers[-1].output)
    return keras.Model(model.inputs, outputs, name=f"{model.name}_taps")


def trace(
    model: keras.Model, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Eval-mode outputs at ``taps``, NCHW."""
    outputs = run_model(tap_model(model, taps), x, device=device)
    return {tap: nchw(out) for tap, out in zip(taps, _as_list(outputs), strict=True)}


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def cross_entropy(output, labels: np.ndarray):
    """Mean cross-entropy: softmax over the outputs, or sigmoid when there is one output."""
    import tensorflow as tf

    if output.shape[1] == 1:
        targets = tf.constant(labels.astype(np.float32))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, output[:, 0]))
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(labels, tf.int64), output)
    )


def train_step(
    model: keras.Model, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
) -> TrainStep:
    """A training-mode forward with drop-path and dropout off, mean cross-entropy, gradients, and
    one ``keras.optimizers.SGD`` step; the model keeps the step."""
    import tensorflow as tf

    x, labels, lr = batch.x, batch.labels, batch.lr
    slots = tensor_slots(model)
    by_variable = {id(var): (name, layer, var) for name, (layer, var) in slots.items() if var.trainable}
    variables = [var for _, _, var in by_variable.values()]
    taps_of = tap_model(model, taps)
    with tf.device(tf_device(device)):
        image = _nhwc(x)
        with tf.GradientTape() as tape, _stochastic_off(model):
            tape.watch(image)
            outputs = _as_list(taps_of(image, training=True))
            loss = cross_entropy(outputs[-1], labels)
        gradients = tape.gradient(loss, [image, *variables])
        input_grad = np.zeros_like(x, np.float32) if gradients[0] is None else nchw(gradients[0])
        weight_grads = [
            g if g is not None else tf.zeros_like(v) for g, v in zip(gradients[1:], variables, strict=True)
        ]
        del gradients
        keras.optimizers.SGD(learning_rate=lr).apply_gradients(zip(weight_grads, variables, strict=True))
        grads = {}
        for index, (name, layer, var) in enumerate(by_variable.values()):
            grads[name] = to_canonical(layer, var, np.asarray(weight_grads[index]))
            weight_grads[index] = None  # each framework tensor freed once copied (L2: 1.9 GB in all)
    return TrainStep(
        taps={tap: nchw(out) for tap, out in zip(taps, outputs, strict=True)},
        loss=float(loss),
        grads={name: grads[name] for name in slots if name in grads},
        input_grad=input_grad,
        after=export_weights(model),
    )


@contextmanager
def _stochastic_off(model: keras.Model) -> Iterator[None]:
    """Every Dropout layer's rate (drop-path included) set to 0 for the duration."""
    saved = [(layer, layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    for layer, _ in saved:
        layer.rate = 0.0
    try:
        yield
    finally:
        for layer, rate in saved:
            layer.rate = rate


def stochastic_layers(model: keras.Model) -> dict[str, StochasticFn]:
    """Each drop-path and dropout layer of the model (Keras ``Dropout`` layers), by canonical name."""
    return {
        canonical_name(layer.name): _layer_fn(layer)
        for layer in model.layers
        if isinstance(layer, keras.layers.Dropout) and layer.rate > 0
    }


def _layer_fn(layer: keras.layers.Layer) -> StochasticFn:
    def run(x: np.ndarray, training: bool) -> np.ndarray:
        import tensorflow as tf

        value = _nhwc(x) if x.ndim == 4 else tf.constant(np.asarray(x, np.float32))
        return nchw(layer(value, training=training))

    return run
