"""A conformance Report (every check of one network) and its text and JSON renderings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..backends.base import TrainStep
from . import checks as C
from .checks import CHECK_ORDER, Check

HIDDEN = {"rtol", "atol"}  # the same on every row; stated once in the outputs table's title


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
    train_input: np.ndarray | None = None  # the training check's batch (see taps.train_batch)
    labels: np.ndarray | None = None
    taps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # backend -> eval taps
    features: dict[str, list[np.ndarray]] = field(default_factory=dict)  # backend -> pyramid maps
    training: dict[str, TrainStep] = field(default_factory=dict)  # backend -> one training step
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


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3e}" if value and (abs(value) < 1e-2 or abs(value) >= 1e5) else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return str(value)


def table(name: str, rows: list[Check]) -> str:
    """One check's rows: subject, its figures, PASS/FAIL and any message."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row.figures if k not in keys and k not in HIDDEN]
    header = ["subject", *keys, "result"]
    body = [
        [row.subject, *(_cell(row.figures.get(k, "")) for k in keys), "PASS" if row.ok else "FAIL"]
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    title = name
    if name == "outputs" and rows and "rtol" in rows[0].figures:
        title += f" (eval mode; pass when |a-b| <= atol + rtol*|b|, rtol {rows[0].figures['rtol']:g}, atol {rows[0].figures['atol']:g})"
    lines = [f"== {title}", "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in body]
    lines += [f"   {row.subject}: {row.message}" for row in rows if row.message and not row.ok]
    return "\n".join(lines)


def render(report: Report) -> str:
    """Every check's table in a fixed order, then PASS or the failing check names."""
    ident = report.identity
    where = ", ".join(f"{name} on {device}" for name, device in report.devices.items())
    head = f"conformance of {ident.get('name')} at {ident.get('resolution')}px ({where})"
    parts = [head]
    for name in CHECK_ORDER:
        rows = [check for check in report.checks if check.name == name]
        if rows:
            parts.append(table(name, rows))
    parts.append(verdict(report))
    return "\n\n".join(parts)


def verdict(report: Report) -> str:
    if report.ok:
        return f"PASS: {len(report.checks)} checks in {report.seconds:.1f}s"
    return f"FAIL: {', '.join(report.failed_names())} ({len(report.failures())} of {len(report.checks)} checks failed)"


def to_json(reports: list[Report], extra: dict | None = None) -> str:
    """The machine-readable report written by ``--json``."""
    data = {"ok": all(r.ok for r in reports), "reports": [r.as_dict() for r in reports], **(extra or {})}
    return json.dumps(data, indent=2, default=str) + "\n"
