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
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..backends import BACKEND_NAMES, get_backend
from ..errors import SpecError
from ..ir.cost import network_cost
from ..ir.network import Network
from . import checks as C

Progress = Callable[[str], None]
DEFAULT_BATCH = 2
DEFAULT_SHRINK_SECONDS = 120.0  # wall-clock budget for Hypothesis to shrink a failing random spec


def _quiet(_: str) -> None:
    pass


@dataclass
class Report:
    """Every check of one network, with the arrays a golden bundle needs."""

    identity: dict
    checks: list[C.Check] = field(default_factory=list)
    devices: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    weights: dict[str, np.ndarray] | None = None
    input: np.ndarray | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    measured: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def failures(self) -> list[C.Check]:
        return [check for check in self.checks if not check.ok]

    def failed_names(self) -> list[str]:
        """Names of the failing checks, each once, in check order."""
        names = {check.name for check in self.failures()}
        return [name for name in C.CHECK_ORDER if name in names]

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "failed": self.failed_names(),
            "network": self.identity,
            "devices": self.devices,
            "versions": self.versions,
            "seconds": round(self.seconds, 3),
            "checks": [check.as_dict() for check in self.checks],
        }


def parse_backends(text: str | Sequence[str] | None) -> list[str]:
    """Canonical backend names from ``torch,tensorflow`` (default: every backend, in that order)."""
    if text is None:
        return list(BACKEND_NAMES)
    items = text.split(",") if isinstance(text, str) else list(text)
    names = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        name = get_backend(item).name
        if name not in names:
            names.append(name)
    if not names:
        raise SpecError([("--backends", "name at least one backend")])
    return names


def load_backends(names: Sequence[str]) -> list:
    """The backend objects; a framework that does not import here is bad input naming --backends."""
    backends = []
    for name in names:
        backend = get_backend(name)
        if not backend.available():
            raise SpecError([("--backends", f"{name} is not available here (its framework does not import)")])
        backends.append(backend)
    return backends


def place(backends: Sequence, device: str) -> dict[str, str]:
    """Where each backend runs: ``cuda`` where its framework sees a GPU, else ``cpu``.

    ``--device cuda`` with no framework seeing a GPU is bad input, not a crash.
    """
    if device not in ("cpu", "cuda"):
        raise SpecError([("--device", f"device must be cpu or cuda, got {device!r}")])
    if device == "cpu":
        return {b.name: "cpu" for b in backends}
    placed = {b.name: ("cuda" if "cuda" in b.devices() else "cpu") for b in backends}
    if "cuda" not in placed.values():
        names = ", ".join(b.name for b in backends)
        raise SpecError([("--device", f"--device cuda asked for, but no GPU is visible to {names}")])
    for name, where in placed.items():
        if where == "cuda":
            disable_tf32(name)
    return placed


def disable_tf32(framework: str) -> None:
    """Turn TF32 off so GPU float32 matmuls and convs are real float32 (convention 7)."""
    if framework == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    elif framework == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)


def versions(backends: Sequence, devices: dict[str, str]) -> dict[str, str]:
    """Versions of everything that can change a number: scalespec, numpy, python, frameworks, device."""
    found = {
        "scalespec": __version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for backend in backends:
        found[backend.name] = backend.version()
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
    steps = _Steps(2 * len(backends) + 1, progress)
    for index, backend in enumerate(backends):
        steps(f"building {backend.name} model...")
        model = _build(backend, (builders or {}).get(backend.name, network), report)
        if model is None:
            steps(f"skipping {backend.name}: build failed")
            continue
        if index == 0:
            report.weights = _reference_weights(backend, model, network, seed, report)
        elif report.weights is not None:
            _import(backend, model, network, report.weights, report)
        steps(f"measuring and running {backend.name} on {devices[backend.name]}...")
        _measure(backend, model, resolution, expected, report)
        _run(backend, model, network, report, devices[backend.name])
    steps("comparing outputs...")
    _compare_all(report)
    report.seconds = time.perf_counter() - started
    return report


def network_identity(network: Network, **extra) -> dict:
    """What names the checked network: resolve arguments and its resolved name."""
    return {**network.identity(), **extra}


def _build(backend, network: Network, report: Report):
    try:
        return backend.build(network)
    except Exception as exc:  # a backend that cannot build the IR is a finding, not a crash
        report.checks.append(C.failed("build", backend.name, exc))
        return None


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


def _run(backend, model, network: Network, report: Report, device: str) -> None:
    """Eval forward (kept for comparison) then a train-mode forward (shape only)."""
    want = C.expected_output_shape(network, report.input.shape[0])
    try:
        out = np.asarray(backend.forward(model, report.input, training=False, device=device))
        report.outputs[backend.name] = out
        report.checks.append(C.check_shape("shape", backend.name, out, want))
    except Exception as exc:
        report.checks.append(C.failed("shape", backend.name, exc))
    try:
        out = np.asarray(backend.forward(model, report.input, training=True, device=device))
        report.checks.append(C.check_shape("train-shape", backend.name, out, want))
    except Exception as exc:
        report.checks.append(C.failed("train-shape", backend.name, exc))


def _compare_all(report: Report) -> None:
    """Every backend's eval output against the first backend's."""
    names = list(report.outputs)
    if not names:
        return
    reference = names[0]
    for name in names[1:]:
        report.checks.append(
            C.compare_outputs(f"{name} vs {reference}", report.outputs[name], report.outputs[reference])
        )


@dataclass
class RandomResult:
    """Outcome of ``--random N``: how many specs ran and, on failure, the minimal failing one."""

    examples: int
    failure: Report | None = None
    case: object = None  # strategies.Case of the minimal failing spec

    @property
    def ok(self) -> bool:
        return self.failure is None


class ConformanceFailure(AssertionError):
    """Raised inside a Hypothesis test so it shrinks to the minimal failing spec."""

    def __init__(self, case, report: Report):
        from .report import render

        self.case, self.report = case, report
        super().__init__(
            f"conformance failed: {', '.join(report.failed_names())}\n{case.describe()}\n{render(report)}"
        )


def conform_case(case, backend_names: Sequence[str], *, device: str = "cpu", seed: int = 0) -> Report:
    """Conform one strategies.Case; raise ConformanceFailure (with the spec) when a check fails."""
    network = case.network()
    identity = network_identity(network, model="random spec")
    report = conform(network, backend_names, identity=identity, device=device, seed=seed)
    if not report.ok:
        raise ConformanceFailure(case, report)
    return report


def conform_random(
    examples: int,
    backend_names: Sequence[str],
    *,
    device: str = "cpu",
    seed: int | None = None,
    profile: str | None = None,
    shrink_seconds: float = DEFAULT_SHRINK_SECONDS,
    progress: Progress = _quiet,
) -> RandomResult:
    """Run ``examples`` Hypothesis-generated specs; on failure Hypothesis shrinks to a minimal one.

    Every shrink step builds framework models, so shrinking gets ``shrink_seconds`` after the
    first failure; after that, unseen candidates count as passing and the smallest failing
    spec found so far is reported (it still failed for real: its failure is replayed).
    """
    try:
        from hypothesis import given
        from hypothesis import seed as hypothesis_seed
    except ImportError:
        raise SpecError(
            [("--random", "random specs need Hypothesis: pip install 'scalespec[test]'")]
        ) from None
    from .profiles import random_settings
    from .strategies import cases

    load_backends(backend_names)  # bad input fails before any example runs
    calls, failures, first_failure = [0], {}, []

    @random_settings(examples, seed, profile)
    @given(case=cases())
    def one(case) -> None:
        key = case.describe()
        if key in failures:
            raise failures[key]
        if first_failure and time.perf_counter() - first_failure[0] > shrink_seconds:
            return  # shrink budget spent: stop exploring, keep the smallest failure so far
        calls[0] += 1
        label = f"{calls[0]}/{examples}" if not first_failure else f"{calls[0]} (shrinking)"
        progress(f"[random {label}] conforming a random spec...")
        try:
            conform_case(case, backend_names, device=device, seed=seed or 0)
        except ConformanceFailure as failure:
            failures[key] = failure
            first_failure[:] = first_failure or [time.perf_counter()]
            raise

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    try:
        one()
    except ConformanceFailure as failure:
        return RandomResult(calls[0], failure.report, failure.case)
    return RandomResult(calls[0])
