"""One call from a model name to a framework model: ``scalespec.create_model``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .backends import get_backend
from .errors import SpecError
from .files import load_safetensors
from .ir.weights import swap_head
from .zoo import resolve_model


def create_model(
    model: str,
    framework: str = "torch",
    *,
    variant: str | None = None,
    phi: float | None = None,
    width: float | None = None,
    depth: float | None = None,
    resolution: int | None = None,
    profile: str | None = None,
    num_classes: int | None = None,
    weights: str | Path | None = None,
) -> Any:
    """A native model (``torch.nn.Module`` or ``keras.Model``) for a zoo name or spec file.

    ``model`` and the scaling options are those of the CLI (``efficientnet-b3``,
    ``my_net.yaml`` with ``phi=1.5``...). ``num_classes`` resizes the classifier (0: pooled
    features out). ``weights`` is a canonical ``.safetensors`` file (convention 4), loaded
    after its names, shapes and dtype are checked; for fine-tuning, a checkpoint whose
    classifier does not fit ``num_classes`` loads without it (the new classifier keeps its
    fresh initialisation) and a warning names what was skipped. A PyTorch model starts in
    training mode.
    """
    _, network = resolve_model(
        model,
        variant=variant,
        phi=phi,
        width=width,
        depth=depth,
        resolution=resolution,
        profile=profile,
        num_classes=num_classes,
    )
    backend = get_backend(framework)
    if not backend.available():
        raise SpecError([("framework", f"{backend.name} is not installed here")])
    built = backend.build(network)
    if weights is not None:
        checkpoint = load_safetensors(weights, field="weights")
        adapted, skipped = swap_head(checkpoint, backend.export_weights(built))
        backend.import_weights(built, adapted)
        if skipped:
            warnings.warn(f"{weights}: skipped {', '.join(skipped)} (the classifier differs)", stacklevel=2)
    return built
