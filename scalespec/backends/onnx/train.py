"""Taps of ONNX graphs; no training: an ONNX file here is an inference graph.

Every block output carries its tap name (runtime.py), so tracing asks onnxruntime for those
values as extra outputs. Dropout, drop-path and training-mode batch norm are not in the
graph, so a training step, its sensitivity and the stochastic layers are the frameworks'
(the backend says so with ``trains = False`` and conformance skips those checks for it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .build import OnnxModel
from .runtime import INPUT


def trace(
    model: OnnxModel, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """The graph's values at the canonical ``taps`` (NCHW maps, (N, F) vectors) for ``x``."""
    outputs = model.outputs
    extra = tuple(tap for tap in taps if tap not in outputs)
    session = model.session(device, extra)
    values = session.run([*outputs, *extra], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})
    found = dict(zip([*outputs, *extra], values, strict=True))
    return {tap: found[tap] for tap in taps}
