"""The whole network spec: a baseline plus its scaling rules, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..errors import SpecError
from .blocks import Activation, Block, StrictModel, _odd_kernel

MAX_CHANNELS = 4096  # input channels (image bands); resolve's in_chans is held to it too


class Rounding(StrictModel):
    """How scaled widths and depths become integers (EfficientNet's rules by default)."""

    divisor: int = Field(8, ge=1, le=1024, description="channel counts are multiples of this")
    min_value: int | None = Field(None, ge=1, le=65536, description="smallest channel count; default divisor")
    round_limit: float = Field(
        0.9, ge=0, le=1, description="round up one divisor more when rounding lost more than this"
    )
    depth: Literal["ceil", "round"] = "ceil"
    expanded: Literal["raw", "divisible"] = Field(
        "divisible", description="expanded width: int(in * ratio) or made divisible"
    )
    se: Literal["floor", "round", "divisible"] = Field(
        "floor", description="squeeze width: floor, round half up, or made divisible"
    )


class Norm(StrictModel):
    """Batch norm constants; momentum in PyTorch's sense (weight of the new batch statistic)."""

    eps: float = Field(1e-5, gt=0, lt=1)
    momentum: float = Field(0.1, gt=0, lt=1)


class Stem(StrictModel):
    out: int = Field(32, gt=0, le=65536)
    kernel: int = Field(3, ge=1, le=31)
    stride: Literal[1, 2] = 2
    scale_width: bool = True
    activation: Activation | None = None

    _check_kernel = field_validator("kernel")(_odd_kernel)


class Stage(StrictModel):
    """``repeats`` copies of ``block``; only the first one uses the block's stride."""

    block: Block
    repeats: int = Field(1, ge=1, le=1000)
    scale_depth: bool = Field(True, description="false exempts this stage from depth scaling")


class PreLogits(StrictModel):
    """A linear layer (+bias, +activation) between pooling and the classifier (MobileNetV3)."""

    features: int = Field(..., gt=0, le=65536)
    activation: Activation | None = None
    scale_width: bool = False


class Head(StrictModel):
    out: int | None = Field(1280, gt=0, le=65536, description="1x1 conv width; null for none")
    scale_width: bool = True
    activation: Activation | None = None
    pre_logits: PreLogits | None = None


class Classifier(StrictModel):
    num_classes: int = Field(1000, ge=0, le=1_000_000, description="0 = features only")
    dropout: float = Field(0.2, ge=0, lt=1)


class Variant(StrictModel):
    """A named scaling of the baseline; may replace stem, stages or head for separate designs."""

    width: float = Field(1.0, gt=0, le=16)
    depth: float = Field(1.0, gt=0, le=16)
    resolution: int | None = Field(None, ge=8, le=8192)
    dropout: float | None = Field(None, ge=0, lt=1)
    norm: Norm | None = Field(None, description="batch-norm constants of this variant; a profile's win")
    stem: Stem | None = None
    stages: list[Stage] | None = Field(None, min_length=1)
    head: Head | None = None


class Compound(StrictModel):
    """Compound scaling: depth = alpha^phi, width = beta^phi, resolution = base * gamma^phi."""

    # at least 1, as in the paper: a larger phi then never gives a smaller network
    alpha: float = Field(1.2, ge=1, le=4, description="depth multiplier per unit of phi")
    beta: float = Field(1.1, ge=1, le=4, description="width multiplier per unit of phi")
    gamma: float = Field(1.15, ge=1, le=4, description="resolution multiplier per unit of phi")
    resolution_divisor: int = Field(8, ge=1, le=256)
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout for phi-scaled models")


Name = Annotated[str, Field(min_length=1, max_length=200)]
InitScheme = Annotated[
    Literal["torchvision", "keras"],
    Field(description="how fresh weights are drawn: torchvision's or keras.applications' initialisers"),
]


class Scaling(StrictModel):
    variants: dict[Name, Variant] = Field(default_factory=dict)
    default: str | None = Field(None, description="variant used when none is named")
    compound: Compound = Field(default_factory=Compound)

    @model_validator(mode="after")
    def _default_exists(self) -> Scaling:
        if self.default is not None and self.default not in self.variants:
            raise ValueError(f"default variant {self.default!r} is not in variants")
        return self


class Profile(StrictModel):
    """Named overrides of network-wide conventions, e.g. Keras' padding and BN constants."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        """A profile field set to null overrides nothing: say so, rather than fail at resolve."""
        if isinstance(data, dict):
            nulls = [key for key, value in data.items() if value is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: null overrides nothing; leave the field out")
        return data

    description: str = ""
    padding: Literal["symmetric", "same"] | None = None
    norm: Norm | None = None
    init: InitScheme | None = None
    rounding: Rounding | None = None
    activation: Activation | None = None
    drop_path_rate: float | None = Field(None, ge=0, lt=1)


class InputSpec(StrictModel):
    channels: int = Field(3, ge=1, le=MAX_CHANNELS)
    resolution: int = Field(224, ge=8, le=8192, description="nominal input size")


class NetworkSpec(StrictModel):
    """A baseline network and its scaling rules: everything scalespec needs to resolve it."""

    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    input: InputSpec = Field(default_factory=InputSpec)
    activation: Activation = "silu"
    padding: Literal["symmetric", "same"] = "symmetric"
    norm: Norm = Field(default_factory=Norm)
    init: InitScheme = "torchvision"
    rounding: Rounding = Field(default_factory=Rounding)
    drop_path_rate: float = Field(0.2, ge=0, lt=1)
    stem: Stem = Field(default_factory=Stem)
    stages: list[Stage] = Field(..., min_length=1, max_length=64)
    head: Head = Field(default_factory=Head)
    classifier: Classifier = Field(default_factory=Classifier)
    scaling: Scaling = Field(default_factory=Scaling)
    profiles: dict[Name, Profile] = Field(default_factory=dict)

    def with_profile(self, profile: str | None) -> NetworkSpec:
        """This spec with a named profile's overrides merged in (``None`` returns self).

        Only the fields a profile sets change: ``rounding: {expanded: raw}`` keeps the
        spec's divisor and other rounding rules.
        """
        if profile is None:
            return self
        if profile not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise SpecError([("profile", f"unknown profile {profile!r} (known: {known})")])
        overrides = self.profiles[profile].model_dump(exclude_unset=True, exclude={"description"})
        merged = self.model_dump(exclude_unset=True)
        for key, value in overrides.items():
            if isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        try:
            return type(self).model_validate(merged)
        except ValidationError as exc:  # a profile that validates alone but not merged in
            problems = [
                (f"profiles.{profile}.{'.'.join(map(str, e['loc']))}", e["msg"]) for e in exc.errors()
            ]
            raise SpecError(problems) from None
