"""Plain-text rendering of a conformance Report: one table per check, then a verdict line."""

from __future__ import annotations

import json

from .checks import CHECK_ORDER, Check
from .runner import Report

HIDDEN = {"rtol", "atol"}  # the same on every row; stated once in the outputs table's title


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
