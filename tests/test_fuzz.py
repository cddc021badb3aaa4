"""Fuzzing the front door: mutated zoo and example specs, through load -> resolve -> cost.

Whatever a mutation makes of a spec, the only exception allowed out is SpecError. Text
mutations (characters inserted, deleted, replaced) test the YAML loader; structural
mutations (a value replaced by a hostile one, a key dropped or added) test validation and
resolution. Examples per profile: ci 200, dev 2,000, thorough 20,000.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalespec.conformance.profiles import PROFILE_ENV
from scalespec.errors import SpecError
from scalespec.ir.cost import network_cost
from scalespec.ir.resolve import resolve
from scalespec.spec.io import dump_spec, parse_spec, parse_text
from scalespec.zoo import families, load_family

EXAMPLES = {"ci": 200, "dev": 2_000, "thorough": 20_000}[os.environ.get(PROFILE_ENV, "ci")]
SEEDS = [dump_spec(load_family(family)) for family in families()]
SEEDS.append((Path(__file__).parents[1] / "examples" / "mobilenetv3-ish.yaml").read_text())

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 3, 7, 8, 31, 65536, 10**9, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e-40, 1e300, 50.0, -50.0, math.nan, math.inf]),
    st.text(max_size=12),
    st.sampled_from(["same", "symmetric", "silu", "swish", "keras", "b0", "mbconv", "\x1b[31m", "\n"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(
        st.sampled_from(["type", "out", "kernel", "ratio", "eps"]), st.integers(-3, 40), max_size=3
    ),
)


def _paths(data, prefix=()):
    """Every (path, value) in a nested dict/list document."""
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


@st.composite
def structural(draw) -> dict | object:
    """A seed spec as data with a few values replaced, keys dropped or junk keys added."""
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [path for path, _ in _paths(data) if path]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(hostile_values)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(hostile_values)
    return data


# YAML syntax, explicit tags whose constructors raise on bad values, an integer past Python's
# 4300-digit limit, nesting past the recursion limit, control characters
JUNK = ["", ":", "{", "[", "-", "!!", "&a", "*a", "?", "'", '"', "\t", "\x00", "\x1b[31m"]
JUNK += ["!!float ", "!!int ", "!!bool ", "!!timestamp ", "!!set ", "!!binary ", "!!str ", "? [a, b]\n: "]
JUNK += ["9" * 4400, "[" * 3000, "{a: " * 1500]


@st.composite
def textual(draw) -> str:
    """A seed spec's text with a few characters inserted, deleted or replaced."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(JUNK))
        cut = draw(st.integers(0, 3))
        text = text[:at] + junk + text[at + cut :]
    return text


resolve_arguments = st.fixed_dictionaries(
    {},
    optional={
        "phi": st.one_of(
            st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-60.0, -50.0, 50.0])
        ),
        "width": st.one_of(st.floats(-2, 100), st.just(math.nan)),
        "depth": st.one_of(st.floats(-2, 100), st.just(math.nan)),
        "resolution": st.integers(-10, 20_000),
        "num_classes": st.integers(-5, 2_000_000),
    },
)


def _through(spec, extra: dict) -> None:
    """Resolve every variant and profile, then ``extra``'s arguments, and cost each network."""
    requests = [{"variant": v} for v in spec.scaling.variants] or [{}]
    requests += [{"profile": p} for p in spec.profiles] + [extra]
    for request in requests:
        with contextlib.suppress(SpecError):
            network_cost(resolve(spec, **request))


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@FUZZ
@given(document=st.one_of(structural(), textual()), extra=resolve_arguments)
def test_mutated_specs_raise_only_spec_errors(document, extra):
    try:
        spec = parse_spec(document) if not isinstance(document, str) else parse_text(document)
    except SpecError:
        return
    _through(spec, extra)
