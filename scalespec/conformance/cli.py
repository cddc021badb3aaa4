"""``scalespec conform``: its arguments and the command body (scalespec/cli.py registers them).

Exit status: 0 every check passed, 1 a check failed, 2 bad input (SpecError, raised to main()).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import SpecError
from ..files import check_output
from ..ir.network import Network
from ..spec.network import NetworkSpec

EXAMPLES = """examples:
  scalespec conform efficientnet-b0 --resolution 96
  scalespec conform my-net.yaml --phi 1.5 --backends torch,tensorflow --json report.json
  scalespec conform efficientnet-b0 --random 20 --seed 7
  scalespec conform efficientnet-b0 --save-golden golden/b0      # where both frameworks run
  scalespec conform --golden golden/b0 --backends torch --device cuda   # elsewhere"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``conform`` options (see EXAMPLES); MODEL_OR_FILE and its model options come from the CLI."""
    from .options import add_cli_options

    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_cli_options(parser)


def _check_args(args: argparse.Namespace) -> None:
    if args.golden and args.save_golden:
        raise SpecError([("--golden", "give --golden or --save-golden, not both")])
    model_options = (args.variant, args.phi, args.width, args.depth, args.resolution, args.profile)
    if args.golden and not args.model and any(value is not None for value in model_options):
        raise SpecError(
            [
                (
                    "--golden",
                    "--variant/--phi/--width/--depth/--resolution/--profile name a model: give MODEL_OR_FILE too",
                )
            ]
        )
    if args.save_golden and not args.model:
        raise SpecError([("--save-golden", "name the model (MODEL_OR_FILE) to save a bundle of")])
    if not (args.model or args.golden or args.random):
        raise SpecError([("MODEL_OR_FILE", "name a model or spec file, or give --golden DIR or --random N")])
    if args.random < 0:
        raise SpecError([("--random", f"N must be >= 0, got {args.random}")])
    if args.json:
        check_output(args.json, force=args.force, field="--json")
    if args.save_golden and not args.force:
        from .golden import FILES

        taken = [name for name in FILES if (Path(args.save_golden) / name).exists()]
        if taken:
            raise SpecError(
                [
                    (
                        "--save-golden",
                        f"{args.save_golden} already holds a bundle; pass --force to overwrite it",
                    )
                ]
            )


def target(args: argparse.Namespace) -> tuple[NetworkSpec, Network, dict]:
    """MODEL_OR_FILE plus its model options resolved into a Network."""
    from ..modelargs import resolve_args
    from .runner import network_identity

    ref, network = resolve_args(args)
    return ref.spec, network, network_identity(network, model=args.model, source=ref.source)


def _progress(args: argparse.Namespace):
    if args.quiet:
        return lambda message: None
    return lambda message: print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """The ``conform`` command: returns 0 (all pass) or 1 (a mismatch); bad input raises SpecError."""
    from . import golden, random_specs, runner
    from .report import render, to_json

    _check_args(args)
    names = runner.parse_backends(args.backends)
    progress = _progress(args)
    reports, random_result = [], None
    if args.golden:
        expect = (target(args)[1], args.model) if args.model else None  # must be the bundle's network
        reports.append(
            golden.check_bundle(args.golden, names, device=args.device, progress=progress, expect=expect)
        )
    elif args.model:
        spec, network, identity = target(args)
        report = runner.conform(
            network, names, identity=identity, device=args.device, seed=args.seed or 0, progress=progress
        )
        reports.append(report)
        if args.save_golden:
            golden.save_bundle(report, spec, args.save_golden, force=args.force)
            progress(f"golden bundle written to {args.save_golden}")
    for report in reports:
        _say(render(report))
    if args.random:
        random_result = random_specs.conform_random(
            args.random,
            names,
            device=args.device,
            seed=args.seed,
            profile=args.random_profile,
            progress=progress,
            **_shrink(args),
        )
        _say(_random_summary(random_result))
    ok = all(r.ok for r in reports) and (random_result is None or random_result.ok)
    if args.json:
        from ..files import atomic_write

        atomic_write(
            args.json,
            to_json(reports, {"ok": ok, **_random_json(random_result)}),
            force=args.force,
            field="--json",
        )
    return 0 if ok else 1


def _say(text: str) -> None:
    """Print a result; a reader that has gone (``| head -c1``) changes nothing about the exit
    status, which follows the checks, and the JSON report is still written."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _shrink(args: argparse.Namespace) -> dict:
    seconds = getattr(args, "shrink_seconds", None)
    if seconds is not None and seconds < 0:
        raise SpecError([("--shrink-seconds", f"must be >= 0, got {seconds}")])
    return {} if seconds is None else {"shrink_seconds": seconds}


def _random_summary(result) -> str:
    from .report import render

    if result.ok:
        return f"random specs: PASS ({result.examples} specs conformed)"
    return "\n".join(
        [
            f"random specs: FAIL after {result.examples} runs; the minimal failing spec (shrunk by Hypothesis):",
            result.case.describe().rstrip(),
            "",
            render(result.failure),
        ]
    )


def _random_json(result) -> dict:
    if result is None:
        return {}
    data = {"examples": result.examples, "ok": result.ok, "seed": result.seed, "passed": result.passed}
    if not result.ok:
        data["failing_spec"] = result.case.describe()
        data["failing_report"] = result.failure.as_dict()
    return {"random": data}
