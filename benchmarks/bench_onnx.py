"""Forward throughput of efficientnet-b0 as an ONNX graph in onnxruntime, against the generated
PyTorch model in eager NCHW and channels_last, measured in one run.

Not a test: run it by hand, e.g. ``.venv/bin/python benchmarks/bench_onnx.py`` (docs/performance.md).
All three get the same weights (seeded random canonical weights imported into both), the same
input (batch 8, 3x224x224, float32) and the same thread count; passes alternate between them
and the median of each is kept, per wall-clock second and per process CPU second.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import torch
from common import build_emitted, cpu_model

from scalespec.backends import get_backend
from scalespec.conformance.checks import random_weights
from scalespec.zoo import resolve_model


def timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iters", type=int, default=15, help="timed passes per model")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref, network = resolve_model("efficientnet-b0", resolution=args.resolution)
    weights = random_weights(network, 0)

    torch_backend = get_backend("torch")
    eager = build_emitted(torch_backend.emit(network)).eval()
    torch_backend.import_weights(eager, weights)
    channels_last = build_emitted(torch_backend.emit(network)).eval()
    torch_backend.import_weights(channels_last, weights)
    channels_last = channels_last.to(memory_format=torch.channels_last)

    graph = get_backend("onnx").build(network)
    get_backend("onnx").import_weights(graph, weights)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        graph.proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    x = (
        np.random.default_rng(0)
        .standard_normal((args.batch, 3, args.resolution, args.resolution))
        .astype(np.float32)
    )
    x_torch = torch.from_numpy(x)
    x_last = x_torch.contiguous(memory_format=torch.channels_last)

    def run_torch(model: torch.nn.Module, image: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return model(image)

        return run

    runs = {
        "torch eager (NCHW)": run_torch(eager, x_torch),
        "torch channels_last": run_torch(channels_last, x_last),
        "onnxruntime (CPU)": lambda: session.run(None, {"image": x}),
    }
    # onnxruntime returns a list of outputs, torch one tensor
    outputs = {
        name: np.asarray(out[0] if isinstance(out, list) else out)
        for name, out in ((n, r()) for n, r in runs.items())
    }
    reference = outputs["torch eager (NCHW)"]
    for name, out in outputs.items():
        print(f"{name}: max abs difference to torch eager {np.abs(out - reference).max():.3g}")
    for run in runs.values():
        for _ in range(args.warmup):
            run()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.iters):
        for name, run in runs.items():
            samples[name].append(timed(run))
    print(
        f"cpu: {cpu_model()}; threads: {args.threads}; torch {torch.__version__}; onnxruntime {ort.__version__}; "
        f"batch {args.batch} at {args.resolution}px; median of {args.iters} alternated passes"
    )
    base = statistics.median(w for w, _ in samples["torch eager (NCHW)"])
    base_cpu = statistics.median(c for _, c in samples["torch eager (NCHW)"])
    last = statistics.median(w for w, _ in samples["torch channels_last"])
    print("| runtime | img/s | vs torch eager (wall, CPU) | vs channels_last (wall) |")
    print("|---|---|---|---|")
    for name, times in samples.items():
        wall = statistics.median(w for w, _ in times)
        cpu = statistics.median(c for _, c in times)
        print(
            f"| {name} | {args.batch / wall:.2f} | {base / wall:.3f}, {base_cpu / cpu:.3f} | {last / wall:.3f} |"
        )


if __name__ == "__main__":
    main()
