"""`scalespec frontier` and `fit --strategy`: the CSV's rows, the PNG, the budgets, bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from published import PUBLISHED

from scalespec.cli import main
from scalespec.ir.cost import network_cost
from scalespec.ir.fit import Budget, fit_strategy
from scalespec.ir.frontier import multiplier_grid
from scalespec.ir.memory import inference_memory
from scalespec.ir.strategies import STRATEGIES, scale_network
from scalespec.zoo import resolve_model

TINY = {
    "name": "tiny",
    "input": {"channels": 3, "resolution": 32},
    "stem": {"out": 8},
    "stages": [
        {"block": {"type": "mbconv", "expand": 2, "out": 8, "se": {"ratio": 0.25}}, "repeats": 2},
        {"block": {"type": "mbconv", "expand": 2, "out": 16, "stride": 2}},
    ],
    "head": {"out": 32},
    "classifier": {"num_classes": 10},
    "scaling": {"variants": {"t0": {"width": 1.0, "depth": 1.0}, "t1": {"width": 1.2, "depth": 1.2}}},
}


def _rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_frontier_writes_every_strategy_and_the_variants(tmp_path, capsys):
    png, table = tmp_path / "f.png", tmp_path / "f.csv"
    code = main(["frontier", "efficientnet", "--points", "3", "-o", str(png), "--csv", str(table)])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = _rows(table)
    strategies = [row["strategy"] for row in rows if row["strategy"] != "variant"]
    assert sorted(set(strategies)) == sorted(STRATEGIES) and len(strategies) == 5 * 3
    variants = [row["variant"] for row in rows if row["strategy"] == "variant"]
    assert variants[:8] == [f"b{i}" for i in range(8)]
    # every curve starts at b0 itself: torchvision's published parameter count
    starts = [row for row in rows if row["flops_multiplier"] == "1"]
    assert {int(row["params"]) for row in starts} == {PUBLISHED["b0"]["params"]}
    by = {(row["strategy"], row["flops_multiplier"]): row for row in rows}
    # resolution scaling changes no weight; Dollar et al.'s fast scaling grows activations
    # much less than compound scaling for the same FLOPs (their Fig. 1)
    assert int(by["resolution", "16"]["params"]) == PUBLISHED["b0"]["params"]
    assert int(by["fast", "16"]["activations"]) < 0.6 * int(by["compound", "16"]["activations"])
    assert "x16 FLOPs from efficientnet-b0" in capsys.readouterr().out


def test_frontier_rows_are_the_scale_command_s_networks(tmp_path):
    table = tmp_path / "f.csv"
    assert (
        main(["frontier", "efficientnet-b0", "--points", "2", "--max-multiplier", "4", "--csv", str(table)])
        == 0
    )
    row = next(r for r in _rows(table) if r["strategy"] == "fast" and r["flops_multiplier"] == "4")
    ref, base = resolve_model("efficientnet-b0")
    scaled = scale_network(ref.spec, base, 4.0, "fast")
    assert int(row["macs"]) == scaled.cost.macs
    assert int(row["resolution"]) == scaled.network.resolution
    assert int(row["inference_bytes"]) == inference_memory(scaled.network).total


@pytest.mark.torch
def test_frontier_measures_latency_of_a_spec_file(tmp_path, capsys):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    png, table = tmp_path / "f.png", tmp_path / "f.csv"
    args = ["frontier", str(spec), "--points", "2", "--max-multiplier", "2", "--measure", "torch"]
    assert main([*args, "--rounds", "1", "-o", str(png), "--csv", str(table)]) == 0
    rows = _rows(table)
    assert len(rows) == 5 * 2 + 2  # two named variants
    assert all(float(row["latency_ms"]) > 0 for row in rows if row["strategy"] != "variant")
    # variants are timed (and drawn) within the curves' range: 1.25 x the largest multiplier
    in_range = [
        r for r in rows if r["strategy"] == "variant" and float(r["realised_flops_multiplier"]) <= 2.5
    ]
    assert all(float(row["latency_ms"]) > 0 for row in in_range)
    assert f"timed {10 + len(in_range)} networks" in capsys.readouterr().err


def test_frontier_refuses_to_overwrite_and_writes_nothing_on_bad_input(tmp_path, capsys):
    png = tmp_path / "f.png"
    png.write_text("mine")
    assert main(["frontier", "efficientnet", "-o", str(png)]) == 2
    assert png.read_text() == "mine"
    table = tmp_path / "t.csv"
    bad_inputs = (
        ["--max-multiplier", "0.5"],
        ["--points", "1"],
        ["--alpha", "2", "--strategies", "fast"],
        ["--rounds", "0", "--measure", "onnx"],
    )
    for bad in bad_inputs:
        assert main(["frontier", "efficientnet", "--csv", str(table), *bad]) == 2
        assert not table.exists()
    assert main(["frontier", "efficientnet"]) == 2  # neither -o nor --csv
    errors = capsys.readouterr().err
    assert "max_multiplier" in errors and "points" in errors and "alpha" in errors and "rounds" in errors


def test_multiplier_grid_is_log_spaced_from_one():
    assert multiplier_grid(16, 5) == pytest.approx([1, 2, 4, 8, 16])


@pytest.mark.parametrize("strategy", ["fast", "width", "compound"])
def test_fit_strategy_finds_the_largest_multiplier_within_budget(strategy):
    ref, base = resolve_model("efficientnet-b0")
    budget = Budget(max_activations=2e7, max_memory=3e8, batch=4)
    fit = fit_strategy(ref.spec, base, budget, strategy)
    assert fit is not None and fit.cost.activations <= 2e7
    assert inference_memory(fit.network, batch=4).total <= 3e8
    above = scale_network(ref.spec, base, fit.flops_multiplier * 2**0.01, strategy)
    assert not budget.admits(above.cost, above.network)


def test_fit_cli_with_a_strategy_and_a_memory_budget(capsys):
    assert main(["fit", "efficientnet", "--max-memory", "1e8", "--batch", "8", "--strategy", "fast"]) == 0
    out = capsys.readouterr().out
    assert "largest fast scaling of efficientnet-b0" in out and "memory at batch 8" in out


def test_fit_refuses_a_variant_without_strategy(capsys):
    assert main(["fit", "efficientnet", "--max-macs", "1e9", "--variant", "b1"]) == 2
    assert "variant" in capsys.readouterr().err


def test_activation_budget_is_the_cost_model_s_count():
    ref, base = resolve_model("efficientnet-b0")
    limit = network_cost(base).total.activations
    assert Budget(max_activations=limit).admits(network_cost(base).total)
    assert not Budget(max_activations=limit - 1).admits(network_cost(base).total)


def test_frontier_without_matplotlib_says_how_to_get_it(tmp_path):
    """matplotlib is an optional extra: without it, -o is refused before any work, --csv works."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
        "from scalespec.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    png, table = tmp_path / "f.png", tmp_path / "f.csv"
    args = [sys.executable, "-c", script, "frontier", "efficientnet", "--points", "2"]
    run = subprocess.run([*args, "-o", str(png)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "scalespec[plot]" in run.stderr and not png.exists()
    run = subprocess.run([*args, "--csv", str(table)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and len(_rows(table)) == 5 * 2 + 10
