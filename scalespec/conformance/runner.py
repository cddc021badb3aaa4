"""Run every check for one resolved network across several backends and collect a Report.

Weights come from the first backend (build, load seeded random canonical weights, export) and
are imported into the others; they are never initialised twice, so the output comparison
tests the architectures and the weight layouts, not two random initialisers.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from .. import __version__
from ..backends import BACKEND_NAMES, get_backend
from ..backends.base import TrainBatch, TrainStep
from ..errors import SpecError
from ..ir.cost import Cost, network_cost
from ..ir.network import Network
from ..ir.weights import tensor_specs
from . import checks as C
from . import taps as T
from .report import Report

Progress = Callable[[str], None]
DEFAULT_BATCH = 2


def _quiet(_: str) -> None:
    pass


def parse_backends(text: str | Sequence[str] | None) -> list[str]:
    """Canonical backend names from ``torch,tensorflow,onnx`` (default: every backend whose
    framework is installed here, in that order)."""
    if text is None:
        return installed_backends()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name = get_backend(item).name
        if name not in names:
            names.append(name)
    if not names:
        raise SpecError([("backends", "name at least one backend")])
    return names


def installed_backends() -> list[str]:
    """Every registered backend whose framework imports here, in BACKEND_NAMES order."""
    found = [name for name in BACKEND_NAMES if get_backend(name).available()]
    if not found:
        raise SpecError([("backends", "no backend's framework is installed (pip install scalespec[torch])")])
    return found


def load_backends(names: Sequence[str]) -> list:
    """The backend objects; a framework that does not import here is bad input naming --backends."""
    backends = []
    for name in names:
        backend = get_backend(name)
        if not backend.available():
            raise SpecError([("backends", f"{name} is not available here (its framework does not import)")])
        backends.append(backend)
    return backends


def place(backends: Sequence, device: str) -> dict[str, str]:
    """Where each backend runs: ``cuda`` where its framework sees a GPU (TF32 off), else ``cpu``.

    ``device="cuda"`` with no framework seeing a GPU is bad input, not a crash.
    """
    if device not in ("cpu", "cuda"):
        raise SpecError([("device", f"device must be cpu or cuda, got {device!r}")])
    placed = {b.name: b.use_device(device) for b in backends}
    if device == "cuda" and "cuda" not in placed.values():
        names = ", ".join(b.name for b in backends)
        raise SpecError([("device", f"cuda asked for, but no GPU is visible to {names}")])
    return placed


def versions(backends: Sequence, devices: dict[str, str]) -> dict[str, str]:
    """Versions of everything that can change a number: scalespec, numpy, python, frameworks, device."""
    found = {
        "scalespec": __version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for backend in backends:
        found[backend.name] = str(backend.version())  # plain str: TorchVersion does not serialise
        found[f"{backend.name}_device"] = devices.get(backend.name, "cpu")
    return found


class _Steps:
    """Numbered progress lines on stderr: ``[2/5] building tensorflow model...``."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress

    def __call__(self, message: str) -> None:
        self.done += 1
        self.progress(f"[{self.done}/{self.total}] {message}")


def conform(
    network: Network,
    backend_names: Sequence[str],
    *,
    identity: dict | None = None,
    device: str = "cpu",
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    progress: Progress = _quiet,
    builders: dict[str, Network] | None = None,
) -> Report:
    """Check ``network`` in every named backend: weights, shapes, counts, outputs.

    ``builders`` optionally gives a backend a different IR to build from (for planting a bug
    in one backend's network in tests); the checks always hold it to ``network``.
    """
    started = time.perf_counter()
    backends = load_backends(backend_names)
    devices = place(backends, device)
    report = Report(
        identity or network_identity(network), devices=devices, versions=versions(backends, devices)
    )
    resolution = network.resolution
    expected = network_cost(network, resolution).total
    report.input = C.random_input(network, resolution, seed, batch)
    report.train_input = C.random_input(network, resolution, seed, T.train_batch(network, batch))
    report.labels = C.random_labels(network, seed, len(report.train_input))
    steps = _Steps(len(backends) + 1, progress)
    for backend in backends:
        steps(f"building and running {backend.name} on {devices[backend.name]}...")
        check_backend(
            backend,
            network,
            report,
            device=devices[backend.name],
            expected=expected,
            build_from=(builders or {}).get(backend.name, network),
            seed=seed,
        )
    steps("comparing outputs, taps and training steps...")
    _compare_all(report, network, sensitivity_probe(backends, network, report, devices))
    report.seconds = time.perf_counter() - started
    return report


def network_identity(network: Network, **extra) -> dict:
    """What names the checked network: resolve arguments and its resolved name."""
    return {**network.identity(), **extra}


def check_backend(
    backend,
    network: Network,
    report: Report,
    *,
    device: str,
    expected: Cost,
    build_from: Network | None = None,
    seed: int = 0,
) -> None:
    """One backend's whole turn: build, weights in (or, for the first, seeded random weights
    made and exported), counts measured, eval and training forwards run; findings go to ``report``.

    ``conform`` and golden-bundle checking both run every backend through here. ``build_from``
    gives the backend a different IR (tests plant bugs that way); checks hold it to ``network``.
    """
    try:
        model = backend.build(build_from or network)
    except Exception as exc:  # a backend that cannot build the IR is a finding, not a crash
        report.checks.append(C.failed("build", backend.name, exc))
        return
    _check_fresh(backend, model, network, report)
    if report.weights is None:
        report.weights = _reference_weights(backend, model, network, seed, report)
    else:
        _import(backend, model, network, report.weights, report)
    _measure(backend, model, network.resolution, expected, report)
    _run(backend, model, network, report, device, optimized=expected.params <= OPTIMIZED_MAX_PARAMS)
    if backend.trains:  # an inference graph (onnx) has no training mode to check
        _stochastic(backend, model, network, report)
        if report.weights is not None and report.train_input is not None:
            _train(backend, model, network, report, device)
    del model
    if (
        report.weights is not None
        and backend.name in report.taps
        and expected.params <= SECOND_MODEL_MAX_PARAMS
    ):
        _features(backend, network, report, device)


def _check_fresh(backend, model, network: Network, report: Report) -> None:
    """A fresh model's weights are drawn from the IR's initialisers."""
    try:
        report.checks.append(C.check_init(backend.name, backend.export_weights(model), network))
    except Exception as exc:
        report.checks.append(C.failed("init", backend.name, exc))


def _reference_weights(backend, model, network: Network, seed: int, report: Report):
    """Seeded random canonical weights loaded into the first backend, then exported from it."""
    try:
        initial = backend.export_weights(model)
        report.checks.append(C.check_weights(backend.name, initial, network))
        backend.import_weights(model, C.random_weights(network, seed))
        return {name: np.asarray(value, np.float32) for name, value in backend.export_weights(model).items()}
    except Exception as exc:
        report.checks.append(C.failed("weights", backend.name, exc))
        return None


def _import(backend, model, network: Network, weights: dict, report: Report) -> None:
    try:
        backend.import_weights(model, weights)
        report.checks.append(C.check_weights(backend.name, backend.export_weights(model), network, weights))
    except Exception as exc:
        report.checks.append(C.failed("weights", backend.name, exc))


def _measure(backend, model, resolution: int, expected, report: Report) -> None:
    try:
        measured = backend.measure(model, resolution)
    except Exception as exc:
        report.checks.append(C.failed("params", backend.name, exc))
        return
    report.measured[backend.name] = {
        "params": measured.params,
        "buffers": measured.buffers,
        "macs": measured.macs,
        "how": measured.how,
    }
    report.checks.extend(C.check_counts(backend.name, measured, expected, measured.how))


def _run(backend, model, network: Network, report: Report, device: str, optimized: bool = False) -> None:
    """Eval forward and eval taps (kept for comparison), ``optimized``: the optimize_for_inference
    model against that output, then a train-mode forward (shape only; it moves BN statistics)."""
    want = C.expected_output_shape(network, report.input.shape[0])
    try:
        out = np.asarray(backend.forward(model, report.input, training=False, device=device))
        report.outputs[backend.name] = out
        report.checks.append(C.check_shape("shape", backend.name, out, want))
        taps = [tap.name for tap in network.taps()]
        report.taps[backend.name] = backend.trace(model, report.input, taps, device=device)
    except Exception as exc:
        report.checks.append(C.failed("shape", backend.name, exc))
    if optimized and backend.name in report.outputs:
        _optimized(backend, model, report, device)
    if not backend.trains:
        return
    try:
        out = np.asarray(backend.forward(model, report.input, training=True, device=device))
        report.checks.append(C.check_shape("train-shape", backend.name, out, want))
    except Exception as exc:
        report.checks.append(C.failed("train-shape", backend.name, exc))


# The features and optimized checks build a second model: above this size it costs more (a
# Keras build of b8 takes 3 s, L2's second model took a CI worker to 16.8 of 24 GB) than it
# adds, since the pyramid and the folding are the same code for every network.
SECOND_MODEL_MAX_PARAMS = 25_000_000
# The optimized check's second model is a folded copy of the first, with no taps to trace: it
# runs for every zoo model but efficientnet-l2, whose copy took the CI worker from 14 to 16.3 GB
# (passed by hand at 32 px: 210 s, max abs 6.7e-7; docs/conformance.md).
OPTIMIZED_MAX_PARAMS = 150_000_000


def _optimized(backend, model, report: Report, device: str) -> None:
    """``optimize_for_inference``'s model (batch norms folded) gives the model's eval output."""
    try:
        fast = backend.optimize_for_inference(model)
        out = np.asarray(backend.forward(fast, report.input, training=False, device=device))
    except Exception as exc:
        report.checks.append(C.failed("optimized", backend.name, exc))
        return
    check = C.compare_outputs(backend.name, out, report.outputs[backend.name])
    report.checks.append(replace(check, name="optimized"))


def _features(backend, network: Network, report: Report, device: str) -> None:
    """The features-only model (every level), built from the IR's truncated network, holding
    the reference weights it has: its maps are the full model's eval taps at those levels."""
    try:
        trunk = network.with_features()
        model = backend.build(trunk)
        backend.import_weights(model, {name: report.weights[name] for name in tensor_specs(trunk)})
        maps = backend.forward(model, report.input, training=False, device=device)
    except Exception as exc:
        report.checks.append(C.failed("features", backend.name, exc))
        return
    report.features[backend.name] = list(maps)
    layout = T.Layout(network, len(report.input))
    report.checks.append(
        T.check_features(backend.name, report.features[backend.name], report.taps[backend.name], layout)
    )


def _stochastic(backend, model, network: Network, report: Report) -> None:
    """The model's drop-path and dropout layers against the IR's, run on their own."""
    try:
        report.checks.append(T.check_stochastic(backend.name, backend.stochastic_layers(model), network))
    except Exception as exc:
        report.checks.append(C.failed("stochastic", backend.name, exc))


def _train(backend, model, network: Network, report: Report, device: str) -> None:
    """One training step (drop-path and dropout off) from the reference weights: kept for
    comparison; the SGD step and gradient flow are checked within the backend. Changes ``model``."""
    layout = T.Layout(network, len(report.train_input))
    try:
        backend.import_weights(model, report.weights)
        taps = [tap.name for tap in network.taps()]
        batch = TrainBatch(report.train_input, report.labels, T.LEARNING_RATE)
        step = backend.train_step(model, batch, taps, device=device)
    except Exception as exc:
        report.checks.append(C.failed("gradients", backend.name, exc))
        return
    report.checks.append(T.check_sgd(backend.name, report.weights, step, layout, T.LEARNING_RATE))
    # only the BN statistics are compared across backends: drop the updated weights (L2: 1.9 GB)
    step.after = {name: value for name, value in step.after.items() if name.endswith(T.BN_STATISTICS)}
    report.training[backend.name] = step
    cut = T.check_cut_paths(backend.name, step, layout)
    if cut is not None:
        report.checks.append(cut)


def sensitivity_probe(
    backends: Sequence, network: Network, report: Report, devices: dict[str, str]
) -> Callable[[], TrainStep | None]:
    """The training step's measured rounding sensitivity (``Backend.sensitivity``), computed at
    most once and only when asked: by the first backend that can, on a fresh model holding the
    reference weights. None when no backend can, or the reference weights are missing."""
    found: list[TrainStep | None] = []

    def probe() -> TrainStep | None:
        if not found:
            found.append(_sensitivity(backends, network, report, devices))
        return found[0]

    return probe


def _sensitivity(backends: Sequence, network: Network, report: Report, devices: dict[str, str]):
    if report.weights is None or report.train_input is None:
        return None
    taps = [tap.name for tap in network.taps()]
    batch = TrainBatch(report.train_input, report.labels, T.LEARNING_RATE)
    for backend in (b for b in backends if b.trains):
        model = backend.build(network)
        backend.import_weights(model, report.weights)
        spread = backend.sensitivity(model, batch, taps, device=devices[backend.name])
        if spread is not None:
            return spread
    return None


def _compare_all(report: Report, network: Network, sensitivity: Callable[[], TrainStep | None]) -> None:
    """Every backend's eval output, eval taps and features against the first backend's, and
    every training step against the first backend's that trains."""
    names = list(report.outputs)
    if not names:
        return
    reference = names[0]
    layout = T.Layout(network, len(report.train_input))
    for name in names[1:]:
        subject = f"{name} vs {reference}"
        report.checks.append(C.compare_outputs(subject, report.outputs[name], report.outputs[reference]))
        if name in report.taps and reference in report.taps:
            report.checks.append(
                T.compare_taps(
                    "taps", subject, report.taps[name], report.taps[reference], layout, training=False
                )
            )
        if name in report.features and reference in report.features:
            report.checks.append(
                T.compare_features(subject, report.features[name], report.features[reference], layout)
            )
    # training is compared against the first backend that trains (the reference may not: onnx)
    trainer = next(iter(report.training), None)
    for name in report.training:
        if name != trainer:
            subject = f"{name} vs {trainer}"
            report.checks += T.compare_training(
                subject, report.training[name], report.training[trainer], layout, sensitivity
            )
