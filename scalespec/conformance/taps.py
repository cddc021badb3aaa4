"""Divergence localisation and training-mode checks: every tap, gradient and statistic compared.

Two backends given the same weights and batch are compared at every canonical tap
(``Network.taps``), not only at the logits, so a difference that shrinks before the output
still fails, and the report names the first tap where they part: in forward order for
activations and BN statistics, from the output backwards for gradients.

Tolerances are derived, not tuned (docs/conformance.md, "Tolerances"): with float32's unit
roundoff u = 2^-24, K the longest sum (the largest fan-in in eval; in training also a batch
statistic over batch x height x width values) and L the number of weighted layers up to a tap
(in training, all of them, since gradients come back through every layer), a tap may differ by
``c * u * sqrt(K) * L`` times that tap's largest magnitude (a gradient: its layer's). ``c`` is
EVAL_FACTOR in eval mode and TRAIN_FACTOR in training, where batch norm subtracts batch means
and divides by batch deviations, which cancels digits and amplifies rounding.

Sizes cannot see conditioning (a ReLU input within rounding of its kink, a batch norm that
cancels nearly all of a gradient), so gradients beyond that allowance get a second opinion:
SENSITIVITY_FACTOR times how far float32-sized perturbations move each element in a float64
run of the same step (``Backend.sensitivity``), measured only then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..backends.base import StochasticFn, TrainStep
from ..ir.network import Network, SqueezeExcite
from ..ir.weights import op_tensors
from .checks import SIGMAS, Check

UNIT_ROUNDOFF = 2.0**-24  # float32
EVAL_FACTOR = 4.0
TRAIN_FACTOR = 32.0
BN_STATISTICS = (".running_mean", ".running_var")
MIN_STATISTIC = 16  # values behind each batch statistic in the training check
LEARNING_RATE = 0.1  # the SGD step of the training check
SENSITIVITY_FACTOR = 8.0  # gradients may differ by this many times their measured sensitivity


def _map_sizes(network: Network) -> list[tuple[int, int]]:
    """The output size of every conv of the network."""
    return [conv.out_size for conv in network.convs()]


def train_batch(network: Network, batch: int) -> int:
    """The training check's batch: ``batch``, raised until every BN statistic averages at least
    MIN_STATISTIC values. Batch norm over 2 values maps each channel to about +-1 and
    amplifies rounding without bound, so a smaller statistic would test conditioning, not code."""
    smallest = min(h * w for h, w in _map_sizes(network))
    return max(batch, -(-MIN_STATISTIC // smallest))


class Layout:
    """Which tap each canonical tensor belongs to, the layers up to each tap, and the tolerances."""

    def __init__(self, network: Network, batch: int):
        self.taps = network.taps()
        self.what = {tap.name: tap.what for tap in self.taps}
        self.features = [level.tap for level in network.feature_levels()]
        trunk = [(network.stem.name, network.stem), *((block.name, block) for block in network.blocks)]
        self.map_shapes = {name: (part.out_channels, *part.out_size) for name, part in trunk}
        self.layer_of: dict[str, str] = {}  # tensor -> its op (scale group)
        self.tap_of: dict[str, str] = {}  # tensor -> its tap
        depth: dict[str, int] = {}
        fan_in, layers = 1, 0
        for op in network.layers():
            tap = self.tap_for(op.name)
            layers += 2 if isinstance(op, SqueezeExcite) else 1  # reduce and expand
            for name, spec in op_tensors(op, network.init).items():
                self.layer_of[name], self.tap_of[name] = op.name, tap
                if len(spec.shape) > 1:
                    fan_in = max(fan_in, int(np.prod(spec.shape[1:])))
            depth[tap] = layers
        self.fan_in, self.layers = fan_in, layers
        # the longest sum in training: a batch statistic over batch x height x width values
        self.batch_sum = batch * max(h * w for h, w in _map_sizes(network))
        running = 1
        self.depth = {}
        for tap in self.taps:  # taps without weights (pool) sit at the depth of the tap before
            running = depth.get(tap.name, running)
            self.depth[tap.name] = running

    def tap_for(self, op_name: str) -> str:
        """The tap a layer (op) belongs to ("" for none, e.g. the input)."""
        names = [tap.name for tap in self.taps]
        return max((t for t in names if op_name == t or op_name.startswith(t + ".")), key=len, default="")

    def rtol(self, tap: str, *, training: bool) -> float:
        """The allowed difference at ``tap``, relative to that tap's largest magnitude."""
        if training:
            return TRAIN_FACTOR * UNIT_ROUNDOFF * np.sqrt(max(self.fan_in, self.batch_sum)) * self.layers
        return EVAL_FACTOR * UNIT_ROUNDOFF * np.sqrt(self.fan_in) * self.depth.get(tap, self.layers)

    def label(self, tap: str) -> str:
        return f"{tap} ({self.what[tap]})" if tap in self.what else tap


def _row(tap: str, actual: np.ndarray, reference: np.ndarray, rtol: float) -> dict:
    # float32 pairs are compared in float32: a difference rounds by 6e-8 of itself, far inside
    # any allowance, and L2's 1.9 GB of weights are not copied to float64 several times over
    dtype = np.result_type(actual, reference, np.float32)
    a, b = np.asarray(actual, dtype), np.asarray(reference, dtype)
    if a.shape != b.shape:
        return {"tap": tap, "ok": False, "ratio": np.inf, "message": f"shape {a.shape} != {b.shape}"}
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    if not (np.isfinite(diff) and np.isfinite(scale)):  # an inf or nan in either reaches one of these
        return {"tap": tap, "ok": False, "ratio": np.inf, "message": "non-finite values"}
    allowed = rtol * scale
    ratio = diff / allowed if allowed > 0 else (0.0 if diff == 0 else np.inf)
    return {"tap": tap, "ok": ratio <= 1, "max_abs": diff, "scale": scale, "allowed": allowed, "ratio": ratio}


def _verdict(name: str, subject: str, rows: list[dict], layout: Layout, order: str) -> Check:
    """One check over per-tap rows: passes when every row does; names the first failing tap."""
    bad = [row for row in rows if not row["ok"]]
    worst = max((row["ratio"] for row in rows), default=0.0)
    figures = {"taps": len(rows), "diverging": len(bad), "worst": float(worst)}
    message = ""
    if bad:
        first = bad[0]
        figures["first"] = first["tap"]
        detail = first.get("message") or (
            f"max abs {first['max_abs']:.3g}, {first['ratio']:.3g}x the allowance {first['allowed']:.3g}"
        )
        message = f"first divergence ({order}) at {layout.label(first['tap'])}: {detail}"
    details = [{k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()} for row in rows]
    return Check(name, subject, not bad, figures, message, details)


def compare_taps(
    name: str, subject: str, actual: Mapping, reference: Mapping, layout: Layout, *, training: bool
) -> Check:
    """Every tap of ``actual`` against ``reference``, in forward order."""
    rows = [
        _row(tap.name, actual[tap.name], reference[tap.name], layout.rtol(tap.name, training=training))
        if tap.name in actual and tap.name in reference
        else {"tap": tap.name, "ok": False, "ratio": np.inf, "message": "tap missing"}
        for tap in layout.taps
    ]
    return _verdict(name, subject, rows, layout, "forward")


def _feature_rows(
    maps: Sequence[np.ndarray], reference: Mapping[str, np.ndarray], layout: Layout
) -> list[dict]:
    """One row per feature level: its map against ``reference`` (tap name -> map)."""
    rows = []
    for tap, found in zip(layout.features, maps, strict=False):
        shape = tuple(np.shape(found))[1:]
        if shape != layout.map_shapes[tap]:
            rows.append(
                {
                    "tap": tap,
                    "ok": False,
                    "ratio": np.inf,
                    "message": f"map {shape}, the IR says {layout.map_shapes[tap]}",
                }
            )
            continue
        rows.append(_row(tap, found, reference[tap], layout.rtol(tap, training=False)))
    if len(maps) != len(layout.features):
        rows.append(
            {
                "tap": "maps",
                "ok": False,
                "ratio": np.inf,
                "message": f"{len(maps)} maps, expected {len(layout.features)}",
            }
        )
    return rows


def check_features(
    subject: str, maps: Sequence[np.ndarray], taps: Mapping[str, np.ndarray], layout: Layout
) -> Check:
    """A backend's features-only model returns one map per feature level, each the full
    model's eval tap there (so the pyramid is the trunk the other checks hold to the IR)."""
    return _verdict("features", subject, _feature_rows(maps, taps, layout), layout, "shallow to deep")


def compare_features(
    subject: str, actual: Sequence[np.ndarray], reference: Sequence[np.ndarray], layout: Layout
) -> Check:
    """Two backends' features-only models level by level, at the eval tolerance of each tap."""
    named = dict(zip(layout.features, reference, strict=False))
    return _verdict("features", subject, _feature_rows(actual, named, layout), layout, "shallow to deep")


def _row_against(tap: str, actual: np.ndarray, reference: np.ndarray, allowed: float) -> dict:
    """``_row`` with an absolute allowance."""
    row = _row(tap, actual, reference, 0.0)
    if "max_abs" not in row:
        return row
    diff = row["max_abs"]
    ratio = diff / allowed if allowed > 0 else (0.0 if diff == 0 else np.inf)
    return row | {"allowed": allowed, "ratio": ratio, "ok": ratio <= 1}


def _grouped_rows(
    actual: Mapping,
    reference: Mapping,
    layout: Layout,
    names: Sequence[str],
    spread: Mapping[str, np.ndarray] | None = None,
) -> list[dict]:
    """One row per tap: each tensor's difference relative to the largest value of its layer, or
    where ``spread`` (measured sensitivity) gives more, SENSITIVITY_FACTOR times that."""
    rtol = layout.rtol("", training=True)
    scale: dict[str, float] = {}
    for name in names:
        layer = layout.layer_of[name]
        scale[layer] = max(scale.get(layer, 0.0), float(np.max(np.abs(reference[name]), initial=0.0)))
    rows: dict[str, dict] = {}
    for name in names:
        tap = layout.tap_of[name]
        if name not in actual:
            rows[tap] = {"tap": tap, "ok": False, "ratio": np.inf, "message": f"{name} missing"}
            continue
        row = _row_against(
            tap, actual[name], reference[name], _allowance(rtol * scale[layout.layer_of[name]], spread, name)
        )
        row["tensor"] = name
        if tap not in rows or row["ratio"] > rows[tap]["ratio"]:
            rows[tap] = row
    return [rows[tap.name] for tap in layout.taps if tap.name in rows]


def _allowance(derived: float, spread: Mapping[str, np.ndarray] | None, name: str) -> float:
    """The derived allowance, or SENSITIVITY_FACTOR times the tensor's largest measured spread."""
    if spread is None or name not in spread:
        return derived
    return max(derived, SENSITIVITY_FACTOR * float(np.max(spread[name], initial=0.0)))


def _compare_gradients(
    subject: str, actual: TrainStep, reference: TrainStep, layout: Layout, spread: TrainStep | None
) -> Check:
    """Every trainable tensor's gradient and the input's, from the output backwards."""
    derived = layout.rtol("", training=True) * float(np.max(np.abs(reference.input_grad), initial=0.0))
    measured = None if spread is None else {"input": spread.input_grad}
    rows = [
        _row_against("input", actual.input_grad, reference.input_grad, _allowance(derived, measured, "input"))
    ]
    rows += _grouped_rows(
        actual.grads, reference.grads, layout, list(reference.grads), spread and spread.grads
    )
    check = _verdict("gradients", subject, rows[::-1], layout, "backward, from the output")
    if spread is None:
        return check
    message = check.message and (
        f"{check.message} (allowance: the derived one or {SENSITIVITY_FACTOR:g}x the measured sensitivity)"
    )
    return dataclasses.replace(check, figures=check.figures | {"sensitivity": "measured"}, message=message)


def compare_training(
    subject: str,
    actual: TrainStep,
    reference: TrainStep,
    layout: Layout,
    sensitivity: Callable[[], TrainStep | None] | None = None,
) -> list[Check]:
    """Training forward taps, loss, gradients (and the input's), BN statistics and the SGD update.

    Gradients that differ by more than the derived tolerance get a second opinion when
    ``sensitivity`` can measure how far float32 rounding moves them in this network
    (``docs/conformance.md``, "Conditioning"): they pass within SENSITIVITY_FACTOR times that.
    """
    checks = [compare_taps("train-taps", subject, actual.taps, reference.taps, layout, training=True)]
    loss = _row("loss", np.float64(actual.loss), np.float64(reference.loss), layout.rtol("", training=True))
    checks.append(
        Check(
            "loss",
            subject,
            loss["ok"],
            {"loss": actual.loss, "reference": reference.loss, "worst": float(loss["ratio"])},
            "" if loss["ok"] else f"cross-entropy {actual.loss:.7g} vs {reference.loss:.7g}",
        )
    )
    gradients = _compare_gradients(subject, actual, reference, layout, None)
    if not gradients.ok and sensitivity is not None:
        spread = sensitivity()
        if spread is not None:
            gradients = _compare_gradients(subject, actual, reference, layout, spread)
    checks.append(gradients)
    stats = [name for name in reference.after if name.endswith(BN_STATISTICS)]
    checks.append(
        _verdict(
            "bn-stats",
            subject,
            _grouped_rows(actual.after, reference.after, layout, stats),
            layout,
            "forward",
        )
    )
    return checks


class SgdUpdates(Mapping):
    """(weight before - weight after) / lr for each trainable tensor: what the optimizer applied.

    Computed one tensor at a time when read (efficientnet-l2's weights are 1.9 GB); float32,
    since subtracting nearby float32 values is exact."""

    def __init__(self, before: Mapping[str, np.ndarray], step: TrainStep, lr: float):
        self.before, self.step, self.lr = before, step, np.float32(lr)
        self.names = [name for name in step.grads if name in step.after]

    def __getitem__(self, name: str) -> np.ndarray:
        before = np.asarray(self.before[name], np.float32)
        return (before - np.asarray(self.step.after[name], np.float32)) / self.lr

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def check_sgd(
    subject: str, before: Mapping[str, np.ndarray], step: TrainStep, layout: Layout, lr: float
) -> Check:
    """One backend's SGD step applied its own gradients: after == before - lr * grad, every tensor."""
    applied = SgdUpdates(before, step, lr)
    rows = _grouped_rows(applied, step.grads, layout, list(step.grads))
    for row in rows:  # the subtraction itself rounds w - lr*g to float32
        name = row.get("tensor")
        if name is not None and "max_abs" in row:  # a missing or non-finite tensor fails as it is
            allowed = row["allowed"] + 4 * UNIT_ROUNDOFF * float(np.max(np.abs(before[name]))) / lr
            row |= {"allowed": allowed, "ratio": row["max_abs"] / allowed, "ok": row["max_abs"] <= allowed}
    return _verdict("sgd-step", subject, rows, layout, "forward")


def check_cut_paths(subject: str, step: TrainStep, layout: Layout) -> Check | None:
    """A layer none of whose trainable tensors gets any gradient is cut off from the loss.

    Judged per layer, not per tensor: a BN bias whose output feeds only another batch norm
    (or a one-channel 1x1 conv before one) has a gradient that is zero in exact arithmetic,
    but a conv with its BN, a squeeze-excite or a dense layer as a whole never does."""
    alive: dict[str, bool] = {}
    for name, grad in step.grads.items():
        layer = layout.layer_of.get(name, name)
        alive[layer] = alive.get(layer, False) or bool(np.any(grad))
    dead = [layer for layer, flows in alive.items() if not flows]
    if not np.any(step.input_grad):
        dead.append("input")
    if not dead:
        return None
    where = layout.label(layout.tap_for(dead[0]) or dead[0])
    message = f"no gradient reaches {', '.join(dead[:3])}{' ...' if len(dead) > 3 else ''} (first at {where})"
    return Check("gradients", subject, False, {"cut": len(dead), "first": dead[0]}, message)


# ---------------------------------------------------------------- stochastic layers

DROP_PATH_SHAPE = (4000, 3, 2, 2)  # samples x a small map: one mask value per sample
DROPOUT_SHAPE = (64, 256)  # 16384 elements, each masked on its own


def stochastic_rows(fn: StochasticFn, kind: str, rate: float) -> dict:
    """Run one training-only layer on ones: survivors scaled by 1/(1-rate), the drop fraction
    within SIGMAS binomial standard errors of ``rate``, the mask per sample (drop-path) or per
    element (dropout), and the layer the identity in eval."""
    shape = DROP_PATH_SHAPE if kind == "drop_path" else DROPOUT_SHAPE
    ones = np.ones(shape, np.float32)
    problems = []
    if not np.array_equal(fn(ones, False), ones):
        problems.append("changes its input in eval")
    out = np.asarray(fn(ones, True), np.float64).reshape(shape[0], -1)
    dropped = out == 0
    survivor = 1.0 / (1.0 - rate)
    if not np.allclose(out[~dropped], survivor, rtol=1e-6, atol=0):
        problems.append(f"survivors are not scaled by 1/(1-{rate:g}) = {survivor:.6g}")
    mixed = dropped.any(axis=1) & ~dropped.all(axis=1)
    units = dropped[:, 0] if kind == "drop_path" else dropped.ravel()
    if kind == "drop_path" and mixed.any():
        problems.append("drops parts of a sample, not whole samples")
    if kind == "dropout" and not mixed.any():
        problems.append("drops whole samples, not single elements")
    fraction = float(units.mean())
    allowed = SIGMAS * np.sqrt(rate * (1 - rate) / units.size)
    if abs(fraction - rate) > allowed:
        problems.append(f"dropped {fraction:.4f}, declared {rate:g} (+-{allowed:.4f})")
    return {"fraction": fraction, "rate": rate, "problems": problems}


def check_stochastic(subject: str, layers: Mapping[str, StochasticFn], network: Network) -> Check:
    """The model's drop-path and dropout layers are the IR's, at its rates, and behave as declared."""
    declared = {layer.name: layer for layer in network.stochastic_layers()}
    problems = [f"{name}: not in the IR (rate > 0 only)" for name in layers if name not in declared]
    problems += [f"{name}: missing from the model" for name in declared if name not in layers]
    details = []
    for name, layer in declared.items():
        if name in layers:
            found = stochastic_rows(layers[name], layer.kind, layer.rate)
            details.append({"layer": name, "kind": layer.kind, **found})
            problems += [f"{name}: {problem}" for problem in found["problems"]]
    figures = {"layers": len(declared), "problems": len(problems)}
    message = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return Check("stochastic", subject, not problems, figures, message, details)
