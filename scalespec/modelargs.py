"""MODEL_OR_FILE and its options, one set shared by ``show``, ``generate``, ``fit`` and ``conform``."""

from __future__ import annotations

import argparse

from .ir.network import Network
from .zoo import ModelRef, resolve_model


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
    )
