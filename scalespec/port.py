"""``scalespec port``: a published checkpoint (torchvision, timm, keras.applications) into
canonical weights that load into every backend, with a proof that they compute what the source did.

Layouts are recognised by their names and paired with the IR's tensors in execution order,
each pair checked by role and shape (backends/*/published.py), so no per-model key table
exists. Conventions are checked too: keras.applications weights were trained with Keras'
batch-norm eps and SAME padding, so they belong in the ``keras`` profile; loaded into
torchvision's conventions they run, but about 1% off.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import BACKEND_NAMES, get_backend
from .conformance.checks import ATOL, RTOL, random_input
from .errors import SpecError
from .files import load_safetensors
from .ir.network import Network
from .ir.weights import tensor_specs

LAYOUTS = ("canonical", "torchvision", "timm", "keras")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
KERAS_SUFFIXES = (".h5", ".keras")
KERAS_PROFILE = "keras"
# the keys under which training scripts commonly nest a state_dict
NESTED_STATE_KEYS = ("state_dict", "model", "model_state_dict", "model_state")


@dataclass
class Comparison:
    """One line of the proof: ``what`` ran against ``against`` on the same batch."""

    what: str
    against: str
    max_abs: float
    max_rel: float
    scale: float  # max |expected|: a proof on all-zero logits would be visible
    ok: bool


@dataclass
class Ported:
    """Canonical weights, the layout they came from, and the proof."""

    weights: dict[str, np.ndarray]
    layout: str
    proof: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.proof)


def detect_layout(source: Path, names: list[str], network: Network) -> str:
    """Which published layout a checkpoint's tensor names follow."""
    if source.suffix.lower() in KERAS_SUFFIXES:
        return "keras"
    canonical = set(tensor_specs(network))
    found = {name for name in names if not name.endswith("num_batches_tracked")}
    if found == canonical:
        return "canonical"
    if any(name.startswith("features.") for name in found):
        return "torchvision"
    if any(name.startswith(("conv_stem.", "blocks.")) for name in found):
        return "timm"
    sample = ", ".join(sorted(found)[:4]) or "no tensors"
    raise SpecError(
        [("source", f"{source}: not a torchvision, timm or canonical layout (keys: {sample} ...)")]
    )


def read_state(source: Path) -> dict[str, np.ndarray]:
    """Tensors of a ``.pth``-style file (``torch.load(weights_only=True)``: no pickled code
    runs) or a ``.safetensors`` file; a state_dict nested under ``state_dict`` or ``model``
    is found."""
    suffix = source.suffix.lower()
    if suffix == ".safetensors":
        return load_safetensors(source, field="source")
    if suffix not in TORCH_SUFFIXES:
        known = ", ".join((".safetensors", *TORCH_SUFFIXES, *KERAS_SUFFIXES))
        raise SpecError([("source", f"{source}: unknown checkpoint type (known: {known})")])
    import torch

    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, unsafe globals, truncated files
        raise SpecError(
            [("source", f"cannot read {source} as a weights-only torch checkpoint: {exc}")]
        ) from None
    for key in NESTED_STATE_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpecError([("source", f"{source}: not a state_dict (a mapping of names to tensors)")])
    return {name: value.detach().cpu().numpy() for name, value in state.items()}


def check_conventions(layout: str, network: Network, *, ignore: bool) -> list[str]:
    """keras.applications weights need the keras profile; anything else is refused, or with
    ``ignore`` only noted."""
    profile = network.multipliers.profile
    if layout != "keras" or profile == KERAS_PROFILE:
        return []
    message = (
        f"keras.applications weights were trained with Keras' conventions (BN eps 1e-3, SAME "
        f"padding): port them with --profile {KERAS_PROFILE}; in profile {profile or 'default'} they "
        f"load but compute about 1% different logits"
    )
    if not ignore:
        raise SpecError([("profile", message + " (--ignore-conventions ports them anyway)")])
    return [message]


def port(
    source: str | Path,
    network: Network,
    model: str,
    *,
    layout: str | None = None,
    ignore_conventions: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> Ported:
    """Canonical weights of ``network`` from ``source``, with the proof; ``model`` is the zoo
    name (keras.applications needs it to build the source model)."""
    source = Path(source)
    if not source.is_file():
        raise SpecError([("source", f"no such file: {source}")])
    if layout is not None and layout not in LAYOUTS:
        raise SpecError([("from", f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")])
    if source.suffix.lower() in KERAS_SUFFIXES:
        found = "keras"
        notes = check_conventions(found, network, ignore=ignore_conventions)
        progress("reading keras.applications weights...")
        weights, reference = _from_keras(source, network, model)
    else:
        state = read_state(source)
        found = detect_layout(source, list(state), network)
        notes = check_conventions(found, network, ignore=ignore_conventions)
        weights = state if found == "canonical" else _from_torch_layout(network, state)
        reference = _torchvision_reference(source, network, model, state) if found == "torchvision" else None
    if layout is not None and layout != found:
        raise SpecError([("from", f"{source} is in the {found} layout, not {layout}")])
    weights = {
        name: np.asarray(weights[name], np.float32) for name in tensor_specs(network) if name in weights
    }
    ported = Ported(weights, found, notes=notes)
    progress("running the ported weights...")
    ported.proof = _prove(network, weights, reference)
    return ported


def _from_torch_layout(network: Network, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from .backends.torch.published import from_published

    return from_published(network, state)


# A source model run on NCHW images: (images) -> logits, with its own name for the proof.
Reference = tuple[str, Callable[[np.ndarray], np.ndarray]]


def _torchvision_reference(source: Path, network: Network, model: str, state) -> Reference | None:
    """torchvision's own model holding the checkpoint, where torchvision is installed."""
    if importlib.util.find_spec("torchvision") is None or not model.startswith("efficientnet"):
        return None
    import torch
    import torchvision

    name = model.replace("efficientnetv2-", "efficientnet_v2_").replace("efficientnet-", "efficientnet_")
    if not hasattr(torchvision.models, name):
        return None
    reference = getattr(torchvision.models, name)(weights=None, num_classes=network.num_classes).eval()
    reference.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})

    def run(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return reference(torch.from_numpy(images)).numpy()

    return f"torchvision.models.{name}", run


def _from_keras(source: Path, network: Network, model: str) -> tuple[dict[str, np.ndarray], Reference]:
    """Canonical weights from a keras.applications checkpoint, and that model run for the proof
    (its own preprocessing undone: scalespec's input is already normalised)."""
    backend = get_backend("tensorflow")
    if not backend.available():
        raise SpecError(
            [("source", "reading keras.applications weights needs TensorFlow, which does not import here")]
        )
    import keras

    from .backends.tensorflow.published import application, import_keras_application, preprocessing_layers

    try:
        if source.suffix.lower() == ".keras":
            published = keras.saving.load_model(source, compile=False)
        else:
            published = application(model)(
                weights=None, classes=network.num_classes, classifier_activation=None
            )
            published.load_weights(source)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(
            [("source", f"cannot load {source} into keras.applications' {model}: {exc}")]
        ) from None
    weights = import_keras_application(published, network)

    head = published.layers[-1]
    if isinstance(head, keras.layers.Dense):  # compare logits: keras.applications ends in softmax
        head.activation = keras.activations.get(None)

    def run(images: np.ndarray) -> np.ndarray:
        offset, scale = _keras_input_scale(preprocessing_layers(published))
        raw = np.transpose(images, (0, 2, 3, 1)) * scale + offset  # normalised -> raw pixels
        return np.asarray(published(raw, training=False))

    return weights, (f"keras.applications {application(model).__name__}", run)


def _keras_input_scale(layers) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) such that raw = normalised * scale + offset undoes ``layers``."""
    zero, one = np.zeros((1, 1, 1, 3), np.float32), np.ones((1, 1, 1, 3), np.float32)
    for layer in layers:
        zero, one = np.asarray(layer(zero)), np.asarray(layer(one))
    slope = (one - zero).reshape(-1)
    intercept = zero.reshape(-1)
    # normalised = raw * slope + intercept  =>  raw = (normalised - intercept) / slope
    scale = 1.0 / slope
    offset = -intercept / slope
    return offset.astype(np.float32), scale.astype(np.float32)


def _prove(network: Network, weights: dict[str, np.ndarray], reference: Reference | None) -> list[Comparison]:
    """The ported weights in every available backend on one seeded batch, against the source
    model where it could run, else against each other (convention 7's tolerance)."""
    images = random_input(network, min(network.resolution, 224), seed=0)
    outputs: dict[str, np.ndarray] = {}
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        if backend.available():
            model = backend.build(network)
            backend.import_weights(model, weights)
            outputs[f"scalespec {name}"] = np.asarray(backend.forward(model, images))
    if reference is not None:
        against, run = reference
        expected = np.asarray(run(images), np.float64)
        return [_compare(what, out, against, expected) for what, out in outputs.items()]
    names = list(outputs)
    return [_compare(what, outputs[what], names[0], outputs[names[0]]) for what in names[1:]]


def _compare(what: str, actual: np.ndarray, against: str, expected: np.ndarray) -> Comparison:
    diff = np.abs(np.asarray(actual, np.float64) - expected)
    nonzero = np.abs(expected) > 0
    max_rel = float(np.max(diff[nonzero] / np.abs(expected[nonzero]), initial=0.0))
    ok = bool(np.all(diff <= ATOL + RTOL * np.abs(expected)))
    scale = float(np.max(np.abs(expected), initial=0.0))
    return Comparison(what, against, float(diff.max(initial=0.0)), max_rel, scale, ok)
