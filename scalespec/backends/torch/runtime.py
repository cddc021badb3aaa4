"""PyTorch modules for a compound-scaled convolutional network described by an architecture table.

The table (ARCHITECTURE at the end of a generated file) lists the network one row per block,
grouped by stage; ``block_layers`` says which layers each block kind has. Every width,
stride, activation and rate is decided in the table, so to change the network, edit the
table: each row's input width must equal the output width of the row before it, and
``build_model`` says which row breaks that chain. ``state_dict()`` keys are the canonical
weight names (``stem.conv.weight``, ``stages.0.0.se.reduce.bias``, ``classifier.weight``),
stages and blocks are ``nn.Sequential`` (``model.stages[1][0]`` is the first block of stage
1), and the model works with ``torch.jit.script``, ``torch.compile`` and ONNX export.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ...ir.table import (
    INPLACE_ACTIVATIONS,
    Architecture,
    BlockRow,
    ConvLayer,
    Init,
    LinearRow,
    SqueezeExciteLayer,
    block_layers,
    feature_info,
    layer_inits,
    linear_inits,
)

ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "hard_swish": nn.Hardswish,  # x * relu6(x + 3) / 6
    "gelu": nn.GELU,  # exact erf form (approximate="none")
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,  # relu6(x + 3) / 6
    "identity": nn.Identity,
    "softmax": lambda: nn.Softmax(dim=1),  # over classes: a classifier's probabilities
}


def make_activation(name: str | None, inplace: bool = False) -> nn.Module:
    """The activation module called ``name`` (None means identity); in place where torch allows."""
    if name is None:
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name](inplace=True) if inplace and name in INPLACE_ACTIVATIONS else ACTIVATIONS[name]()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME zero padding (before, after) along one axis; the extra pixel goes after."""
    out = (size + stride - 1) // stride
    total = (out - 1) * stride + kernel - size
    if kernel < stride:  # only then can total go negative; otherwise no branch, so traces stay dynamic
        total = max(total, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding, computed from each input's height and width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def conv2d(
    cin: int, cout: int, kernel: int, stride: int, groups: int, padding: str, bias: bool = False
) -> nn.Conv2d:
    """A conv (bias-free unless a batch norm was folded into it); padding ``symmetric`` is
    (k-1)//2 each side, ``same`` is TensorFlow SAME.

    SAME padding depends on the input size only when stride > 1 (or the kernel is even), so
    only then is the padding computed per input; otherwise it is a fixed amount, as fast as
    any Conv2d.
    """
    if padding not in ("symmetric", "same"):
        raise ValueError(f"unknown padding mode {padding!r}")
    if padding == "symmetric" or (stride == 1 and kernel % 2 == 1):
        return nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=bias)
    return Conv2dSame(cin, cout, kernel, stride, 0, groups=groups, bias=bias)


def draw(tensor: torch.Tensor, init: Init) -> None:
    """Fill ``tensor`` in place with independent draws from ``init`` (see ``layer_inits``)."""
    with torch.no_grad():
        if init.dist == "normal":
            tensor.normal_(0.0, init.scale)
        elif init.dist == "truncated_normal":
            nn.init.trunc_normal_(tensor, 0.0, init.scale, -init.bound, init.bound)
        elif init.dist == "uniform":
            tensor.uniform_(-init.scale, init.scale)
        else:
            tensor.fill_(init.scale)


def draw_tensors(module: nn.Module, inits: dict[str, Init]) -> None:
    """Draw each named parameter or buffer of ``module`` from its initialiser."""
    tensors = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, init in inits.items():
        draw(tensors[name], init)


class ConvNormAct(nn.Module):
    """conv -> batch norm -> activation; the children ``conv`` and ``bn`` give the weight names.
    ``folded`` (inference only): the batch norm folded into the conv, which gains a bias."""

    def __init__(
        self, layer: ConvLayer, padding: str, eps: float, momentum: float, init: str, folded: bool = False
    ):
        super().__init__()
        groups = layer.in_channels if layer.depthwise else 1
        shape = (layer.in_channels, layer.out_channels, layer.kernel, layer.stride, groups, padding)
        self.conv = conv2d(*shape, bias=folded)
        self.bn = nn.Identity() if folded else nn.BatchNorm2d(layer.out_channels, eps=eps, momentum=momentum)
        self.act = make_activation(layer.act, inplace=True)  # acts on the fresh BN output
        inits = layer_inits(init, layer)
        draw_tensors(
            self, {name: how for name, how in inits.items() if not (folded and name.startswith("bn."))}
        )
        if folded:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Global average pool -> 1x1 reduce (+bias) -> act -> 1x1 expand (+bias) -> gate -> rescale.
    ``in_place`` (inference only): the rescale overwrites its input, which nothing else reads."""

    def __init__(self, layer: SqueezeExciteLayer, init: str, in_place: bool = False):
        super().__init__()
        self.reduce = nn.Conv2d(layer.channels, layer.squeeze, 1)
        self.act = make_activation(layer.act)
        self.expand = nn.Conv2d(layer.squeeze, layer.channels, 1)
        self.gate = make_activation(layer.gate)
        self.in_place = in_place
        draw_tensors(self, layer_inits(init, layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))
        return x.mul_(gate) if self.in_place else x * gate


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``rate``, rescale survivors; train only."""
    if not training or rate <= 0.0:
        return x
    if rate >= 1.0:
        return x * 0.0
    keep = 1.0 - rate
    mask = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return x * mask.bernoulli_(keep) / keep


class Block(nn.Sequential):
    """One table row: its layers in order, then (if residual) stochastic depth and the skip add."""

    def __init__(
        self, row: BlockRow, padding: str, eps: float, momentum: float, init: str, folded: bool = False
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, layer in block_layers(row):
            if isinstance(layer, ConvLayer):
                layers[name] = ConvNormAct(layer, padding, eps, momentum, init, folded)
            else:
                layers[name] = SqueezeExcite(layer, init)
        super().__init__(layers)
        self.kind = row.kind
        self.residual = bool(row.residual)
        self.drop_path_rate = float(row.drop_path)
        self.run_in_place(folded)

    def run_in_place(self, on: bool = True) -> None:
        """Inference only: add the skip into the block's fresh output, and rescale in place
        every SE but one that opens the block (its input is the skip, read again at the end)."""
        self.in_place = on
        for index, layer in enumerate(self):
            if isinstance(layer, SqueezeExcite):
                layer.in_place = on and index > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self:
            out = layer(out)
        if not self.residual:
            return out
        out = drop_path(out, self.drop_path_rate, self.training)
        return out.add_(x) if self.in_place else out + x


class DropoutLinear(nn.Linear):
    """Dropout on the input (training only), then a dense layer with bias, then an activation."""

    def __init__(self, row: LinearRow, init: str):
        super().__init__(row.in_features, row.out_features)
        self.dropout = nn.Dropout(float(row.dropout))
        self.act = make_activation(row.act)
        draw_tensors(self, linear_inits(init, row.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.linear(self.dropout(x), self.weight, self.bias))


class GlobalAveragePool(nn.Module):
    """The mean over height and width: (N, C, H, W) -> (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class GlobalMaxPool(nn.Module):
    """The maximum over height and width: (N, C, H, W) -> (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax((2, 3))


POOLS = {"avg": GlobalAveragePool, "max": GlobalMaxPool}


class ScaledNet(nn.Module):
    """stem -> stages of blocks -> head conv -> global pool -> [pre_logits] -> [classifier]; a
    table without a pool (``pool: None``) returns the last feature map.

    ``feature_info`` lists the feature-pyramid levels a features-only table chose (taps,
    channels, reductions, as timm's ``features_only`` models do); ``forward_pyramid`` returns
    their maps, shallow to deep.
    """

    def __init__(self, arch: Architecture, folded: bool = False):
        super().__init__()
        bn = {"padding": arch.padding, "eps": arch.bn_eps, "momentum": arch.bn_momentum, "init": arch.init}
        bn |= {"folded": folded}
        self.model_name = arch.name
        self.init = arch.init
        self.stem = ConvNormAct(arch.stem.as_layer(), **bn)
        self.stages = nn.Sequential(
            *(nn.Sequential(*(Block(row, **bn) for row in stage)) for stage in arch.stages)
        )
        self.head = ConvNormAct(arch.head.as_layer(), **bn) if arch.head else nn.Identity()
        self.pool = POOLS[arch.pool]() if arch.pool else nn.Identity()
        self.pre_logits = DropoutLinear(arch.pre_logits, arch.init) if arch.pre_logits else nn.Identity()
        self.classifier = DropoutLinear(arch.classifier, arch.init) if arch.classifier else nn.Identity()
        last = arch.pre_logits or arch.head or arch.stages[-1][-1]
        self.num_features = last.out_features if isinstance(last, LinearRow) else last.out_channels
        self.drop_rate = arch.classifier.dropout if arch.classifier else 0.0
        self.num_classes = arch.classifier.out_features if arch.classifier else 0
        self.feature_info = feature_info(arch)
        self.features = [level.tap for level in self.feature_info]

    def reset_classifier(self, num_classes: int, drop_rate: float | None = None) -> None:
        """A new, freshly initialised classifier of ``num_classes`` (0: none), for fine-tuning."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be 0 (no classifier) or more, got {num_classes}")
        rate = self.drop_rate if drop_rate is None else drop_rate
        row = LinearRow(self.num_features, num_classes, None, rate)
        self.classifier = DropoutLinear(row, self.init) if num_classes else nn.Identity()
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map after the head conv (or after the last block when there is none)."""
        return self.head(self.stages(self.stem(x)))

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps at the feature levels (``feature_info``), shallow to deep."""
        maps = []
        x = self.stem(x)
        if "stem" in self.features:
            maps.append(x)
        for s, stage in enumerate(self.stages):
            for i, block in enumerate(stage):
                x = block(x)
                if f"stages.{s}.{i}" in self.features:
                    maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pre_logits(self.pool(self.forward_features(x))))


class FeaturePyramid(ScaledNet):
    """A features-only network: ``forward`` returns the maps at ``feature_info``'s levels."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        return self.forward_pyramid(x)

    def reset_classifier(self, num_classes: int, drop_rate: float | None = None) -> None:
        raise ValueError("a features-only model has no classifier to reset")


def build_network(arch: Architecture, folded: bool = False) -> ScaledNet:
    """The module for ``arch``: a FeaturePyramid when the table is features-only, else a ScaledNet.

    ``folded``: for inference only, in eval mode, channels_last and without gradients, each
    batch norm folded into its conv (load the ``state_dict`` of ``optimize_for_inference``'s
    model, whose convs carry the folded kernels and biases)."""
    model = FeaturePyramid(arch, folded) if arch.features else ScaledNet(arch, folded)
    if folded:
        model.eval().requires_grad_(False)
        model.to(memory_format=torch.channels_last)
    return model
