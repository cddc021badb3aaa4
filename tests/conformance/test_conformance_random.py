"""Random specs across the whole language conform in both backends (50 examples under ``ci``)."""

from __future__ import annotations

import pytest
from hypothesis import given

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from scalespec.conformance.runner import conform_case  # noqa: E402
from scalespec.conformance.strategies import cases  # noqa: E402


@given(case=cases())
def test_random_specs_conform(case):
    """Weights, shapes, counts and outputs agree; a failure shows the spec YAML and every figure."""
    conform_case(case, ["torch", "tensorflow"])
