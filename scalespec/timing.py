"""Latency of many networks on this machine, measured fairly: every model is built and warmed
up first, then timed in alternated passes (each round runs every model once, in order), so a
slow spell of a shared machine spreads over all of them; each model's median is reported."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from .errors import SpecError
from .ir.network import Network

Progress = Callable[[str], None]


def _stderr_progress(line: str) -> None:
    end = "\r" if sys.stderr.isatty() and not line.endswith("done") else "\n"
    print(line, end=end, file=sys.stderr, flush=True)


def time_networks(
    framework: str,
    networks: Sequence[Network],
    *,
    batch: int = 1,
    rounds: int = 3,
    progress: Progress = _stderr_progress,
) -> list[float]:
    """Median milliseconds of one eval forward of each network's ``optimize_for_inference``
    model in ``framework`` (torch, tensorflow or onnx) at ``batch`` and its own resolution."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise SpecError([("rounds", f"rounds must be a positive integer, got {rounds!r}")])
    from .backends import get_backend

    backend = get_backend(framework)
    models, inputs = [], []
    rng = np.random.default_rng(0)
    for index, network in enumerate(networks, 1):
        progress(f"building {index}/{len(networks)} ({framework})")
        models.append(backend.optimize_for_inference(backend.build(network)))
        size = network.resolution
        inputs.append(rng.standard_normal((batch, network.input_channels, size, size), dtype=np.float32))
        backend.forward(models[-1], inputs[-1])  # warm-up: first-call set-up is not latency
    times: list[list[float]] = [[] for _ in networks]
    for round_number in range(1, rounds + 1):
        for index, (model, x) in enumerate(zip(models, inputs, strict=True)):
            progress(f"timing round {round_number}/{rounds}: {index + 1}/{len(networks)}")
            start = time.perf_counter()
            backend.forward(model, x)
            times[index].append(1e3 * (time.perf_counter() - start))
    progress(f"timed {len(networks)} networks x {rounds} rounds: done")
    return [statistics.median(samples) for samples in times]
