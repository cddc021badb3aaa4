"""PyTorch building blocks that turn an architecture table into an nn.Module.

This file imports only torch and the standard library: scalespec's emitter copies its text
verbatim into generated model files, and scalespec's builder runs the very same code, so a
built model and an emitted one are one implementation fed one table.

The table is plain data (``Network.to_table()``): every width, stride, activation, padding
mode, BN constant and drop rate is already decided there; this code only executes it.
Module names come from the table's op names, so ``state_dict()`` keys are the canonical
weight names (``stem.conv.weight``, ``stages.0.0.se.reduce.bias``, ``classifier.weight``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "hard_swish": nn.Hardswish,  # x * relu6(x + 3) / 6
    "gelu": nn.GELU,  # exact erf form (approximate="none")
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,  # relu6(x + 3) / 6
    "identity": nn.Identity,
}


INPLACE = ("relu", "relu6", "silu", "hard_swish", "hard_sigmoid")  # activations torch can run in place


def make_activation(name: str | None, inplace: bool = False) -> nn.Module:
    """The activation module called ``name`` (None means identity); in place where torch allows."""
    if name is None:
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return ACTIVATIONS[name](inplace=True) if inplace and name in INPLACE else ACTIVATIONS[name]()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME zero padding (before, after) along one axis; the extra pixel goes after."""
    out = (size + stride - 1) // stride
    total = (out - 1) * stride + kernel - size
    if kernel < stride:  # only then can total go negative; otherwise no branch, so traces stay dynamic
        total = max(total, 0)
    return total // 2, total - total // 2


class PadConv2d(nn.Conv2d):
    """Conv2d whose padding is ``symmetric`` ((k-1)//2 each side) or TF ``same`` per input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int, bias: bool, padding: str):
        if padding not in ("symmetric", "same"):
            raise ValueError(f"unknown padding mode {padding!r}")
        static = (kernel - 1) // 2 if padding == "symmetric" else 0
        super().__init__(cin, cout, kernel, stride, static, groups=groups, bias=bias)
        self.same = padding == "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return super().forward(x)
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if self.stride == (1, 1) and top == bottom and left == right:
            # stride 1: the amounts do not depend on the input size, so a static pad is exact
            return F.conv2d(x, self.weight, self.bias, 1, (top, left), groups=self.groups)
        return F.conv2d(
            F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, groups=self.groups
        )


class ConvNormAct(nn.Module):
    """conv -> optional batch norm -> activation; children ``conv`` and ``bn`` give the weight names."""

    def __init__(self, op: dict, padding: str, eps: float, momentum: float):
        super().__init__()
        self.conv = PadConv2d(
            op["in_channels"],
            op["out_channels"],
            op["kernel"],
            op["stride"],
            op["groups"],
            op["bias"],
            padding,
        )
        self.bn = nn.BatchNorm2d(op["out_channels"], eps=eps, momentum=momentum) if op["norm"] else None
        self.act = make_activation(op["activation"], inplace=True)  # acts on a fresh conv/BN output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class SqueezeExcite(nn.Module):
    """Global average pool -> reduce 1x1 (+bias) -> act -> expand 1x1 (+bias) -> gate -> rescale."""

    def __init__(self, op: dict):
        super().__init__()
        self.reduce = nn.Conv2d(op["channels"], op["squeeze_channels"], 1)
        self.act = make_activation(op["activation"])
        self.expand = nn.Conv2d(op["squeeze_channels"], op["channels"], 1)
        self.gate = make_activation(op["gate"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.gate(self.expand(self.act(self.reduce(scale))))
        return x * scale


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``rate``, rescale survivors; train only."""
    if not training or rate <= 0.0:
        return x
    if rate >= 1.0:
        return x * 0.0
    keep = 1.0 - rate
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return x * mask.bernoulli_(keep) / keep


class Block(nn.Module):
    """The table's ops in list order, then (if residual) stochastic depth and the input added back."""

    def __init__(self, block: dict, padding: str, eps: float, momentum: float):
        super().__init__()
        self.residual = bool(block["residual"])
        self.drop_path_rate = float(block["drop_path_rate"])
        self.order: list[str] = []
        prefix = block["name"] + "."
        for op in block["ops"]:
            if not op["name"].startswith(prefix):
                raise ValueError(f"op {op['name']!r} is not inside block {block['name']!r}")
            local = op["name"][len(prefix) :]
            module = ConvNormAct(op, padding, eps, momentum) if op["op"] == "conv" else SqueezeExcite(op)
            self.add_module(local, module)
            self.order.append(local)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for local in self.order:
            out = getattr(self, local)(out)
        if self.residual:
            out = drop_path(out, self.drop_path_rate, self.training) + x
        return out


class DropoutLinear(nn.Linear):
    """Dropout on the input (train mode only), then a dense layer, then an optional activation."""

    def __init__(self, spec: dict, out_features: int | None = None):
        super().__init__(spec["in_features"], spec["out_features"] if out_features is None else out_features)
        self.dropout = nn.Dropout(float(spec["dropout"]))
        self.act = make_activation(spec["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(self.dropout(x)))


def place(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Register ``module`` under ``root`` at the dotted path ``dotted``, creating containers."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = getattr(root, part, None) if part in root._modules else None
        if child is None:
            child = nn.ModuleDict()
            root.add_module(part, child)
        root = child
    root.add_module(leaf, module)


class ScaledNet(nn.Module):
    """stem -> blocks -> head -> global average pool -> [pre_logits] -> [classifier], from one table."""

    def __init__(self, table: dict, num_classes: int | None = None):
        super().__init__()
        padding, eps, momentum = table["padding"], table["norm_eps"], table["norm_momentum"]
        self.model_name = str(table["name"])
        self.stem = ConvNormAct(table["stem"], padding, eps, momentum)
        self._blocks: list[Block] = []
        for spec in table["blocks"]:
            block = Block(spec, padding, eps, momentum)
            place(self, spec["name"], block)
            self._blocks.append(block)
        self.head = ConvNormAct(table["head"], padding, eps, momentum) if table["head"] else None
        self.pre_logits = DropoutLinear(table["pre_logits"]) if table["pre_logits"] else None
        self.classifier = self._classifier(table["classifier"], num_classes)

    @staticmethod
    def _classifier(spec: dict | None, num_classes: int | None) -> DropoutLinear | None:
        if num_classes is None:
            return DropoutLinear(spec) if spec else None
        if num_classes == 0:
            return None
        if not spec or num_classes < 0:
            raise ValueError(f"num_classes={num_classes} needs a classifier in the table and a value >= 0")
        return DropoutLinear(spec, out_features=num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map after the head conv (or the last block when there is no head)."""
        x = self.stem(x)
        for block in self._blocks:
            x = block(x)
        return self.head(x) if self.head is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x).mean((2, 3))
        if self.pre_logits is not None:
            x = self.pre_logits(x)
        if self.classifier is not None:
            x = self.classifier(x)
        return x


def build_from_table(table: dict, num_classes: int | None = None) -> ScaledNet:
    """The network the table describes, in eval mode."""
    return ScaledNet(table, num_classes).eval()
