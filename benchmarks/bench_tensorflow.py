"""Forward throughput of the generated EfficientNet-B0 against keras.applications.EfficientNetB0.

Not a test: run it by hand, e.g. ``.venv/bin/python benchmarks/bench_tensorflow.py``. The
scalespec model is built from the emitted source file (the `keras` profile, the same
architecture as keras.applications) and given keras.applications' weights through the
published-layout importer; both run in eval mode on the same input, inside tf.function and
inside tf.function(jit_compile=True) (XLA); under tf.function, also scalespec's
``optimize_for_inference`` copy (batch norms folded into the convs). keras.applications' model
also runs its two input preprocessing layers (Rescaling, Normalization), which scalespec's
network leaves to the caller.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_emitted, cpu_model  # noqa: E402

from scalespec.backends.tensorflow import BACKEND  # noqa: E402
from scalespec.backends.tensorflow.published import import_keras_application  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.zoo import load_model  # noqa: E402

OPTIMIZED = "scalespec optimize_for_inference"


def emitted_b0() -> keras.Model:
    """efficientnet-b0 (keras profile) built from the emitted source file."""
    ref = load_model("efficientnet-b0")
    source = BACKEND.emit(resolve(ref.spec, variant=ref.variant, profile="keras"))
    return build_emitted(source)


def throughput(forward, x: tf.Tensor, seconds: float, warmup: int) -> float:
    """Images per second over at least ``seconds`` of back-to-back forward passes."""
    for _ in range(warmup):
        forward(x).numpy()
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or runs < 3:
        forward(x).numpy()
        runs += 1
    return runs * int(x.shape[0]) / elapsed


def compiled(model: keras.Model, xla: bool):
    """``model``'s eval-mode forward as a tf.function, XLA-compiled when ``xla``."""
    return tf.function(lambda x: model(x, training=False), jit_compile=xla)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reference = keras.applications.EfficientNetB0(
        weights=None, classifier_activation=None, input_shape=(args.resolution, args.resolution, 3)
    )
    ours = emitted_b0()
    ref = load_model("efficientnet-b0")
    BACKEND.import_weights(
        ours, import_keras_application(reference, resolve(ref.spec, variant="b0", profile="keras"))
    )
    optimized = BACKEND.optimize_for_inference(ours)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    print(f"cpu: {cpu_model()}; threads: {threads}; tensorflow {tf.__version__}; keras {keras.__version__}")
    print(
        f"input: {args.batch}x{args.resolution}x{args.resolution}x3 float32, eval, {args.seconds:g}s per row"
    )
    x = tf.constant(
        np.random.default_rng(0).uniform(0, 1, (args.batch, args.resolution, args.resolution, 3)), tf.float32
    )
    for mode, xla in (("tf.function", False), ("XLA", True)):
        forwards = {
            "scalespec (emitted)": compiled(ours, xla),
            "keras.applications": compiled(reference, xla),
        }
        if not xla:  # XLA on CPU is 10x slower for every model here (docs/performance.md)
            forwards[OPTIMIZED] = compiled(optimized, xla)
        rates: dict[str, float] = {}
        for _ in range(args.rounds):  # alternate the models so load changes hit both alike
            for name, forward in forwards.items():
                rate = throughput(forward, x, args.seconds / args.rounds, args.warmup)
                rates[name] = max(rates.get(name, 0.0), rate)
        for name, rate in rates.items():
            print(f"{mode:12s} {name:20s} {rate:8.1f} img/s (best of {args.rounds})")
        for name in (n for n in rates if n.startswith("scalespec")):
            ratio = rates[name] / rates["keras.applications"]
            print(f"{mode:12s} ratio {name}/keras.applications {ratio:.3f}")


if __name__ == "__main__":
    main()
