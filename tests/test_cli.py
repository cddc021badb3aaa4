"""The scalespec command line: exit codes, outputs, and no framework import on the cost path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from published import PUBLISHED

from scalespec.cli import main
from scalespec.ir.cost import network_cost
from scalespec.ir.resolve import resolve
from scalespec.zoo import load_family

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def published() -> dict:
    return PUBLISHED


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_published_totals(capsys, published):
    code, out, _ = run(capsys, "show", "efficientnet-b3", "--resolution", str(published["b3"]["crop"]))
    assert code == 0
    assert f"params {published['b3']['params']:,}" in out
    assert "stage 6" in out and "head" in out


def test_show_json_matches_published(capsys, published):
    code, out, _ = run(capsys, "show", "efficientnet-b7", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["total"]["params"] == published["b7"]["params"]
    assert report["total"]["flops"] == 2 * report["total"]["macs"]
    assert round(report["total"]["macs"] / 1e9, 3) == published["b7"]["macs_g"]
    assert sum(row["params"] for row in report["layers"]) == report["total"]["params"]
    assert [row["group"] for row in report["stages"]][:2] == ["stem", "stage 0"]


def test_list_names_every_zoo_model(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in (
        "efficientnet-b0",
        "efficientnet-b7",
        "efficientnet-b8",
        "efficientnet-l2",
        "efficientnetv2-s",
        "efficientnetv2-l",
    ):
        assert name in out


def test_fit_answers_the_largest_fitting_phi(capsys):
    code, out, _ = run(capsys, "fit", "efficientnet", "--max-macs", "2e9", "--max-params", "2e7")
    assert code == 0
    phi = float(out.split("phi = ")[1].split()[0])
    spec = load_family("efficientnet")
    fits = network_cost(resolve(spec, phi=phi)).total
    assert fits.macs <= 2e9 and fits.params <= 2e7
    over = network_cost(resolve(spec, phi=phi + 0.01)).total
    assert over.macs > 2e9 or over.params > 2e7
    assert "b3" in out.split("named variants that fit:")[1]  # published: b3 has 1.827 G MACs, b4 4.394 G


def test_fit_needs_a_budget(capsys):
    code, _, err = run(capsys, "fit", "efficientnet")
    assert code == 2 and "--max-macs" in err


def test_unknown_model_exits_2_naming_it(capsys):
    code, _, err = run(capsys, "show", "efficientnet-b99")
    assert code == 2
    assert "b99" in err and "Traceback" not in err


def test_absurd_phi_exits_2_naming_phi(capsys):
    code, _, err = run(capsys, "show", "efficientnet", "--phi", "45")
    assert code == 2 and "phi" in err


def test_validate_good_and_bad_files(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", str(ROOT / "examples" / "mobilenetv3-ish.yaml"))
    assert code == 0 and "valid spec" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages:\n  - block: {type: mbconv, kernel: 4, out: 8}\n")
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert "bad.yaml" in err and "stages.0.block.kernel" in err


def test_schema_is_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["title"] == "scalespec network spec"
    assert {"stages", "scaling", "rounding"} <= set(schema["properties"])


def test_generate_refuses_unknown_framework_and_leaves_no_file(capsys, tmp_path):
    target = tmp_path / "model.py"
    code, _, err = run(capsys, "generate", "efficientnet-b0", "--framework", "jax", "-o", str(target))
    assert code == 2 and "framework" in err
    assert not target.exists()


def test_generate_never_overwrites_without_force(capsys, tmp_path):
    target = tmp_path / "model.py"
    target.write_text("# mine\n")
    code, _, err = run(capsys, "generate", "efficientnet-b0", "--framework", "torch", "-o", str(target))
    assert code == 2 and "--force" in err
    assert target.read_text() == "# mine\n"
    assert list(tmp_path.iterdir()) == [target]


def test_cost_path_imports_no_framework():
    """`show` and `fit` must stay fast: they may not import torch or tensorflow."""
    script = (
        "import sys\n"
        "from scalespec.cli import main\n"
        "main(['show', 'efficientnet-b7']); main(['fit', 'efficientnet', '--max-macs', '1e9'])\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'onnx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_console_script_exit_code(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    result = subprocess.run(
        [sys.executable, "-m", "scalespec", "validate", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "malformed YAML" in result.stderr and "line" in result.stderr
    assert "Traceback" not in result.stderr


def test_atomic_write_gives_new_files_the_umask_mode_and_keeps_old_modes(tmp_path):
    import os

    from scalespec.files import atomic_write

    old = os.umask(0o022)
    try:
        fresh = atomic_write(tmp_path / "new.txt", "x")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o600)
        atomic_write(kept, "new", force=True)
        assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_text() == "new"
    finally:
        os.umask(old)


def test_output_piped_into_a_closed_reader_is_not_an_error():
    """`scalespec list | head -1` must not end in a BrokenPipeError traceback."""
    script = f"{sys.executable} -m scalespec show efficientnet-b7 --json | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.stdout.strip() == "0"


def test_show_gives_pre_logits_its_own_row(capsys):
    """The head row holds the head conv alone; the pre-logits linear layer has a row of its own."""
    code, out, _ = run(capsys, "show", "examples/mobilenetv3-ish.yaml", "--json")
    assert code == 0
    rows = {row["group"]: row for row in json.loads(out)["stages"]}
    assert list(rows)[-3:] == ["head", "pre_logits", "classifier"]
    assert rows["pre_logits"]["params"] == 576 * 1024 + 1024  # dense 576 -> 1024 with bias
    assert rows["head"]["params"] == 96 * 576 + 2 * 576  # 1x1 conv 96 -> 576, BN weight and bias


def test_validate_without_a_compound_rule_says_so(capsys, tmp_path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: t\nstages:\n  - block: {type: conv, out: 8}\n")
    code, out, _ = run(capsys, "validate", str(bare))
    assert code == 0 and "no compound rule" in out and "gamma^2 - 2 =" not in out
    ruled = tmp_path / "ruled.yaml"
    ruled.write_text(bare.read_text() + "scaling: {compound: {alpha: 1.2, beta: 1.1, gamma: 1.15}}\n")
    code, out, _ = run(capsys, "validate", str(ruled))
    assert code == 0 and "alpha*beta^2*gamma^2 - 2 = -0.0797" in out  # 1.2 * 1.21 * 1.3225 - 2


def test_list_json_and_validate_zoo_names_and_did_you_mean(capsys):
    code, out, _ = run(capsys, "list", "--json")
    rows = {row["model"]: row for row in json.loads(out)}
    assert code == 0 and rows["efficientnet-b0"]["params"] == PUBLISHED["b0"]["params"]
    code, out, _ = run(capsys, "validate", "efficientnetv2")
    assert code == 0 and "valid spec 'efficientnetv2'" in out
    code, _, err = run(capsys, "show", "efficientnt-b3")
    assert code == 2 and "did you mean efficientnet-b3" in err


def test_tensorflow_startup_chatter_is_silenced_in_the_cli():
    """conform --quiet on a passing spec prints nothing on stderr: TensorFlow's seven start-up
    lines (absl, oneDNN, CPU features, the CUDA probe on a CPU machine) are filtered out."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    spec = Path(__file__).parent / "conformance" / "specs" / "tiny-same.yaml"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "scalespec", "conform", str(spec), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_only_known_startup_chatter_is_filtered():
    """Real errors keep their line; the filter knows the start-up lines by their exact shape."""
    from scalespec.backends.tensorflow.backend import STARTUP_NOISE

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796093886.426119    9485 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796093892.628636    9502 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow",
    ]
    real = [
        "E0000 00:00:1796093892.628636    9502 op_kernel.cc:1857] OP_REQUIRES failed at conv_ops.cc:12",
        "F0000 00:00:1796093892.628636    9502 tensor_format.h:428] Check failed: index >= 0",
        "Traceback (most recent call last):",
    ]
    assert all(STARTUP_NOISE.match(line) for line in noise)
    assert not any(STARTUP_NOISE.match(line) for line in real)


@pytest.mark.parametrize(
    ("flags", "shape"),
    [
        (["--no-top"], (1, 1280, 1, 1)),
        (["--no-top", "--pooling", "max"], (1, 1280)),
        (["--features-only", "--out-indices", "-1"], None),
    ],
)
def test_generate_bakes_the_model_end_into_the_file(flags, shape, tmp_path):
    """--no-top, --pooling and --features-only end up in the file's table: build_model()
    returns that end with no arguments."""
    torch = pytest.importorskip("torch")
    from scalespec.backends.source import load_generated

    out = tmp_path / "model.py"
    assert main(["generate", "efficientnet-b0", "--framework", "torch", "-o", str(out), *flags]) == 0
    model = load_generated(out).build_model().eval()
    with torch.no_grad():
        result = model(torch.zeros(1, 3, 32, 32))
    if shape is None:
        assert [tuple(m.shape) for m in result] == [(1, 320, 1, 1)]
    else:
        assert tuple(result.shape) == shape


def test_generate_for_inference_writes_the_folded_model(tmp_path, capsys):
    out = tmp_path / "fast.py"
    assert (
        main(["generate", "efficientnet-b0", "--framework", "torch", "--for-inference", "-o", str(out)]) == 0
    )
    text = out.read_text()
    assert "For inference only" in text and "folded=True" in text
    assert "--for-inference" in text  # the regenerate line keeps the flag
