"""Budget fitting: the largest compound coefficient whose resolved network fits a MACs/params budget."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError
from ..spec.network import NetworkSpec
from .cost import Cost, network_cost
from .network import Network
from .resolve import resolve

PHI_RANGE = (-10.0, 30.0)  # searched on a 0.01 grid
GRID = 100  # steps per unit of phi


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Upper bounds on the resolved network's MACs and trainable parameters (None: unbounded)."""

    max_macs: float | None = None
    max_params: float | None = None

    def __post_init__(self) -> None:
        if self.max_macs is None and self.max_params is None:
            raise SpecError([("budget", "give max_macs and/or max_params")])
        for name in ("max_macs", "max_params"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpecError([(name, f"must be a positive number, got {value}")])

    def admits(self, cost: Cost) -> bool:
        return (self.max_macs is None or cost.macs <= self.max_macs) and (
            self.max_params is None or cost.params <= self.max_params
        )


@dataclass(frozen=True, kw_only=True)
class Fit:
    """A network that fits, the phi (or variant) that made it, and its total cost."""

    network: Network
    cost: Cost
    phi: float | None = None
    variant: str | None = None


def _try(spec: NetworkSpec, budget: Budget, **how) -> Fit | None:
    try:
        network = resolve(spec, **how)
    except SpecError:  # past scalespec's sanity budget, so certainly past the user's
        return None
    cost = network_cost(network).total
    if not budget.admits(cost):
        return None
    return Fit(network=network, cost=cost, phi=how.get("phi"), variant=how.get("variant"))


def fit_phi(
    spec: NetworkSpec, budget: Budget, *, resolution: int | None = None, profile: str | None = None
) -> Fit | None:
    """The largest phi on a 0.01 grid in PHI_RANGE whose network fits; None when even the smallest
    does not. Cost grows with phi, so a bisection finds it in about 12 resolves.
    """
    resolve(spec, phi=0.0, resolution=resolution, profile=profile)  # bad input raises, not "nothing fits"
    lo, hi = int(PHI_RANGE[0] * GRID), int(PHI_RANGE[1] * GRID)
    best = _try(spec, budget, phi=lo / GRID, resolution=resolution, profile=profile)
    if best is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        found = _try(spec, budget, phi=mid / GRID, resolution=resolution, profile=profile)
        if found is None:
            hi = mid
        else:
            lo, best = mid, found
    return best


def fitting_variants(
    spec: NetworkSpec, budget: Budget, *, resolution: int | None = None, profile: str | None = None
) -> list[Fit]:
    """The spec's named variants whose networks fit, in the spec's order."""
    fits = (
        _try(spec, budget, variant=v, resolution=resolution, profile=profile) for v in spec.scaling.variants
    )
    return [fit for fit in fits if fit is not None]
