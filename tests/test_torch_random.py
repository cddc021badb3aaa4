"""Property tests: random valid specs build into torch models whose names, shapes and counts follow the IR."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402

from scalespec.backends import get_backend  # noqa: E402
from scalespec.conformance.strategies import cases  # noqa: E402
from scalespec.ir.cost import network_cost  # noqa: E402
from scalespec.ir.weights import tensor_specs  # noqa: E402

pytestmark = pytest.mark.torch
B = get_backend("torch")


@settings(max_examples=25)
@given(case=cases())
def test_random_specs_build_with_canonical_names_and_counts(case):
    net = case.network()
    model = B.build(net)
    state = {
        k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    assert state == {k: spec.shape for k, spec in tensor_specs(net).items()}
    measured = B.measure(model, net.resolution)
    cost = network_cost(net).total
    assert (measured.params, measured.buffers, measured.macs) == (cost.params, cost.buffers, cost.macs)
    with torch.no_grad():
        out = model(torch.randn(2, net.input_channels, net.resolution, net.resolution))
    assert tuple(out.shape) == (2, net.num_classes or net.num_features)
    assert torch.isfinite(out).all()
