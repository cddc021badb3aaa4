"""Memory model: peak inference activation memory and training memory, from the IR alone.

The network is unrolled into a program of steps, one per tensor it computes (conv, batch
norm, activation, SE pieces, residual add, pool, dense). Each step names the tensors it
reads and, for training, the tensors its backward pass needs (what autograd saves).

- Inference: the model ``optimize_for_inference`` returns (batch norm folded into the conv;
  activations, the squeeze-excite rescale and the residual add in place where PyTorch's
  folded model runs them in place). A tensor lives from the step that
  makes it to its last reader; the caller's input lives throughout; the peak is the largest
  sum of live tensors while a step runs (its inputs, its output and everything kept for later,
  such as a residual shortcut or the tensor an SE branch rescales).
- Training: weights, their gradients, the optimizer's state (SGD with momentum: one buffer;
  Adam: two) and the activations saved for backward, each distinct tensor counted once.

Framework scratch (convolution workspaces, padding copies) and the gradients of activations
that exist only during backward are outside the model; docs/cost.md gives the measured
agreement with PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

from ..errors import SpecError
from .cost import network_cost
from .network import Conv, Linear, Network, SqueezeExcite
from .table import INPLACE_ACTIVATIONS
from .weights import tensor_specs

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
OPTIMIZER_STATES = {"sgd": 1, "adam": 2, "none": 0}  # buffers per parameter: momentum; Adam's two moments
# what an activation's backward reads: its input (so the pre-activation value is kept) or its output
SAVES_OUTPUT = ("relu", "sigmoid", "softmax")


@dataclass(frozen=True)
class Step:
    """One computed tensor: its name and size in elements, what it reads, whether it overwrites
    the first tensor it reads (in place), and what its backward pass keeps (tensor names)."""

    name: str
    elements: int
    reads: tuple[str, ...]
    in_place: bool = False
    saves: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class InferenceMemory:
    """Bytes for one forward pass of the folded inference model at ``batch`` and ``dtype``."""

    batch: int
    dtype: str
    weights: int  # folded parameters (conv weights and biases, SE, dense layers)
    peak_activations: int  # the largest sum of live tensors, the input included
    peak_at: str  # the step at which it is reached

    @property
    def total(self) -> int:
        return self.weights + self.peak_activations

    def as_dict(self) -> dict:
        return {
            "batch": self.batch,
            "dtype": self.dtype,
            "weights_bytes": self.weights,
            "peak_activation_bytes": self.peak_activations,
            "peak_at": self.peak_at,
            "total_bytes": self.total,
        }


@dataclass(frozen=True, kw_only=True)
class TrainingMemory:
    """Bytes held through one training step: weights, gradients, optimizer state and the
    activations saved for backward."""

    batch: int
    dtype: str
    optimizer: str
    weights: int  # parameters and batch-norm buffers
    gradients: int
    optimizer_state: int
    saved_activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.saved_activations

    def as_dict(self) -> dict:
        return {
            "batch": self.batch,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "weights_bytes": self.weights,
            "gradient_bytes": self.gradients,
            "optimizer_state_bytes": self.optimizer_state,
            "saved_activation_bytes": self.saved_activations,
            "total_bytes": self.total,
        }


def check_memory_arguments(batch: int, dtype: str, optimizer: str = "none") -> None:
    """SpecError naming batch, dtype or optimizer when one is not usable."""
    problems = []
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        problems.append(("batch", f"batch must be a positive integer, got {batch!r}"))
    if dtype not in DTYPE_BYTES:
        problems.append(("dtype", f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}"))
    if optimizer not in OPTIMIZER_STATES:
        problems.append(
            ("optimizer", f"optimizer must be one of {', '.join(OPTIMIZER_STATES)}, got {optimizer!r}")
        )
    if problems:
        raise SpecError(problems)


class _Program:
    """Builds the step list; ``training`` decides the batch-norm and stochastic steps."""

    def __init__(self, network: Network, resolution: int | None, batch: int, training: bool):
        self.network = network
        self.batch = batch
        self.training = training
        self.shapes = {row.name: row.out_shape for row in network_cost(network, resolution).layers}
        self.steps: list[Step] = []
        side = resolution or network.resolution
        self.sizes: dict[str, int] = {"input": batch * network.input_channels * side**2}

    def add(self, name: str, elements: int, reads: tuple[str, ...], **how) -> str:
        self.steps.append(Step(name, elements, reads, **how))
        self.sizes[name] = elements
        return name

    def activation(self, name: str, act: str | None, x: str, elements: int, in_place: bool) -> str:
        if act in (None, "identity"):
            return x
        saved = name if act in SAVES_OUTPUT else x
        return self.add(name, elements, (x,), in_place=in_place, saves=(saved,))

    def conv(self, conv: Conv, x: str) -> str:
        elements = self.batch * prod(self.shapes[conv.name])
        out = self.add(f"{conv.name}.conv", elements, (x,), saves=(x,))
        if self.training:
            stats = self.add(f"{conv.name}.bn.stats", 2 * conv.out_channels, ())
            out = self.add(f"{conv.name}.bn", elements, (out,), saves=(out, stats))
        in_place = conv.activation in INPLACE_ACTIVATIONS
        return self.activation(f"{conv.name}.act", conv.activation, out, elements, in_place)

    def squeeze_excite(self, se: SqueezeExcite, x: str, in_place: bool) -> str:
        wide, narrow = self.batch * se.channels, self.batch * se.squeeze_channels
        pooled = self.add(f"{se.name}.pool", wide, (x,))
        reduced = self.add(f"{se.name}.reduce", narrow, (pooled,), saves=(pooled,))
        inner = self.activation(f"{se.name}.act", se.activation, reduced, narrow, False)
        expanded = self.add(f"{se.name}.expand", wide, (inner,), saves=(inner,))
        gate = self.activation(f"{se.name}.gate", se.gate, expanded, wide, False)
        return self.add(f"{se.name}.scale", self.sizes[x], (x, gate), in_place=in_place, saves=(x, gate))

    def drop(self, name: str, x: str, rate: float, per_sample: bool) -> str:
        """Drop-path or dropout in training: the mask (in the tensors' dtype, as PyTorch's CPU
        dropout keeps it) is saved, the output is a new tensor."""
        if not self.training or rate <= 0:
            return x
        mask = self.add(f"{name}.mask", self.batch if per_sample else self.sizes[x], ())
        return self.add(name, self.sizes[x], (x, mask), saves=(mask,))

    def linear(self, linear: Linear, x: str) -> str:
        x = self.drop(f"{linear.name}.dropout", x, linear.dropout, per_sample=False)
        out = self.add(f"{linear.name}.linear", self.batch * linear.out_features, (x,), saves=(x,))
        return self.activation(f"{linear.name}.act", linear.activation, out, self.sizes[out], False)

    def build(self) -> tuple[list[Step], set[str]]:
        """The steps, and the tensors the network returns (kept to the end)."""
        net = self.network
        x = self.conv(net.stem, "input")
        taps = {"stem": x}
        for block in net.blocks:
            shortcut = x
            for op in block.ops:
                if isinstance(op, Conv):
                    x = self.conv(op, x)
                else:  # the folded model rescales in place unless x is the shortcut, read again
                    x = self.squeeze_excite(op, x, in_place=not self.training and x != shortcut)
            if block.residual:
                x = self.drop(f"{block.name}.drop_path", x, block.row.drop_path, per_sample=True)
                in_place = not self.training  # the folded model adds into the block's fresh output
                x = self.add(f"{block.name}.add", self.sizes[x], (x, shortcut), in_place=in_place)
            taps[block.name] = x
        if net.features:
            return self.steps, {taps[name] for name in net.features}
        if net.head:
            x = self.conv(net.head, x)
        if net.pool:
            saves = (x, "pool") if net.pool == "max" else ()  # a max pool's backward finds the maxima
            x = self.add("pool", self.batch * self.shapes["pool"][0], (x,), saves=saves)
        for linear in (net.pre_logits, net.classifier):
            if linear:
                x = self.linear(linear, x)
        return self.steps, {x}


def peak_activations(steps: list[Step], sizes: dict[str, int], outputs: set[str]) -> tuple[int, str]:
    """The largest sum of live tensor elements over ``steps``, and the step where it occurs.

    A tensor is live from its step to its last reader; ``input`` and ``outputs`` stay live
    throughout; an in-place step adds nothing, since it overwrites the first tensor it reads.
    """
    last_read: dict[str, int] = {}
    for index, step in enumerate(steps):
        for name in step.reads:
            last_read[name] = index
    live = {"input": sizes["input"]}
    peak, where = sizes["input"], "input"
    for index, step in enumerate(steps):
        if step.in_place:
            live[step.name] = live.pop(step.reads[0])
        else:
            live[step.name] = step.elements
        if sum(live.values()) > peak:
            peak, where = sum(live.values()), step.name
        for name in step.reads:
            if last_read.get(name) == index and name in live and name != "input" and name not in outputs:
                del live[name]
        if last_read.get(step.name, -1) < index and step.name not in outputs:
            live.pop(step.name, None)
    return peak, where


def inference_memory(
    network: Network, *, resolution: int | None = None, batch: int = 1, dtype: str = "float32"
) -> InferenceMemory:
    """Weights and peak activation memory of the folded inference model (module docstring)."""
    check_memory_arguments(batch, dtype)
    program = _Program(network, resolution, batch, training=False)
    steps, outputs = program.build()
    peak, where = peak_activations(steps, program.sizes, outputs)
    size = DTYPE_BYTES[dtype]
    return InferenceMemory(
        batch=batch,
        dtype=dtype,
        weights=size * folded_weight_count(network),
        peak_activations=size * peak,
        peak_at=where,
    )


def training_memory(
    network: Network,
    *,
    resolution: int | None = None,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "sgd",
) -> TrainingMemory:
    """Weights, gradients, optimizer state and saved activations for one training step."""
    check_memory_arguments(batch, dtype, optimizer)
    program = _Program(network, resolution, batch, training=True)
    steps, _ = program.build()
    size = DTYPE_BYTES[dtype]
    saved = {name for step in steps for name in step.saves}
    specs = tensor_specs(network).values()
    params = sum(prod(t.shape) for t in specs if t.trainable)
    buffers = sum(prod(t.shape) for t in specs if not t.trainable)
    return TrainingMemory(
        batch=batch,
        dtype=dtype,
        optimizer=optimizer,
        weights=size * (params + buffers),
        gradients=size * params,
        optimizer_state=size * params * OPTIMIZER_STATES[optimizer],
        saved_activations=size * sum(program.sizes[name] for name in saved),
    )


def folded_weight_count(network: Network) -> int:
    """Elements of the folded model's weights: each conv keeps its kernel and gains a bias in
    place of its batch norm's four vectors; SE and dense layers are unchanged."""
    total = 0
    for name, spec in tensor_specs(network).items():
        if ".bn." not in f".{name}":
            total += prod(spec.shape)
    return total + sum(conv.out_channels for conv in network.convs())


def memory_report(
    network: Network, *, resolution: int | None = None, batch: int = 1, dtype: str = "float32"
) -> dict:
    """Inference memory and training memory under SGD-momentum and Adam, as plain data."""
    how = {"resolution": resolution, "batch": batch, "dtype": dtype}
    sgd = training_memory(network, optimizer="sgd", **how)
    # Adam differs only in its state: the saved activations are the same program's
    adam = replace(sgd, optimizer="adam", optimizer_state=sgd.gradients * OPTIMIZER_STATES["adam"])
    training = {"sgd": sgd.as_dict(), "adam": adam.as_dict()}
    return {"inference": inference_memory(network, **how).as_dict(), "training": training}
