"""The pytest plugin, run in fresh pytest processes (pytester) on a small folder of spec files."""

from __future__ import annotations

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
    assert "Traceback" not in out  # a readable report, not a stack dump


def test_invalid_spec_is_a_failing_item_naming_the_field(pytester, spec_dir):
    (spec_dir / "broken.yaml").write_text(
        "name: broken\nstages:\n  - block: {type: mbconv, out: 8, kernel: 4}\n"
    )
    result = pytester.runpytest_subprocess("--scalespec-specs", "specs/broken.yaml", *BACKENDS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stages.0.block.kernel*kernel must be odd*"])


@frameworks
def test_random_specs_item(pytester):
    result = pytester.runpytest_subprocess("--scalespec-random", "3", "-v", *BACKENDS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*scalespec-random-specs PASSED*"])
