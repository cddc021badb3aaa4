"""Keras 3 blocks that build a model from a scalespec architecture table (plain data).

This module imports only TensorFlow/Keras and the standard library, because emitted files
carry its text verbatim: the model ``build.py`` makes and the one an emitted file makes run
this same code on the same table. Layers are named after the canonical weight prefixes
(``stem.conv``, ``stages.1.0.dw.bn``, ``classifier``) so canonical names are recoverable.
Tensors are NHWC inside the model.
"""

from __future__ import annotations

import re
import sys

import keras

# IR activation name -> Keras activation name (all exact forms; gelu is the erf form)
KERAS_ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "silu": "silu",
    "hard_swish": "hard_silu",
    "gelu": "gelu",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",
    "identity": "linear",
}


def activation(x, name: str | None, layer_name: str):
    """Apply the IR activation ``name`` (None and identity add no layer)."""
    if name in (None, "identity"):
        return x
    return keras.layers.Activation(KERAS_ACTIVATIONS[name], name=layer_name)(x)


def conv_op(x, op: dict, padding: str, eps: float, momentum: float):
    """Conv (+BN, +activation); ``symmetric`` pads (k-1)//2 zeros each side, ``same`` is TF SAME."""
    name, kernel, stride = op["name"], op["kernel"], op["stride"]
    keras_padding = "same"
    if padding == "symmetric":
        keras_padding = "valid"
        pad = (kernel - 1) // 2
        if pad:
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
    depthwise = op["groups"] > 1 and op["groups"] == op["in_channels"] == op["out_channels"]
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel, stride, padding=keras_padding, use_bias=op["bias"], name=f"{name}.conv"
        )(x)
    else:
        x = keras.layers.Conv2D(
            op["out_channels"],
            kernel,
            stride,
            padding=keras_padding,
            groups=op["groups"],
            use_bias=op["bias"],
            name=f"{name}.conv",
        )(x)
    if op["norm"]:
        x = keras.layers.BatchNormalization(epsilon=eps, momentum=momentum, name=f"{name}.bn")(x)
    return activation(x, op["activation"], f"{name}.act")


def se_op(x, op: dict):
    """Squeeze-excite: pool, reduce 1x1 (+bias), act, expand 1x1 (+bias), gate, multiply."""
    name = op["name"]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.pool")(x)
    s = keras.layers.Conv2D(op["squeeze_channels"], 1, name=f"{name}.reduce")(s)
    s = activation(s, op["activation"], f"{name}.act")
    s = keras.layers.Conv2D(op["channels"], 1, name=f"{name}.expand")(s)
    s = activation(s, op["gate"], f"{name}.gate")
    return keras.layers.Multiply(name=f"{name}.scale")([x, s])


def block(x, table: dict, padding: str, eps: float, momentum: float):
    """A block's ops in order, then (if residual) stochastic depth and the skip add."""
    shortcut = x
    for op in table["ops"]:
        x = conv_op(x, op, padding, eps, momentum) if op["op"] == "conv" else se_op(x, op)
    if not table["residual"]:
        return x
    rate = table["drop_path_rate"]
    if rate > 0:
        # Dropout with one mask value per sample drops the whole branch and scales
        # survivors by 1/(1-rate); like all Keras dropout it acts in training only.
        x = keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{table['name']}.drop_path")(x)
    return keras.layers.Add(name=f"{table['name']}.add")([x, shortcut])


def linear(x, table: dict):
    """Dropout (training only) on the input, then a dense layer with bias, then its activation."""
    if table["dropout"] > 0:
        x = keras.layers.Dropout(table["dropout"], name=f"{table['name']}.dropout")(x)
    x = keras.layers.Dense(table["out_features"], name=table["name"])(x)
    return activation(x, table["activation"], f"{table['name']}.act")


def classifier_table(table: dict, num_classes: int | None) -> dict | None:
    """The classifier entry, resized to ``num_classes`` (0 removes it) when one is given."""
    head = table["classifier"]
    if num_classes is None:
        return head
    if num_classes == 0:
        return None
    features = table["num_features"]
    base = head or {"name": "classifier", "in_features": features, "activation": None, "dropout": 0.0}
    return {**base, "out_features": num_classes}


def model_name(name: str) -> str:
    """A Keras-safe model name (spec names may hold any text)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "scalespec"


def build_from_table(table: dict, num_classes: int | None = None) -> keras.Model:
    """A Keras functional model (NHWC, any spatial size) for the architecture ``table``."""
    padding, eps = table["padding"], table["norm_eps"]
    momentum = 1.0 - table["norm_momentum"]  # Keras weighs the old statistic, PyTorch the new
    inputs = keras.Input((None, None, table["input_channels"]), name="image")
    x = conv_op(inputs, table["stem"], padding, eps, momentum)
    for entry in table["blocks"]:
        x = block(x, entry, padding, eps, momentum)
    if table["head"]:
        x = conv_op(x, table["head"], padding, eps, momentum)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    for entry in (table["pre_logits"], classifier_table(table, num_classes)):
        if entry:
            x = linear(x, entry)
    # Keras maps a functional graph recursively, one frame per layer of depth; very deep
    # networks (efficientnet-l2) need a higher limit than Python's default 1000.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 2000 + 40 * len(table["blocks"])))
    try:
        return keras.Model(inputs, x, name=model_name(table["name"]))
    finally:
        sys.setrecursionlimit(limit)
