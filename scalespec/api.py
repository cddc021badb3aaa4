"""One call from a model name to a framework model (``scalespec.create_model``), and from a
model name to a scaled network (``scalespec.scale``)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .backends import get_backend
from .errors import SpecError
from .files import load_safetensors
from .ir.strategies import FAST_ALPHA, Scaled, scale_network
from .ir.weights import fit_checkpoint
from .zoo import preprocessing, resolve_model


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
    in_chans: int | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = None,
    weights: str | Path | None = None,
) -> Any:
    """A native model (``torch.nn.Module`` or ``keras.Model``) for a zoo name or spec file.

    ``model`` and the scaling options are those of the CLI (``efficientnet-b3``,
    ``my_net.yaml`` with ``phi=1.5``...). ``num_classes`` resizes the classifier (0: pooled
    features out); ``in_chans``, ``drop_rate`` (classifier dropout) and ``drop_path_rate``
    override the spec, as timm's arguments of those names do. ``features_only`` returns the
    feature maps at every reduction (``out_indices`` picks levels) instead of logits, a list
    of NCHW tensors in PyTorch and of NHWC tensors from a multi-output Keras model; the
    model's ``feature_info`` names each level's tap, channels and reduction.

    As keras.applications names them: ``include_top=False`` drops the dense layers, and then
    ``pooling`` None returns the last feature map (NCHW in PyTorch, NHWC in Keras), ``avg`` or
    ``max`` pools it; ``classifier_activation="softmax"`` outputs probabilities. The default
    everywhere is logits (``classifier_activation=None``), unlike keras.applications.

    ``weights`` is a canonical ``.safetensors`` file (convention 4), loaded after its names,
    shapes and dtype are checked. For fine-tuning, a classifier that does not fit is skipped
    (the new one keeps its fresh initialisation), a stem made for other input channels is
    adapted (summed for 1 channel, else repeated and scaled), a features-only model takes
    the trunk; a warning says what changed. A PyTorch model starts in training mode.
    ``model.preprocessing`` is the published weights' input pipeline (``zoo.Preprocessing``:
    resize, crop, interpolation, mean, std), or None where there is none.
    """
    if out_indices is not None and not features_only:
        raise SpecError([("out_indices", "out_indices picks feature levels: ask for features_only=True")])
    if features_only and num_classes:
        raise SpecError([("num_classes", "a features-only model has no classifier")])
    if features_only and (not include_top or pooling or classifier_activation):
        raise SpecError(
            [
                (
                    "features_only",
                    "a features-only model returns maps: no include_top, pooling or classifier_activation",
                )
            ]
        )
    if not include_top and num_classes:
        raise SpecError([("num_classes", "include_top=False has no classifier")])
    _, network = resolve_model(
        model,
        variant=variant,
        phi=phi,
        width=width,
        depth=depth,
        resolution=resolution,
        profile=profile,
        num_classes=num_classes,
        in_chans=in_chans,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
    if features_only:
        network = network.with_features(out_indices)
    else:
        network = network.with_top(
            include_top=include_top, pooling=pooling, classifier_activation=classifier_activation
        )
    backend = get_backend(framework)
    if not backend.available():
        raise SpecError([("framework", f"{backend.name} is not installed here")])
    built = backend.build(network)
    published = phi is None and width is None and depth is None  # the network weights were published for
    built.preprocessing = preprocessing(model, profile) if published else None
    if weights is not None:
        checkpoint = load_safetensors(weights, field="weights")
        adapted, notes = fit_checkpoint(checkpoint, backend.export_weights(built), trunk_only=features_only)
        backend.import_weights(built, adapted)
        if notes:
            warnings.warn(f"{weights}: {'; '.join(notes)}", stacklevel=2)
    return built


def optimize_for_inference(model: Any) -> Any:
    """A model for inference only that computes the same outputs faster: every batch norm
    folded into the conv before it (exact up to rounding), SiLU and squeeze-excite unchanged.
    PyTorch: an eval-mode copy in channels_last without gradients; Keras: a new model; ONNX:
    a new graph. ``model`` is not changed; train the original, serve the copy."""
    return backend_of(model).optimize_for_inference(model)


def backend_of(model: Any):
    """The backend that built ``model`` (a torch module, a Keras model or an ONNX graph)."""
    if type(model).__module__.startswith("scalespec.backends.onnx"):
        return get_backend("onnx")
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if torch is not None and isinstance(model, torch.nn.Module):
        return get_backend("torch")
    if keras is not None and isinstance(model, keras.Model):
        return get_backend("tensorflow")
    raise SpecError([("model", f"not a model scalespec built: {type(model).__name__}")])


def reset_classifier(model: Any, num_classes: int, drop_rate: float | None = None) -> Any:
    """A freshly initialised classifier of ``num_classes`` (0: none) on a scalespec model, as
    timm's ``model.reset_classifier``. PyTorch models change in place (and are returned);
    a Keras graph cannot, so a new ``keras.Model`` sharing every other layer is returned."""
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(num_classes, drop_rate)
        return model
    from .backends.tensorflow.runtime import reset_classifier as reset_keras

    return reset_keras(model, num_classes, drop_rate)


def scale(
    model: str,
    flops_multiplier: float,
    strategy: str = "compound",
    *,
    alpha: float = FAST_ALPHA,
    variant: str | None = None,
    profile: str | None = None,
) -> Scaled:
    """``model`` (a zoo name or spec file, at its own or the named variant) scaled to about
    ``flops_multiplier`` times its MACs by ``strategy`` (``compound``, ``fast``, ``width``,
    ``depth`` or ``resolution``; ``alpha`` is fast scaling's a). The result holds the resolved
    network, its cost, and what the spec's rounding made of the request (scalespec/ir/strategies.py).
    """
    ref, base = resolve_model(model, variant=variant, profile=profile)
    return scale_network(ref.spec, base, flops_multiplier, strategy, alpha=alpha, profile=profile)
