"""A backend run in a worker process with its own environment: the Keras backend on another
Keras 3 backend (``keras-jax``, ``keras-torch``), next to TensorFlow in the same check.

Keras picks its backend once per process (``KERAS_BACKEND``), so conformance runs the Keras
models on JAX or PyTorch in a worker: the same runtime.py, weights and taps code, driven
call by call over a pipe (pickled arguments and numpy arrays). Models stay in the worker;
this process holds handles. The worker runs inference only: training is TensorFlow's
(``trains = False``), and it runs on its framework's default device.

    python -c "from scalespec.backends.remote import main; main()" tensorflow   # a worker
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import SpecError
from ..ir.network import Network
from ..zoo import ModelRef
from .base import Measured, StochasticFn, TrainBatch, TrainStep, Weights

# name -> (the backend the worker serves, its environment, the framework it needs)
REMOTE_BACKENDS = {
    "keras-jax": ("tensorflow", {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}, "jax"),
    "keras-torch": ("tensorflow", {"KERAS_BACKEND": "torch"}, "torch"),
}
WORKER = "from scalespec.backends.remote import main; main()"  # imported by name: pickles name its classes
MODEL_RESULTS = (
    "build",
    "load_emitted",
    "optimize_for_inference",
)  # methods whose result is a model: kept in the worker


@dataclass(frozen=True)
class RemoteModel:
    """A model living in a worker process; ``feature_info`` is copied out for callers."""

    backend: str
    handle: int
    feature_info: list = field(default_factory=list)


def _send(stream: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> object:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the worker closed its pipe")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


class RemoteBackend:
    """The ``target`` backend served by a worker process started with ``environment``."""

    suffix = ".py"
    trains = False

    def __init__(self, name: str, target: str, environment: dict[str, str], needs: str):
        self.name, self.target, self.environment, self.needs = name, target, environment, needs
        self._worker: subprocess.Popen | None = None

    # ------------------------------------------------------------ the worker

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **self.environment, "TF_CPP_MIN_LOG_LEVEL": "3"}
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        atexit.register(worker.kill)
        return worker

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._worker is None or self._worker.poll() is not None:
            self._worker = self._start()
        try:
            _send(self._worker.stdin, (method, args, kwargs))
            status, payload = _receive(self._worker.stdout)
        except (EOFError, BrokenPipeError) as exc:
            self._worker = None
            raise RuntimeError(f"{self.name}: the worker process died during {method} ({exc})") from None
        if status == "ok":
            return payload
        kind, problems, message = payload
        if kind == "SpecError":
            raise SpecError(problems)
        raise (ValueError if kind == "ValueError" else RuntimeError)(f"{self.name}: {message}")

    def close(self) -> None:
        """Stop the worker (it is started again when needed)."""
        if self._worker is not None:
            self._worker.kill()
            self._worker.wait()
            self._worker = None

    # ------------------------------------------------------------ the protocol

    def available(self) -> bool:
        """True when Keras and the framework it would run on import here."""
        return all(importlib.util.find_spec(name) is not None for name in ("keras", self.needs))

    def version(self) -> str:
        return self._call("version")

    def build(self, network: Network, *, num_classes: int | None = None) -> RemoteModel:
        return self._call("build", network, num_classes=num_classes)

    def emit(
        self,
        network: Network,
        *,
        origin: ModelRef | None = None,
        command: str | None = None,
        weights: Mapping[str, np.ndarray] | None = None,
        for_inference: bool = False,
    ) -> str:
        return self._call(
            "emit", network, origin=origin, command=command, weights=weights, for_inference=for_inference
        )

    def load_emitted(self, path: str | Path, *, num_classes: int | None = None) -> RemoteModel:
        """The generated file's ``build_model(num_classes)``, run by the worker on its Keras backend."""
        return self._call("load_emitted", str(path), num_classes=num_classes)

    def export_weights(self, model: Any) -> Weights:
        return self._call("export_weights", model)

    def import_weights(self, model: Any, weights: Mapping[str, np.ndarray], *, cast: bool = False) -> None:
        self._call("import_weights", model, dict(weights), cast=cast)

    def forward(
        self, model: Any, x: np.ndarray, *, training: bool = False, device: str = "cpu"
    ) -> np.ndarray | list[np.ndarray]:
        if training:
            raise ValueError(f"{self.name} runs inference only: training is checked in {self.target}")
        return self._call("forward", model, x)

    def trace(
        self, model: Any, x: np.ndarray, taps: Sequence[str], *, device: str = "cpu"
    ) -> dict[str, np.ndarray]:
        return self._call("trace", model, x, list(taps))

    def train_step(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep:
        raise ValueError(f"{self.name} runs inference only: training is checked in {self.target}")

    def sensitivity(
        self, model: Any, batch: TrainBatch, taps: Sequence[str], *, device: str = "cpu"
    ) -> TrainStep | None:
        return None

    def stochastic_layers(self, model: Any) -> dict[str, StochasticFn]:
        raise ValueError(f"{self.name} runs inference only: training is checked in {self.target}")

    def optimize_for_inference(self, model: Any) -> RemoteModel:
        return self._call("optimize_for_inference", model)

    def measure(self, model: Any, resolution: int) -> Measured:
        return self._call("measure", model, resolution)

    def devices(self) -> list[str]:
        return ["cpu"]

    def use_device(self, device: str) -> str:
        return "cpu"


# ---------------------------------------------------------------- the worker's side


def keras_version() -> str:
    """Keras' version and the framework it runs on, with that framework's version."""
    import keras

    framework = keras.backend.backend()
    module = importlib.import_module(framework)
    return f"keras {keras.__version__} on {framework} {module.__version__}"


def serve(target: str, requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer calls on ``target``'s backend until the caller closes the pipe."""
    from . import get_backend

    backend = get_backend(target)
    models: dict[int, Any] = {}
    while True:
        try:
            method, args, kwargs = _receive(requests)
        except EOFError:
            return
        try:
            args = [models[a.handle] if isinstance(a, RemoteModel) else a for a in args]
            call = keras_version if method == "version" else getattr(backend, method)
            result = call(*args, **kwargs)
            if method in MODEL_RESULTS:
                models[len(models)] = result
                levels = [tuple(level) for level in getattr(result, "feature_info", [])]  # plain data
                result = RemoteModel(target, len(models) - 1, levels)
            reply = ("ok", result)
        except SpecError as exc:
            reply = ("error", ("SpecError", exc.problems, str(exc)))
        except Exception as exc:  # sent back to the caller, who raises it
            reply = ("error", (type(exc).__name__, None, f"{type(exc).__name__}: {exc}"))
        _send(replies, reply)


def main() -> None:
    """The worker: replies go to the original stdout; anything printed goes to stderr."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.argv[1], sys.stdin.buffer, replies)
