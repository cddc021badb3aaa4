"""Block kinds of the spec language: a discriminated union on ``type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Activation = Literal[
    "relu", "relu6", "silu", "swish", "hard_swish", "gelu", "sigmoid", "hard_sigmoid", "identity"
]
Gate = Literal["sigmoid", "hard_sigmoid"]
ACTIVATION_ALIASES = {"swish": "silu"}


def canonical_activation(name: str) -> str:
    """Map spelling variants (``swish``) onto the one name the IR and backends use."""
    return ACTIVATION_ALIASES.get(name, name)


class StrictModel(BaseModel):
    """Base for every spec model: unknown fields are errors, values are immutable."""

    # strict: `out: true` or `kernel: "3"` are mistakes, not 1 and 3 (floats still accept ints)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SqueezeExcite(StrictModel):
    """Squeeze-and-excitation: pool, reduce 1x1 conv (+bias), act, expand 1x1 conv (+bias), gate."""

    ratio: float = Field(0.25, gt=0, le=1, description="squeeze channels = round(base * ratio)")
    base: Literal["input", "expanded"] = Field(
        "input", description="channels the ratio applies to: the block's input or expanded width"
    )
    gate: Gate = "sigmoid"
    activation: Activation | None = Field(None, description="inner activation; default: the block's")


def _odd_kernel(value: int) -> int:
    if value % 2 == 0:
        raise ValueError(f"kernel must be odd, got {value}")
    return value


class BlockBase(StrictModel):
    kernel: int = Field(3, ge=1, le=31, description="odd kernel size")
    stride: Literal[1, 2] = 1
    out: int = Field(..., gt=0, le=65536, description="output channels before width scaling")
    activation: Activation | None = Field(None, description="default: the network's activation")

    _check_kernel = field_validator("kernel")(_odd_kernel)


class ConvBlock(BlockBase):
    """conv kxk - BN - activation."""

    type: Literal["conv"]


class DepthwiseSeparable(BlockBase):
    """depthwise kxk - BN - act - [SE] - pointwise 1x1 - BN - [act] - [residual]."""

    type: Literal["ds"]
    se: SqueezeExcite | None = None
    pointwise_activation: bool = Field(False, description="activation after the pointwise conv")
    residual: Literal["auto", "never"] = "auto"


class InvertedResidual(BlockBase):
    """What MBConv and FusedMBConv share: an expanded width (a ratio or absolute), SE, residual."""

    expanded: int | None = Field(
        None,
        gt=0,
        le=65536,
        description="expanded width in channels before width scaling, instead of an expand ratio",
    )
    se: SqueezeExcite | None = None
    residual: Literal["auto", "never"] = "auto"

    @model_validator(mode="after")
    def _one_expansion(self) -> InvertedResidual:
        if self.expanded is not None and "expand" in self.model_fields_set:
            raise ValueError("give expand (a ratio) or expanded (channels), not both")
        return self


class MBConv(InvertedResidual):
    """Inverted residual: [1x1 expand] - depthwise kxk - [SE] - 1x1 project - residual."""

    type: Literal["mbconv"]
    expand: float = Field(6, ge=1, le=64, description="expand ratio; 1 drops the expand conv")


class FusedMBConv(InvertedResidual):
    """Fused inverted residual: kxk expand - [SE] - 1x1 project (or one kxk conv at expand 1)."""

    type: Literal["fused_mbconv"]
    expand: float = Field(4, ge=1, le=64, description="expand ratio; 1 makes one kxk conv")


Block = Annotated[ConvBlock | DepthwiseSeparable | MBConv | FusedMBConv, Field(discriminator="type")]
BLOCK_TYPES = ("conv", "ds", "mbconv", "fused_mbconv")
