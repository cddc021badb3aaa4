"""``scalespec conform`` end to end: exit codes, tables, --json, --random, --device, golden bundles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from scalespec.backends.tensorflow import runtime as tf_runtime  # noqa: E402
from scalespec.cli import main  # noqa: E402
from scalespec.conformance.runner import installed_backends  # noqa: E402
from scalespec.spec.io import parse_text  # noqa: E402

SPECS = Path(__file__).parent / "specs"
TINY = str(SPECS / "tiny-same.yaml")


def test_tiny_spec_passes_with_a_table_per_check(capsys):
    assert main(["conform", TINY, "--quiet"]) == 0
    out = capsys.readouterr().out
    for check in ("weights", "shape", "train-shape", "params", "buffers", "macs", "outputs"):
        assert f"== {check}" in out
    assert "tensorflow vs torch" in out and "PASS:" in out


def test_progress_goes_to_stderr(capsys):
    assert main(["conform", str(SPECS / "tiny-symmetric.json"), "--backends", "torch"]) == 0
    err = capsys.readouterr().err
    assert (
        "[1/2] building and running torch on cpu..." in err
        and "[2/2] comparing outputs, taps and training steps..." in err
    )


def test_planted_bug_exits_1_and_names_the_check(capsys, monkeypatch):
    activation = tf_runtime.activation
    monkeypatch.setattr(
        tf_runtime,
        "activation",
        lambda x, name, layer: x if layer == "stem.act" else activation(x, name, layer),
    )
    assert main(["conform", TINY, "--variant", "wide", "--quiet"]) == 1
    assert "FAIL: outputs" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, field",
    [
        (["no-such-model"], "model"),
        ([TINY, "--variant", "nope"], "variant"),
        ([TINY, "--backends", "torch,mxnet"], "framework"),
        ([TINY, "--resolution", "3"], "resolution"),
        ([], "MODEL_OR_FILE"),
    ],
)
def test_bad_input_exits_2_naming_the_field(argv, field, capsys):
    assert main(["conform", *argv, "--quiet"]) == 2
    assert field in capsys.readouterr().err


def test_device_cuda_without_a_gpu_is_bad_input_not_a_crash(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["conform", TINY, "--device", "cuda", "--quiet"]) == 2
    assert "--device" in capsys.readouterr().err


def test_json_report_is_written_and_not_clobbered(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main(["conform", TINY, "--backends", "torch", "--json", str(path), "--quiet"]) == 0
    data = json.loads(path.read_text())
    assert data["ok"] is True
    checks = {(c["check"], c["subject"]) for c in data["reports"][0]["checks"]}
    assert ("params", "torch") in checks and ("shape", "torch") in checks
    assert data["reports"][0]["network"]["resolution"] == 33
    assert main(["conform", TINY, "--backends", "torch", "--json", str(path), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["conform", TINY, "--backends", "torch", "--json", str(path), "--quiet", "--force"]) == 0


def test_random_specs_pass(capsys):
    assert main(["conform", "--random", "3", "--quiet"]) == 0
    assert "random specs: PASS (3 specs conformed)" in capsys.readouterr().out


def test_random_failure_prints_the_shrunk_spec_as_yaml(capsys, monkeypatch):
    """torch's param count leaves out SE layers: the printed (shrunk) failing spec has an SE."""
    from scalespec.backends.torch import measure as torch_measure

    def without_se(model):
        return sum(p.numel() for name, p in model.named_parameters() if ".se." not in name)

    monkeypatch.setattr(torch_measure, "count_params", without_se)
    assert (
        main(["conform", "--random", "20", "--backends", "torch", "--shrink-seconds", "10", "--quiet"]) == 1
    )
    out = capsys.readouterr().out
    assert "the minimal failing spec (shrunk by Hypothesis)" in out
    spec_text = out.split("shrunk by Hypothesis):\n", 1)[1].split("\n\n", 1)[0]
    spec = parse_text(spec_text)  # the printed spec is valid YAML of the failing spec
    assert any(stage.block.type != "conv" and stage.block.se for stage in spec.stages)
    assert "FAIL: params" in out and "measured" in out


# ---------------------------------------------------------------- golden bundles

TORCH_ONLY = textwrap.dedent(
    """
    import importlib.machinery
    import sys

    BLOCKED = ("tensorflow", "keras")

    class Missing:
        \"\"\"A loader that fails like an uninstalled package (find_spec still answers, origin None).\"\"\"

        def create_module(self, spec):
            raise ModuleNotFoundError(f"No module named {spec.name!r} (blocked)", name=spec.name)

        def exec_module(self, module):
            pass

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                return importlib.machinery.ModuleSpec(name, Missing())
            return None

    sys.meta_path.insert(0, Block())
    from scalespec.cli import main

    status = main(sys.argv[1:])
    leaked = [name for name in BLOCKED if name in sys.modules]
    assert not leaked, f"imported {leaked}"
    sys.exit(status)
    """
)


def _torch_only(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TORCH_ONLY, *argv], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A golden bundle saved where both frameworks run."""
    folder = tmp_path_factory.mktemp("golden") / "tiny"
    assert (
        main(
            [
                "conform",
                TINY,
                "--variant",
                "wide",
                "--resolution",
                "37",
                "--save-golden",
                str(folder),
                "--quiet",
            ]
        )
        == 0
    )
    return folder


def test_bundle_holds_weights_input_outputs_and_manifest(bundle):
    from safetensors.numpy import load_file

    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["network"]["variant"] == "wide" and manifest["network"]["resolution"] == 37
    assert manifest["network"]["model"] == TINY and "name: tiny-same" in manifest["spec"]
    assert set(manifest["versions"]) >= {
        "scalespec",
        "numpy",
        "python",
        "torch",
        "tensorflow",
        "torch_device",
    }
    assert manifest["reference"] == "torch"
    outputs = load_file(str(bundle / "outputs.safetensors"))
    assert set(outputs) == set(installed_backends()) >= {"torch", "tensorflow"}  # the default: every one
    assert outputs["torch"].shape == (2, 5)
    assert np.load(bundle / "input.npy").shape == (2, 3, 37, 37)
    assert "stem.conv.weight" in load_file(str(bundle / "weights.safetensors"))


def test_torch_only_process_checks_the_bundle(bundle):
    result = _torch_only("conform", "--golden", str(bundle), "--backends", "torch", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch vs golden tensorflow" in result.stdout and "PASS:" in result.stdout


def test_torch_only_process_cannot_use_tensorflow(bundle):
    result = _torch_only("conform", "--golden", str(bundle), "--backends", "tensorflow", "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr


def test_tampered_bundle_fails(bundle, tmp_path):
    from safetensors.numpy import load_file, save_file

    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    outputs = load_file(str(tampered / "outputs.safetensors"))
    outputs["tensorflow"][0, 1] += 1e-3
    save_file(outputs, str(tampered / "outputs.safetensors"))
    result = _torch_only("conform", "--golden", str(tampered), "--backends", "torch", "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: outputs" in result.stdout
    failing = [line for line in result.stdout.splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("torch vs golden tensorflow")


def test_bundle_holds_the_training_step_and_a_tampered_gradient_fails(bundle, tmp_path):
    """The bundle carries each backend's training step; one TensorFlow gradient changed in the
    file fails torch's check against it, naming the tap whose gradient it is, and only that."""
    from safetensors.numpy import load_file, save_file

    training = load_file(str(bundle / "training.safetensors"))
    for name in ("torch", "tensorflow"):
        assert {f"{name}/loss", f"{name}/input_grad", f"{name}/eval/stem", f"{name}/train/stem"} <= set(
            training
        )
        assert f"{name}/grad/stem.conv.weight" in training and f"{name}/after/stem.bn.running_var" in training
    assert {"train_input", "labels"} <= set(training)
    tampered = tmp_path / "tampered-training"
    shutil.copytree(bundle, tampered)
    key = next(k for k in training if k.startswith("tensorflow/grad/stages.1.0.") and k.endswith(".weight"))
    training[key] *= 1.01
    save_file(training, str(tampered / "training.safetensors"))
    result = _torch_only("conform", "--golden", str(tampered), "--backends", "torch", "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: gradients" in result.stdout
    assert "first divergence (backward, from the output) at stages.1.0 (" in result.stdout
    failing = [line for line in result.stdout.splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("torch vs golden tensorflow")


def test_bundle_missing_a_training_entry_is_bad_input(bundle, tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    def drop_gradient(folder):
        training = load_file(str(folder / "training.safetensors"))
        del training["tensorflow/grad/stem.conv.weight"]
        save_file(training, str(folder / "training.safetensors"))

    broken = _edited(bundle, tmp_path, drop_gradient)
    assert main(["conform", "--golden", str(broken), "--backends", "torch", "--quiet"]) == 2
    assert "training.safetensors: missing tensorflow/grad/stem.conv.weight" in capsys.readouterr().err


def test_save_golden_refuses_to_overwrite(bundle, capsys):
    assert main(["conform", TINY, "--save-golden", str(bundle), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err


def test_not_a_bundle_is_bad_input(tmp_path, capsys):
    assert main(["conform", "--golden", str(tmp_path), "--quiet"]) == 2
    assert "not a golden bundle" in capsys.readouterr().err


def test_a_named_model_must_be_the_bundles_network(bundle, capsys):
    same = ["conform", TINY, "--variant", "wide", "--resolution", "37", "--golden", str(bundle)]
    assert main([*same, "--backends", "torch", "--quiet"]) == 0
    capsys.readouterr()
    other = str(SPECS / "tiny-symmetric.json")
    assert main(["conform", other, "--golden", str(bundle), "--backends", "torch", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "is not the bundle's network" in out and "FAIL: bundle" in out
    assert main(["conform", TINY, "--golden", str(bundle), "--backends", "torch", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "variant 'wide' in the bundle, 'base' here" in out and "resolution 37 in the bundle" in out


def _edited(bundle: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(bundle, copy)
    edit(copy)
    return copy


def test_a_bundle_that_could_prove_nothing_is_bad_input(bundle, tmp_path, capsys):
    from safetensors.numpy import save_file

    empty = _edited(bundle, tmp_path, lambda f: save_file({}, str(f / "outputs.safetensors")))
    assert main(["conform", "--golden", str(empty), "--backends", "torch", "--quiet"]) == 2
    assert "outputs.safetensors: holds no reference outputs" in capsys.readouterr().err


def test_a_bundle_without_its_counts_is_bad_input(bundle, tmp_path, capsys):
    def drop_macs(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["expected"]["macs"]
        (folder / "manifest.json").write_text(json.dumps(manifest))

    edited = _edited(bundle, tmp_path, drop_macs)
    assert main(["conform", "--golden", str(edited), "--backends", "torch", "--quiet"]) == 2
    assert "manifest.json: expected.macs: expected int, got missing" in capsys.readouterr().err


def test_a_failing_run_piped_into_head_still_fails(bundle, tmp_path):
    """`set -o pipefail; scalespec conform ... | head -c1` exits 1, and the JSON is written."""
    from safetensors.numpy import load_file, save_file

    def tamper(folder: Path) -> None:
        outputs = load_file(str(folder / "outputs.safetensors"))
        outputs["tensorflow"][0, 1] += 1e-3
        save_file(outputs, str(folder / "outputs.safetensors"))

    tampered = _edited(bundle, tmp_path, tamper)
    scalespec = Path(sys.executable).with_name("scalespec")
    report = tmp_path / "report.json"
    command = (
        f"'{scalespec}' conform --golden '{tampered}' --backends torch --quiet --json '{report}' | head -c1"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1, done.stderr
    assert len(done.stdout) == 1 and "Traceback" not in done.stderr
    assert json.loads(report.read_text())["ok"] is False


def test_a_bundle_of_a_width_scaled_network_checks_that_network(tmp_path, capsys):
    """A bundle saved for explicit multipliers resolves them again (it once fell back to 1.0)."""
    folder = tmp_path / "half-width"
    assert main(["conform", TINY, "--width", "0.5", "--save-golden", str(folder), "--quiet"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["network"]["width"] == 0.5 and manifest["network"]["variant"] is None
    assert main(["conform", "--golden", str(folder), "--backends", "torch"]) == 0, capsys.readouterr().out
