"""ONNX-specific promises: the graph is written without any framework, passes the full ONNX
checker, runs in onnxruntime at any size, pads like TensorFlow SAME and PyTorch, and a spec's
text stays data. The contract suite (tests/backends) holds it to everything the others keep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from scalespec.backends import get_backend  # noqa: E402
from scalespec.cli import main  # noqa: E402
from scalespec.conformance.checks import random_input, random_weights  # noqa: E402
from scalespec.files import save_safetensors  # noqa: E402
from scalespec.ir.resolve import resolve  # noqa: E402
from scalespec.spec.io import parse_spec  # noqa: E402
from scalespec.zoo import resolve_model  # noqa: E402

ONNX = get_backend("onnx")
TINY = yaml.safe_load((Path(__file__).parent / "data" / "tiny_all_blocks.yaml").read_text())
RTOL, ATOL = 1e-4, 1e-5  # convention 7

# generates with torch, TensorFlow, Keras and jax unimportable: the ONNX path needs none of them
FRAMEWORK_FREE = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in ('torch', 'tensorflow', 'keras', 'jax'):
            raise ImportError(name + ' must not be needed')
sys.meta_path.insert(0, Refuse())
from scalespec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def framework_free(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", FRAMEWORK_FREE, *args], capture_output=True, text=True, timeout=300
    )


def run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


def torch_model(network, weights):
    torch_backend = get_backend("torch")
    model = torch_backend.build(network)
    torch_backend.import_weights(model, weights)
    return lambda x: torch_backend.forward(model, x)


def test_generate_needs_no_framework_and_passes_the_full_checker(tmp_path):
    """b0 with embedded weights, written where torch and TensorFlow cannot be imported, is a
    valid graph that onnxruntime runs at 224 and at odd non-square sizes, equal to PyTorch."""
    pytest.importorskip("torch")
    _, network = resolve_model("efficientnet-b0")
    weights = random_weights(network, 7)
    source = save_safetensors(weights, tmp_path / "b0.safetensors")
    out = tmp_path / "b0.onnx"
    done = framework_free(
        "generate", "efficientnet-b0", "--framework", "onnx", "--weights", str(source), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["image"] and [o.name for o in proto.graph.output] == [
        "logits"
    ]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    reference = torch_model(network, weights)
    for batch, height, width in ((2, 224, 224), (1, 97, 131), (3, 75, 40)):
        x = np.random.default_rng(height).standard_normal((batch, 3, height, width)).astype(np.float32)
        got = run(out, x)
        assert got.shape == (batch, 1000)
        np.testing.assert_allclose(got, reference(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding", ["same", "symmetric"])
def test_padding_matches_pytorch_and_tensorflow_at_odd_and_even_sizes(padding):
    """SAME_UPPER is TensorFlow SAME: the tiny network (kernels 3 and 5 at stride 2, even and
    odd sizes making odd and even maps) and a strided 1x1 conv (kernel < stride, where SAME's total padding
    is negative and clamps to 0) agree with PyTorch's explicit padding and Keras' own SAME."""
    specs = [
        {**TINY, "padding": padding},
        {
            "name": "strided-1x1",
            "padding": padding,
            "stem": {"out": 6, "kernel": 1, "stride": 2},
            "stages": [{"block": {"type": "conv", "kernel": 5, "stride": 2, "out": 8}}],
            "classifier": {"num_classes": 3},
        },
    ]
    tensorflow = get_backend("tensorflow") if get_backend("tensorflow").available() else None
    for spec in specs:
        network = resolve(parse_spec(spec))
        weights = random_weights(network, 1)
        model = ONNX.build(network)
        ONNX.import_weights(model, weights)
        reference = torch_model(network, weights)
        keras_model = tensorflow.build(network) if tensorflow else None
        if keras_model is not None:
            tensorflow.import_weights(keras_model, weights)
        for size in (29, 30, 31, 32, 33):
            x = random_input(network, size, seed=size)
            got = ONNX.forward(model, x)
            np.testing.assert_allclose(
                got, reference(x), rtol=RTOL, atol=ATOL, err_msg=f"{spec['name']} {size}"
            )
            if keras_model is not None:
                theirs = tensorflow.forward(keras_model, x)
                np.testing.assert_allclose(
                    got, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{spec['name']} {size}"
                )
        convs = [n for n in model.proto.graph.node if n.op_type == "Conv"]
        auto = [n for n in convs if any(a.name == "auto_pad" for a in n.attribute)]
        if padding == "symmetric":
            assert not auto
        else:  # exactly the convs whose SAME padding depends on the input size (strided) use auto_pad
            strided = [n for n in convs if any(a.name == "strides" and max(a.ints) > 1 for a in n.attribute)]
            assert {n.name for n in auto} == {n.name for n in strided} and auto


def test_a_hostile_name_stays_data(tmp_path):
    """Spec text reaches the file only as strings: the graph loads, checks and runs, and the
    name reads back whole from the metadata table."""
    hostile = "x\"\"\"\n__import__('os').system('touch MARK')\n#''' \\\" {ARCHITECTURE} \x00\u2028"
    spec = tmp_path / "hostile.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "name": hostile}), encoding="utf-8")
    out = tmp_path / "hostile.onnx"
    assert main(["generate", str(spec), "--framework", "onnx", "-o", str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    table = json.loads({p.key: p.value for p in proto.metadata_props}["scalespec.architecture"])
    assert table["name"] == hostile and proto.graph.name == hostile
    assert run(out, np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
    assert not (tmp_path / "MARK").exists()


def test_features_only_and_headless_graphs_name_their_outputs(tmp_path):
    """A features-only graph returns one map per level, named by its tap; without dense layers
    it returns pooled ``features``, or the ``feature_map`` when unpooled."""
    network = resolve(parse_spec(TINY))
    pyramid = ONNX.build(network.with_features([0, 2, -1]))
    assert pyramid.outputs == [level.tap for level in pyramid.feature_info]
    maps = ONNX.forward(pyramid, random_input(network, 32, seed=0))
    assert [m.shape[1] for m in maps] == [level.channels for level in pyramid.feature_info]
    pooled = ONNX.build(network.with_top(include_top=False, pooling="max"))
    assert pooled.outputs == ["features"] and ONNX.forward(pooled, random_input(network, 32, 0)).shape == (
        2,
        32,
    )
    headless = network.with_top(include_top=False)
    unpooled = ONNX.build(headless)
    assert unpooled.outputs == ["feature_map"]
    last = headless.last_map  # the IR's size of the last map at the nominal resolution
    assert ONNX.forward(unpooled, random_input(network, 32, 0)).shape == (
        2,
        last.out_channels,
        *last.out_size,
    )


def test_probabilities_are_a_softmax_over_classes():
    network = resolve(parse_spec(TINY)).with_top(classifier_activation="softmax")
    probabilities = ONNX.forward(ONNX.build(network), random_input(network, 32, seed=3))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_training_is_refused_naming_the_graph():
    network = resolve(parse_spec(TINY))
    model = ONNX.build(network)
    with pytest.raises(ValueError, match="inference graph"):
        ONNX.forward(model, random_input(network, 32, 0), training=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "{tmp}/model.py"], "output: onnx writes a .onnx file"),
        (
            ["--weights", "{tmp}/wrong.safetensors", "-o", "{tmp}/model.onnx"],
            "head.conv.weight: missing tensor",
        ),
        (["--weights", "{tmp}/absent.safetensors", "-o", "{tmp}/model.onnx"], "weights"),
    ],
    ids=["suffix", "wrong-weights", "no-weights-file"],
)
def test_bad_generate_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    network = resolve(parse_spec(TINY))
    wrong = random_weights(network, 0)
    wrong.pop("head.conv.weight")
    save_safetensors(wrong, tmp_path / "wrong.safetensors")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    filled = [a.format(tmp=tmp_path) for a in args]
    assert main(["generate", str(spec), "--framework", "onnx", *filled]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file


def test_source_frameworks_refuse_embedded_weights(tmp_path, capsys):
    network = resolve(parse_spec(TINY))
    save_safetensors(random_weights(network, 0), tmp_path / "w.safetensors")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    code = main(
        [
            "generate",
            str(spec),
            "--framework",
            "torch",
            "--weights",
            str(tmp_path / "w.safetensors"),
            "-o",
            str(tmp_path / "m.py"),
        ]
    )
    assert code == 2 and "weights: a generated PyTorch file holds no weights" in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists()
