"""An ONNX inference graph for a compound-scaled network described by an architecture table.

Written with ``onnx.helper`` straight from the table (ir/table.py): no framework exporter in
between, so nothing is traced, folded or renamed. The graph takes NCHW float32 ``image`` of
any batch, height and width and returns ``logits`` (pooled ``features`` without a
classifier, the last map without a pool, or one map per feature level, named by its tap).
Every tensor is an initializer under its canonical weight name (``stem.conv.weight``,
``stages.1.0.bn.running_var``), in the canonical layout: ONNX's Conv weight is PyTorch's
(out, in/groups, kh, kw), and the dense layers are Gemm with ``transB=1`` on (out, in).
Every block output carries its tap name (``stem``, ``stages.3.1``, ``head``, ``pool``),
so a reader of the graph, and conformance, finds each block.

Conventions (docs/conventions.md): ``symmetric`` padding is static pads of (k-1)//2; ``same``
is ``auto_pad=SAME_UPPER`` wherever it depends on the input size (stride > 1 or an even
kernel), which is TensorFlow SAME: total padding (ceil(H/s)-1)*s + k - H, the extra pixel
after. Batch norm is inference BatchNormalization with the table's epsilon (and ONNX's
momentum, the weight of the old statistic, 1 - the table's). Dropout and drop-path are
training-only and absent. Activations are exact: silu is x * sigmoid(x), gelu the erf form,
hard_sigmoid relu6(x + 3) / 6 (HardSigmoid alpha 1/6, beta 1/2), hard_swish HardSwish.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...ir.table import (
    Architecture,
    BlockRow,
    ConvLayer,
    Init,
    LinearRow,
    SqueezeExciteLayer,
    block_layers,
    feature_info,
    layer_inits,
    linear_inits,
)

OPSET = 17  # HardSwish (14) and BatchNormalization (15) are older; onnxruntime 1.17+ runs 17
INPUT = "image"
ACTIVATIONS = (
    "relu",
    "relu6",
    "silu",
    "hard_swish",
    "gelu",
    "sigmoid",
    "hard_sigmoid",
    "identity",
    "softmax",
)

# a canonical tensor's value, given its name, canonical shape and declared initialiser
TensorSource = Callable[[str, tuple[int, ...], Init], np.ndarray]


def output_name(arch: Architecture) -> str:
    """The graph output of a classifier-style table: ``logits``, pooled ``features``, or the map."""
    if arch.classifier:
        return "logits"
    return "features" if arch.pool else "feature_map"


def output_shape(arch: Architecture) -> list:
    """The classifier-style output's shape: (batch, classes or features), or an NCHW map."""
    last = arch.classifier or arch.pre_logits
    if last:
        return ["batch", last.out_features]
    channels = (
        arch.head or (arch.stages[-1][-1] if arch.stages and arch.stages[-1] else arch.stem)
    ).out_channels
    return ["batch", channels] if arch.pool else ["batch", channels, None, None]


class GraphWriter:
    """Collects nodes and initializers while the table is walked, one helper per layer kind."""

    def __init__(self, arch: Architecture, source: TensorSource, folded: bool = False):
        self.arch, self.source, self.folded = arch, source, folded
        # written straight into the model: building a graph and a model around it would copy
        # every initializer twice more (efficientnet-l2: 1.9 GB each)
        self.model = helper.make_model(
            onnx.GraphProto(), opset_imports=[helper.make_opsetid("", OPSET)], producer_name="scalespec"
        )
        self.model.ir_version = 8  # the IR of opset 17, so runtimes of that generation load the file
        self.graph = self.model.graph
        self.constants: dict[str, str] = {}

    # ------------------------------------------------------------ primitives

    def node(self, op: str, inputs: list[str], output: str, name: str, **attributes) -> str:
        """Append one node; its single output is the value called ``output``."""
        self.graph.node.append(helper.make_node(op, inputs, [output], name=name, **attributes))
        return output

    def tensor(self, name: str, shape: tuple[int, ...], init: Init) -> str:
        """An initializer under its canonical name, valued by the source."""
        value = np.asarray(self.source(name, shape, init), dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"{name}: shape {value.shape}, expected {shape}")
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def constant(self, value: float) -> str:
        """A float32 scalar Constant node (not an initializer: initializers are the weights)."""
        key = repr(float(value))
        if key not in self.constants:
            name = f"constant.{len(self.constants)}"
            tensor = numpy_helper.from_array(np.array(value, dtype=np.float32), name)
            self.constants[key] = self.node("Constant", [], name, name, value=tensor)
        return self.constants[key]

    def activation(self, x: str, act: str | None, name: str) -> str:
        """``act`` applied to ``x`` exactly (None and identity add nothing)."""
        if act in (None, "identity"):
            return x
        if act == "relu":
            return self.node("Relu", [x], name, name)
        if act == "relu6":
            return self.node("Clip", [x, self.constant(0.0), self.constant(6.0)], name, name)
        if act == "silu":
            gate = self.node("Sigmoid", [x], f"{name}.sigmoid", f"{name}.sigmoid")
            return self.node("Mul", [x, gate], name, name)
        if act == "hard_swish":
            return self.node("HardSwish", [x], name, name)
        if act == "hard_sigmoid":
            return self.node("HardSigmoid", [x], name, name, alpha=1.0 / 6.0, beta=0.5)
        if act == "sigmoid":
            return self.node("Sigmoid", [x], name, name)
        if act == "softmax":  # over classes
            return self.node("Softmax", [x], name, name, axis=1)
        if act == "gelu":  # x * (1 + erf(x / sqrt(2))) / 2, as torch and Keras compute it
            scaled = self.node("Mul", [x, self.constant(math.sqrt(0.5))], f"{name}.scaled", f"{name}.scaled")
            erf = self.node("Erf", [scaled], f"{name}.erf", f"{name}.erf")
            one_plus = self.node("Add", [erf, self.constant(1.0)], f"{name}.one_plus", f"{name}.one_plus")
            half = self.node("Mul", [x, self.constant(0.5)], f"{name}.half", f"{name}.half")
            return self.node("Mul", [half, one_plus], name, name)
        raise ValueError(f"unknown activation {act!r} (known: {', '.join(ACTIVATIONS)})")

    def padding(self, kernel: int, stride: int) -> dict:
        """Conv attributes for the table's padding mode (see the module docstring)."""
        if self.arch.padding not in ("symmetric", "same"):
            raise ValueError(f"unknown padding mode {self.arch.padding!r}")
        if self.arch.padding == "same" and (stride > 1 or kernel % 2 == 0):
            return {"auto_pad": "SAME_UPPER"}
        side = (kernel - 1) // 2
        return {"pads": [side, side, side, side]}

    # ------------------------------------------------------------ layers

    def conv(self, x: str, name: str, layer: ConvLayer, output: str | None = None) -> str:
        """conv (no bias) -> BatchNormalization -> activation; depthwise when the layer says so."""
        inits = layer_inits(self.arch.init, layer)
        groups = layer.in_channels if layer.depthwise else 1
        k = layer.kernel
        weight = self.tensor(
            f"{name}.conv.weight",
            (layer.out_channels, layer.in_channels // groups, k, k),
            inits["conv.weight"],
        )
        y = self.node(
            "Conv",
            [x, weight],
            f"{name}.conv",
            f"{name}.conv",
            kernel_shape=[k, k],
            strides=[layer.stride, layer.stride],
            group=groups,
            **self.padding(k, layer.stride),
        )
        channels = (layer.out_channels,)
        if self.folded:  # inference: the batch norm lives in the conv's kernel and bias
            bias = self.tensor(f"{name}.conv.bias", channels, inits["bn.bias"])
            self.graph.node[-1].input.append(bias)
            if layer.act in (None, "identity") and output is not None:
                return self.node("Identity", [y], output, f"{name}.out")
            return self.activation(y, layer.act, output or f"{name}.act")
        norm = [self.tensor(f"{name}.bn.{role}", channels, inits[f"bn.{role}"]) for role in BN_ROLES]
        bn_name = f"{name}.bn" if layer.act not in (None, "identity") or output is None else output
        y = self.node(
            "BatchNormalization",
            [y, *norm],
            bn_name,
            f"{name}.bn",
            epsilon=self.arch.bn_eps,
            momentum=1.0 - self.arch.bn_momentum,
        )
        return self.activation(y, layer.act, output or f"{name}.act")

    def squeeze_excite(self, x: str, name: str, layer: SqueezeExciteLayer) -> str:
        """Global average pool -> 1x1 reduce (+bias) -> act -> 1x1 expand (+bias) -> gate -> rescale."""
        inits = layer_inits(self.arch.init, layer)
        s = self.node("GlobalAveragePool", [x], f"{name}.pool", f"{name}.pool")
        for role, width, act in (
            ("reduce", layer.squeeze, layer.act),
            ("expand", layer.channels, layer.gate),
        ):
            fan_in = layer.channels if role == "reduce" else layer.squeeze
            weight = self.tensor(f"{name}.{role}.weight", (width, fan_in, 1, 1), inits[f"{role}.weight"])
            bias = self.tensor(f"{name}.{role}.bias", (width,), inits[f"{role}.bias"])
            s = self.node("Conv", [s, weight, bias], f"{name}.{role}", f"{name}.{role}", kernel_shape=[1, 1])
            s = self.activation(s, act, f"{name}.{'act' if role == 'reduce' else 'gate'}")
        return self.node("Mul", [x, s], f"{name}.scale", f"{name}.scale")

    def block(self, x: str, name: str, row: BlockRow) -> str:
        """One table row; its output value is named by the block's tap (``stages.1.0``)."""
        shortcut, layers = x, block_layers(row)
        for index, (local, layer) in enumerate(layers):
            last = index == len(layers) - 1 and not row.residual
            if isinstance(layer, ConvLayer):
                x = self.conv(x, f"{name}.{local}", layer, output=name if last else None)
            else:
                x = self.squeeze_excite(x, f"{name}.{local}", layer)
        if row.residual:  # drop-path acts in training only: absent here
            return self.node("Add", [x, shortcut], name, f"{name}.add")
        if x != name:  # a block ending in its squeeze-excite
            return self.node("Identity", [x], name, f"{name}.out")
        return x

    def dense(self, x: str, name: str, row: LinearRow) -> str:
        """Gemm with bias on (out, in) weights, then the row's activation (dropout is training-only)."""
        inits = linear_inits(self.arch.init, row.out_features)
        weight = self.tensor(f"{name}.weight", (row.out_features, row.in_features), inits["weight"])
        bias = self.tensor(f"{name}.bias", (row.out_features,), inits["bias"])
        if row.act in (None, "identity"):
            return self.node("Gemm", [x, weight, bias], name, name, transB=1)
        y = self.node("Gemm", [x, weight, bias], f"{name}.linear", f"{name}.linear", transB=1)
        return self.activation(y, row.act, name)


BN_ROLES = ("weight", "bias", "running_mean", "running_var")


def _classifier_end(writer: GraphWriter, x: str, arch: Architecture) -> str:
    """head conv -> [global pool, flattened] -> [pre_logits] -> [classifier], each named by its tap."""
    if arch.head:
        x = writer.conv(x, "head", arch.head.as_layer(), output="head")
    if arch.pool:
        pool = "GlobalAveragePool" if arch.pool == "avg" else "GlobalMaxPool"
        x = writer.node(pool, [x], "pool.map", "pool.map")
        x = writer.node("Flatten", [x], "pool", "pool", axis=1)
    for name, row in (("pre_logits", arch.pre_logits), ("classifier", arch.classifier)):
        if row:
            x = writer.dense(x, name, row)
    return writer.node("Identity", [x], output_name(arch), "output")


def build_graph(arch: Architecture, source: TensorSource, folded: bool = False) -> onnx.ModelProto:
    """The inference graph of ``arch``, each canonical tensor valued by ``source``; ``folded``:
    convs with biases in place of conv -> BatchNormalization (``P.conv.bias`` initializers)."""
    writer = GraphWriter(arch, source, folded)
    x = writer.conv(INPUT, "stem", arch.stem.as_layer(), output="stem")
    for s, stage in enumerate(arch.stages):
        for i, row in enumerate(stage):
            x = writer.block(x, f"stages.{s}.{i}", row)
    if arch.features:  # maps of sizes that follow the input's: left unnamed
        outputs = {level.tap: ["batch", level.channels, None, None] for level in feature_info(arch)}
    else:
        outputs = {_classifier_end(writer, x, arch): output_shape(arch)}
    image = helper.make_tensor_value_info(
        INPUT, TensorProto.FLOAT, ["batch", arch.stem.in_channels, "height", "width"]
    )
    results = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs.items()
    ]
    writer.graph.name = arch.name
    writer.graph.input.append(image)
    writer.graph.output.extend(results)
    return writer.model


def draw(init: Init, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Independent float32 draws from ``init`` (ir/table.py: normal, truncated normal cut at
    TRUNCATION standard deviations, uniform, constant)."""
    if init.dist == "normal":
        value = rng.normal(0.0, init.scale, shape)
    elif init.dist == "truncated_normal":
        value = rng.normal(0.0, init.scale, shape)
        outside = np.abs(value) > init.bound
        while outside.any():  # redraw the tails: a truncated normal is the normal conditioned inside
            value[outside] = rng.normal(0.0, init.scale, int(outside.sum()))
            outside = np.abs(value) > init.bound
    elif init.dist == "uniform":
        value = rng.uniform(-init.scale, init.scale, shape)
    else:
        value = np.full(shape, init.scale)
    return value.astype(np.float32)
