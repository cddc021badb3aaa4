"""Hostile input gets a clean error: exit 2 naming the field, file or tensor, no traceback, no file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scalespec.cli import main
from scalespec.errors import SpecError
from scalespec.files import atomic_write
from scalespec.ir.resolve import resolve
from scalespec.ir.weights import check_weights
from scalespec.spec.io import load_spec, parse_text

BASE = "name: t\nstages:\n  - block: {type: conv, out: 8}\n"


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    "extra, words",
    [
        ("? [a, b]\n: 1\n", "key must be a plain value"),
        ("description: !!float abc\n", "tag cannot hold"),
        ("description: !!bool maybe\n", "tag cannot hold"),
        ("description: !!timestamp nope\n", "tag cannot hold"),
        ("!!int se: 1\n", "tag cannot hold"),
        ("description: " + "[" * 2000 + "\n", "nested too deeply"),
        ("description: " + "9" * 5000 + "\n", "tag cannot hold"),
    ],
    ids=["unhashable-key", "float-tag", "bool-tag", "timestamp-tag", "int-key-tag", "deep", "huge-int"],
)
def test_loader_errors_are_spec_errors(capsys, tmp_path, extra, words):
    path = tmp_path / "hostile.yaml"
    path.write_text(BASE + extra)
    with pytest.raises(SpecError, match=words):
        load_spec(path)
    code, err = run(capsys, "validate", str(path))
    assert code == 2 and str(path) in err


def test_an_endless_file_is_read_only_to_the_limit(capsys):
    started = time.perf_counter()
    code, err = run(capsys, "validate", "/dev/zero")
    assert code == 2 and "larger than" in err and time.perf_counter() - started < 10


@pytest.mark.parametrize("field", ["padding", "norm", "rounding", "activation", "drop_path_rate"])
def test_a_null_profile_field_is_refused_at_validation_naming_it(field):
    with pytest.raises(SpecError, match=rf"profiles\.p.*{field}: null overrides nothing"):
        parse_text(BASE + f"profiles: {{p: {{{field}: null}}}}\n")


@pytest.mark.parametrize("coefficient", ["alpha", "beta", "gamma"])
def test_compound_coefficients_below_one_are_refused(coefficient):
    """The paper's constraint (each at least 1): below it cost falls as phi grows, fit's
    bisection would answer wrongly, and gamma 1e-7 at phi -50 overflowed."""
    with pytest.raises(SpecError, match=rf"scaling\.compound\.{coefficient}"):
        parse_text(BASE + f"scaling: {{compound: {{{coefficient}: 1.0e-7}}}}\n")


def test_validate_grows_with_variants_plus_profiles(capsys, tmp_path):
    """150 variants and 150 profiles: 300 resolves, not 22,500 (which took 21 s)."""
    variants = ", ".join(f"v{i}: {{width: 1.0}}" for i in range(150))
    profiles = ", ".join(f"p{i}: {{padding: same}}" for i in range(150))
    path = tmp_path / "many.yaml"
    path.write_text(BASE + f"scaling: {{variants: {{{variants}}}}}\nprofiles: {{{profiles}}}\n")
    started = time.perf_counter()
    code, _ = run(capsys, "validate", str(path))
    assert code == 0 and time.perf_counter() - started < 10


@pytest.mark.parametrize(
    "section", ["scaling: {variants: {KEY: {width: 1.0}}}", "profiles: {KEY: {padding: same}}"]
)
def test_variant_and_profile_names_have_the_name_limit(section):
    with pytest.raises(SpecError, match="200"):
        parse_text(BASE + section.replace("KEY", "k" * 201) + "\n")


def test_messages_escape_terminal_control_characters(capsys, tmp_path):
    path = tmp_path / "ansi.yaml"
    path.write_text(BASE + '"bogus\\e[31m\\nFORGED": 1\n')
    code, err = run(capsys, "validate", str(path))
    assert code == 2 and "\x1b" not in err and "\\x1b" in err and "\nFORGED" not in err


@pytest.mark.parametrize("value, words", [("-5", "num_classes"), ("2000000", "num_classes")])
def test_generate_num_classes_out_of_range(capsys, tmp_path, value, words):
    out = tmp_path / "m.py"
    code, err = run(
        capsys,
        "generate",
        "efficientnet-b0",
        "--framework",
        "torch",
        "-o",
        str(out),
        f"--num-classes={value}",
    )
    assert code == 2 and words in err and not out.exists()


@pytest.mark.parametrize(
    "target, words",
    [
        ("", "empty"),
        ("afile/m.py", "not an existing folder"),
        ("x" * 300 + ".py", "too long"),
        (".", "folder"),
    ],
    ids=["empty", "under-a-file", "long-name", "a-folder"],
)
def test_bad_output_paths_name_output(capsys, tmp_path, monkeypatch, target, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    code, err = run(capsys, "generate", "efficientnet-b0", "--framework", "torch", "-o", target, "--force")
    assert code == 2 and "output" in err and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_dangling_symlink_is_not_replaced_without_force(tmp_path):
    link = tmp_path / "m.py"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(SpecError, match="exists"):
        atomic_write(link, "x")
    assert link.is_symlink()


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """A writer killed by SIGTERM mid-write exits and removes its .tmp file."""
    script = (
        "import sys, time; from scalespec import files\n"
        "files.os.fsync = lambda fd: (print('writing', flush=True), time.sleep(30))\n"
        "files.atomic_write(sys.argv[1], 'data')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "m.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", "int64", "uint8", "bool"])
def test_weights_of_another_dtype_are_refused_naming_the_tensor(dtype):
    with pytest.raises(SpecError, match=rf"w: dtype {dtype}, expected float32"):
        check_weights({"w": (2,)}, {"w": np.zeros(2, dtype)})
    check_weights({"w": (2,)}, {"w": np.zeros(2, dtype)}, cast=True)  # asked for: converted


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(value):
    with pytest.raises(SpecError, match="w: holds NaN or infinite"):
        check_weights({"w": (2,)}, {"w": np.array([0.0, value], np.float32)})


def test_a_cast_that_overflows_float32_is_refused():
    with pytest.raises(SpecError, match="w: does not fit in float32"):
        check_weights({"w": (1,)}, {"w": np.array([1e300])}, cast=True)


def _bundle(tmp_path: Path, manifest: object, input_array: object = None) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for name in ("weights.safetensors", "outputs.safetensors", "training.safetensors"):
        (folder / name).write_bytes(b"")
    if isinstance(input_array, dict):
        np.savez(folder / "input.npy", **input_array)
        os.replace(folder / "input.npy.npz", folder / "input.npy")
    else:
        np.save(
            folder / "input.npy", np.zeros((1, 3, 8, 8), np.float32) if input_array is None else input_array
        )
    return folder


@pytest.mark.parametrize(
    "manifest, words",
    [
        ([], "must be a JSON object"),
        ({"format": "scalespec-golden/2"}, "spec: expected str, got missing"),
        ({"format": "scalespec-golden/2", "spec": BASE}, "network: expected dict"),
        (
            {"format": "scalespec-golden/2", "spec": BASE, "network": {"resolution": "x"}, "expected": {}},
            "resolution",
        ),
    ],
    ids=["list", "no-spec", "no-network", "bad-resolution"],
)
def test_malformed_manifests_name_the_file_and_field(capsys, tmp_path, manifest, words):
    folder = _bundle(tmp_path, manifest)
    code, err = run(capsys, "conform", "--golden", str(folder), "--backends", "torch")
    assert code == 2 and "manifest.json" in err and words in err


@pytest.mark.parametrize("bad_input", [{"x": np.zeros(3)}, np.float32(1.0)], ids=["npz", "0-d"])
def test_a_bad_input_array_names_the_file(capsys, tmp_path, bad_input):
    counts = {"params": 1, "buffers": 1, "macs": 1}
    manifest = {
        "format": "scalespec-golden/2",
        "spec": BASE,
        "network": {"resolution": 32},
        "expected": counts,
    }
    folder = _bundle(tmp_path, manifest, bad_input)
    code, err = run(capsys, "conform", "--golden", str(folder), "--backends", "torch")
    assert code == 2 and "input.npy" in err


@pytest.mark.parametrize("resolution", [-5, 0, 2.5, True])
def test_network_cost_refuses_a_non_positive_or_fractional_resolution(resolution):
    from scalespec.ir.cost import network_cost

    with pytest.raises(SpecError, match="resolution"):
        network_cost(resolve(parse_text(BASE)), resolution)
