"""Random specs across the whole language conform in all three backends (50 examples under ``ci``)."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")

from scalespec.conformance.random_specs import conform_case  # noqa: E402
from scalespec.conformance.strategies import cases  # noqa: E402


# the profile's example count and seed; no explain phase (it re-runs the failing spec many times)
@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])
@given(case=cases())
def test_random_specs_conform(case):
    """Weights, shapes, counts and outputs agree; a failure shows the spec YAML and every figure."""
    conform_case(case, ["torch", "tensorflow", "onnx"])
