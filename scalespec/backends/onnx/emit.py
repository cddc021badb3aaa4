"""IR -> a standalone .onnx file: the graph of runtime.py with its weights and provenance.

An ONNX file is data, not code, so spec text can only land in it as strings: the graph and
model names, ``doc_string`` (the same provenance lines a generated Python file starts with)
and ``metadata_props`` (the architecture table as JSON, the spec's file and sha256, the
command that regenerates it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import onnx

from ...errors import SpecError
from ...ir.network import Network
from ...zoo import ModelRef
from ..source import provenance
from .build import build, set_metadata
from .weights import import_weights

PROTOBUF_LIMIT = 2**31 - 1  # one serialized ModelProto; larger graphs need external data


def emit(
    network: Network,
    *,
    origin: ModelRef | None = None,
    command: str | None = None,
    weights: Mapping[str, np.ndarray] | None = None,
    for_inference: bool = False,
) -> bytes:
    """The .onnx file's bytes: canonical ``weights`` embedded, else freshly drawn ones (the
    declared initialisation); ``for_inference``: batch norms folded into the convs (the
    graph ``optimized()`` makes). The full ONNX checker has passed on it."""
    model = build(network)
    if weights is not None:
        import_weights(model, weights)
    if for_inference:
        model = model.optimized()
    proto = model.proto
    lines = provenance(network, "ONNX", origin, command, for_inference=for_inference)
    proto.doc_string = "\n".join(lines)
    extra = {"scalespec_command": command or ""}
    if origin is not None:
        extra |= {"scalespec_spec": json.dumps({"source": str(origin.source), "sha256": origin.sha256})}
    set_metadata(proto, **extra)
    size = proto.ByteSize()
    if size > PROTOBUF_LIMIT:
        raise SpecError(
            [("output", f"{network.name}: {size / 1e9:.2f} GB is over ONNX's 2 GB single-file limit")]
        )
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()
