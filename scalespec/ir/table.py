"""The architecture table: one row per block, and the one definition of each block kind's layers.

This module imports only the standard library. scalespec's resolver uses ``block_layers`` to
turn a block row into its ops (and so its canonical weight names), every framework runtime
uses the same function to build the block, and generated model files carry this module's
text, so a generated file and scalespec agree by construction on what each row means.
"""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------- fresh weights (convention 8)

# How a new model's tensors are drawn. ``torchvision`` is torchvision's EfficientNet: convs
# kaiming-normal with fan_out (PyTorch's fan: out * k * k, so a depthwise kxk conv over C
# channels has fan_out C*k*k), dense layers uniform in +-1/sqrt(out). ``keras`` is
# keras.applications': convs VarianceScaling(2, fan_out, truncated_normal) with Keras' fan
# (k*k*out, and k*k for a depthwise kernel), dense VarianceScaling(1/3, fan_out, uniform),
# which is the same +-1/sqrt(out). Both: biases 0, BN weight 1 and bias 0, running stats 0 and 1.
INIT_SCHEMES = ("torchvision", "keras")
TRUNCATION = 2.0  # a truncated normal keeps values within 2 standard deviations, as Keras'


def _truncated_moments(cut: float) -> tuple[float, float]:
    """Variance and fourth moment of a standard normal truncated to [-cut, cut]."""
    mass = math.erf(cut / math.sqrt(2.0))
    density = math.exp(-cut * cut / 2.0) / math.sqrt(2.0 * math.pi)
    variance = 1.0 - 2.0 * cut * density / mass
    return variance, 3.0 - 2.0 * density * (cut**3 + 3.0 * cut) / mass


TRUNCATED_STD = math.sqrt(_truncated_moments(TRUNCATION)[0])  # 0.8796: N(0,1) cut at +-2 has this std


class Init(NamedTuple):
    """How one fresh tensor is drawn, independently per element.

    ``dist`` is normal, truncated_normal (a normal of std ``scale`` cut at +-TRUNCATION*scale),
    uniform (in +-``scale``) or constant (every element ``scale``).
    """

    dist: str
    scale: float

    @property
    def mean(self) -> float:
        return self.scale if self.dist == "constant" else 0.0

    @property
    def std(self) -> float:
        """The standard deviation of the drawn values."""
        factor = {"normal": 1.0, "truncated_normal": TRUNCATED_STD, "uniform": 1.0 / math.sqrt(3.0)}
        return self.scale * factor.get(self.dist, 0.0)

    @property
    def bound(self) -> float | None:
        """The largest magnitude a drawn value can have (None: unbounded)."""
        if self.dist == "truncated_normal":
            return TRUNCATION * self.scale
        return None if self.dist == "normal" else abs(self.scale)


ZERO = Init("constant", 0.0)
ONE = Init("constant", 1.0)
NORM_INITS = {"bn.weight": ONE, "bn.bias": ZERO, "bn.running_mean": ZERO, "bn.running_var": ONE}


def _check_scheme(scheme: str) -> None:
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r} (known: {', '.join(INIT_SCHEMES)})")


def _conv_kernel_init(scheme: str, out_channels: int, kernel: int, depthwise: bool) -> Init:
    _check_scheme(scheme)
    if scheme == "torchvision":
        return Init("normal", math.sqrt(2.0 / (out_channels * kernel * kernel)))
    fan_out = kernel * kernel * (1 if depthwise else out_channels)
    return Init("truncated_normal", math.sqrt(2.0 / fan_out) / TRUNCATED_STD)


def layer_inits(scheme: str, layer: ConvLayer | SqueezeExciteLayer) -> dict[str, Init]:
    """The initialiser of each tensor of a block layer, by its name inside the layer (``conv.weight``)."""
    if isinstance(layer, SqueezeExciteLayer):
        return {
            "reduce.weight": _conv_kernel_init(scheme, layer.squeeze, 1, False),
            "reduce.bias": ZERO,
            "expand.weight": _conv_kernel_init(scheme, layer.channels, 1, False),
            "expand.bias": ZERO,
        }
    kernel = _conv_kernel_init(scheme, layer.out_channels, layer.kernel, layer.depthwise)
    return {"conv.weight": kernel, **NORM_INITS}


def linear_inits(scheme: str, out_features: int) -> dict[str, Init]:
    """The initialisers of a dense layer's ``weight`` and ``bias``."""
    _check_scheme(scheme)
    return {"weight": Init("uniform", 1.0 / math.sqrt(out_features)), "bias": ZERO}


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
    init: str  # the fresh-weight scheme, one of INIT_SCHEMES
    stem: ConvRow
    stages: list[list[BlockRow]]
    head: ConvRow | None
    pre_logits: LinearRow | None
    classifier: LinearRow | None
    features: tuple[str, ...] | None = None  # feature-pyramid taps returned instead of logits
    pool: str | None = "avg"  # global pooling after the head: avg, max, or None (the map is the output)


# activations that overwrite their input (PyTorch's inplace=True) after a conv's batch norm, whose
# fresh output nothing else reads; the memory model (ir/memory.py) counts on the same list
INPLACE_ACTIVATIONS = ("relu", "relu6", "silu", "hard_swish", "hard_sigmoid")
POOLS = ("avg", "max")  # global pooling after the head; None: no pool, the last map is the output


class FeatureLevel(NamedTuple):
    """One level of the feature pyramid: the tap whose output it is (the last one at its
    reduction), that map's channels, and its reduction (input size / map size, nominal)."""

    tap: str
    channels: int
    reduction: int


def feature_levels(arch: Architecture) -> list[FeatureLevel]:
    """Every level of ``arch``: the last output at each reduction, stem and blocks (not the head),
    shallow to deep. EfficientNet-B0 has five: reductions 2, 4, 8, 16, 32 (16 .. 320 channels)."""
    reduction = arch.stem.stride
    levels = {reduction: FeatureLevel("stem", arch.stem.out_channels, reduction)}
    for s, stage in enumerate(arch.stages):
        for i, row in enumerate(stage):
            reduction *= row.stride
            levels[reduction] = FeatureLevel(f"stages.{s}.{i}", row.out_channels, reduction)
    return list(levels.values())


def feature_info(arch: Architecture) -> list[FeatureLevel]:
    """The levels a features-only model returns, in order (empty for a classifier model)."""
    return [level for level in feature_levels(arch) if level.tap in (arch.features or ())]


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
        init=str(table["init"]),
        stem=stem,
        stages=stages,
        head=head,
        pre_logits=pre_logits,
        classifier=classifier if classifier.out_features else None,
        features=tuple(table["features"]) if table.get("features") else None,
        pool=table.get("pool", "avg"),
    )
    check_chain(arch, classifier)
    if arch.features:
        _check_features(arch, num_classes)
    if arch.pool not in (*POOLS, None):
        raise ValueError(f"pool must be 'avg', 'max' or None, got {arch.pool!r}")
    if arch.pool is None and not arch.features and (arch.pre_logits or arch.classifier):
        raise ValueError("pool: an unpooled network (pool None) has no pre_logits or classifier")
    return arch


def _check_features(arch: Architecture, num_classes: int | None) -> None:
    """A features-only table ends at its deepest level, and every level it names exists."""
    known = [level.tap for level in feature_levels(arch)]
    unknown = [tap for tap in arch.features if tap not in known]
    if unknown:
        raise ValueError(f"features: {', '.join(unknown)} not a feature level (levels: {', '.join(known)})")
    if arch.head or arch.pre_logits or arch.classifier or num_classes:
        raise ValueError("features: a features-only table has no head, pre_logits or classifier")


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
    _check_scheme(arch.init)
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
