"""Small random valid spec documents for the resolver and io property tests (not a test module).

Specs are drawn as plain dicts with optional keys left out at random, so defaults and the
``exclude_unset`` dump path are both exercised, then validated with ``parse_spec``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from scalespec.spec.io import parse_spec
from scalespec.spec.network import NetworkSpec

ACTIVATIONS = ["relu", "relu6", "silu", "swish", "hard_swish", "gelu", "sigmoid", "hard_sigmoid", "identity"]
KERNELS = [1, 3, 5, 7]
small_channels = st.integers(1, 40)


def _optional(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """A dict whose every key may be absent."""
    return st.fixed_dictionaries({}, optional=fields)


squeeze_excite = _optional(
    {
        "ratio": st.sampled_from([0.25, 0.5, 1.0, 0.125, 0.3]),
        "base": st.sampled_from(["input", "expanded"]),
        "gate": st.sampled_from(["sigmoid", "hard_sigmoid"]),
        "activation": st.sampled_from(ACTIVATIONS),
    }
)

_common_block = {
    "kernel": st.sampled_from(KERNELS),
    "stride": st.sampled_from([1, 2]),
    "activation": st.sampled_from(ACTIVATIONS),
}
_residual_block = {**_common_block, "se": squeeze_excite, "residual": st.sampled_from(["auto", "never"])}
_expand = st.sampled_from([1, 1.5, 2, 3, 4, 6])


def _block(kind: str, optional: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """One block kind: ``type`` and ``out`` always set, the rest maybe."""
    return st.fixed_dictionaries({"type": st.just(kind), "out": small_channels}, optional=optional)


blocks = st.one_of(
    _block("conv", _common_block),
    _block("ds", {**_residual_block, "pointwise_activation": st.booleans()}),
    _block("mbconv", {**_residual_block, "expand": _expand}),
    _block("fused_mbconv", {**_residual_block, "expand": _expand}),
)

stages = st.fixed_dictionaries(
    {"block": blocks},
    optional={"repeats": st.integers(1, 3), "scale_depth": st.booleans()},
)

rounding = _optional(
    {
        "divisor": st.sampled_from([1, 2, 4, 8]),
        "min_value": st.integers(1, 16),
        "round_limit": st.sampled_from([0.0, 0.9, 1.0]),
        "depth": st.sampled_from(["ceil", "round"]),
        "expanded": st.sampled_from(["raw", "divisible"]),
        "se": st.sampled_from(["floor", "round", "divisible"]),
    }
)

head = _optional(
    {
        "out": st.none() | st.integers(1, 64),
        "scale_width": st.booleans(),
        "activation": st.sampled_from(ACTIVATIONS),
        "pre_logits": st.fixed_dictionaries(
            {"features": st.integers(1, 32)},
            optional={"activation": st.sampled_from(ACTIVATIONS), "scale_width": st.booleans()},
        ),
    }
)

variant = _optional(
    {
        "width": st.sampled_from([0.5, 1.0, 1.3]),
        "depth": st.sampled_from([1.0, 1.5, 2.0]),
        "resolution": st.integers(8, 48),
        "dropout": st.sampled_from([0.0, 0.3]),
    }
)

spec_dicts = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=20), "stages": st.lists(stages, min_size=1, max_size=4)},
    optional={
        # any text: names and descriptions must survive YAML and JSON dumps character for character
        "description": st.text(max_size=40),
        "input": _optional({"channels": st.integers(1, 4), "resolution": st.integers(8, 48)}),
        "activation": st.sampled_from(ACTIVATIONS),
        "padding": st.sampled_from(["symmetric", "same"]),
        "norm": _optional({"eps": st.floats(1e-6, 0.1), "momentum": st.floats(0.001, 0.99)}),
        "rounding": rounding,
        "drop_path_rate": st.floats(0.0, 0.5, allow_subnormal=False),
        "stem": _optional(
            {
                "out": small_channels,
                "kernel": st.sampled_from(KERNELS),
                "stride": st.sampled_from([1, 2]),
                "scale_width": st.booleans(),
                "activation": st.sampled_from(ACTIVATIONS),
            }
        ),
        "head": head,
        "classifier": _optional({"num_classes": st.integers(0, 12), "dropout": st.floats(0.0, 0.9)}),
        "scaling": _optional(
            {
                "variants": st.dictionaries(
                    st.sampled_from(["a", "big"]) | st.text(min_size=1, max_size=6), variant, max_size=2
                )
            }
        ),
        "profiles": st.dictionaries(
            st.sampled_from(["alt", "keras"]),
            _optional({"padding": st.sampled_from(["symmetric", "same"]), "rounding": rounding}),
            max_size=2,
        ),
    },
)

specs: st.SearchStrategy[NetworkSpec] = spec_dicts.map(parse_spec)
