"""Random Keras weights for tests: every tensor set, BN statistics included, so none goes unchecked."""

from __future__ import annotations

import numpy as np


def randomize_keras(model, rng: np.random.Generator, positive: tuple[float, float] = (0.5, 1.5)) -> None:
    """BN gammas and variances uniform in ``positive``; every other weight normal(0, 0.3)."""
    for var in model.weights:
        shape = tuple(var.shape)
        if "variance" in var.path or "gamma" in var.path:
            var.assign(rng.uniform(*positive, shape).astype("float32"))
        else:
            var.assign(rng.normal(0, 0.3, shape).astype("float32"))
