"""Params, buffers and MACs counted by TensorFlow itself (never copied from ir/cost).

Params and buffers are sums over the model's trainable and non-trainable variables. MACs
come from TensorFlow's op statistics (the ``flops`` registered per op type, which the
tf.compat.v1 profiler also uses) over the traced graph of a batch-1 forward pass: the
Conv2D, DepthwiseConv2dNative and MatMul entries, each counting 2 x MACs, halved. BiasAdd,
BN, activations, pooling, adds and multiplies carry their own statistics and are left out
(convention 3).
"""

from __future__ import annotations

from math import prod

import keras
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.util import deprecation

from ..base import Measured

MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


def traced_graph(model: keras.Model, resolution: int) -> tf.Graph:
    """The inference graph of ``model`` for one image of ``resolution`` x ``resolution``."""
    channels = model.inputs[0].shape[-1]
    spec = tf.TensorSpec((1, resolution, resolution, channels), tf.float32)
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph


def flops_by_op_type(graph: tf.Graph) -> dict[str, int]:
    """TensorFlow's registered ``flops`` statistic summed per op type over ``graph``."""
    totals: dict[str, int] = {}
    for op in graph.get_operations():
        if op.type not in MAC_OPS:
            continue
        with deprecation.silence():  # the shape helper it uses is marked TF1-only
            stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
        totals[op.type] = totals.get(op.type, 0) + int(stats.value or 0)
    return totals


def measure(model: keras.Model, resolution: int) -> Measured:
    """Trainable params, BN moving statistics and MACs of ``model`` at ``resolution``."""
    params = sum(prod(w.shape) for w in model.trainable_weights)
    buffers = sum(prod(w.shape) for w in model.non_trainable_weights)
    flops = flops_by_op_type(traced_graph(model, resolution))
    how = (
        f"TensorFlow {tf.__version__}: keras trainable/non-trainable weight sizes; "
        "registered op flops of Conv2D+DepthwiseConv2dNative+MatMul in the traced graph / 2"
    )
    return Measured(int(params), int(buffers), sum(flops.values()) // 2, how)
