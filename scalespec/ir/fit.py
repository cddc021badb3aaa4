"""Budget fitting: the largest compound coefficient (or FLOPs multiplier of a scaling strategy)
whose resolved network fits a budget on MACs, parameters, activations and memory."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError
from ..spec.network import NetworkSpec
from .cost import Cost, network_cost
from .memory import check_memory_arguments, inference_memory, training_memory
from .network import Network
from .resolve import resolve
from .strategies import FAST_ALPHA, MULTIPLIER_RANGE, scale_network

PHI_RANGE = (-10.0, 30.0)  # searched on a 0.01 grid
GRID = 100  # steps per unit of phi


LIMITS = ("max_macs", "max_params", "max_activations", "max_memory", "max_training_memory")


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Upper bounds on the resolved network (None: unbounded): MACs, trainable parameters,
    activations (elements, as the cost model counts them), inference memory and training
    memory in bytes (ir/memory.py totals at ``batch`` and ``dtype``, training with ``optimizer``)."""

    max_macs: float | None = None
    max_params: float | None = None
    max_activations: float | None = None
    max_memory: float | None = None
    max_training_memory: float | None = None
    batch: int = 1
    dtype: str = "float32"
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        if all(getattr(self, name) is None for name in LIMITS):
            raise SpecError([("budget", f"give at least one of {', '.join(LIMITS)}")])
        for name in LIMITS:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpecError([(name, f"must be a positive number, got {value}")])
        check_memory_arguments(self.batch, self.dtype, self.optimizer)

    def admits(self, cost: Cost, network: Network | None = None) -> bool:
        """Whether a network of this ``cost`` fits; memory limits also need the ``network``."""
        within = all(
            limit is None or value <= limit
            for limit, value in (
                (self.max_macs, cost.macs),
                (self.max_params, cost.params),
                (self.max_activations, cost.activations),
            )
        )
        if not within or (self.max_memory is None and self.max_training_memory is None):
            return within
        if network is None:
            raise ValueError("a memory budget needs the network, not only its cost")
        how = {"batch": self.batch, "dtype": self.dtype}
        if self.max_memory is not None and inference_memory(network, **how).total > self.max_memory:
            return False
        training = self.max_training_memory
        return training is None or training_memory(network, optimizer=self.optimizer, **how).total <= training


@dataclass(frozen=True, kw_only=True)
class Fit:
    """A network that fits, the phi (or variant) that made it, and its total cost."""

    network: Network
    cost: Cost
    phi: float | None = None
    variant: str | None = None
    flops_multiplier: float | None = None  # with a scaling strategy: the multiplier that made it


def _try(spec: NetworkSpec, budget: Budget, **how) -> Fit | None:
    try:
        network = resolve(spec, **how)
    except SpecError:  # past scalespec's sanity budget, so certainly past the user's
        return None
    cost = network_cost(network).total
    if not budget.admits(cost, network):
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


STEPS_PER_DOUBLING = 100  # fit_strategy searches log2 of the FLOPs multiplier on a 0.01 grid


def fit_strategy(
    spec: NetworkSpec,
    base: Network,
    budget: Budget,
    strategy: str,
    *,
    alpha: float = FAST_ALPHA,
    profile: str | None = None,
) -> Fit | None:
    """The largest FLOPs multiplier (log2 on a 0.01 grid within MULTIPLIER_RANGE) by which
    ``strategy`` can scale ``base`` and still fit; None when even the smallest does not."""

    def attempt(step: int) -> Fit | None:
        s = 2 ** (step / STEPS_PER_DOUBLING)
        try:
            scaled = scale_network(spec, base, s, strategy, alpha=alpha, profile=profile)
        except SpecError as error:
            if any(field in ("strategy", "alpha") for field, _ in error.problems):
                raise  # the request is wrong, whatever the size
            return None  # too small to resolve, or past scalespec's sanity budget
        if not budget.admits(scaled.cost, scaled.network):
            return None
        return Fit(network=scaled.network, cost=scaled.cost, flops_multiplier=s)

    low = math.ceil(STEPS_PER_DOUBLING * math.log2(MULTIPLIER_RANGE[0]))
    high = math.floor(STEPS_PER_DOUBLING * math.log2(MULTIPLIER_RANGE[1]))
    best = attempt(low)
    if best is None:
        return None
    top = attempt(high)
    if top is not None:
        return top
    while high - low > 1:
        mid = (low + high) // 2
        found = attempt(mid)
        if found is None:
            high = mid
        else:
            low, best = mid, found
    return best
