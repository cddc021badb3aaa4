"""The comparison primitives, held to numpy's own allclose and to hand-built cases (no framework)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scalespec.conformance import checks as C
from scalespec.ir.cost import Cost
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import tensor_specs
from scalespec.zoo import load_model

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@given(arrays(np.float32, 6, elements=finite), arrays(np.float32, 6, elements=finite))
def test_outputs_check_agrees_with_numpy_allclose(a, b):
    """The pass/fail verdict is exactly numpy.allclose(a, b, rtol=1e-4, atol=1e-5)."""
    check = C.compare_outputs("a vs b", a, b)
    assert check.ok == bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-4, atol=1e-5))


def test_outputs_check_reports_max_abs_and_rel_error():
    reference = np.array([[1.0, -2.0, 0.5]], np.float32)
    actual = np.array([[1.0, -2.002, 0.5]], np.float32)
    check = C.compare_outputs("x", actual, reference)
    assert not check.ok and check.name == "outputs"
    assert check.figures["max_abs"] == pytest.approx(0.002, rel=1e-3)
    assert check.figures["max_rel"] == pytest.approx(0.001, rel=1e-3)
    # allowance at -2.0 is 1e-5 + 1e-4 * 2 = 2.1e-4, so the error is ~9.5 allowances
    assert check.figures["worst"] == pytest.approx(0.002 / 2.1e-4, rel=1e-3)


def test_outputs_check_fails_on_shape_or_nan():
    assert not C.compare_outputs("x", np.zeros((2, 3)), np.zeros((2, 4))).ok
    assert not C.compare_outputs("x", np.array([np.nan]), np.array([0.0])).ok


def test_count_checks_name_the_mismatching_count():
    class Counted:
        params, buffers, macs = 10, 4, 99

    checks = C.check_counts("torch", Counted, Cost(params=10, buffers=4, macs=100))
    assert [(c.name, c.ok) for c in checks] == [("params", True), ("buffers", True), ("macs", False)]
    assert checks[2].figures == {"measured": 99, "expected": 100, "diff": -1}


@pytest.fixture(scope="module")
def b0():
    ref = load_model("efficientnet-b0")
    return resolve(ref.spec, variant="b0", resolution=32)


def test_weight_check_names_missing_extra_misshaped_and_changed(b0):
    weights = C.random_weights(b0, seed=0)
    assert C.check_weights("x", weights, b0, weights).ok
    broken = dict(weights)
    del broken["stem.conv.weight"]
    broken["stem.conv.bias"] = np.zeros(32, np.float32)
    broken["head.bn.weight"] = np.zeros(3, np.float32)
    broken["classifier.bias"] = weights["classifier.bias"] + 1
    check = C.check_weights("x", broken, b0, weights)
    assert not check.ok
    assert check.figures["missing"] == check.figures["extra"] == check.figures["mis-shaped"] == 1
    for name in ("stem.conv.weight", "stem.conv.bias", "head.bn.weight", "classifier.bias"):
        assert name in check.message


def test_random_weights_are_seeded_well_scaled_and_not_identity_bn(b0):
    first, again, other = (C.random_weights(b0, seed) for seed in (3, 3, 4))
    assert set(first) == set(tensor_specs(b0))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["stem.conv.weight"], other["stem.conv.weight"])
    var = np.concatenate([v for k, v in first.items() if k.endswith("running_var")])
    assert var.min() >= 0.5 and var.max() <= 2.0 and var.std() > 0.2
    stem = first["stem.conv.weight"]  # He scale: std sqrt(2 / (3 * 3 * 3))
    assert stem.std() == pytest.approx(np.sqrt(2 / 27), rel=0.25)
    assert all(v.dtype == np.float32 for v in first.values())


def test_sgd_check_fails_a_non_finite_gradient_instead_of_raising(b0):
    """A NaN gradient is a failing row of sgd-step (named at its tap), not a KeyError."""
    from scalespec.backends.base import TrainStep
    from scalespec.conformance import taps as T

    before = C.random_weights(b0, 0)
    grads = {name: np.zeros_like(value) for name, value in before.items() if tensor_specs(b0)[name].trainable}
    grads["stem.conv.weight"] = np.full_like(grads["stem.conv.weight"], np.nan)
    step = TrainStep(
        taps={}, loss=0.0, grads=grads, input_grad=np.zeros((2, 3, 32, 32), np.float32), after=before
    )
    check = T.check_sgd("torch", before, step, T.Layout(b0, 2), T.LEARNING_RATE)
    assert not check.ok and check.figures["first"] == "stem"
