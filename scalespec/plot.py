"""Frontier pictures (matplotlib, the optional ``scalespec[plot]`` extra): one curve per scaling
strategy of MACs against activations, parameters and memory, the named variants marked, and,
when timed, latency against MACs and against activations."""

from __future__ import annotations

import io
from collections.abc import Sequence

from .errors import SpecError
from .ir.frontier import FrontierPoint

# what each panel plots against MACs (or activations): (attribute, axis label, scale to units)
PANELS = (
    ("macs", "activations", "activations (M elements)", 1e-6),
    ("macs", "params", "parameters (M)", 1e-6),
    ("macs", "inference_bytes", "inference memory (MiB)", 2**-20),
    ("macs", "training_bytes", "training memory, SGD (MiB)", 2**-20),
)
TIMED_PANELS = (
    ("macs", "latency_ms", "latency (ms)", 1.0),
    ("activations", "latency_ms", "latency (ms)", 1.0),
)
AXIS_LABELS = {"macs": "MACs (G)", "activations": "activations (M elements)"}
AXIS_SCALES = {"macs": 1e-9, "activations": 1e-6}
STYLES = {"compound": "o-", "fast": "s-", "width": "^-", "depth": "v-", "resolution": "D-"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SpecError(
            [("output", "drawing needs matplotlib: pip install 'scalespec[plot]' (or give only --csv)")]
        ) from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def frontier_png(points: Sequence[FrontierPoint], variants: Sequence[FrontierPoint], *, title: str) -> bytes:
    """The frontier picture as PNG bytes (written by the caller, atomically)."""
    plt = _pyplot()
    from matplotlib import ticker

    timed = all(p.latency_ms is not None for p in (*points, *variants)) and points
    panels = PANELS + (TIMED_PANELS if timed else ())
    columns = 3 if timed else 2
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    strategies = list(dict.fromkeys(p.strategy for p in points))
    for axis, (x_name, y_name, label, unit) in zip(axes.flat, panels, strict=False):
        x_unit = AXIS_SCALES[x_name]
        for strategy in strategies:
            curve = sorted((p for p in points if p.strategy == strategy), key=lambda p: getattr(p, x_name))
            axis.plot(
                [getattr(p, x_name) * x_unit for p in curve],
                [getattr(p, y_name) * unit for p in curve],
                STYLES.get(strategy, "o-"),
                markersize=4,
                label=strategy,
            )
        for variant in variants:
            x, y = getattr(variant, x_name) * x_unit, getattr(variant, y_name) * unit
            axis.plot([x], [y], "k*", markersize=9)
            axis.annotate(variant.variant, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
        axis.set_xscale("log")
        axis.set_yscale("log")
        for side in (axis.xaxis, axis.yaxis):  # log axes labelled 1, 2, 5, 10, 20... in plain numbers
            side.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            side.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            side.set_minor_formatter(ticker.NullFormatter())
        axis.set_xlabel(AXIS_LABELS[x_name])
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.25)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    axes.flat[0].legend(title="strategy (stars: named variants)", fontsize=8, title_fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
