"""Keras 3 layers for a compound-scaled convolutional network described by an architecture table.

The table (ARCHITECTURE at the end of a generated file) lists the network one row per block,
grouped by stage; ``block_layers`` says which layers each block kind has. Every width,
stride, activation and rate is decided in the table, so to change the network, edit the
table: each row's input width must equal the output width of the row before it, and
``build_model`` says which row breaks that chain. The model is a functional ``keras.Model``
taking NHWC images of any size. Layers are named after the canonical weight names with
``__`` for ``.`` (``stages__1__0__dw__conv``), names every Keras 3 backend accepts.
"""

from __future__ import annotations

import re
import sys

import keras

from ...ir.table import (
    Architecture,
    BlockRow,
    ConvLayer,
    Init,
    SqueezeExciteLayer,
    block_layers,
    feature_info,
    layer_inits,
    linear_inits,
)

# table activation name -> Keras activation name (all exact forms; gelu is the erf form)
KERAS_ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "silu": "silu",
    "hard_swish": "hard_silu",
    "gelu": "gelu",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",
    "identity": "linear",
    "softmax": "softmax",  # over classes: a classifier's probabilities
}


def keras_name(canonical: str) -> str:
    """The Keras layer name for a canonical prefix: ``stages.1.0.dw`` -> ``stages__1__0__dw``."""
    return canonical.replace(".", "__")


def canonical_name(layer_name: str) -> str:
    """The canonical prefix of a Keras layer name (the inverse of ``keras_name``)."""
    return layer_name.replace("__", ".")


def activation(x, name: str | None, layer_name: str):
    """Apply the table activation ``name`` (None and identity add no layer)."""
    if name in (None, "identity"):
        return x
    if name not in KERAS_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(KERAS_ACTIVATIONS)})")
    return keras.layers.Activation(KERAS_ACTIVATIONS[name], name=keras_name(layer_name))(x)


@keras.saving.register_keras_serializable(package="scalespec")
class TruncatedNormal(keras.initializers.TruncatedNormal):
    """Keras' truncated normal (cut at 2 standard deviations, as TRUNCATION), with any value
    beyond the cut drawn again. Keras 3.15 on PyTorch keeps the first of four candidates that
    lies inside and, when none does (4 draws in a million), an outside one; b0 has 4 million."""

    def __call__(self, shape, dtype=None):
        values = super().__call__(shape, dtype=dtype)
        bound = 2.0 * self.stddev
        outside = keras.ops.abs(values - self.mean) >= bound
        while bool(keras.ops.any(outside)):
            again = keras.random.truncated_normal(shape, self.mean, self.stddev, dtype=values.dtype)
            values = keras.ops.where(outside, again, values)
            outside = keras.ops.abs(values - self.mean) >= bound
        return values


def initializer(init: Init) -> keras.initializers.Initializer:
    """The Keras initializer drawing from ``init`` (see ``layer_inits``)."""
    if init.dist == "normal":
        return keras.initializers.RandomNormal(0.0, init.scale)
    if init.dist == "truncated_normal":
        return TruncatedNormal(0.0, init.scale)
    if init.dist == "uniform":
        return keras.initializers.RandomUniform(-init.scale, init.scale)
    return keras.initializers.Constant(init.scale)


@keras.saving.register_keras_serializable(package="scalespec")
class BatchNorm(keras.layers.BatchNormalization):
    """Keras batch norm whose moving variance follows the unbiased batch variance in training.

    Training normalises with the batch's biased variance, as every framework does; the moving
    variance is then updated with the unbiased one (n / (n - 1) times it, n = batch * height *
    width), as PyTorch and TensorFlow 1's fused batch norm do. Keras 3's own layer uses the
    biased one, so the same model would drift apart in training (convention 3).
    """

    def call(self, inputs, training=None, mask=None):
        if not training or self.trainable is False:
            return super().call(inputs, training=training, mask=mask)
        mean, variance = keras.ops.moments(inputs, axes=[0, 1, 2])
        count = keras.ops.cast(keras.ops.prod(keras.ops.shape(inputs)[:-1]), variance.dtype)
        unbiased = variance * count / keras.ops.maximum(count - 1.0, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + unbiased * (1.0 - self.momentum))
        return keras.ops.batch_normalization(
            inputs, mean, variance, axis=-1, offset=self.beta, scale=self.gamma, epsilon=self.epsilon
        )


class Norm:
    """The network-wide conv settings: padding mode, batch-norm constants (Keras' momentum) and
    the fresh-weight scheme."""

    def __init__(self, padding: str, eps: float, momentum: float, init: str, folded: bool = False):
        if padding not in ("symmetric", "same"):
            raise ValueError(f"unknown padding mode {padding!r}")
        self.padding, self.eps, self.init = padding, eps, init
        self.folded = folded  # inference only: each batch norm folded into its conv's kernel and bias
        self.momentum = 1.0 - momentum  # Keras weighs the old statistic, the table the new one

    def conv(self, x, name: str, layer: ConvLayer):
        """conv (no bias) -> batch norm -> activation; ``symmetric`` pads (k-1)//2 each side, ``same`` is SAME."""
        keras_padding = "same"
        if self.padding == "symmetric":
            keras_padding = "valid"
            if layer.kernel > 1:
                x = keras.layers.ZeroPadding2D((layer.kernel - 1) // 2, name=keras_name(f"{name}.pad"))(x)
        stride = layer.stride
        if layer.kernel == 1 and stride > 1:
            # A strided 1x1 conv reads every stride-th pixel; subsample first and run it at
            # stride 1. Same result and weights; it avoids oneDNN's strided-1x1 backward, which
            # corrupts the heap for fewer than 16 input channels (uxlfoundation/oneDNN#6035,
            # TensorFlow 2.21 on CPU: "corrupted size vs. prev_size" in the first gradient).
            x = keras.layers.MaxPooling2D(1, stride, name=keras_name(f"{name}.subsample"))(x)
            stride = 1
        inits = {key: initializer(init) for key, init in layer_inits(self.init, layer).items()}
        shared = {"strides": stride, "padding": keras_padding, "use_bias": self.folded}
        shared["name"] = keras_name(f"{name}.conv")
        if layer.depthwise:
            kernel = {"depthwise_initializer": inits["conv.weight"]}
            conv = keras.layers.DepthwiseConv2D(layer.kernel, **kernel, **shared)
        else:
            kernel = {"kernel_initializer": inits["conv.weight"]}
            conv = keras.layers.Conv2D(layer.out_channels, layer.kernel, **kernel, **shared)
        x = conv(x)
        if self.folded:
            return activation(x, layer.act, f"{name}.act")
        x = BatchNorm(
            epsilon=self.eps,
            momentum=self.momentum,
            gamma_initializer=inits["bn.weight"],
            beta_initializer=inits["bn.bias"],
            moving_mean_initializer=inits["bn.running_mean"],
            moving_variance_initializer=inits["bn.running_var"],
            name=keras_name(f"{name}.bn"),
        )(x)
        return activation(x, layer.act, f"{name}.act")


def squeeze_excite(x, name: str, layer: SqueezeExciteLayer, init: str):
    """Squeeze-excite: pool, 1x1 reduce (+bias), act, 1x1 expand (+bias), gate, multiply."""
    inits = {key: initializer(value) for key, value in layer_inits(init, layer).items()}

    def pointwise(s, width: int, role: str):
        kernel, bias = inits[f"{role}.weight"], inits[f"{role}.bias"]
        conv = keras.layers.Conv2D(
            width, 1, kernel_initializer=kernel, bias_initializer=bias, name=keras_name(f"{name}.{role}")
        )
        return conv(s)

    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=keras_name(f"{name}.pool"))(x)
    s = activation(pointwise(s, layer.squeeze, "reduce"), layer.act, f"{name}.act")
    s = activation(pointwise(s, layer.channels, "expand"), layer.gate, f"{name}.gate")
    return keras.layers.Multiply(name=keras_name(f"{name}.scale"))([x, s])


def block(x, name: str, row: BlockRow, norm: Norm):
    """One table row: its layers in order, then (if residual) stochastic depth and the skip add."""
    shortcut = x
    for local, layer in block_layers(row):
        if isinstance(layer, ConvLayer):
            x = norm.conv(x, f"{name}.{local}", layer)
        else:
            x = squeeze_excite(x, f"{name}.{local}", layer, norm.init)
    if not row.residual:
        return x
    if row.drop_path > 0:
        # Dropout with one mask value per sample drops the whole branch and scales
        # survivors by 1/(1-rate); like all Keras dropout it acts in training only.
        x = keras.layers.Dropout(
            row.drop_path, noise_shape=(None, 1, 1, 1), name=keras_name(f"{name}.drop_path")
        )(x)
    return keras.layers.Add(name=keras_name(f"{name}.add"))([x, shortcut])


def dense(x, name: str, out_features: int, act: str | None, dropout: float, init: str):
    """Dropout (training only) on the input, then a dense layer with bias, then its activation."""
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=keras_name(f"{name}.dropout"))(x)
    inits = {key: initializer(value) for key, value in linear_inits(init, out_features).items()}
    x = keras.layers.Dense(
        out_features,
        kernel_initializer=inits["weight"],
        bias_initializer=inits["bias"],
        name=keras_name(name),
    )(x)
    return activation(x, act, f"{name}.act")


def model_name(name: str) -> str:
    """A Keras-safe model name (table names may hold any text)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "scalespec"


def _classifier_end(x, arch: Architecture, norm: Norm):
    """head conv -> [global pool] -> [pre_logits] -> [classifier]."""
    if arch.head:
        x = norm.conv(x, "head", arch.head.as_layer())
    if arch.pool:
        pooling = (
            keras.layers.GlobalAveragePooling2D if arch.pool == "avg" else keras.layers.GlobalMaxPooling2D
        )
        x = pooling(name="pool")(x)
    for name, row in (("pre_logits", arch.pre_logits), ("classifier", arch.classifier)):
        if row:
            x = dense(x, name, row.out_features, row.act, row.dropout, arch.init)
    return x


def build_keras_model(arch: Architecture, folded: bool = False) -> keras.Model:
    """A Keras functional model (NHWC, any spatial size) for the architecture ``arch``; for a
    features-only table, one output per feature level (``model.feature_info``), shallow to deep.
    ``folded``: for inference only, convs with biases in place of conv -> batch norm."""
    norm = Norm(arch.padding, arch.bn_eps, arch.bn_momentum, arch.init, folded)
    inputs = keras.Input((None, None, arch.stem.in_channels), name="image")
    x = norm.conv(inputs, "stem", arch.stem.as_layer())
    maps = {"stem": x}
    for s, stage in enumerate(arch.stages):
        for i, row in enumerate(stage):
            x = maps[f"stages.{s}.{i}"] = block(x, f"stages.{s}.{i}", row, norm)
    # features-only: one output per level, shallow to deep
    x = [maps[level.tap] for level in feature_info(arch)] if arch.features else _classifier_end(x, arch, norm)
    # Keras maps a functional graph recursively, one frame per layer of depth; very deep
    # networks (efficientnet-l2) need a higher limit than Python's default 1000.
    limit = sys.getrecursionlimit()
    blocks = sum(len(stage) for stage in arch.stages)
    sys.setrecursionlimit(max(limit, 2000 + 40 * blocks))
    try:
        model = keras.Model(inputs, x, name=model_name(arch.name))
    finally:
        sys.setrecursionlimit(limit)
    model.architecture = arch  # what optimize_for_inference rebuilds, folded
    model.feature_info = feature_info(arch)  # the levels of a features-only model, else empty
    model.init_scheme = arch.init  # for reset_classifier's fresh layer
    model.drop_rate = arch.classifier.dropout if arch.classifier else 0.0
    return model


def reset_classifier(model: keras.Model, num_classes: int, drop_rate: float | None = None) -> keras.Model:
    """A new model sharing every layer of ``model`` but the classifier, which is replaced by a
    freshly initialised one of ``num_classes`` (0: none, pooled features out), for fine-tuning."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be 0 (no classifier) or more, got {num_classes!r}")
    if getattr(model, "feature_info", None):
        raise ValueError("a features-only model has no classifier to reset")
    head = [
        layer for layer in model.layers if layer.name == "classifier" or layer.name.startswith("classifier__")
    ]
    features = head[0].input if head else model.output
    if len(features.shape) != 2:
        raise ValueError(
            "the model ends in a feature map (include_top=False): there is no classifier to reset"
        )
    rate = getattr(model, "drop_rate", 0.0) if drop_rate is None else drop_rate
    x = features
    if num_classes:
        x = dense(
            features, "classifier", num_classes, None, rate, getattr(model, "init_scheme", "torchvision")
        )
    new = keras.Model(model.inputs, x, name=model.name)
    new.feature_info, new.drop_rate = [], rate
    new.init_scheme = getattr(model, "init_scheme", "torchvision")
    new.preprocessing = getattr(model, "preprocessing", None)
    return new
