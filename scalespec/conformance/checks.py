"""Conformance checks: each compares one backend's figure with the IR, the cost model or another backend.

A check never raises for a mismatch; it returns a ``Check`` with the numbers, so a report can
show every figure at once and name the checks that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from ..ir.cost import Cost
from ..ir.network import Network
from ..ir.table import TRUNCATION, Init, _truncated_moments
from ..ir.weights import TensorSpec, tensor_specs

RTOL = 1e-4  # convention 7: float32, eval mode, whole network
ATOL = 1e-5
COUNTS = ("params", "buffers", "macs")
TRAINING = ("train-taps", "loss", "gradients", "bn-stats", "sgd-step", "stochastic")  # conformance/taps.py
CHECK_ORDER = (
    "build",
    "weights",
    "init",
    "shape",
    "train-shape",
    *COUNTS,
    "outputs",
    "taps",
    "features",
    "optimized",
    *TRAINING,
    "bundle",
)


@dataclass(frozen=True)
class Check:
    """One checked figure: which check, for which subject (backend or pair), pass/fail and numbers."""

    name: str
    subject: str
    ok: bool
    figures: dict = field(default_factory=dict)
    message: str = ""
    details: list = field(default_factory=list)  # per-tap or per-layer rows, in the JSON report only

    def as_dict(self) -> dict:
        data = asdict(self)
        return {"check": data.pop("name"), **data}


def failed(name: str, subject: str, error: BaseException) -> Check:
    """A check that could not run because the backend raised: the error is the finding."""
    return Check(name, subject, False, {}, f"{type(error).__name__}: {error}")


# ---------------------------------------------------------------- canonical weights


def _fan_in(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def random_tensor(name: str, spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """A well-scaled random value for one canonical tensor (by its name's role).

    Convs and linears are He-scaled normals, so activations neither vanish nor explode;
    BN gets running means near 0 and running variances in [0.5, 2], so it is never identity.
    Projection BNs (before a residual add) keep gammas small so residual sums stay bounded.
    """
    shape = spec.shape
    if name.endswith("running_var"):
        value = rng.uniform(0.5, 2.0, shape)
    elif name.endswith("running_mean"):
        value = rng.normal(0.0, 0.1, shape)
    elif name.endswith("bn.weight"):
        low, high = (0.2, 0.5) if _is_projection(name) else (0.6, 1.2)
        value = rng.uniform(low, high, shape)
    elif name.endswith("bias"):
        value = rng.normal(0.0, 0.1, shape)
    elif name.startswith("classifier."):
        value = rng.normal(0.0, np.sqrt(1.0 / _fan_in(shape)), shape)
    else:
        value = rng.normal(0.0, np.sqrt(2.0 / _fan_in(shape)), shape)
    return value.astype(np.float32)


def _is_projection(name: str) -> bool:
    return ".project." in name or ".pw." in name


def random_weights(network: Network, seed: int) -> dict[str, np.ndarray]:
    """Seeded random values for every canonical tensor of ``network`` (names and shapes from the IR)."""
    rng = np.random.default_rng(seed)
    return {name: random_tensor(name, spec, rng) for name, spec in tensor_specs(network).items()}


def random_labels(network: Network, seed: int, batch: int = 2) -> np.ndarray:
    """Seeded class labels for the training check, one per sample, below the output width
    (0 or 1 for a single output, whose cross-entropy is the sigmoid one)."""
    rng = np.random.default_rng(seed + 2)
    return rng.integers(0, max(network.num_classes or network.num_features, 2), batch).astype(np.int64)


def random_input(network: Network, resolution: int, seed: int, batch: int = 2) -> np.ndarray:
    """A seeded standard-normal NCHW float32 batch."""
    rng = np.random.default_rng(seed + 1)
    shape = (batch, network.input_channels, resolution, resolution)
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- the checks


def check_weights(
    subject: str,
    exported: Mapping[str, np.ndarray],
    network: Network,
    reference: Mapping[str, np.ndarray] | None = None,
) -> Check:
    """Exported names and shapes equal the IR's canonical tensors; values equal ``reference`` if given."""
    specs = tensor_specs(network)
    missing = sorted(set(specs) - set(exported))
    extra = sorted(set(exported) - set(specs))
    shaped = sorted(n for n in set(specs) & set(exported) if tuple(np.shape(exported[n])) != specs[n].shape)
    changed = []
    if reference is not None:
        changed = sorted(
            n
            for n in set(reference) & set(exported)
            if not np.array_equal(np.asarray(exported[n]), reference[n])
        )
    ok = not (missing or extra or shaped or changed)
    problems = [
        f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
        for label, names in (
            ("missing", missing),
            ("extra", extra),
            ("mis-shaped", shaped),
            ("changed by round trip", changed),
        )
        if names
    ]
    figures = {
        "tensors": len(exported),
        "expected": len(specs),
        "missing": len(missing),
        "extra": len(extra),
        "mis-shaped": len(shaped),
        "changed": len(changed),
    }
    return Check("weights", subject, ok, figures, "; ".join(problems))


# Sampling bounds of the initialiser check: a statistic of n independent draws lies within
# SIGMAS of its standard error (a chance of about 2e-9 per figure of failing a correct draw).
SIGMAS = 6.0
_TRUNCATED = _truncated_moments(TRUNCATION)
KURTOSIS = {"normal": 3.0, "truncated_normal": _TRUNCATED[1] / _TRUNCATED[0] ** 2, "uniform": 1.8}
INIT_SAMPLE = 1 << 20  # the first million elements of a tensor are enough, and keep L2 fast
KURTOSIS_MIN_SIZE = 1000  # below this the sample kurtosis is too skewed for a normal bound


def init_deviation(value: np.ndarray, init: Init) -> tuple[float, str]:
    """How far one fresh tensor is from its declared distribution, in units of its sampling bound
    (<= 1 passes), and what is off. Checks range, mean, std and (large tensors) kurtosis."""
    if init.dist == "constant":  # every element, exactly
        x = np.asarray(value).ravel()
        off = float(np.max(np.abs(x - init.scale))) if x.size else 0.0
        return (0.0, "") if off == 0 else (np.inf, f"not all {init.scale:g} (off by up to {off:.3g})")
    x = np.asarray(value).ravel()[:INIT_SAMPLE].astype(np.float64)  # elements are iid: any subset will do
    n, sigma = x.size, init.std
    found: list[tuple[float, str]] = []
    if init.bound is not None:
        peak = float(np.max(np.abs(x)))
        if peak > init.bound * (1 + 1e-6):
            found.append((np.inf, f"values reach {peak:.4g}, beyond the declared bound {init.bound:.4g}"))
    mean = float(x.mean())
    squares = np.square(x - mean)  # squared, not ** 4: numpy's general power is ~10x slower
    std = float(np.sqrt(squares.mean()))
    found.append((abs(mean) / (SIGMAS * sigma / np.sqrt(n)), f"mean {mean:.3g}, declared 0"))
    if n >= 2:
        allowed = SIGMAS * np.sqrt((KURTOSIS[init.dist] - 1) / (4 * n))
        found.append(
            (abs(std / sigma - 1) / allowed, f"std {std:.4g}, declared {sigma:.4g} (+-{allowed:.1%})")
        )
    if n >= KURTOSIS_MIN_SIZE and std > 0:
        kurtosis = float(np.mean(np.square(squares)) / std**4)
        want = KURTOSIS[init.dist]
        found.append(
            (
                abs(kurtosis - want) / (SIGMAS * np.sqrt(24 / n)),
                f"kurtosis {kurtosis:.3g}, {init.dist} has {want:.3g}",
            )
        )
    return max(found)


def check_init(subject: str, fresh: Mapping[str, np.ndarray], network: Network) -> Check:
    """A fresh model's tensors drawn as the IR declares (convention 8): each within sampling bounds."""
    deviations = {
        name: init_deviation(fresh[name], spec.init)
        for name, spec in tensor_specs(network).items()
        if name in fresh  # a missing tensor is the weights check's finding
    }
    off = {name: found for name, found in deviations.items() if found[0] > 1}
    worst = max((d for d, _ in deviations.values()), default=0.0)
    message = "; ".join(f"{name}: {why}" for name, (_, why) in list(off.items())[:3])
    if len(off) > 3:
        message += f" (and {len(off) - 3} more)"
    figures = {"tensors": len(deviations), "off": len(off), "worst": float(worst), "scheme": network.init}
    return Check("init", subject, not off, figures, message)


def check_shape(name: str, subject: str, output: np.ndarray, expected: tuple[int, ...]) -> Check:
    """The output shape the IR predicts: (batch, classes) or (batch, features)."""
    shape = tuple(np.shape(output))
    ok = shape == tuple(expected)
    return Check(
        name,
        subject,
        ok,
        {"shape": list(shape), "expected": list(expected)},
        "" if ok else f"shape {shape} != expected {tuple(expected)}",
    )


def expected_output_shape(network: Network, batch: int) -> tuple[int, ...]:
    """Logits, pooled features, or (an unpooled network) the last feature map, NCHW."""
    if network.pool is None:
        return (batch, network.last_map.out_channels, *network.last_map.out_size)
    return (batch, network.num_classes or network.num_features)


def check_counts(subject: str, measured, expected: Cost, how: str = "") -> list[Check]:
    """Params, buffers and MACs counted by the framework against the analytic cost model."""
    checks = []
    for count in COUNTS:
        got, want = int(getattr(measured, count)), int(getattr(expected, count))
        diff = got - want
        checks.append(
            Check(
                count,
                subject,
                diff == 0,
                {"measured": got, "expected": want, "diff": diff},
                how if diff else "",
            )
        )
    return checks


def compare_outputs(
    subject: str, actual: np.ndarray, reference: np.ndarray, rtol: float = RTOL, atol: float = ATOL
) -> Check:
    """numpy.allclose(actual, reference) semantics, reported as max abs and max rel error.

    ``worst`` is max |a-b| / (atol + rtol*|b|): the check passes exactly when it is <= 1.
    ``max_rel`` is over elements with b != 0 and can be large where b is near zero.
    """
    a, b = np.asarray(actual, np.float64), np.asarray(reference, np.float64)
    if a.shape != b.shape:
        return Check(
            "outputs",
            subject,
            False,
            {"shape": list(a.shape), "reference_shape": list(b.shape)},
            "shapes differ",
        )
    diff = np.abs(a - b)
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return Check("outputs", subject, False, {"finite": False}, "non-finite outputs")
    nonzero = np.abs(b) > 0
    max_rel = float(np.max(diff[nonzero] / np.abs(b[nonzero]))) if nonzero.any() else 0.0
    worst = float(np.max(diff / (atol + rtol * np.abs(b)))) if diff.size else 0.0
    figures = {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": max_rel,
        "worst": worst,
        "scale": float(np.abs(b).max()) if b.size else 0.0,
        "rtol": rtol,
        "atol": atol,
    }
    ok = worst <= 1.0
    return Check(
        "outputs",
        subject,
        ok,
        figures,
        "" if ok else f"|a-b| exceeds atol + rtol*|b| ({worst:.3g}x the allowance)",
    )
