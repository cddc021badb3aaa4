"""The conformance options, declared once: rendered into ``scalespec conform``'s argparse options
and the pytest plugin's ``--scalespec-*`` options, and used to name the flag in an error.

The library names fields neutrally (``backends``, ``device``); each front end maps those
names onto its own flags with ``flag_names``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError

CLI, PYTEST = "cli", "pytest"


@dataclass(frozen=True, kw_only=True)
class Option:
    """One option: its neutral name (``dest``), how it parses, and where it appears."""

    dest: str
    help: str
    type: type | None = None
    default: object = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    action: str | None = None
    where: tuple[str, ...] = (CLI, PYTEST)
    cli_name: str | None = None  # when the CLI flag is not --dest

    def flag(self, front: str) -> str:
        """``--backends`` on the command line, ``--scalespec-backends`` under pytest."""
        name = (self.cli_name or self.dest).replace("_", "-")
        return f"--{name}" if front == CLI else f"--scalespec-{self.dest.replace('_', '-')}"

    def kwargs(self) -> dict:
        """Keyword arguments for argparse's add_argument and pytest's addoption alike."""
        out = {"help": self.help, "default": self.default, "dest": self.dest}
        fields = {"type": self.type, "choices": self.choices, "metavar": self.metavar, "action": self.action}
        out.update({k: v for k, v in fields.items() if v is not None})
        return out


OPTIONS = (
    Option(
        dest="backends",
        metavar="LIST",
        help="comma-separated backends: torch, tensorflow, onnx, keras-jax, keras-torch (default: torch, tensorflow and onnx where installed); the first provides the weights",
    ),
    Option(
        dest="device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="cuda runs each framework that sees a GPU on it, TF32 off",
    ),
    Option(dest="seed", type=int, metavar="S", help="seed for weights, input and random specs (default 0)"),
    Option(dest="random", type=int, default=0, metavar="N", help="also conform N Hypothesis-generated specs"),
    Option(
        dest="specs",
        action="append",
        default=[],
        metavar="PATH",
        where=(PYTEST,),
        help="spec files or folders whose specs scalespec conformance checks (repeatable)",
    ),
    Option(
        dest="variants",
        default="default",
        metavar="LIST",
        where=(PYTEST,),
        help="'default' (the spec's default variant), 'all', or a comma list",
    ),
    Option(
        dest="resolution", type=int, metavar="N", where=(PYTEST,), help="input size (default: each variant's)"
    ),
    Option(
        dest="report",
        metavar="PATH",
        where=(PYTEST,),
        help="write one JSON report of every item's checks, merged across xdist workers",
    ),
    Option(
        dest="profile",
        metavar="NAME",
        where=(PYTEST,),
        help="convention profile to resolve with (keras); 'all': each spec with no profile and then each of its own",
    ),
    Option(
        dest="random_profile",
        cli_name="hypothesis_profile",
        choices=("ci", "dev", "thorough"),
        where=(CLI,),
        help="Hypothesis profile for --random (default ci)",
    ),
    Option(
        dest="shrink_seconds",
        type=float,
        metavar="S",
        where=(CLI,),
        help="time Hypothesis may spend shrinking a failing random spec (default 120)",
    ),
    Option(dest="json", metavar="PATH", where=(CLI,), help="also write the full report as JSON (atomically)"),
    Option(
        dest="save_golden",
        metavar="DIR",
        where=(CLI,),
        help="write a golden bundle (weights, input, outputs, manifest)",
    ),
    Option(
        dest="golden", metavar="DIR", where=(CLI,), help="check the backends here against a golden bundle"
    ),
    Option(
        dest="force",
        action="store_true",
        default=False,
        where=(CLI,),
        help="overwrite an existing --json file or golden bundle",
    ),
    Option(
        dest="quiet", action="store_true", default=False, where=(CLI,), help="no progress lines on stderr"
    ),
)

# fields the CLI has flags for outside the conform options
MODEL_FIELDS = (
    "variant",
    "phi",
    "width",
    "depth",
    "resolution",
    "profile",
    "num_classes",
    "max_macs",
    "max_params",
    "in_chans",
    "drop_rate",
    "drop_path_rate",
    "out_indices",
    "features_only",
    "pooling",
    "classifier_activation",
    "flops_multiplier",
    "strategy",
    "alpha",
)


def add_cli_options(parser) -> None:
    """Register the conform options on an argparse parser."""
    for option in OPTIONS:
        if CLI in option.where:
            parser.add_argument(option.flag(CLI), **option.kwargs())


def add_pytest_options(group) -> None:
    """Register the conform options on a pytest option group (``--scalespec-...``)."""
    for option in OPTIONS:
        if PYTEST in option.where:
            group.addoption(option.flag(PYTEST), **{**option.kwargs(), "dest": f"scalespec_{option.dest}"})


def flag_names(front: str) -> dict[str, str]:
    """Neutral field name -> this front end's flag, for every option it has."""
    names = {option.dest: option.flag(front) for option in OPTIONS if front in option.where}
    if front == CLI:
        names.update({name: f"--{name.replace('_', '-')}" for name in MODEL_FIELDS})
    return names


def with_flag_names(error: SpecError, front: str) -> SpecError:
    """``error`` with each neutral field name replaced by the front end's flag (``backends`` -> ``--backends``)."""
    names = flag_names(front)
    return SpecError([(names.get(location, location), message) for location, message in error.problems])
