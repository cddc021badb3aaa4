"""The ``scalespec`` command line: list, show, validate, schema, fit, scale, generate, port, conform."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
from collections.abc import Sequence

from . import __version__
from .conformance.cli import add_arguments as add_conform_arguments
from .conformance.options import CLI, with_flag_names
from .errors import SpecError
from .ir.cost import NetworkCost, network_cost, stage_rows
from .ir.fit import Budget, fit_phi, fitting_variants
from .ir.memory import memory_report
from .ir.network import Network
from .ir.resolve import resolve
from .ir.strategies import FAST_ALPHA, STRATEGIES
from .modelargs import (
    add_memory_arguments,
    add_model_arguments,
    add_tuning_arguments,
    features_of,
    resolve_args,
)
from .spec.io import json_schema
from .spec.scaling import flops_constraint_gap
from .zoo import families, load_family, load_model

EPILOG = """examples:
  scalespec list
  scalespec show efficientnet-b3
  scalespec show my_net.yaml --phi 2.5 --resolution 256 --json
  scalespec fit efficientnet --max-macs 2e9 --max-params 2e7
  scalespec scale efficientnet-b0 --flops-multiplier 4 --strategy fast
  scalespec fit efficientnet --max-memory 2e8 --batch 8 --strategy fast
  scalespec frontier efficientnet -o frontier.png --csv frontier.csv [--measure torch]
  scalespec generate efficientnet-b0 --framework torch -o model.py
  scalespec generate efficientnet-b0 --framework torch --for-inference -o model_fast.py
  scalespec generate efficientnet-b0 --framework onnx --weights b0.safetensors -o b0.onnx
  scalespec conform efficientnet-b0 --backends torch,tensorflow,onnx
  scalespec port b0.pth --model efficientnet-b0 -o b0.safetensors

MODEL_OR_FILE is a zoo name (efficientnet-b3, efficientnetv2-s, or a family name for its
default variant) or a path to a .yaml/.yml/.json spec file. Bad input exits with status 2."""


def _human(value: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3f}{unit}"
    return str(int(value))


def zoo_rows() -> list[dict]:
    """One row per zoo model: name, resolution, params, MACs and profiles (``list``'s content)."""
    rows = []
    for family in families():
        spec = load_family(family)
        for variant in spec.scaling.variants:
            net = resolve(spec, variant=variant)
            total = network_cost(net).total
            rows.append(
                {
                    "model": f"{family}-{variant}",
                    "resolution": net.resolution,
                    "params": total.params,
                    "macs": total.macs,
                    "profiles": list(spec.profiles),
                }
            )
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    rows = zoo_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<20} {'resolution':>10} {'params':>10} {'MACs':>10}  profiles")
    for row in rows:
        print(
            f"{row['model']:<20} {row['resolution']:>10} {_human(row['params']):>10} "
            f"{_human(row['macs']):>10}  {', '.join(row['profiles']) or '-'}"
        )
    return 0


def show_report(net: Network, cost: NetworkCost, *, batch: int = 1, dtype: str = "float32") -> dict:
    """Everything ``show --json`` prints: multipliers, per-stage rows, per-layer rows, totals, and
    memory at ``batch`` and ``dtype``."""
    return {
        **net.identity(),
        "resolution": cost.resolution,
        "padding": net.padding,
        "norm": {"eps": net.norm_eps, "momentum": net.norm_momentum},
        "stages": [row.as_dict() for row in stage_rows(net, cost)],
        "layers": [
            {
                "name": r.name,
                "group": r.group,
                "kind": r.kind,
                "out_shape": list(r.out_shape),
                **r.cost.as_dict(),
            }
            for r in cost.layers
        ],
        "total": cost.total.as_dict(),
        "memory": memory_report(net, resolution=cost.resolution, batch=batch, dtype=dtype),
    }


def cmd_show(args: argparse.Namespace) -> int:
    _, net = resolve_args(args)
    cost = network_cost(net)
    report = show_report(net, cost, batch=args.batch, dtype=args.dtype)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = net.multipliers
    print(
        f"{net.name}: width x{m.width:.4g}, depth x{m.depth:.4g}, input {cost.resolution}px, "
        f"padding {net.padding}, BN eps {net.norm_eps:g} momentum {net.norm_momentum:g}"
    )
    header = f"{'':<11}{'blocks':>6} {'kind':<13}{'in':>6}{'out':>6}{'exp':>6}{'k':>3}{'s':>3} {'out size':>10}{'params':>11}{'MACs':>11}"
    print(header)
    print("-" * len(header))
    for row in report["stages"]:
        size = "x".join(map(str, row["size"])) or "-"
        print(
            f"{row['group']:<11}{row['blocks']:>6} {row['kind']:<13}{row['in']:>6}{row['out']:>6}"
            f"{row['expanded'] or '-':>6}{row['kernel'] or '-':>3}{row['stride'] or '-':>3} {size:>10}"
            f"{_human(row['params']):>11}{_human(row['macs']):>11}"
        )
    total = cost.total
    print("-" * len(header))
    print(
        f"params {total.params:,} ({_human(total.params)})   buffers {total.buffers:,}   "
        f"MACs {total.macs:,} ({_human(total.macs)})   FLOPs {_human(total.flops)} (= 2 x MACs)"
    )
    print(
        f"other ops (BN, activations, pooling, adds, SE multiply) {_human(total.other_ops)}   "
        f"activations {_human(total.activations)} elements"
    )
    print(memory_lines(report["memory"]))
    return 0


def memory_lines(memory: dict) -> str:
    """Two lines on inference and training memory (ir/memory.py says what is counted)."""
    inference, sgd, adam = memory["inference"], memory["training"]["sgd"], memory["training"]["adam"]
    return (
        f"memory at batch {inference['batch']}, {inference['dtype']}: inference {_bytes(inference['total_bytes'])} "
        f"(weights {_bytes(inference['weights_bytes'])} folded, activations peak "
        f"{_bytes(inference['peak_activation_bytes'])} at {inference['peak_at']})\n"
        f"  training {_bytes(sgd['total_bytes'])} with SGD-momentum, {_bytes(adam['total_bytes'])} with Adam "
        f"(saved activations {_bytes(sgd['saved_activation_bytes'])}, gradients {_bytes(sgd['gradient_bytes'])})"
    )


def _bytes(value: int) -> str:
    """Bytes in binary units: 512 B, 12.3 MiB, 2.7 GiB."""
    if value < 1024:
        return f"{value} B"
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


def cmd_validate(args: argparse.Namespace) -> int:
    spec = load_model(args.file).spec
    # each variant under the default conventions, each profile at the default variant: every
    # part is resolved once, and the work grows with variants + profiles, not their product
    for variant in spec.scaling.variants or [None]:
        resolve(spec, variant=variant)
    for profile in spec.profiles:
        resolve(spec, profile=profile)
    if "compound" in spec.scaling.model_fields_set:
        gap = flops_constraint_gap(spec.scaling.compound)
        rule = f"alpha*beta^2*gamma^2 - 2 = {gap:+.4f}"
    else:
        rule = "no compound rule (--phi would use EfficientNet's alpha 1.2, beta 1.1, gamma 1.15)"
    print(
        f"{args.file}: valid spec {spec.name!r}: {len(spec.stages)} stages, "
        f"{len(spec.scaling.variants)} variants, {len(spec.profiles)} profiles; {rule}"
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


BUDGET_FLAGS = (
    ("max_macs", "MACs", _human),
    ("max_params", "params", _human),
    ("max_activations", "activations", _human),
    ("max_memory", "inference memory", lambda v: _bytes(int(v))),
    ("max_training_memory", "training memory", lambda v: _bytes(int(v))),
)


def cmd_fit(args: argparse.Namespace) -> int:
    from .ir.fit import LIMITS, fit_strategy
    from .zoo import resolve_model

    if all(getattr(args, name) is None for name in LIMITS):
        flags = ", ".join("--" + name.replace("_", "-") for name in LIMITS)
        raise SpecError([("budget", f"give at least one of {flags}")])
    if args.variant and not args.strategy:
        raise SpecError(
            [("variant", "--variant is the base a --strategy scales from; phi fitting starts at phi 0")]
        )
    budget = Budget(
        **{name: getattr(args, name) for name in LIMITS},
        batch=args.batch,
        dtype=args.dtype,
        optimizer=args.optimizer,
    )
    limits = ", ".join(
        f"{label} <= {show(v)}" for name, label, show in BUDGET_FLAGS if (v := getattr(args, name))
    )
    if args.strategy:
        ref, base = resolve_model(
            args.model, variant=args.variant, resolution=args.resolution, profile=args.profile
        )
        spec = ref.spec
        best = fit_strategy(spec, base, budget, args.strategy, alpha=args.alpha, profile=args.profile)
        if best is None:
            print(f"no FLOPs multiplier of {args.strategy} scaling fits {limits}", file=sys.stderr)
            return 1
        print(
            f"largest {args.strategy} scaling of {base.name} fitting {limits}: x{best.flops_multiplier:.3f} FLOPs asked"
        )
    else:
        spec = load_model(args.model).spec
        best = fit_phi(spec, budget, resolution=args.resolution, profile=args.profile)
        if best is None:
            print(f"no phi in [-10, 30] fits {limits}", file=sys.stderr)
            return 1
        print(f"largest phi fitting {limits}: phi = {best.phi:.2f}")
    m, total = best.network.multipliers, best.cost
    print(
        f"  width x{m.width:.4f}, depth x{m.depth:.4f}, resolution {m.resolution}px, {len(best.network.blocks)} blocks"
    )
    print(
        f"  params {total.params:,} ({_human(total.params)}), MACs {total.macs:,} ({_human(total.macs)}), "
        f"activations {_human(total.activations)}"
    )
    memory = memory_report(best.network, batch=args.batch, dtype=args.dtype)
    print("  " + memory_lines(memory).replace("\n", "\n  "))
    if spec.scaling.variants:
        fits = fitting_variants(spec, budget, resolution=args.resolution, profile=args.profile)
        shown = [f"{f.variant} ({_human(f.cost.macs)} MACs, {_human(f.cost.params)} params)" for f in fits]
        print("named variants that fit: " + (", ".join(shown) or "none"))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from .api import scale

    scaled = scale(
        args.model,
        args.flops_multiplier,
        strategy=args.strategy,
        alpha=args.alpha,
        variant=args.variant,
        profile=args.profile,
    )
    memory = memory_report(scaled.network, batch=args.batch, dtype=args.dtype)
    if args.json:
        print(json.dumps({"model": args.model, **scaled.as_dict(), "memory": memory}, indent=2))
        return 0
    net, total = scaled.network, scaled.cost
    how = f"{args.strategy} (a = {args.alpha:g})" if args.strategy == "fast" else args.strategy
    d, w, r = scaled.requested
    print(f"{args.model} scaled to x{args.flops_multiplier:g} FLOPs by {how}:")
    print(f"  asked:    depth x{d:.4f}, width x{w:.4f}, resolution x{r:.4f}")
    print(
        f"  resolved: depth x{net.multipliers.depth:.4f}, width x{net.multipliers.width:.4f}, "
        f"{net.resolution}px (the spec's channel, depth and resolution rounding)"
    )
    print(
        f"  realised: {len(net.blocks)} blocks (x{scaled.realised_depth:.3f}), stage channels "
        f"x{scaled.realised_width:.3f}, MACs x{scaled.realised_flops_multiplier:.3f}"
    )
    print(
        f"  params {total.params:,} ({_human(total.params)}), MACs {total.macs:,} ({_human(total.macs)}), "
        f"activations {total.activations:,} ({_human(total.activations)})"
    )
    print("  " + memory_lines(memory).replace("\n", "\n  "))
    return 0


def cmd_frontier(args: argparse.Namespace) -> int:
    from .files import atomic_write, check_output
    from .ir.frontier import CSV_COLUMNS, frontier, multiplier_grid, variant_points
    from .zoo import resolve_model

    if not args.output and not args.csv:
        raise SpecError([("output", "give -o PLOT.png and/or --csv TABLE.csv")])
    outputs = [(path, field) for path, field in ((args.output, "output"), (args.csv, "csv")) if path]
    for path, field in outputs:
        check_output(path, force=args.force, field=field)  # before any work
    if args.output:
        from .plot import _pyplot

        _pyplot()  # matplotlib missing: say so now, not after the timing
    multipliers = multiplier_grid(args.max_multiplier, args.points)
    ref, base = resolve_model(args.model, variant=args.variant, profile=args.profile)
    how = {"profile": args.profile, "batch": args.batch, "dtype": args.dtype}
    points = frontier(
        ref.spec, base, strategies=args.strategies, multipliers=multipliers, alpha=args.alpha, **how
    )
    variants = variant_points(ref.spec, base, **how)
    # the variants drawn and timed: those within the curves' range (b0-b4 for x16 from b0)
    shown = [v for v in variants if v.realised_flops_multiplier <= 1.25 * args.max_multiplier]
    if args.measure:
        from dataclasses import replace

        from .timing import time_networks

        every = [*points, *shown]
        latencies = time_networks(
            args.measure, [p.network for p in every], batch=args.batch, rounds=args.rounds
        )
        every = [replace(p, latency_ms=ms) for p, ms in zip(every, latencies, strict=True)]
        points, shown = every[: len(points)], every[len(points) :]
        timed = {v.variant: v for v in shown}
        variants = [timed.get(v.variant, v) for v in variants]
    _print_frontier(args, base.name, points)
    if args.csv:
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(p.csv_row() for p in (*points, *variants))
        print(
            f"wrote {atomic_write(args.csv, table.getvalue(), force=args.force, field='csv')}",
            file=sys.stderr,
        )
    if args.output:
        from .plot import frontier_png

        title = f"{base.name}: scaling strategies from {base.multipliers.variant or 'the base'} to x{args.max_multiplier:g} MACs"
        if args.measure:
            title += f" (latency: {args.measure}, batch {args.batch}, this machine)"
        png = frontier_png(points, shown, title=title)
        print(f"wrote {atomic_write(args.output, png, force=args.force)}", file=sys.stderr)
    return 0


def _print_frontier(args: argparse.Namespace, name: str, points: list) -> None:
    """Each strategy at the largest multiplier: what grew by how much, against the base."""
    print(f"x{args.max_multiplier:g} FLOPs from {name} ({_human(points[0].macs)} MACs), by strategy:")
    print(f"  {'strategy':<11}{'MACs':>8}{'params':>9}{'activ.':>9}{'infer.':>9}{'train':>9}{'latency':>10}")
    for strategy in args.strategies:
        curve = [p for p in points if p.strategy == strategy]
        first, last = curve[0], curve[-1]
        ratios = [last.macs / first.macs, last.params / first.params, last.activations / first.activations]
        ratios += [last.inference_bytes / first.inference_bytes, last.training_bytes / first.training_bytes]
        latency = f"x{last.latency_ms / first.latency_ms:.2f}" if last.latency_ms else "-"
        print(
            f"  {strategy:<11}" + "".join(f"{'x' + format(r, '.2f'):>9}" for r in ratios) + f"{latency:>10}"
        )


def cmd_generate(args: argparse.Namespace) -> int:
    from .backends import get_backend
    from .files import atomic_write, check_output, load_safetensors

    backend = get_backend(args.framework)
    if backend.suffix != ".py" and args.output != "-" and not args.output.endswith(backend.suffix):
        raise SpecError([("output", f"{backend.name} writes a {backend.suffix} file, not {args.output!r}")])
    if args.output != "-":
        check_output(args.output, force=args.force)  # before any work
    weights = load_safetensors(args.weights, field="weights") if args.weights else None
    ref, net = resolve_args(args, num_classes=args.num_classes)
    net = features_of(net, args)
    artifact = backend.emit(
        net, origin=ref, command=_command(args.argv), weights=weights, for_inference=args.for_inference
    )
    if args.output == "-":
        if isinstance(artifact, bytes):
            sys.stdout.buffer.write(artifact)
        else:
            sys.stdout.write(artifact)
        return 0
    path = atomic_write(args.output, artifact, force=args.force)
    use = (
        "build_model() returns the model"
        if backend.suffix == ".py"
        else "run it with onnxruntime (input 'image')"
    )
    print(f"wrote {path} ({backend.name}, {net.name}): {use}", file=sys.stderr)
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    from .files import check_output, save_safetensors
    from .port import port
    from .zoo import resolve_model

    check_output(args.output, force=args.force)  # before any work
    _, network = resolve_model(args.model, variant=args.variant, profile=args.profile)
    ported = port(
        args.source,
        network,
        args.model,
        layout=args.layout,
        ignore_conventions=args.ignore_conventions,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for note in ported.notes:
        print(f"warning: {note}", file=sys.stderr)
    print(f"{args.source}: {ported.layout} layout, {len(ported.weights)} tensors -> {network.name}")
    if not any(line.against.startswith(("torchvision", "keras")) for line in ported.proof):
        print("proof: the source model could not run here; the backends are compared with each other")
    for line in ported.proof:
        verdict = "PASS" if line.ok else "FAIL"
        figures = f"max abs {line.max_abs:.3g}, max rel {line.max_rel:.3g}, logits up to {line.scale:.3g}"
        print(f"  {line.what} vs {line.against}: {figures}  {verdict}")
    if not ported.ok and not args.ignore_conventions:
        print(
            f"scalespec port: the ported weights do not reproduce the source; {args.output} not written",
            file=sys.stderr,
        )
        return 1
    path = save_safetensors(ported.weights, args.output, force=args.force)
    print(
        f"wrote {path}: create_model({args.model!r}, ..., weights={str(path)!r}) loads it in any framework",
        file=sys.stderr,
    )
    return 0


def _command(argv: Sequence[str]) -> str:
    """The command line that made a file, to print in its header (without --force)."""
    return shlex.join(["scalespec", *(arg for arg in argv if arg != "--force")])


def cmd_conform(args: argparse.Namespace) -> int:
    from .conformance.cli import run

    return run(args)


def add_base_arguments(
    parser: argparse.ArgumentParser,
    variant: str = "the named variant to start from (default: the model's own)",
) -> None:
    """--variant (where a scaling strategy starts) and --alpha (fast scaling's a)."""
    parser.add_argument("--variant", help=variant)
    parser.add_argument(
        "--alpha", type=float, default=FAST_ALPHA, help="fast scaling's share of width (default 0.8)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalespec",
        description="Compound-scaled networks from one validated spec: cost model, PyTorch, Keras and ONNX models, conformance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scalespec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="list the zoo's models with their size and cost")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="per-stage table and totals of a resolved model")
    add_model_arguments(p)
    add_memory_arguments(p)
    p.add_argument("--json", action="store_true", help="print the full report (per layer too) as JSON")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("validate", help="check a spec file or zoo model, resolving every variant and profile")
    p.add_argument("file", metavar="MODEL_OR_FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of spec files")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser(
        "fit",
        help="largest compound phi (or --strategy multiplier) whose model fits a MACs, params, activations or memory budget",
    )
    add_model_arguments(p, scaling=False)
    p.add_argument("--max-macs", type=float, help="budget in multiply-accumulates (e.g. 2e9)")
    p.add_argument("--max-params", type=float, help="budget in trainable parameters (e.g. 2e7)")
    p.add_argument(
        "--max-activations", type=float, help="budget in activation elements (conv and linear outputs)"
    )
    p.add_argument(
        "--max-memory", type=float, help="budget in bytes of inference memory at --batch (e.g. 2e8)"
    )
    p.add_argument(
        "--max-training-memory",
        type=float,
        help="budget in bytes of training memory at --batch with --optimizer (e.g. 8e9)",
    )
    add_memory_arguments(p)
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"), help="for --max-training-memory")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="fit the FLOPs multiplier of this scaling strategy instead of phi (see scale)",
    )
    add_base_arguments(p, variant="with --strategy: the named variant to scale from")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "scale",
        help="scale a model to a FLOPs multiplier by a strategy (compound, fast, width, depth, resolution)",
    )
    add_model_arguments(p, scaling=False)
    add_base_arguments(p)
    p.add_argument(
        "--flops-multiplier", type=float, required=True, help="how many times the MACs to aim for (e.g. 4)"
    )
    p.add_argument(
        "--strategy",
        default="compound",
        choices=STRATEGIES,
        help="compound: the spec's alpha/beta/gamma; fast: Dollar et al. 2021; or one dimension",
    )
    add_memory_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser(
        "frontier",
        help="every scaling strategy from 1x to N x MACs: a plot and a CSV of params, activations, memory (and latency)",
    )
    add_model_arguments(p, scaling=False)
    add_base_arguments(p)
    p.add_argument(
        "--strategies",
        nargs="+",
        default=list(STRATEGIES),
        choices=STRATEGIES,
        metavar="STRATEGY",
        help=f"which curves to draw (default: all of {', '.join(STRATEGIES)})",
    )
    p.add_argument("--max-multiplier", type=float, default=16.0, help="largest FLOPs multiplier (default 16)")
    p.add_argument(
        "--points", type=int, default=9, help="multipliers per strategy, log-spaced from 1 (default 9)"
    )
    add_memory_arguments(p)
    p.add_argument("-o", "--output", help="the PNG to draw (needs matplotlib: scalespec[plot])")
    p.add_argument("--csv", help="a CSV with one row per strategy and multiplier, and one per named variant")
    p.add_argument(
        "--measure",
        choices=("torch", "tensorflow", "onnx"),
        help="also time every network on this machine (alternated passes, median) and plot latency",
    )
    p.add_argument("--rounds", type=int, default=3, help="timing passes over all networks (default 3)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=cmd_frontier)

    p = sub.add_parser("generate", help="write a standalone PyTorch or Keras model file, or an ONNX graph")
    add_model_arguments(p)
    p.add_argument(
        "--framework", required=True, help="torch or tensorflow (a .py file), or onnx (a .onnx graph)"
    )
    p.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="canonical .safetensors weights to embed (onnx; default: drawn from the declared initialisers)",
    )
    p.add_argument("--num-classes", type=int, help="classifier size (default: the spec's)")
    p.add_argument(
        "--for-inference",
        action="store_true",
        help="every batch norm folded into its conv (the model scalespec.optimize_for_inference makes)",
    )
    add_tuning_arguments(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "port",
        help="turn a torchvision, timm or keras.applications checkpoint into canonical weights, with a proof",
    )
    p.add_argument(
        "source", metavar="SOURCE", help=".pth/.pt/.bin state_dict, .safetensors, or keras .weights.h5/.keras"
    )
    p.add_argument("--model", required=True, help="the zoo model or spec file the weights are for")
    p.add_argument("--variant", help="named variant of a spec file's scaling table")
    p.add_argument("--profile", help="convention profile (keras.applications weights need keras)")
    p.add_argument(
        "--from",
        dest="layout",
        help="expected layout: canonical, torchvision, timm or keras (default: detected)",
    )
    p.add_argument("-o", "--output", required=True, help="the canonical .safetensors file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument(
        "--ignore-conventions",
        action="store_true",
        help="port weights into a profile they were not trained in (warns; logits will differ)",
    )
    p.set_defaults(func=cmd_port)

    p = sub.add_parser(
        "conform",
        help="prove the backends agree on a model (initialisation, shapes, counts, outputs at every tap, one training step)",
    )
    add_model_arguments(p, optional=True)
    add_conform_arguments(p)
    p.set_defaults(func=cmd_conform)
    return parser


TENSORFLOW_COMMANDS = ("conform", "port")  # the commands that import TensorFlow where it is installed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a failed check or no fit, 2 bad input)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        if args.command in TENSORFLOW_COMMANDS:
            from .backends.tensorflow.backend import quiet_startup

            quiet_startup()  # TensorFlow's start-up chatter off stderr; real errors still print
        return args.func(args)
    except SpecError as exc:
        print(f"scalespec {args.command}: error: {with_flag_names(exc, CLI)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `scalespec show ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
