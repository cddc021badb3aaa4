"""Random-spec conformance: Hypothesis generates specs, each is conformed, failures shrink.

The driver behind ``scalespec conform --random N`` and the pytest plugin's random items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import SpecError
from .report import Report, render
from .runner import Progress, _quiet, conform, load_backends, network_identity

DEFAULT_SHRINK_SECONDS = 120.0  # wall-clock budget for Hypothesis to shrink a failing random spec


@dataclass
class RandomResult:
    """Outcome of ``--random N``: how many specs ran and, on failure, the minimal failing one."""

    examples: int
    failure: Report | None = None
    case: object = None  # strategies.Case of the minimal failing spec
    seed: int | None = None
    passed: list[dict] = field(default_factory=list)  # each passing example: its spec and report

    @property
    def ok(self) -> bool:
        return self.failure is None


class ConformanceFailure(AssertionError):
    """Raised inside a Hypothesis test so it shrinks to the minimal failing spec."""

    def __init__(self, case, report: Report):
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
    minimal: bool = True,
) -> RandomResult:
    """Run ``examples`` Hypothesis-generated specs; on failure Hypothesis shrinks to a minimal one.

    Hypothesis tries the simplest spec first whatever the seed; ``minimal=False`` skips it (it
    is left to pass) and draws ``examples`` more, so runs with different seeds differ.
    Every shrink step builds framework models, so shrinking gets ``shrink_seconds`` after the
    first failure; after that, unseen candidates count as passing and the smallest failing
    spec found so far is reported (it still failed for real: its failure is replayed).
    """
    try:
        from hypothesis import given
        from hypothesis import seed as hypothesis_seed
    except ImportError:
        raise SpecError([("random", "random specs need Hypothesis: pip install 'scalespec[test]'")]) from None
    from .profiles import random_settings
    from .strategies import cases

    load_backends(backend_names)  # bad input fails before any example runs
    calls, failures, first_failure, seen, passed = [0], {}, [], [0], []

    @random_settings(examples + (0 if minimal else 1), seed, profile)
    @given(case=cases())
    def one(case) -> None:
        seen[0] += 1
        if seen[0] == 1 and not minimal:
            return  # Hypothesis' first, simplest spec: the same for every seed
        key = case.describe()
        if key in failures:
            raise failures[key]
        if first_failure and time.perf_counter() - first_failure[0] > shrink_seconds:
            return  # shrink budget spent: stop exploring, keep the smallest failure so far
        calls[0] += 1
        label = f"{calls[0]}/{examples}" if not first_failure else f"{calls[0]} (shrinking)"
        progress(f"[random {label}] conforming a random spec...")
        try:
            report = conform_case(case, backend_names, device=device, seed=seed or 0)
            passed.append({"spec": key, "report": report.as_dict()})
        except ConformanceFailure as failure:
            failures[key] = failure
            first_failure[:] = first_failure or [time.perf_counter()]
            raise

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    try:
        one()
    except ConformanceFailure as failure:
        return RandomResult(calls[0], failure.report, failure.case, seed, passed)
    return RandomResult(calls[0], seed=seed, passed=passed)
