"""MODEL_OR_FILE and its options, one set shared by ``show``, ``generate``, ``fit`` and ``conform``."""

from __future__ import annotations

import argparse

from .errors import SpecError
from .ir.memory import DTYPE_BYTES
from .ir.network import Network
from .ir.table import POOLS
from .zoo import ModelRef, resolve_model

DTYPES = tuple(DTYPE_BYTES)


def add_model_arguments(
    parser: argparse.ArgumentParser, *, optional: bool = False, scaling: bool = True
) -> None:
    """MODEL_OR_FILE, then --variant/--phi/--width/--depth (when ``scaling``), --resolution, --profile."""
    parser.add_argument(
        "model",
        metavar="MODEL_OR_FILE",
        nargs="?" if optional else None,
        help="zoo name (efficientnet-b3, efficientnetv2-s) or a .yaml/.yml/.json spec file",
    )
    if scaling:
        parser.add_argument("--variant", help="named variant of the spec's scaling table (b3, s, ...)")
        parser.add_argument("--phi", type=float, help="compound coefficient instead of a named variant")
        parser.add_argument(
            "--width", type=float, help="width multiplier (with --depth; instead of a variant)"
        )
        parser.add_argument(
            "--depth", type=float, help="depth multiplier (with --width; instead of a variant)"
        )
    parser.add_argument("--resolution", type=int, help="input size (default: the variant's)")
    parser.add_argument("--profile", help="named convention profile of the spec, e.g. keras")


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """--batch and --dtype: what the memory figures (ir/memory.py) are computed for."""
    parser.add_argument("--batch", type=int, default=1, help="batch size of the memory figures (default 1)")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=DTYPES,
        help="element type of every tensor in the memory figures (default float32)",
    )


def resolve_args(args: argparse.Namespace, *, num_classes: int | None = None) -> tuple[ModelRef, Network]:
    """The spec and Network that MODEL_OR_FILE and its options name."""
    return resolve_model(
        args.model,
        variant=getattr(args, "variant", None),
        phi=getattr(args, "phi", None),
        width=getattr(args, "width", None),
        depth=getattr(args, "depth", None),
        resolution=args.resolution,
        profile=args.profile,
        num_classes=num_classes,
        in_chans=getattr(args, "in_chans", None),
        drop_rate=getattr(args, "drop_rate", None),
        drop_path_rate=getattr(args, "drop_path_rate", None),
    )


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """timm's fine-tuning options and the feature pyramid, baked into what is made."""
    parser.add_argument("--in-chans", type=int, help="input channels (default: the spec's)")
    parser.add_argument("--drop-rate", type=float, help="classifier dropout (default: the variant's)")
    parser.add_argument("--drop-path-rate", type=float, help="deepest block's drop-path rate")
    parser.add_argument(
        "--features-only", action="store_true", help="return the feature maps at every reduction, not logits"
    )
    parser.add_argument("--out-indices", type=_indices, help="feature levels to return, e.g. 1,2,3,4 or -1")
    parser.add_argument(
        "--no-top",
        dest="include_top",
        action="store_false",
        help="no dense layers (keras.applications' include_top=False)",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLS,
        help="with --no-top: pool the last map (default: the map is the output)",
    )
    parser.add_argument(
        "--classifier-activation", choices=("softmax",), help="probabilities out instead of logits"
    )


def _indices(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated level indices, got {text!r}") from None


def features_of(network: Network, args: argparse.Namespace) -> Network:
    """``network`` with the end the flags ask for: its feature pyramid (--features-only), no
    dense layers (--no-top, --pooling), or probabilities out (--classifier-activation)."""
    if getattr(args, "out_indices", None) is not None and not getattr(args, "features_only", False):
        raise SpecError([("out_indices", "--out-indices picks feature levels: add --features-only")])
    if getattr(args, "features_only", False):
        return network.with_features(args.out_indices)
    return network.with_top(
        include_top=getattr(args, "include_top", True),
        pooling=getattr(args, "pooling", None),
        classifier_activation=getattr(args, "classifier_activation", None),
    )
