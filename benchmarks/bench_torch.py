"""Forward throughput of the generated EfficientNet-B0 against torchvision's efficientnet_b0.

Not a test: run it by hand, e.g. ``PYTHONPATH=. .venv-tv/bin/python benchmarks/bench_torch.py`` (docs/performance.md)
(torchvision is optional; without it only scalespec's model is timed). Both models get the same
threads, input and weights (torchvision's, imported through the published-layout importer), in
eval mode under no_grad, in the default (NCHW) and channels_last memory formats; and in
channels_last, scalespec's ``optimize_for_inference`` copy (batch norms folded into the convs).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import build_emitted, cpu_model

from scalespec.backends.torch import BACKEND
from scalespec.backends.torch.build import optimize_for_inference
from scalespec.backends.torch.published import import_published
from scalespec.ir.resolve import resolve
from scalespec.zoo import load_model

OPTIMIZED = "scalespec optimize_for_inference"


def emitted_b0(resolution: int) -> torch.nn.Module:
    """efficientnet-b0 built from the emitted source file (what `scalespec generate` writes)."""
    ref = load_model("efficientnet-b0")
    source = BACKEND.emit(resolve(ref.spec, variant=ref.variant, resolution=resolution))
    return build_emitted(source)


def timed_forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one forward pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(models: dict[str, torch.nn.Module], x: torch.Tensor, iters: int, warmup: int) -> dict:
    """Median images/s (wall and per CPU second) per model, timing the models in turn each iteration.

    Alternating single passes and taking medians keeps a shared machine's load swings from
    favouring whichever model happened to run during a quiet spell.
    """
    for model in models.values():
        for _ in range(warmup):
            timed_forward(model, x)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for _ in range(iters):
        for name, model in models.items():
            samples[name].append(timed_forward(model, x))
    batch = x.shape[0]
    return {
        name: (batch / statistics.median(w for w, _ in runs), batch / statistics.median(c for _, c in runs))
        for name, runs in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iters", type=int, default=20, help="timed passes per model and layout")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile of torchvision's model and of optimize_for_inference's (channels_last)",
    )
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
        f"input: {args.batch}x3x{args.resolution}x{args.resolution} float32, eval, no_grad, models alternated pass by pass"
    )
    x = torch.randn(args.batch, 3, args.resolution, args.resolution)
    optimized = optimize_for_inference(ours)  # BN folded, channels_last: timed in channels_last only
    for layout in ("contiguous", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        moved = {name: model.to(memory_format=fmt) for name, model in models.items()}
        if layout == "channels_last":
            moved[OPTIMIZED] = optimized
            if args.compile:  # compiled on the first (warm-up) call, a minute or more each
                moved[f"{OPTIMIZED} compiled"] = torch.compile(optimized)
                if "torchvision" in moved:
                    moved["torchvision compiled"] = torch.compile(moved["torchvision"])
        xf = x.to(memory_format=fmt)
        rates = interleaved(moved, xf, args.iters, args.warmup)
        wall = {name: rate[0] for name, rate in rates.items()}
        per_cpu = {name: rate[1] for name, rate in rates.items()}
        for name in moved:
            print(
                f"{layout:14s} {name:20s} {wall[name]:8.2f} img/s  {per_cpu[name]:8.2f} img/cpu-s (median of {args.iters})"
            )
        if "torchvision" in moved:
            for mine in (name for name in moved if not name.startswith("torchvision")):
                print(
                    f"{layout:14s} ratio {mine}/torchvision: wall {wall[mine] / wall['torchvision']:.3f}, "
                    f"cpu {per_cpu[mine] / per_cpu['torchvision']:.3f}"
                )
        if "torchvision compiled" in moved:
            mine, theirs = f"{OPTIMIZED} compiled", "torchvision compiled"
            print(
                f"{layout:14s} ratio compiled/compiled: wall {wall[mine] / wall[theirs]:.3f}, "
                f"cpu {per_cpu[mine] / per_cpu[theirs]:.3f}"
            )


if __name__ == "__main__":
    main()
