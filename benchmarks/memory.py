"""The memory model (scalespec/ir/memory.py) against PyTorch's own figures on this CPU.

Not a test: run it by hand, ``.venv/bin/python benchmarks/memory.py [--device cuda]``
(docs/cost.md has the table; scripts/gpu-check.sh runs it on CUDA, where the allocator peak is
``torch.cuda.max_memory_allocated``). For each model: the inference peak the model predicts, the peak of live tensors PyTorch
keeps (equal by construction of the check), the CPU allocator's peak (scratch included); the
activations autograd saves; and the measured peak of a training step with SGD-momentum and
with Adam, against the model's totals.
"""

from __future__ import annotations

import argparse
import sys

import torch

from scalespec import optimize_for_inference
from scalespec.backends import get_backend
from scalespec.backends.torch.measure import (
    allocated_peak_bytes,
    live_tensor_peak_bytes,
    saved_activation_bytes,
    training_peak_bytes,
)
from scalespec.ir.memory import inference_memory, training_memory
from scalespec.zoo import resolve_model

OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
}


def mib(value: float) -> str:
    return f"{value / 2**20:.2f}"


def row(model: str, batch: int, train_batch: int, device: str) -> str:
    """One markdown table row for ``model`` at its own resolution, measured on ``device``."""
    _, net = resolve_model(model)
    size = net.resolution
    torch_model = get_backend("torch").build(net).to(device)
    fast = optimize_for_inference(torch_model)
    x = torch.randn(batch, net.input_channels, size, size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    predicted = inference_memory(net, batch=batch).peak_activations
    live, allocated = live_tensor_peak_bytes(fast, x), allocated_peak_bytes(fast, x)
    x = torch.randn(train_batch, net.input_channels, size, size, device=device)
    saved = saved_activation_bytes(torch_model.train(), x)
    cells = [
        model,
        str(size),
        str(batch),
        mib(predicted),
        mib(live),
        mib(allocated),
        f"{allocated / predicted:.4f}",
    ]
    cells += [str(train_batch), mib(training_memory(net, batch=train_batch).saved_activations), mib(saved)]
    for name, make in OPTIMIZERS.items():
        modelled = training_memory(net, batch=train_batch, optimizer=name).total
        measured = training_peak_bytes(torch_model, x, make(torch_model.parameters()))
        cells += [mib(modelled), mib(measured), f"{measured / modelled:.3f}"]
        print(f"  {model} {name}: done", file=sys.stderr)
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["efficientnet-b0", "efficientnet-b2", "efficientnetv2-s", "examples/mobilenetv3-ish.yaml"],
    )
    parser.add_argument("--batch", type=int, default=8, help="inference batch")
    parser.add_argument("--train-batch", type=int, default=4, help="training batch")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (scripts/gpu-check.sh runs it there)")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.device == "cuda":  # float32 means float32 (convention 7); TF32 does not change memory
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    print(f"device: {args.device}; torch {torch.__version__}")
    print(
        "| model | px | batch | inference peak, model (MiB) | live tensors, PyTorch | allocator peak | "
        "allocator / model | train batch | saved, model | saved, autograd | SGD total, model | "
        "SGD step peak | ratio | Adam total, model | Adam step peak | ratio |"
    )
    print("|" + " --- |" * 16)
    for model in args.models:
        print(f"{model}...", file=sys.stderr)
        print(row(model, args.batch, args.train_batch, args.device), flush=True)


if __name__ == "__main__":
    main()
