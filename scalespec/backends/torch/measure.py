"""Params, buffers, MACs and memory counted by PyTorch itself (never copied from ir/cost or ir/memory)."""

from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from ..base import Measured

COUNTED_BUFFERS = ("running_mean", "running_var")
HOW = (
    "torch: params = numel of parameters requiring grad; buffers = numel of BN running_mean/var; "
    "macs = torch.utils.flop_counter.FlopCounterMode total / 2 (conv and matmul FLOPs, bias not counted), "
    "batch 1, eval mode, on the meta device"
)


def count_params(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_buffers(model: nn.Module) -> int:
    """BN running statistics count (num_batches_tracked is not a weight)."""
    return sum(b.numel() for n, b in model.named_buffers() if n.rsplit(".", 1)[-1] in COUNTED_BUFFERS)


def count_macs(model: nn.Module, resolution: int, in_channels: int | None = None) -> int:
    """Multiply-accumulates of one forward pass at ``resolution`` counted by FlopCounterMode.

    The pass runs on meta tensors (shapes only), so a full-size B7 costs no arithmetic.
    """
    if in_channels is None:
        in_channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
    tensors = {n: torch.empty_like(t, device="meta") for n, t in model.state_dict(keep_vars=True).items()}
    x = torch.empty(1, in_channels, resolution, resolution, device="meta")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            functional_call(model, tensors, (x,))
    finally:
        model.train(was_training)
    flops = counter.get_total_flops()
    return flops // 2


def measure(model: nn.Module, resolution: int) -> Measured:
    """Counts of ``model`` at ``resolution`` by PyTorch's own facilities."""
    return Measured(count_params(model), count_buffers(model), count_macs(model, resolution), HOW)


def _allocated_peak(run, device: torch.device) -> int:
    """Peak bytes the allocator held above its level at the start while ``run()`` ran: on CUDA
    ``torch.cuda.max_memory_allocated``; on the CPU the PyTorch profiler's memory events
    (allocations and frees in time order)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    level = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        level += event.nbytes()
        peak = max(peak, level)
    return peak


def allocated_peak_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes the allocator holds during one no-grad forward of ``model`` on ``x`` (CPU or
    CUDA, where ``x`` is), the input included: live tensors plus the framework's scratch
    (oneDNN's reordered weights and scratchpads, cuDNN's workspace), run as a flat
    ``torch.fx`` graph (see ``live_tensor_peak_bytes``)."""
    graph = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        graph(x)  # warm up: the measured call should not count first-call caches

        def forward() -> None:
            graph(x)

        return x.numel() * x.element_size() + _allocated_peak(forward, x.device)


class _LiveTensors(TorchDispatchMode):
    """Tracks the storages that ops return until the last tensor using each one dies, and the
    largest total seen right after an op (its inputs and output both still alive)."""

    def __init__(self, *held: torch.Tensor):
        super().__init__()
        self.users: dict[int, list[int]] = {}  # storage address -> [bytes, live tensors]
        self.peak = 0
        for tensor in held:
            self._track(tensor)

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        entry = self.users.setdefault(storage.data_ptr(), [storage.nbytes(), 0])
        entry[1] += 1
        weakref.finalize(tensor, self._release, storage.data_ptr())

    def _release(self, address: int) -> None:
        entry = self.users[address]
        entry[1] -= 1
        if entry[1] == 0:
            del self.users[address]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if torch.is_tensor(t)}
        for tensor in tree_leaves(out):
            if torch.is_tensor(tensor):
                address = tensor.untyped_storage().data_ptr()
                if address in self.users or address not in inputs:  # not a view of a weight
                    self._track(tensor)
        self.peak = max(self.peak, sum(size for size, _ in self.users.values()))
        return out


def live_tensor_peak_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of the tensors alive during one no-grad forward of ``model`` on ``x``, as
    PyTorch itself frees them: the input, every op's output until its last user drops it
    (in-place results and views share their storage), weights not counted, scratch inside an op
    not seen. The model runs as a flat ``torch.fx`` graph, whose code drops each tensor after
    its last use, as the memory model (ir/memory.py) assumes; eager Python would keep every
    module's input until that module returns.
    """
    graph = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        mode = _LiveTensors(x)
        with mode:
            graph(x)
    return mode.peak


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves for backward in one forward of ``model``
    on ``x`` (the input included, parameters and buffers not)."""
    weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(saved.values())


def training_peak_bytes(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> int:
    """Peak bytes of one training step (forward, cross-entropy on fixed labels, backward,
    ``optimizer.step()``), counting what was held before it: weights, buffers, the input, and
    the gradients and optimizer state left by a first, unmeasured step."""
    model.train()
    labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=False)  # gradients persist between steps
        nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()

    step()
    held = [*model.parameters(), *model.buffers(), x]
    held += [p.grad for p in model.parameters() if p.grad is not None]
    held += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in held) + _allocated_peak(step, x.device)
