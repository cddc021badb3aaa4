"""The tests' one way to give a model random weights: scalespec's seeded canonical weights, imported.

``checks.random_weights`` sets every tensor (BN statistics included, never identity BN), so a
wiring error anywhere changes the output.
"""

from __future__ import annotations

from scalespec.backends import get_backend
from scalespec.conformance.checks import random_weights
from scalespec.ir.network import Network


def randomised(framework: str, network: Network, seed: int = 0, **build):
    """``network`` built by ``framework``'s backend, holding random_weights(network, seed);
    a PyTorch model is put in eval mode (it is built in training mode), as tests compare outputs."""
    backend = get_backend(framework)
    model = backend.build(network, **build)
    backend.import_weights(model, random_weights(network, seed))
    return model.eval() if framework == "torch" else model
