"""Hypothesis strategies for small, valid specs that cover the whole spec language.

Specs are built as plain data, valid by construction, then validated by the pydantic models
(``parse_spec``) so a strategy bug shows up as a SpecError, not as a silently odd network.
They stay tiny (at most three stages, channels about 32 or fewer) so a framework build is fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from hypothesis import strategies as st

from ..ir.network import Network
from ..ir.resolve import resolve
from ..spec.blocks import Activation, Gate
from ..spec.io import dump_spec, parse_spec
from ..spec.network import NetworkSpec

ACTIVATIONS: tuple[str, ...] = get_args(Activation)
GATES: tuple[str, ...] = get_args(Gate)
BLOCK_KINDS = ("mbconv", "fused_mbconv", "ds", "conv")
KERNELS = (3, 1, 5, 7)
PROFILE_NAME = "alt"
VARIANT_NAME = "v1"


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``None`` or a value; ``None`` first so shrinking drops optional parts."""
    return st.one_of(st.none(), strategy)


def _put(data: dict, key: str, value) -> None:
    """Set an optional field only when it was drawn, so dumps show what the spec really says."""
    if value is not None:
        data[key] = value


activations = st.sampled_from(ACTIVATIONS)
channels = st.integers(min_value=1, max_value=32)


@st.composite
def squeeze_excite(draw) -> dict:
    """SE variants: ratio, base (input/expanded), gate, optional inner activation."""
    data = {"ratio": draw(st.sampled_from([0.25, 0.5, 0.125, 1.0, 0.3]))}
    _put(data, "base", draw(_maybe(st.sampled_from(["input", "expanded"]))))
    _put(data, "gate", draw(_maybe(st.sampled_from(GATES))))
    _put(data, "activation", draw(_maybe(activations)))
    return data


@st.composite
def blocks(draw, kind: str | None = None) -> dict:
    """One block of any kind with its kind's options."""
    kind = kind or draw(st.sampled_from(BLOCK_KINDS))
    data: dict = {"type": kind, "out": draw(channels)}
    _put(data, "kernel", draw(_maybe(st.sampled_from(KERNELS))))
    _put(data, "stride", draw(_maybe(st.sampled_from([1, 2]))))
    _put(data, "activation", draw(_maybe(activations)))
    if kind == "conv":
        return data
    _put(data, "se", draw(_maybe(squeeze_excite())))
    _put(data, "residual", draw(_maybe(st.sampled_from(["auto", "never"]))))
    if kind == "ds":
        _put(data, "pointwise_activation", draw(_maybe(st.booleans())))
    elif draw(st.booleans()):
        data["expand"] = draw(st.sampled_from([1, 4, 6, 2, 1.5, 3]))
    else:  # an absolute expanded width (MobileNetV3 style)
        data["expanded"] = draw(channels)
    return data


@st.composite
def stages(draw, kind: str | None = None) -> dict:
    data: dict = {"block": draw(blocks(kind))}
    _put(data, "repeats", draw(_maybe(st.integers(min_value=1, max_value=2))))
    _put(data, "scale_depth", draw(_maybe(st.booleans())))
    return data


@st.composite
def rounding(draw) -> dict:
    """Rounding profiles: divisor, round limit, depth, expanded and SE rounding."""
    fields = {
        "divisor": st.sampled_from([8, 1, 2, 4]),
        "min_value": st.integers(min_value=1, max_value=8),
        "round_limit": st.sampled_from([0.9, 0.0, 0.5]),
        "depth": st.sampled_from(["ceil", "round"]),
        "expanded": st.sampled_from(["divisible", "raw"]),
        "se": st.sampled_from(["floor", "round", "divisible"]),
    }
    data: dict = {}
    for key, strategy in fields.items():
        _put(data, key, draw(_maybe(strategy)))
    return data


norms = st.fixed_dictionaries(
    {}, optional={"eps": st.sampled_from([1e-5, 1e-3, 0.01]), "momentum": st.sampled_from([0.1, 0.01])}
)


@st.composite
def heads(draw) -> dict:
    """Head conv present (``out``) or null, optional pre-logits layer."""
    data: dict = {"out": draw(st.one_of(st.integers(min_value=1, max_value=48), st.none()))}
    _put(data, "scale_width", draw(_maybe(st.booleans())))
    _put(data, "activation", draw(_maybe(activations)))
    pre = draw(
        _maybe(
            st.fixed_dictionaries(
                {"features": channels}, optional={"activation": activations, "scale_width": st.booleans()}
            )
        )
    )
    _put(data, "pre_logits", pre)
    return data


@st.composite
def profiles(draw) -> dict:
    """A named profile overriding some network-wide conventions."""
    data: dict = {}
    _put(data, "padding", draw(_maybe(st.sampled_from(["same", "symmetric"]))))
    _put(data, "norm", draw(_maybe(norms)))
    _put(data, "rounding", draw(_maybe(rounding())))
    _put(data, "activation", draw(_maybe(activations)))
    return data


@st.composite
def spec_data(draw, kinds: tuple[str, ...] | None = None, free_text: bool = False) -> dict:
    """A small spec as plain data; ``kinds`` forces the block kinds of the stages in order.

    ``free_text`` draws the name, description and variant name as any text, for tests of
    loading and dumping (every character must survive YAML and JSON).
    """
    count = len(kinds) if kinds else draw(st.integers(min_value=1, max_value=3))
    stage_kinds = kinds or [None] * count
    data: dict = {
        "name": draw(st.text(min_size=1, max_size=20)) if free_text else "random",
        "input": {"channels": draw(st.sampled_from([3, 1, 2])), "resolution": draw(st.integers(8, 65))},
        "stem": {"out": draw(channels)},
        "stages": [draw(stages(kind)) for kind in stage_kinds],
        "head": draw(heads()),
        "classifier": {"num_classes": draw(st.integers(0, 12)), "dropout": draw(st.sampled_from([0.2, 0.0]))},
    }
    stem_fields = {
        "kernel": st.sampled_from(KERNELS),
        "stride": st.sampled_from([1, 2]),
        "scale_width": st.booleans(),
        "activation": activations,
    }
    for key, strategy in stem_fields.items():
        _put(data["stem"], key, draw(_maybe(strategy)))
    for key, strategy in (
        ("activation", activations),
        ("padding", st.sampled_from(["symmetric", "same"])),
        ("norm", norms),
        ("rounding", rounding()),
        ("drop_path_rate", st.sampled_from([0.2, 0.0, 0.5])),
    ):
        _put(data, key, draw(_maybe(strategy)))
    variant = draw(
        _maybe(
            st.fixed_dictionaries(
                {"width": st.sampled_from([1.0, 0.5, 1.3, 0.75]), "depth": st.sampled_from([1.0, 1.5, 2.0])}
            )
        )
    )
    if free_text:
        _put(data, "description", draw(_maybe(st.text(max_size=40))))
    if variant is not None:
        name = draw(st.text(min_size=1, max_size=6)) if free_text else VARIANT_NAME
        data["scaling"] = {"variants": {name: variant}}
    profile = draw(_maybe(profiles()))
    if profile is not None:
        data["profiles"] = {PROFILE_NAME: profile}
    return data


def specs(kinds: tuple[str, ...] | None = None, free_text: bool = False) -> st.SearchStrategy[NetworkSpec]:
    """Validated NetworkSpecs (parse_spec raises on a strategy bug, it never filters)."""
    return spec_data(kinds, free_text).map(parse_spec)


@dataclass(frozen=True)
class Case:
    """One random conformance case: a spec and how to resolve it."""

    spec: NetworkSpec
    variant: str | None = None
    phi: float | None = None
    resolution: int | None = None
    profile: str | None = None

    def network(self) -> Network:
        return resolve(
            self.spec, variant=self.variant, phi=self.phi, resolution=self.resolution, profile=self.profile
        )

    def describe(self) -> str:
        """The spec as YAML plus the resolve arguments, for failure messages."""
        args = {
            "variant": self.variant,
            "phi": self.phi,
            "resolution": self.resolution,
            "profile": self.profile,
        }
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items() if v is not None) or "defaults"
        return f"# resolved with {shown}\n{dump_spec(self.spec)}"


@st.composite
def cases(draw, kinds: tuple[str, ...] | None = None) -> Case:
    """A spec plus variant or phi (width/depth multipliers), an odd or even resolution, a profile."""
    spec = draw(specs(kinds))
    how = draw(st.sampled_from(["plain", "variant", "phi"]))
    variant = VARIANT_NAME if how == "variant" and spec.scaling.variants else None
    phi = draw(st.sampled_from([1.0, -1.0, 0.5, 2.0])) if how == "phi" else None
    resolution = draw(_maybe(st.integers(min_value=8, max_value=65)))
    profile = PROFILE_NAME if spec.profiles and draw(st.booleans()) else None
    return Case(spec, variant, phi, resolution, profile)
