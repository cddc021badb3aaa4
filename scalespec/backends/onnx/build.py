"""IR -> an ONNX graph through runtime.py, wrapped with the onnxruntime sessions that run it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ... import __version__
from ...errors import SpecError
from ...files import atomic_write
from ...ir.network import Network
from ...ir.table import Init, feature_info, read_architecture
from ...ir.weights import fold_batch_norms
from ..base import architecture
from .runtime import INPUT, TensorSource, build_graph, draw

KEEP_SERIALIZED_BYTES = 2**30
TABLE_KEY = "scalespec.architecture"  # metadata: the table the graph was written from, as JSON


class OnnxModel:
    """An ONNX inference graph written by scalespec, and onnxruntime sessions that run it.

    ``proto`` is the ``onnx.ModelProto``: save it (``save``), inspect it, or hand it to any
    ONNX runtime. Calling the model runs NCHW float32 images through onnxruntime on the CPU.
    ``feature_info`` lists a features-only graph's levels, as the other backends' models do.
    """

    def __init__(self, proto: onnx.ModelProto, network: Network | None = None):
        self.proto = proto
        table = json.loads(metadata(proto).get(TABLE_KEY, "null"))
        if table is None:
            raise SpecError([("model", "not an ONNX graph written by scalespec (no architecture metadata)")])
        arch = read_architecture(table)
        self.network = network
        self.name = arch.name
        self.feature_info = feature_info(arch)
        self.num_classes = arch.classifier.out_features if arch.classifier else 0
        self.preprocessing = None
        self._sessions: dict[str, object] = {}
        self._serialized: bytes | None = None

    @property
    def table(self) -> dict:
        """The architecture table the graph was written from (its metadata, as plain data)."""
        return json.loads(metadata(self.proto)[TABLE_KEY])

    def _rewritten(self, table: dict, source: TensorSource, *, folded: bool = False) -> onnx.ModelProto:
        """A new graph of ``table`` valued by ``source``, keeping this graph's metadata."""
        proto = build_graph(read_architecture(table), source, folded=folded)
        for entry in self.proto.metadata_props:
            proto.metadata_props.add(key=entry.key, value=entry.value)
        set_metadata(proto, scalespec_architecture=json.dumps(table))
        return proto

    @property
    def outputs(self) -> list[str]:
        return [value.name for value in self.proto.graph.output]

    def session(self, device: str = "cpu", extra_outputs: tuple[str, ...] = ()):
        """An onnxruntime session on ``device`` (cuda: CUDAExecutionProvider with TF32 off),
        made once per device; ``extra_outputs`` makes a one-off session that also returns
        those intermediate values (taps)."""
        if not extra_outputs and device in self._sessions:
            return self._sessions[device]
        if extra_outputs:  # one session in memory at a time: efficientnet-l2's hold 2-4 GB each
            self._sessions.clear()
        serialized = self._serialized or self.proto.SerializeToString()  # 6 s for 2 GB
        session = new_session(serialized, device, extra_outputs)
        # kept for the next session (a trace) unless that would hold another copy of 1 GB or more
        self._serialized = serialized if len(serialized) < KEEP_SERIALIZED_BYTES else None
        if not extra_outputs:
            self._sessions[device] = session
        return session

    def weights_changed(self) -> None:
        """Forget the sessions and the serialized graph: they hold the old initializers."""
        self._sessions.clear()
        self._serialized = None

    def __call__(self, x: np.ndarray, device: str = "cpu") -> np.ndarray | list[np.ndarray]:
        """Logits (or the graph's one output) for NCHW float32 ``x``; a features-only graph's maps."""
        out = self.session(device).run(None, {INPUT: np.ascontiguousarray(x, dtype=np.float32)})
        return out if self.feature_info else out[0]

    def reset_classifier(self, num_classes: int, drop_rate: float | None = None) -> None:
        """A new, freshly initialised classifier of ``num_classes`` (0: none) on the same trunk,
        as timm's ``reset_classifier``; the graph is rewritten in place."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be 0 (no classifier) or more, got {num_classes!r}")
        if self.feature_info:
            raise ValueError("a features-only model has no classifier to reset")
        table = self.table
        if table.get("pool") is None:
            raise ValueError(
                "the model ends in a feature map (include_top=False): there is no classifier to reset"
            )
        rate = table["classifier"]["dropout"] if drop_rate is None else drop_rate
        table["classifier"] = {
            **table["classifier"],
            "out_features": num_classes,
            "act": None,
            "dropout": rate,
        }
        trunk = {t.name: t for t in self.proto.graph.initializer if not t.name.startswith("classifier.")}
        fresh = fresh_source()

        def source(name: str, shape: tuple[int, ...], init: Init) -> np.ndarray:
            return numpy_helper.to_array(trunk[name]) if name in trunk else fresh(name, shape, init)

        self.proto = self._rewritten(table, source)
        self.network, self.num_classes = None, num_classes
        self.weights_changed()

    def optimized(self) -> OnnxModel:
        """A new graph with every BatchNormalization folded into its conv's kernel and bias
        (``ir.weights.fold_batch_norms``): what onnxruntime's optimiser does, done in the file."""
        table = self.table
        weights = {t.name: numpy_helper.to_array(t) for t in self.proto.graph.initializer}
        folded = fold_batch_norms(weights, table["bn_eps"])
        proto = self._rewritten(table, lambda name, shape, init: folded[name], folded=True)
        set_metadata(proto, scalespec_folded="true")
        model = OnnxModel(proto)
        model.preprocessing = self.preprocessing
        return model

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the .onnx file atomically; an existing file is kept unless ``force``."""
        return atomic_write(path, self.proto.SerializeToString(), force=force)


def new_session(serialized: bytes, device: str, extra_outputs: tuple[str, ...] = ()):
    """An onnxruntime InferenceSession for a serialized graph on ``device``; ``extra_outputs``
    are intermediate values to return after the graph's outputs.

    The extra outputs are appended by protobuf's merge rule (a repeated field in concatenated
    messages is concatenated), so a large graph is not serialized again to trace it.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings about unused initializers
    providers: list = ["CPUExecutionProvider"]
    if device == "cuda":  # float32 means float32 (convention 7): no TF32
        providers.insert(0, ("CUDAExecutionProvider", {"use_tf32": 0}))
    if extra_outputs:
        outputs = [
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in extra_outputs
        ]
        serialized += onnx.ModelProto(graph=onnx.GraphProto(output=outputs)).SerializeToString()
    return ort.InferenceSession(serialized, options, providers=providers)


def metadata(proto: onnx.ModelProto) -> dict[str, str]:
    """The model's metadata_props as a dict."""
    return {entry.key: entry.value for entry in proto.metadata_props}


def set_metadata(proto: onnx.ModelProto, **entries: str) -> None:
    """Add or replace metadata_props entries (keys given with ``_`` for ``.``: scalespec_origin)."""
    current = metadata(proto) | {key.replace("_", ".", 1): value for key, value in entries.items()}
    del proto.metadata_props[:]
    for key, value in current.items():
        proto.metadata_props.add(key=key, value=value)


def fresh_source(seed: int | None = None):
    """A tensor source drawing each tensor from its declared initialiser (convention 8)."""
    rng = np.random.default_rng(seed)

    def source(name: str, shape: tuple[int, ...], init: Init) -> np.ndarray:
        return draw(init, shape, rng)

    return source


def build(network: Network, *, num_classes: int | None = None, seed: int | None = None) -> OnnxModel:
    """The network as an ONNX graph with freshly drawn initializers under canonical names."""
    table = network.to_table()
    arch = architecture(network, num_classes)
    if num_classes is not None:
        table["classifier"] = {**table["classifier"], "out_features": num_classes}
    proto = build_graph(arch, fresh_source(seed))
    set_metadata(proto, scalespec_architecture=json.dumps(table), scalespec_version=__version__)
    return OnnxModel(proto, network if num_classes is None else None)


def load(path: str | Path) -> OnnxModel:
    """An ONNX file written by scalespec, with its weights, ready to run."""
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # a truncated or foreign file
        raise SpecError([("model", f"{path}: not a readable ONNX file ({exc})")]) from None
    return OnnxModel(proto)
