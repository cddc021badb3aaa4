"""Shipped baselines, loadable by name: ``efficientnet-b3``, ``efficientnetv2-s``, or a path."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import SpecError
from ..ir.network import Network
from ..ir.resolve import resolve
from ..spec.io import load_spec, parse_text
from ..spec.network import NetworkSpec

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def families() -> list[str]:
    """Names of the zoo's spec files (without suffix)."""
    files = resources.files(__package__).iterdir()
    return sorted(f.name.rsplit(".", 1)[0] for f in files if f.name.endswith(".yaml"))


@cache
def load_family(family: str) -> NetworkSpec:
    """The zoo spec called ``family`` (``efficientnet``, ``efficientnetv2``)."""
    if family not in families():
        raise SpecError([("model", f"unknown model family {family!r} (zoo: {', '.join(families())})")])
    text = resources.files(__package__).joinpath(f"{family}.yaml").read_text(encoding="utf-8")
    return parse_text(text, f"zoo/{family}.yaml")


@dataclass(frozen=True)
class ModelRef:
    """What a MODEL_OR_FILE argument names: a spec and, for zoo names, a variant."""

    spec: NetworkSpec
    variant: str | None
    source: str
    sha256: str = ""  # of the spec file's text, for generated files' provenance


def load_model(ref: str) -> ModelRef:
    """Resolve ``efficientnet-b3``, ``efficientnet`` (default variant) or a spec file path."""
    path = Path(ref)
    if path.suffix.lower() in SPEC_SUFFIXES or path.exists():
        if not path.exists():
            raise SpecError([("", "no such spec file")], ref)
        spec = load_spec(path)
        return ModelRef(spec, None, str(path), _sha256(path.read_bytes()))
    family, _, variant = ref.partition("-") if ref not in families() else (ref, "", "")
    if family not in families():
        raise SpecError([("model", f"unknown model {ref!r}{_suggest(ref)} (see: scalespec list)")])
    spec = load_family(family)
    if variant and variant not in spec.scaling.variants:
        known = ", ".join(f"{family}-{v}" for v in spec.scaling.variants)
        raise SpecError(
            [("model", f"unknown variant {variant!r} of {family}{_suggest(ref)} (known: {known})")]
        )
    text = resources.files(__package__).joinpath(f"{family}.yaml").read_bytes()
    return ModelRef(spec, variant or None, f"zoo/{family}.yaml", _sha256(text))


def _suggest(name: str) -> str:
    """``; did you mean efficientnet-b3?`` when a zoo name is close to ``name``."""
    close = difflib.get_close_matches(name, [*zoo_models(), *families()], n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_model(model: str, *, variant: str | None = None, **options) -> tuple[ModelRef, Network]:
    """Resolve what a MODEL_OR_FILE argument and its options name (``options`` as ``resolve``'s).

    A zoo name's own variant is used unless phi or width/depth are given; naming a different
    ``variant`` as well is an error rather than a silent choice.
    """
    ref = load_model(model)
    if variant and ref.variant and variant != ref.variant:
        raise SpecError(
            [("variant", f"{model} already names variant {ref.variant!r}; got --variant {variant}")]
        )
    if all(options.get(name) is None for name in ("phi", "width", "depth")):
        variant = variant or ref.variant
    return ref, resolve(ref.spec, variant=variant, **options)


def zoo_models() -> list[str]:
    """Every ``family-variant`` name the zoo offers."""
    return [f"{fam}-{v}" for fam in families() for v in load_family(fam).scaling.variants]


@dataclass(frozen=True)
class Preprocessing:
    """How images are prepared for a model's published weights, as torchvision's
    ``Weights.transforms()`` and timm's pretrained cfg say: resize the short side to
    ``resize`` with ``interpolation``, centre-crop ``crop``, scale to [0, 1], then
    subtract ``mean`` and divide by ``std`` per channel (RGB)."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


@cache
def _preprocessing_table() -> dict:
    text = resources.files(__package__).joinpath("preprocessing.json").read_text(encoding="utf-8")
    return json.loads(text)["models"]


def preprocessing(model: str, profile: str | None = None) -> Preprocessing | None:
    """The published weights' preprocessing of a zoo model (None for a spec file, a model
    without published weights, or the keras profile, whose published models normalise inside)."""
    entry = _preprocessing_table().get(model) if profile is None else None
    if entry is None:
        return None
    return Preprocessing(
        entry["resize"], entry["crop"], entry["interpolation"], tuple(entry["mean"]), tuple(entry["std"])
    )
