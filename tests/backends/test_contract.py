"""The backend contract: every registered backend keeps the same promises, checked by one suite.

A new backend passes by being registered in scalespec.backends (BACKEND_NAMES, or
REMOTE_BACKENDS for the Keras runtime on another Keras 3 backend in a worker process);
nothing here names a framework. Framework-specific behaviour (padding by hand, layouts, exports) stays in
the framework's own test files.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from scalespec.backends import BACKEND_NAMES, REMOTE_BACKENDS, get_backend
from scalespec.backends.base import Backend, TrainBatch
from scalespec.conformance.checks import ATOL, RTOL, random_input, random_weights
from scalespec.errors import SpecError
from scalespec.files import load_safetensors, save_safetensors
from scalespec.ir.cost import network_cost
from scalespec.ir.network import Network, conv_output_size
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import tensor_specs
from scalespec.spec.io import parse_spec
from scalespec.zoo import load_model, resolve_model

TINY = yaml.safe_load((Path(__file__).parents[1] / "data" / "tiny_all_blocks.yaml").read_text())
HOSTILE = "x\"\"\"\n__import__('os').system('touch MARK')\n#''' \\\" {ARCHITECTURE} \x00\u2028"


def _backend(name: str) -> Backend:
    backend = get_backend(name)
    if not backend.available():
        pytest.skip(f"{name}'s framework is not installed")
    return backend


# Declared differences (Backend.suffix, Backend.trains) choose which promises apply; a test
# of source files or training is parametrized over the backends that make them, not skipped.
CONTRACT_BACKENDS = [*BACKEND_NAMES, *REMOTE_BACKENDS]
SOURCE_BACKENDS = [name for name in CONTRACT_BACKENDS if get_backend(name).suffix == ".py"]
TRAINING_BACKENDS = [name for name in CONTRACT_BACKENDS if get_backend(name).trains]


@pytest.fixture(params=CONTRACT_BACKENDS)
def backend(request) -> Backend:
    return _backend(request.param)


# Full-size networks (b0) in every backend but keras-jax: Keras on JAX compiles each op shape
# with XLA on first use, ~20 s per b0 test. It runs the tensorflow backend's code, held here
# on tiny networks, and its fresh draws in tests/conformance/test_conformance_keras_backends.py.
FULL_SIZE_BACKENDS = [name for name in CONTRACT_BACKENDS if name != "keras-jax"]


@pytest.fixture(params=FULL_SIZE_BACKENDS)
def full_size_backend(request) -> Backend:
    return _backend(request.param)


@pytest.fixture(params=SOURCE_BACKENDS)
def source_backend(request) -> Backend:
    return _backend(request.param)


@pytest.fixture(params=TRAINING_BACKENDS)
def training_backend(request) -> Backend:
    return _backend(request.param)


def write_emitted(backend: Backend, network: Network, path: Path, **options) -> Path:
    """The backend's artifact for ``network`` written to ``path`` (text or bytes)."""
    artifact = backend.emit(network, **options)
    if isinstance(artifact, bytes):
        path.write_bytes(artifact)
    else:
        path.write_text(artifact, encoding="utf-8")
    return path


def tiny(padding: str = "symmetric", **overrides) -> Network:
    return resolve(parse_spec({**TINY, "padding": padding, **overrides}))


def b0(resolution: int = 32, profile: str | None = None) -> Network:
    return resolve_model("efficientnet-b0", resolution=resolution, profile=profile)[1]


def loaded(backend: Backend, network: Network, seed: int = 0):
    model = backend.build(network)
    backend.import_weights(model, random_weights(network, seed))
    return model


# Runs a generated file as a script with scalespec unimportable, so it can lean on nothing else.
RUN_ALONE = """
import runpy, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] == 'scalespec':
            raise ImportError('scalespec must not be needed')
sys.meta_path.insert(0, Refuse())
runpy.run_path(sys.argv[1], run_name='__main__')
"""


def run_alone(path: Path, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a generated file with ``environment`` added (a remote backend's: KERAS_BACKEND=jax)."""
    env = {**os.environ, **(environment or {}), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, "-c", RUN_ALONE, str(path)],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------- protocol


def test_protocol(backend):
    assert isinstance(backend, Backend)
    assert backend.name in CONTRACT_BACKENDS and backend.available()
    assert backend.suffix in (".py", ".onnx") and isinstance(backend.trains, bool)
    assert isinstance(backend.version(), str) and backend.version()
    assert backend.devices()[0] == "cpu"
    assert backend.use_device("cpu") == "cpu"
    assert backend.use_device("cuda") == ("cuda" if "cuda" in backend.devices() else "cpu")


# ---------------------------------------------------------------- names, shapes, weights


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_canonical_names_and_shapes_follow_the_ir(backend, padding):
    network = tiny(padding)
    exported = backend.export_weights(backend.build(network))
    specs = tensor_specs(network)
    assert list(exported) == list(specs)
    assert {k: v.shape for k, v in exported.items()} == {k: s.shape for k, s in specs.items()}
    assert all(v.dtype == np.float32 for v in exported.values())


def test_zoo_names_follow_the_ir(full_size_backend):
    backend = full_size_backend
    network = b0()
    names = list(backend.export_weights(backend.build(network)))
    assert names == list(tensor_specs(network))
    assert "stages.2.1.expand.bn.running_var" in names and "stages.0.0.se.reduce.bias" in names


def test_weights_round_trip_exactly(backend, tmp_path):
    network = tiny("same")
    weights = random_weights(network, 3)
    model = loaded(backend, network, 3)
    exported = backend.export_weights(model)
    assert all(np.array_equal(exported[name], weights[name]) for name in weights)
    path = save_safetensors(exported, tmp_path / "w.safetensors")
    again = backend.build(network)
    backend.import_weights(again, load_safetensors(path))
    x = random_input(network, 31, seed=1)
    np.testing.assert_array_equal(backend.forward(model, x), backend.forward(again, x))


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda w: w.pop("stages.3.0.se.reduce.bias"), r"stages\.3\.0\.se\.reduce\.bias: missing"),
        (
            lambda w: w.update({"stages.9.0.conv.weight": np.zeros(3, "float32")}),
            r"stages\.9\.0\.conv\.weight",
        ),
        (
            lambda w: w.update({"head.conv.weight": np.zeros((32, 24, 1, 2), "float32")}),
            r"head\.conv\.weight: shape \(32, 24, 1, 2\), expected \(32, 24, 1, 1\)",
        ),
    ],
    ids=["missing", "extra", "shape"],
)
def test_weight_errors_name_the_tensor(backend, change, match):
    network = tiny()
    model = backend.build(network)
    weights = random_weights(network, 0)
    change(weights)
    with pytest.raises(SpecError, match=match):
        backend.import_weights(model, weights)


# ---------------------------------------------------------------- running


@pytest.mark.parametrize("padding", ["symmetric", "same"])
@pytest.mark.parametrize("height, width", [(30, 30), (31, 36)])
def test_any_input_size_gives_the_ir_output(backend, padding, height, width):
    network = tiny(padding)
    model = loaded(backend, network)
    x = np.random.default_rng(0).standard_normal((2, 3, height, width)).astype(np.float32)
    assert backend.forward(model, x).shape == (2, network.num_classes)
    for size in (height, width):  # the IR predicts every conv's output size; here only the count
        for conv in network.convs():
            size = conv_output_size(size, conv.kernel, conv.stride, padding)
        assert size >= 1


def test_eval_is_deterministic(backend):
    network = tiny()
    model = loaded(backend, network)
    x = random_input(network, 32, seed=2)
    np.testing.assert_array_equal(backend.forward(model, x), backend.forward(model, x))


# ---------------------------------------------------------------- num_classes: one rule


def test_num_classes_rule(backend):
    network = tiny()
    x = random_input(network, 24, seed=0, batch=2)
    assert backend.forward(backend.build(network), x).shape == (2, network.num_classes)
    assert backend.forward(backend.build(network, num_classes=3), x).shape == (2, 3)
    assert backend.forward(backend.build(network, num_classes=0), x).shape == (2, network.num_features)
    # a spec without a classifier gets one when asked, with the spec's dropout
    headless = tiny(classifier={"num_classes": 0, "dropout": 0.3})
    assert headless.classifier is None
    built = backend.build(headless, num_classes=5)
    names = list(backend.export_weights(built))
    assert names == list(tensor_specs(tiny(classifier={"num_classes": 5, "dropout": 0.3})))
    assert backend.forward(built, x).shape == (2, 5)
    for bad in (-1, 2.5, True):
        with pytest.raises(SpecError, match="num_classes"):
            backend.build(network, num_classes=bad)


def test_num_classes_equals_resolving_with_it(backend):
    """build(num_classes=N) and resolve(..., num_classes=N) make the same tensors."""
    spec = parse_spec(TINY)
    for n in (0, 4):
        built = backend.export_weights(backend.build(resolve(spec), num_classes=n))
        resolved = tensor_specs(resolve(spec, num_classes=n))
        assert {k: v.shape for k, v in built.items()} == {k: s.shape for k, s in resolved.items()}


# ---------------------------------------------------------------- generated files


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_generated_equals_built(backend, tmp_path, padding):
    network = tiny(padding)
    path = write_emitted(backend, network, tmp_path / f"generated_{padding}{backend.suffix}")
    generated = backend.load_emitted(path)
    built = loaded(backend, network, seed=5)
    backend.import_weights(generated, backend.export_weights(built))
    x = random_input(network, 29, seed=6)
    np.testing.assert_array_equal(backend.forward(generated, x), backend.forward(built, x))
    # optimize_for_inference takes the generated file's model too (its classes are copies of
    # the runtime's, not the same Python classes): no batch norm left, the same outputs
    fast = backend.optimize_for_inference(generated)
    folded = backend.export_weights(fast)
    assert "stem.conv.bias" in folded and not any(".bn." in name for name in folded)
    np.testing.assert_allclose(backend.forward(fast, x), backend.forward(generated, x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_generated_for_inference_equals_optimize_for_inference(backend, tmp_path, padding):
    """``emit(for_inference=True)`` builds the folded model: the weights of
    ``optimize_for_inference`` load into it by their canonical names (each conv's kernel and new
    bias) and it computes the same outputs as that model, and as the unfolded model within
    convention 7."""
    network = tiny(padding)
    built = loaded(backend, network, seed=5)
    fast = backend.optimize_for_inference(built)
    path = write_emitted(backend, network, tmp_path / f"inference{backend.suffix}", for_inference=True)
    generated = backend.load_emitted(path)
    folded = backend.export_weights(fast)
    assert "stem.conv.bias" in folded and not any(".bn." in name for name in folded)
    backend.import_weights(generated, folded)
    x = random_input(network, 29, seed=6)
    np.testing.assert_array_equal(backend.forward(generated, x), backend.forward(fast, x))
    np.testing.assert_allclose(backend.forward(generated, x), backend.forward(built, x), rtol=RTOL, atol=ATOL)


def test_generated_feature_pyramid_equals_built(backend, tmp_path):
    """A features-only network emits a file whose build_model() returns the same maps, the same
    feature_info, and runs alone printing one shape per level."""
    network = tiny("same").with_features([0, -1])
    path = write_emitted(backend, network, tmp_path / f"pyramid{backend.suffix}")
    generated = backend.load_emitted(path)
    built = backend.build(network)
    backend.import_weights(built, random_weights(network, 3))
    backend.import_weights(generated, backend.export_weights(built))
    assert [tuple(level) for level in generated.feature_info] == [
        tuple(level) for level in built.feature_info
    ]
    x = random_input(network, 29, seed=6)
    ours, theirs = backend.forward(generated, x), backend.forward(built, x)
    assert len(ours) == len(network.features) == 2
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    if backend.suffix != ".py":
        return  # a graph file does not run by itself; the onnx tests run it in a framework-free process
    run = run_alone(path, getattr(backend, "environment", None))
    assert run.returncode == 0 and run.stdout.count("(") == len(network.features), run.stderr[-2000:]


def test_generated_num_classes_rule(source_backend, tmp_path):
    backend = source_backend
    network = tiny(classifier={"num_classes": 0, "dropout": 0.2})
    path = tmp_path / f"headless_{backend.name}.py"
    path.write_text(backend.emit(network), encoding="utf-8")
    x = random_input(network, 24, seed=0)
    assert backend.forward(backend.load_emitted(path), x).shape == (2, network.num_features)
    assert backend.forward(backend.load_emitted(path, num_classes=6), x).shape == (2, 6)
    with pytest.raises(ValueError, match="num_classes"):
        backend.load_emitted(path, num_classes=-2)


def test_generated_file_imports_only_its_framework_and_runs_alone(source_backend, tmp_path):
    backend = source_backend
    network = tiny("same")
    path = tmp_path / f"alone_{backend.name}.py"
    path.write_text(backend.emit(network), encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.partition(".")[0])
    frameworks = imported - set(sys.stdlib_module_names)
    assert "scalespec" not in imported and len(frameworks) >= 1
    assert frameworks <= {"torch", "keras", "tensorflow"}, frameworks
    done = run_alone(path, getattr(backend, "environment", None))
    assert done.returncode == 0, done.stderr[-3000:]
    params = network_cost(network).total.params
    assert f"{network.name}: output (1, {network.num_classes}), {params} parameters" in done.stdout


def test_hostile_name_stays_data(source_backend, tmp_path):
    backend = source_backend
    benign = ast.parse(backend.emit(tiny(name="benign")))
    network = tiny(name=HOSTILE)
    source = backend.emit(network)
    tree = ast.parse(source)
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert calls == {ast.unparse(n.func) for n in ast.walk(benign) if isinstance(n, ast.Call)}
    table = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARCHITECTURE")
    assert ast.literal_eval(table.value)["name"] == HOSTILE
    path = tmp_path / f"hostile_{backend.name}.py"
    path.write_text(source, encoding="utf-8")
    done = run_alone(path, getattr(backend, "environment", None))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "MARK").exists()


def test_generated_b0_reads_as_a_table(source_backend, tmp_path):
    backend = source_backend
    ref, network = resolve_model("efficientnet-b0")
    source = backend.emit(network, origin=ref, command="scalespec generate efficientnet-b0")
    lines = source.splitlines()
    assert lines[0].startswith("# Generated by scalespec ")
    head = "\n".join(lines[:8])
    assert ref.sha256 in head and "zoo/efficientnet.yaml" in head and "variant b0" in head
    assert "Regenerate: scalespec generate efficientnet-b0" in head
    assert max(len(line) for line in lines) <= 120
    assert not re.search(r"\d\.\d*0000000\d", source)  # no float noise such as 0.07500000000000001
    rows = [line.strip() for line in lines if re.match(r'\s+\("(mbconv|fused_mbconv|ds|conv)",', line)]
    assert len(rows) == len(network.blocks) == 16
    assert all(row.startswith('("mbconv",') for row in rows)
    path = tmp_path / f"b0_{backend.name}.py"  # and it is clean Python by the usual linter
    path.write_text(source, encoding="utf-8")
    lint = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "120"]
    done = subprocess.run([*lint, "--select", "E,F,W,I,B,UP", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_a_broken_chain_names_the_row(source_backend, tmp_path):
    backend = source_backend
    network = tiny()
    source = backend.emit(network)
    first = network.stage(1)[0].row  # stages[1][0]: make its input width disagree with the row before
    broken = re.sub(
        rf'(\("{first.kind}",\s*{first.kernel},\s*{first.stride},\s*){first.in_channels},',
        rf"\g<1>{first.in_channels + 1},",
        source,
        count=1,
    )
    assert broken != source
    path = tmp_path / f"broken_{backend.name}.py"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match=r"stages\[1\]\[0\]: input width"):
        backend.load_emitted(path)


def test_zoo_model_names_match_across_profiles(full_size_backend):
    backend = full_size_backend
    for profile in (None, "keras"):
        network = b0(32, profile)
        assert list(backend.export_weights(backend.build(network))) == list(tensor_specs(network))
    assert load_model("efficientnet-b0").variant == "b0"


def test_other_dtypes_import_only_when_a_cast_is_asked_for(backend):
    network = tiny()
    model = backend.build(network)
    wide = {name: value.astype(np.float64) for name, value in random_weights(network, 2).items()}
    with pytest.raises(SpecError, match="stem.conv.weight: dtype float64, expected float32"):
        backend.import_weights(model, wide)
    backend.import_weights(model, wide, cast=True)
    exported = backend.export_weights(model)
    assert all(np.array_equal(exported[name], wide[name].astype(np.float32)) for name in wide)


# ---------------------------------------------------------------- fresh weights and training access


@pytest.mark.parametrize("profile", [None, "keras"])
def test_fresh_b0_is_drawn_from_the_declared_initialisers(full_size_backend, profile):
    """Every fresh tensor of b0 within the sampling bounds of its declared distribution."""
    backend = full_size_backend
    from scalespec.conformance.checks import check_init

    network = b0(profile=profile)
    check = check_init(backend.name, backend.export_weights(backend.build(network)), network)
    assert check.ok, check.message
    assert check.figures["tensors"] == len(tensor_specs(network))


def test_declared_initialisers_are_the_published_ones():
    """torchvision: kaiming_normal_(mode='fan_out') = N(0, sqrt(2 / (out * k * k))), dense
    U(+-1/sqrt(out)); keras.applications: VarianceScaling(2.0, 'fan_out', 'truncated_normal'),
    whose fan for a depthwise kernel (k, k, C, 1) is k * k."""
    torchvision, keras_way = tensor_specs(b0()), tensor_specs(b0(profile="keras"))
    stem = torchvision["stem.conv.weight"].init  # 32 x 3 x 3 x 3
    assert stem.dist == "normal" and stem.std == pytest.approx((2 / (32 * 9)) ** 0.5)
    dw = "stages.1.0.dw.conv.weight"  # 96 channels, 3x3
    assert torchvision[dw].init.std == pytest.approx((2 / (96 * 9)) ** 0.5)
    assert keras_way[dw].init.dist == "truncated_normal"
    assert keras_way[dw].init.std == pytest.approx((2 / 9) ** 0.5)
    assert keras_way[dw].init.bound == pytest.approx(2 * (2 / 9) ** 0.5 / 0.87962566103423978)
    for specs in (torchvision, keras_way):
        assert specs["classifier.weight"].init.bound == pytest.approx(1 / 1000**0.5)
        assert specs["stem.bn.weight"].init == ("constant", 1.0)
        assert specs["stages.1.0.se.expand.bias"].init == ("constant", 0.0)


def test_taps_and_training_step_follow_the_ir(training_backend):
    """Taps are named and shaped as the IR says; one training step changes every trainable
    tensor by -lr * its gradient and leaves the stochastic layers' rates as they were."""
    backend = training_backend
    from scalespec.conformance.taps import check_stochastic

    network = tiny()
    model = loaded(backend, network)
    x = random_input(network, network.resolution, 0, 2)
    taps = [tap.name for tap in network.taps()]
    traced = backend.trace(model, x, taps)
    assert list(traced) == taps
    blocks = {block.name: block for block in network.blocks}
    for name, value in traced.items():
        if name in blocks:
            assert value.shape == (2, blocks[name].out_channels, *blocks[name].out_size)
    np.testing.assert_allclose(traced[taps[-1]], backend.forward(model, x), rtol=1e-6, atol=1e-7)
    before = backend.export_weights(model)
    step = backend.train_step(model, TrainBatch(x, np.array([0, 1]), 0.5), taps)
    assert set(step.grads) == {n for n, s in tensor_specs(network).items() if s.trainable}
    for name, grad in step.grads.items():
        np.testing.assert_allclose(step.after[name], before[name] - 0.5 * grad, rtol=1e-5, atol=1e-6)
    assert step.input_grad.shape == x.shape and np.isfinite(step.loss)
    stochastic = check_stochastic(backend.name, backend.stochastic_layers(model), network)
    assert stochastic.ok and stochastic.figures["layers"] > 0, stochastic.message  # rates restored


def test_sensitivity_measures_without_changing_the_model(training_backend):
    """Where a backend measures rounding sensitivity, it covers every gradient with finite,
    non-negative spreads at most float32-rounding sized on this healthy network, and leaves
    the model as it was; a backend that cannot says so with None."""
    backend = training_backend
    network = tiny()
    model = loaded(backend, network)
    x = random_input(network, network.resolution, 0, 2)
    taps = [tap.name for tap in network.taps()]
    before = backend.export_weights(model)
    spread = backend.sensitivity(model, TrainBatch(x, np.array([0, 1]), 0.5), taps)
    if spread is None:
        assert backend.name != "torch", "the torch backend measures sensitivity"
        return
    after = backend.export_weights(model)
    assert all(np.array_equal(after[name], value) for name, value in before.items())
    step = backend.train_step(model, TrainBatch(x, np.array([0, 1]), 0.5), taps)
    assert set(spread.grads) == set(step.grads) and list(spread.taps) == taps
    layer_scale: dict[str, float] = {}  # a BN bias before another BN has a zero gradient: use its layer's
    for name, grad in step.grads.items():
        layer = name.rsplit(".", 2)[0]
        layer_scale[layer] = max(layer_scale.get(layer, 0.0), float(np.max(np.abs(grad))))
    for name, moved in spread.grads.items():
        assert np.all(np.isfinite(moved)) and np.all(moved >= 0), name
        # float32-sized: a small fraction of its layer's gradients
        assert np.max(moved) < 1e-4 * layer_scale[name.rsplit(".", 2)[0]], name
    assert any(np.any(moved > 0) for moved in spread.grads.values()), "the perturbation moved nothing"


STRIDED_POINTWISE = """
import sys
import numpy as np
from scalespec.backends import get_backend
from scalespec.backends.base import TrainBatch
from scalespec.conformance.checks import random_weights
from scalespec.ir.resolve import resolve
from scalespec.spec.io import parse_spec
spec = {"name": "strided-1x1", "stem": {"out": 6, "kernel": 1, "stride": 2},
        "stages": [{"block": {"type": "conv", "kernel": 3, "out": 8}}], "classifier": {"num_classes": 3}}
network = resolve(parse_spec(spec), resolution=72)
backend = get_backend(sys.argv[1])
model = backend.build(network)
backend.import_weights(model, random_weights(network, 0))
x = np.random.default_rng(0).standard_normal((16, 3, 72, 72)).astype(np.float32)
for _ in range(3):
    step = backend.train_step(model, TrainBatch(x, np.arange(16) % 3, 0.1), [t.name for t in network.taps()])
assert all(np.all(np.isfinite(g)) for g in step.grads.values())
print("trained")
"""


def test_strided_pointwise_conv_on_few_channels_trains(training_backend):
    """A 1x1 stride-2 conv reading 3 channels trains: oneDNN's strided-1x1 backward corrupts
    the heap for fewer than 16 input channels (uxlfoundation/oneDNN#6035; TensorFlow 2.21
    aborted here), so such convs subsample first. Its own process, as a crash would kill ours."""
    backend = training_backend
    run = subprocess.run(
        [sys.executable, "-c", STRIDED_POINTWISE, backend.name], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and "trained" in run.stdout, run.stderr[-2000:]


def test_weights_embed_only_where_the_artifact_holds_them(backend, tmp_path):
    """A graph artifact carries the given canonical weights exactly; a source file refuses them."""
    network = tiny("same")
    weights = random_weights(network, 4)
    if backend.suffix == ".py":
        with pytest.raises(SpecError, match="weights: a generated .* file holds no weights"):
            backend.emit(network, weights=weights)
        return
    path = write_emitted(backend, network, tmp_path / f"weights{backend.suffix}", weights=weights)
    exported = backend.export_weights(backend.load_emitted(path))
    assert list(exported) == list(weights)
    assert all(np.array_equal(exported[name], weights[name]) for name in weights)
