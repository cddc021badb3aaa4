"""Params, buffers and MACs counted from the ONNX graph itself (never copied from ir/cost).

Params and buffers are initializer sizes: the running mean and variance inputs of
BatchNormalization nodes are buffers, every other initializer a parameter. MACs come from
ONNX shape inference on the graph at batch 1 and the given size: each Conv's output elements
times its weight's (in/groups) x kh x kw, each Gemm's rows x its weight's size. Bias adds,
BN, activations, pooling, adds and multiplies are left out (convention 3).
"""

from __future__ import annotations

from math import prod

import onnx
from onnx import TensorProto, helper

from ..base import Measured
from .build import OnnxModel
from .runtime import INPUT

BN_STATISTICS = (3, 4)  # BatchNormalization inputs: X, scale, B, input_mean, input_var
HOW = (
    "onnx {version}: params/buffers = initializer sizes (BatchNormalization mean/var inputs are "
    "buffers); macs = Conv output elements x weight (in/groups)*kh*kw + Gemm rows x weight size, "
    "from onnx.shape_inference at batch 1"
)


def count_params_and_buffers(graph: onnx.GraphProto) -> tuple[int, int]:
    """Sizes of the initializers: (parameters, BatchNormalization running statistics)."""
    statistics = {
        node.input[i] for node in graph.node if node.op_type == "BatchNormalization" for i in BN_STATISTICS
    }
    sizes = {tensor.name: prod(tensor.dims) for tensor in graph.initializer}
    buffers = sum(size for name, size in sizes.items() if name in statistics)
    return sum(sizes.values()) - buffers, buffers


def inferred_shapes(proto: onnx.ModelProto, resolution: int) -> dict[str, list[int]]:
    """Every value's static shape for one image of ``resolution`` x ``resolution``.

    The weights' data is left out: the initializers become typed graph inputs of their shapes,
    so a 2 GB graph costs no copy of its weights.
    """
    graph = proto.graph
    image = next(value for value in graph.input if value.name == INPUT)
    channels = image.type.tensor_type.shape.dim[1].dim_value
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, channels, resolution, resolution])]
    inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in graph.initializer]
    shapes_only = helper.make_model(
        helper.make_graph(list(graph.node), graph.name, inputs, list(graph.output)),
        opset_imports=list(proto.opset_import),
    )
    shapes_only.ir_version = proto.ir_version
    inferred = onnx.shape_inference.infer_shapes(shapes_only, strict_mode=True).graph
    return {
        value.name: [dim.dim_value for dim in value.type.tensor_type.shape.dim]
        for value in [*inferred.input, *inferred.value_info, *inferred.output]
    }


def count_macs(proto: onnx.ModelProto, resolution: int) -> int:
    """Multiply-accumulates of the Conv and Gemm nodes at batch 1."""
    shapes = inferred_shapes(proto, resolution)
    macs = 0
    for node in proto.graph.node:
        if node.op_type == "Conv":
            macs += prod(shapes[node.output[0]]) * prod(shapes[node.input[1]][1:])
        elif node.op_type == "Gemm":
            macs += shapes[node.input[0]][0] * prod(shapes[node.input[1]])
    return macs


def measure(model: OnnxModel, resolution: int) -> Measured:
    """Counts of ``model``'s graph at ``resolution``."""
    params, buffers = count_params_and_buffers(model.proto.graph)
    return Measured(
        params, buffers, count_macs(model.proto, resolution), HOW.format(version=onnx.__version__)
    )
