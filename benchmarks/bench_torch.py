"""Forward throughput of the generated EfficientNet-B0 against torchvision's efficientnet_b0.

Not a test: run it by hand, e.g. ``PYTHONPATH=. /work/tvenv/bin/python benchmarks/bench_torch.py``
(torchvision is optional; without it only scalespec's model is timed). Both models get the same
threads, input and weights (torchvision's, imported through the published-layout importer), in
eval mode under no_grad, in the default (NCHW) and channels_last memory formats.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from scalespec.backends.torch import BACKEND
from scalespec.backends.torch.weights import import_published
from scalespec.ir.resolve import resolve
from scalespec.zoo import load_model


def cpu_model() -> str:
    """The CPU model name lscpu reports (platform's guess when lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def emitted_b0(resolution: int) -> torch.nn.Module:
    """efficientnet-b0 built from the emitted source file (what `scalespec generate` writes)."""
    ref = load_model("efficientnet-b0")
    source = BACKEND.emit(resolve(ref.spec, variant=ref.variant, resolution=resolution))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "efficientnet_b0.py"
        path.write_text(source, encoding="utf-8")
        namespace: dict = {"__name__": "generated"}
        exec(compile(source, str(path), "exec"), namespace)  # our own emitted file
    return namespace["build_model"]()


def throughput(model: torch.nn.Module, x: torch.Tensor, seconds: float, warmup: int) -> tuple[float, float]:
    """Images per wall-clock second and per process CPU second over ``seconds`` of forward passes.

    The CPU-second figure is the steadier one on a shared machine: time other processes take
    from the cores does not count against the model.
    """
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        runs, start, cpu = 0, time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - start) < seconds or runs < 3:
            model(x)
            runs += 1
        cpu = time.process_time() - cpu
    images = runs * x.shape[0]
    return images / elapsed, images / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = emitted_b0(args.resolution).eval()
    models = {"scalespec (emitted)": ours}
    try:
        import torchvision

        reference = torchvision.models.efficientnet_b0(weights=None).eval()
        ref = load_model("efficientnet-b0")
        import_published(ours, reference.state_dict(), resolve(ref.spec, variant=ref.variant))
        models["torchvision"] = reference
    except ImportError:
        torchvision = None
    print(f"cpu: {cpu_model()}; threads: {args.threads}; torch {torch.__version__}", end="")
    print(f"; torchvision {torchvision.__version__}" if torchvision else "; torchvision not installed")
    print(
        f"input: {args.batch}x3x{args.resolution}x{args.resolution} float32, eval, no_grad, {args.seconds:g}s per row"
    )
    x = torch.randn(args.batch, 3, args.resolution, args.resolution)
    for layout in ("contiguous", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        moved = {name: model.to(memory_format=fmt) for name, model in models.items()}
        xf = x.to(memory_format=fmt)
        wall: dict[str, float] = {}
        per_cpu: dict[str, float] = {}
        for _ in range(args.rounds):  # alternate the models so load changes hit both alike
            for name, model in moved.items():
                rate, cpu_rate = throughput(model, xf, args.seconds / args.rounds, args.warmup)
                wall[name] = max(wall.get(name, 0.0), rate)
                per_cpu[name] = max(per_cpu.get(name, 0.0), cpu_rate)
        for name in moved:
            print(
                f"{layout:14s} {name:20s} {wall[name]:8.1f} img/s  {per_cpu[name]:8.2f} img/cpu-s (best of {args.rounds})"
            )
        if len(moved) == 2:
            mine, theirs = "scalespec (emitted)", "torchvision"
            print(
                f"{layout:14s} ratio scalespec/torchvision: wall {wall[mine] / wall[theirs]:.3f}, "
                f"cpu {per_cpu[mine] / per_cpu[theirs]:.3f}"
            )


if __name__ == "__main__":
    main()
