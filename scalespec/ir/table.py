"""The architecture table: one row per block, and the one definition of each block kind's layers.

This module imports only the standard library. scalespec's resolver uses ``block_layers`` to
turn a block row into its ops (and so its canonical weight names), every framework runtime
uses the same function to build the block, and generated model files carry this module's
text, so a generated file and scalespec agree by construction on what each row means.
"""

from __future__ import annotations

from typing import NamedTuple

# The columns of a block row, in the order ARCHITECTURE lists them.
BLOCK_COLUMNS = (
    "kind",
    "kernel",
    "stride",
    "in",
    "mid",
    "out",
    "act",
    "out_act",
    "se",
    "se_act",
    "gate",
    "residual",
    "drop_path",
)
BLOCK_KINDS = ("conv", "ds", "mbconv", "fused_mbconv")


class BlockRow(NamedTuple):
    """One block of the table; BLOCK_COLUMNS gives the short column names, in order.

    kind: conv (one kxk conv), ds (depthwise kxk, [SE], pointwise 1x1), mbconv ([1x1 expand],
    depthwise kxk, [SE], 1x1 project) or fused_mbconv (kxk expand, [SE], 1x1 project; one kxk
    conv when mid == in). ``mid`` is the expanded width (== in when there is no expand conv);
    ``act`` follows every conv but the last, ``out_act`` follows the last (None: linear);
    ``se`` is the squeeze width (0: no squeeze-excite) with its inner ``se_act`` and ``gate``;
    ``residual`` adds the input back, dropping the branch per sample with ``drop_path``
    probability in training (stochastic depth).
    """

    kind: str
    kernel: int
    stride: int
    in_channels: int
    mid_channels: int
    out_channels: int
    act: str | None
    out_act: str | None
    se: int
    se_act: str | None
    gate: str | None
    residual: bool
    drop_path: float


class ConvLayer(NamedTuple):
    """conv (no bias) -> batch norm -> activation (None: none); depthwise when ``depthwise``."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    depthwise: bool
    act: str | None


class SqueezeExciteLayer(NamedTuple):
    """Global average pool -> 1x1 reduce (+bias) -> act -> 1x1 expand (+bias) -> gate -> rescale."""

    channels: int
    squeeze: int
    act: str
    gate: str


Layer = ConvLayer | SqueezeExciteLayer


def block_layers(row: BlockRow) -> list[tuple[str, Layer]]:
    """The layers of one block in order, each with its name inside the block (``expand``, ``dw``...)."""
    if row.kind not in BLOCK_KINDS:
        raise ValueError(f"unknown block kind {row.kind!r} (known: {', '.join(BLOCK_KINDS)})")
    k, s, cin, mid, cout = row.kernel, row.stride, row.in_channels, row.mid_channels, row.out_channels
    if row.kind == "conv":
        return [("conv", ConvLayer(cin, cout, k, s, False, row.out_act))]
    squeeze = [("se", SqueezeExciteLayer(mid, row.se, row.se_act, row.gate))] if row.se else []
    if row.kind == "ds":
        depthwise = ("dw", ConvLayer(cin, cin, k, s, True, row.act))
        return [depthwise, *squeeze, ("pw", ConvLayer(cin, cout, 1, 1, False, row.out_act))]
    project = ("project", ConvLayer(mid, cout, 1, 1, False, row.out_act))
    if row.kind == "mbconv":
        expand = [("expand", ConvLayer(cin, mid, 1, 1, False, row.act))] if mid != cin else []
        return [*expand, ("dw", ConvLayer(mid, mid, k, s, True, row.act)), *squeeze, project]
    if mid == cin:  # fused_mbconv without expansion: one kxk conv
        return [*squeeze, ("conv", ConvLayer(cin, cout, k, s, False, row.out_act))]
    return [("expand", ConvLayer(cin, mid, k, s, False, row.act)), *squeeze, project]


class ConvRow(NamedTuple):
    """The stem (kxk, strided) or head (1x1) conv -> batch norm -> activation."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    act: str | None

    def as_layer(self) -> ConvLayer:
        """The same conv as a block layer (never depthwise)."""
        return ConvLayer(self.in_channels, self.out_channels, self.kernel, self.stride, False, self.act)


class LinearRow(NamedTuple):
    """Dropout (training only) -> dense layer with bias -> activation; ``out_features`` 0: no layer."""

    in_features: int
    out_features: int
    act: str | None
    dropout: float


class Architecture(NamedTuple):
    """A whole table, read and checked: stem, stages of blocks, head, pre-logits, classifier."""

    name: str
    resolution: int  # the nominal input size the table was resolved for (any size runs)
    padding: str
    bn_eps: float
    bn_momentum: float
    stem: ConvRow
    stages: list[list[BlockRow]]
    head: ConvRow | None
    pre_logits: LinearRow | None
    classifier: LinearRow | None


def read_architecture(table: dict, num_classes: int | None = None) -> Architecture:
    """The table as rows, checked to chain; ``num_classes`` resizes (0 removes) the classifier.

    One rule for every framework: ``None`` keeps the table's classifier, ``0`` builds no
    classifier (the model returns pooled features), ``N > 0`` builds an N-way classifier
    (added with the table's classifier dropout when the table has none).
    """
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
        raise ValueError(f"num_classes must be an integer, got {num_classes!r}")
    if num_classes is not None and num_classes < 0:
        raise ValueError(f"num_classes must be 0 (no classifier) or more, got {num_classes}")
    stem = _row(ConvRow, table["stem"], "stem")
    stages = [
        [_row(BlockRow, row, f"stages[{s}][{i}]") for i, row in enumerate(stage)]
        for s, stage in enumerate(table["stages"])
    ]
    head = _row(ConvRow, table["head"], "head") if table["head"] else None
    pre_logits = _row(LinearRow, table["pre_logits"], "pre_logits") if table["pre_logits"] else None
    classifier = _row(LinearRow, table["classifier"], "classifier")
    if num_classes is not None:
        classifier = classifier._replace(out_features=num_classes)
    arch = Architecture(
        name=str(table["name"]),
        resolution=int(table["resolution"]),
        padding=table["padding"],
        bn_eps=float(table["bn_eps"]),
        bn_momentum=float(table["bn_momentum"]),
        stem=stem,
        stages=stages,
        head=head,
        pre_logits=pre_logits,
        classifier=classifier if classifier.out_features else None,
    )
    check_chain(arch, classifier)
    return arch


def _row(kind: type, value: dict | tuple | list, where: str) -> tuple:
    """A table entry as its row type: a dict of the row's fields, or a tuple in column order."""
    try:
        return kind(**value) if isinstance(value, dict) else kind(*value)
    except TypeError as exc:
        raise ValueError(f"{where}: not a {kind.__name__} ({exc})") from None


def check_chain(arch: Architecture, classifier: LinearRow) -> None:
    """Each row's input width equals the output width before it; the error names the row."""
    if arch.padding not in ("symmetric", "same"):
        raise ValueError(f"padding must be 'symmetric' or 'same', got {arch.padding!r}")
    width, source = arch.stem.out_channels, "stem"
    named = [(f"stages[{s}][{i}]", row) for s, stage in enumerate(arch.stages) for i, row in enumerate(stage)]
    named += [("head", arch.head), ("pre_logits", arch.pre_logits), ("classifier", classifier)]
    for where, row in named:
        if row is None:
            continue
        given = row.in_features if isinstance(row, LinearRow) else row.in_channels
        if given != width:
            raise ValueError(
                f"{where}: input width {given} does not match the {width} channels out of {source}"
            )
        if isinstance(row, BlockRow):
            block_layers(row)  # an unknown kind fails here, naming it
        width, source = (row.out_features if isinstance(row, LinearRow) else row.out_channels), where
