"""The pytest plugin, run in fresh pytest processes (pytester) on a small folder of spec files."""

from __future__ import annotations

import json
import shutil
from importlib.util import find_spec
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SPECS = Path(__file__).parent / "specs"
# availability without importing: pytester restores sys.modules after each test, and a
# framework imported inside a test cannot be imported a second time into one process
frameworks = pytest.mark.skipif(
    find_spec("torch") is None or find_spec("tensorflow") is None, reason="needs torch and tensorflow"
)
BACKENDS = ("--scalespec-backends", "torch,tensorflow", "-p", "no:cacheprovider")


@pytest.fixture
def spec_dir(pytester) -> Path:
    folder = pytester.path / "specs"
    folder.mkdir()
    for name in ("tiny-same.yaml", "tiny-symmetric.json"):
        shutil.copy(SPECS / name, folder / name)
    return folder


def test_plugin_is_inert_without_its_options(pytester):
    """Auto-loaded in every pytest run, it collects nothing and imports no framework."""
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_no_framework_imported():
            assert "torch" not in sys.modules and "tensorflow" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "scalespec" not in result.stdout.str().replace("scalespec-", "")


def test_one_item_per_file_and_default_variant_or_all_variants(pytester, spec_dir):
    result = pytester.runpytest_subprocess("--scalespec-specs", "specs", "--collect-only", "-q", *BACKENDS)
    result.stdout.fnmatch_lines(
        ["*specs/tiny-same.yaml::base", "*specs/tiny-symmetric.json::default", "2 tests collected*"]
    )
    result = pytester.runpytest_subprocess(
        "--scalespec-specs", "specs", "--scalespec-variants", "all", "--collect-only", "-q", *BACKENDS
    )
    result.stdout.fnmatch_lines(
        [
            "*tiny-same.yaml::base",
            "*tiny-same.yaml::wide",
            "*tiny-symmetric.json::default",
            "3 tests collected*",
        ]
    )
    # the folder also given as a path is collected once; the ci profile is registered in time
    result = pytester.runpytest_subprocess(
        "specs", "--scalespec-specs", "specs", "--hypothesis-profile", "ci", "--collect-only", "-q", *BACKENDS
    )
    result.stdout.fnmatch_lines(["2 tests collected*"])


def test_each_specs_own_profiles_with_profile_all(pytester, spec_dir):
    """--scalespec-profile all: every spec without a profile, then with each of its own."""
    text = (spec_dir / "tiny-same.yaml").read_text() + "profiles:\n  alt: {activation: relu}\n"
    (spec_dir / "tiny-same.yaml").write_text(text)
    result = pytester.runpytest_subprocess(
        "--scalespec-specs", "specs", "--scalespec-profile", "all", "--collect-only", "-q", *BACKENDS
    )
    result.stdout.fnmatch_lines(
        [
            "*tiny-same.yaml::base",
            "*tiny-same.yaml::base:alt",
            "*tiny-symmetric.json::default",
            "3 tests collected*",
        ]
    )


@frameworks
def test_passing_specs_pass(pytester, spec_dir):
    result = pytester.runpytest_subprocess(
        "--scalespec-specs", "specs", "--scalespec-variants", "all", "-v", *BACKENDS
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*tiny-same.yaml::base PASSED*",
            "*tiny-same.yaml::wide PASSED*",
            "*tiny-symmetric.json::default PASSED*",
        ]
    )


@frameworks
def test_planted_bug_fails_with_the_spec_and_the_numbers(pytester, spec_dir):
    """A conftest drops the stem activation in the Keras runtime: the failure shows spec and figures."""
    pytester.makeconftest(
        """
        from scalespec.backends.tensorflow import runtime

        _activation = runtime.activation

        def _no_stem_activation(x, name, layer_name):
            return x if layer_name == "stem.act" else _activation(x, name, layer_name)

        runtime.activation = _no_stem_activation
        """
    )
    result = pytester.runpytest_subprocess("--scalespec-specs", "specs", *BACKENDS)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "failed: outputs" in out and "FAIL: outputs" in out
    assert "name: tiny-same" in out and "padding: same" in out  # the spec, as YAML
    assert "tensorflow vs torch" in out and "max_abs" in out and "worst" in out
    assert out.index("FAIL: outputs") < out.index("name: tiny-same")  # the figures before the spec
    assert "Traceback" not in out  # a readable report, not a stack dump


def test_invalid_spec_is_a_failing_item_naming_the_field(pytester, spec_dir):
    (spec_dir / "broken.yaml").write_text(
        "name: broken\nstages:\n  - block: {type: mbconv, out: 8, kernel: 4}\n"
    )
    result = pytester.runpytest_subprocess("--scalespec-specs", "specs/broken.yaml", *BACKENDS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stages.0.block.kernel*kernel must be odd*"])


@frameworks
def test_random_specs_are_one_item_per_seed_each_rerunnable_alone(pytester):
    result = pytester.runpytest_subprocess(
        "--scalespec-random", "3", "--scalespec-seed", "5", "-v", *BACKENDS
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*random?seed=5? PASSED*", "*random?seed=6? PASSED*", "*random?seed=7? PASSED*"]
    )
    node = next(line.split(" ")[0] for line in result.outlines if "random[seed=6]" in line)
    alone = pytester.runpytest_subprocess(
        "--scalespec-random", "3", "--scalespec-seed", "5", "-v", node, *BACKENDS
    )
    alone.assert_outcomes(passed=1)
    alone.stdout.fnmatch_lines(["*random?seed=6? PASSED*"])


def _outcomes(result) -> dict[str, str]:
    """node id -> PASSED/FAILED from a -v run (with or without xdist's [gw0] prefixes)."""
    found = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED"):
            if f" {word}" in line and "::" in line:
                node = next(part for part in line.split() if "::" in part)
                found[node] = word
    return found


@frameworks
@pytest.mark.skipif(find_spec("xdist") is None, reason="needs pytest-xdist")
def test_xdist_gives_the_same_items_and_outcomes_and_one_merged_report(pytester, spec_dir):
    (spec_dir / "broken.yaml").write_text(
        "name: broken\nstages:\n  - block: {type: mbconv, out: 8, kernel: 4}\n"
    )
    args = (
        "--scalespec-specs",
        "specs",
        "--scalespec-variants",
        "all",
        "--scalespec-random",
        "2",
        "-v",
        *BACKENDS,
    )
    serial = pytester.runpytest_subprocess(*args, "-p", "no:xdist")
    serial.assert_outcomes(passed=5, failed=1)
    parallel = pytester.runpytest_subprocess(
        *args, "-n", "2", "--scalespec-report", "merged.json", "--junitxml", "junit.xml"
    )
    parallel.assert_outcomes(passed=5, failed=1)
    assert _outcomes(parallel) == _outcomes(serial) and len(_outcomes(serial)) == 6
    merged = json.loads((pytester.path / "merged.json").read_text())
    assert not merged["ok"] and len(merged["items"]) == 6
    passing = [item for item in merged["items"] if item["outcome"] == "passed"]
    assert all(len(item["reports"]) == 1 and item["reports"][0]["ok"] for item in passing)
    checks = {check["check"] for item in passing for check in item["reports"][0]["checks"]}
    assert checks >= {"weights", "shape", "params", "buffers", "macs", "outputs"}
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="scalespec.outputs[tensorflow vs torch]"') == 5  # one per passing item
    assert "max_abs" in junit and "scalespec.versions" in junit


def test_non_spec_files_are_ignored_with_a_note_and_an_empty_folder_says_so(pytester, spec_dir):
    (spec_dir / "package.json").write_text('{"name": "web", "version": "1.0.0"}')
    result = pytester.runpytest_subprocess("--scalespec-specs", "specs", "--collect-only", "-q", *BACKENDS)
    result.stdout.fnmatch_lines(["*not spec files*ignored: package.json*", "2 tests collected*"])
    (pytester.path / "empty").mkdir()
    result = pytester.runpytest_subprocess("--scalespec-specs", "empty", *BACKENDS)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*scalespec: no spec files under empty*'stages' section*"])
