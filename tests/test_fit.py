"""Budget fitting as an API: the largest phi on the grid fits, the next step does not."""

from __future__ import annotations

import pytest

from scalespec.errors import SpecError
from scalespec.ir.cost import network_cost
from scalespec.ir.fit import GRID, Budget, fit_phi, fitting_variants
from scalespec.ir.resolve import resolve
from scalespec.zoo import load_family


@pytest.mark.parametrize(
    "budget",
    [Budget(max_macs=2e9), Budget(max_params=2e7), Budget(max_macs=1e9, max_params=1e7)],
    ids=["macs", "params", "both"],
)
@pytest.mark.parametrize("resolution", [None, 256])
def test_largest_phi_fits_and_the_next_step_does_not(budget, resolution):
    spec = load_family("efficientnet")
    fit = fit_phi(spec, budget, resolution=resolution)
    assert fit is not None and budget.admits(fit.cost)
    assert fit.cost == network_cost(resolve(spec, phi=fit.phi, resolution=resolution)).total
    step = network_cost(resolve(spec, phi=fit.phi + 1 / GRID, resolution=resolution)).total
    assert not budget.admits(step)


def test_nothing_fits_a_tiny_budget():
    assert fit_phi(load_family("efficientnet"), Budget(max_params=10)) is None


def test_fitting_variants_are_exactly_those_within_budget():
    spec = load_family("efficientnet")
    budget = Budget(max_macs=2e9)
    fits = {fit.variant for fit in fitting_variants(spec, budget)}
    for variant in spec.scaling.variants:
        cost = network_cost(resolve(spec, variant=variant)).total
        assert (variant in fits) == budget.admits(cost)
    assert fits and fits != set(spec.scaling.variants)


@pytest.mark.parametrize(
    "kwargs, field",
    [({}, "budget"), ({"max_macs": -1.0}, "max_macs"), ({"max_params": 0.0}, "max_params")],
)
def test_bad_budgets_name_the_field(kwargs, field):
    with pytest.raises(SpecError, match=field):
        Budget(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field", [({"profile": "nope"}, "profile"), ({"resolution": 0}, "resolution")]
)
def test_bad_resolve_options_are_bad_input_not_no_fit(kwargs, field):
    with pytest.raises(SpecError, match=field):
        fit_phi(load_family("efficientnet"), Budget(max_macs=1e9), **kwargs)
