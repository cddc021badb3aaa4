"""IR -> Keras model, through runtime.py and the IR's architecture table (the same path emit takes)."""

from __future__ import annotations

import keras

from ...errors import SpecError
from ...ir.network import Network
from ...ir.weights import fold_batch_norms
from ..base import architecture
from .runtime import build_keras_model
from .weights import export_weights, import_weights


def build(network: Network, *, num_classes: int | None = None) -> keras.Model:
    """A Keras functional model of ``network`` (NHWC input, any spatial size)."""
    return build_keras_model(architecture(network, num_classes))


def optimize_for_inference(model: keras.Model) -> keras.Model:
    """A new Keras model for inference only: each batch norm folded into its conv's kernel and
    a new bias (``ir.weights.fold_batch_norms``, exact up to rounding); SiLU and squeeze-excite
    as they were. ``model`` is not changed."""
    arch = getattr(model, "architecture", None)
    if arch is None:
        raise SpecError([("model", "not a Keras model scalespec built (it records no architecture)")])
    fast = build_keras_model(arch, folded=True)
    import_weights(fast, fold_batch_norms(export_weights(model), arch.bn_eps))
    fast.preprocessing = getattr(model, "preprocessing", None)
    return fast
