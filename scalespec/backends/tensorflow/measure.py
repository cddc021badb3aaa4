"""Params, buffers and MACs counted by TensorFlow itself (never copied from ir/cost).

Params and buffers are sums over the model's trainable and non-trainable variables. MACs
come from TensorFlow's op statistics (the ``flops`` registered per op type, which the
tf.compat.v1 profiler also uses) over the traced graph of a batch-1 forward pass: the
Conv2D, DepthwiseConv2dNative and MatMul entries, each counting 2 x MACs, halved. BiasAdd,
BN, activations, pooling, adds and multiplies carry their own statistics and are left out
(convention 3).

Under another Keras 3 backend (``KERAS_BACKEND=torch`` or ``jax``, as conformance's
keras-torch and keras-jax run it) the MACs come from that framework instead: PyTorch's
FlopCounterMode over the model's call, or the conv and dot ops of JAX's traced program.
"""

from __future__ import annotations

from math import prod

import keras
import numpy as np

from ..base import Measured

MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


def traced_graph(model: keras.Model, resolution: int):
    """The inference graph of ``model`` for one image of ``resolution`` x ``resolution``."""
    import tensorflow as tf

    channels = model.inputs[0].shape[-1]
    spec = tf.TensorSpec((1, resolution, resolution, channels), tf.float32)
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph


def flops_by_op_type(graph) -> dict[str, int]:
    """TensorFlow's registered ``flops`` statistic summed per op type over ``graph``."""
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.util import deprecation

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
    other = {"torch": (torch_macs, HOW_TORCH), "jax": (jax_macs, HOW_JAX)}.get(keras.backend.backend())
    if other is not None:  # Keras on another backend: that framework counts
        count, how = other
        return Measured(int(params), int(buffers), count(model, resolution), how.format(keras.__version__))
    import tensorflow as tf

    flops = flops_by_op_type(traced_graph(model, resolution))
    how = (
        f"TensorFlow {tf.__version__}: keras trainable/non-trainable weight sizes; "
        "registered op flops of Conv2D+DepthwiseConv2dNative+MatMul in the traced graph / 2"
    )
    return Measured(int(params), int(buffers), sum(flops.values()) // 2, how)


HOW_TORCH = "keras {} on torch: keras weight sizes; torch FlopCounterMode over the model's call / 2"
HOW_JAX = "keras {} on jax: keras weight sizes; conv_general_dilated and dot_general of the traced jaxpr"


def _blank(model: keras.Model, resolution: int) -> np.ndarray:
    return np.zeros((1, resolution, resolution, model.inputs[0].shape[-1]), np.float32)


def torch_macs(model: keras.Model, resolution: int) -> int:
    """Conv and matmul MACs of one call, counted by PyTorch (Keras' torch backend runs aten ops)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(_blank(model, resolution), training=False)
    return counter.get_total_flops() // 2


def jax_macs(model: keras.Model, resolution: int) -> int:
    """Conv and dot MACs of one call, read off JAX's traced program (output elements x the
    products each one sums), through nested calls."""
    import jax

    program = jax.make_jaxpr(lambda x: model(x, training=False))(_blank(model, resolution))
    return _jaxpr_macs(program.jaxpr)


def _jaxpr_macs(jaxpr) -> int:
    from jax.extend import core

    macs = 0
    for eqn in jaxpr.eqns:
        out = eqn.outvars[0].aval.shape
        if eqn.primitive.name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            out_dim = eqn.params["dimension_numbers"].rhs_spec[0]
            macs += prod(out) * prod(kernel) // kernel[out_dim]
        elif eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            macs += prod(out) * prod(lhs[i] for i in contracting)
        for value in eqn.params.values():  # calls, custom derivatives: their inner programs
            inner = value.jaxpr if isinstance(value, core.ClosedJaxpr) else value
            if isinstance(inner, core.Jaxpr):
                macs += _jaxpr_macs(inner)
    return macs
