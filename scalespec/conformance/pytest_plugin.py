"""pytest plugin (entry point ``pytest11``): ``pytest --scalespec-specs DIR`` conforms spec files.

One test item per spec file and variant: ``specs/net.yaml::b0``. By default only the spec's
default variant is collected (``::default`` when it names none); ``--scalespec-variants all``
or a comma list collects more. ``--scalespec-random N`` adds N items, ``random[seed=S]``,
each a Hypothesis-generated spec from its own seed (S = --scalespec-seed + i), each
rerunnable alone by its node id and shrinking when it fails. Items carry their figures in
``user_properties`` (so ``--junitxml`` has them) as plain strings, which also lets them
cross pytest-xdist's worker boundary; ``--scalespec-report PATH`` writes one merged JSON
report on the controller. The plugin is loaded by every pytest run where scalespec is
installed, so it imports no framework (nor Hypothesis) at load time and does nothing unless
``--scalespec-specs`` or ``--scalespec-random`` is given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def pytest_addoption(parser) -> None:
    from .options import add_pytest_options

    add_pytest_options(parser.getgroup("scalespec", "scalespec conformance of spec files"))


def _active(config) -> bool:
    return bool(config.getoption("scalespec_specs") or config.getoption("scalespec_random"))


RANDOM_ANCHOR = Path(__file__).resolve()  # collected as the home of the random-specs item


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    """Add the spec paths (and the random-specs anchor) to what pytest collects.

    Runs before Hypothesis' own plugin configures, so ``--hypothesis-profile ci`` finds the
    scalespec profiles registered.
    """
    if not _active(config):
        return
    try:
        from .profiles import register_profiles

        register_profiles()
    except ImportError:  # Hypothesis is only needed for --scalespec-random
        pass
    config.addinivalue_line("markers", "scalespec: a scalespec conformance item")
    paths = [Path(raw) for raw in config.getoption("scalespec_specs")]
    for path in paths:
        if not path.exists():
            raise pytest.UsageError(f"--scalespec-specs: no such file or folder: {path}")
    config.stash[SPEC_ROOTS] = [path.resolve() for path in paths]
    config.stash[SKIPPED], config.stash[COLLECTED] = [], []
    config.args.extend(str(path) for path in paths)
    named = any(Path(arg.split("::")[0]).resolve() == RANDOM_ANCHOR for arg in config.args)
    if config.getoption("scalespec_random") and not named:  # named: a rerun of chosen random items
        config.args.append(str(RANDOM_ANCHOR))
    if config.getoption("scalespec_report") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            MergedReport(Path(config.getoption("scalespec_report"))), "scalespec-report"
        )


REPORT_PROPERTY = "scalespec.report"


def report_properties(data: dict) -> list[tuple[str, str]]:
    """A report as user_properties: one per check (its figures as JSON), versions, devices, and the
    whole report. Plain strings only, so they reach junitxml and cross pytest-xdist's boundary."""
    data = json.loads(json.dumps(data, default=str))
    props = [("scalespec.ok", str(data["ok"]))]
    for check in data["checks"]:
        figures = {"ok": check["ok"], **check["figures"]}
        props.append((f"scalespec.{check['check']}[{check['subject']}]", json.dumps(figures, sort_keys=True)))
    props += [
        ("scalespec.versions", json.dumps(data["versions"])),
        ("scalespec.devices", json.dumps(data["devices"])),
    ]
    return [*props, (REPORT_PROPERTY, json.dumps(data))]


class MergedReport:
    """Collects every item's report on the controller (or the lone process) and writes them, once,
    atomically, at the end of the session (overwriting the file, as --junitxml does)."""

    def __init__(self, path: Path):
        self.path, self.items = path, []

    def pytest_runtest_logreport(self, report) -> None:
        found = [json.loads(value) for name, value in report.user_properties if name == REPORT_PROPERTY]
        if report.when == "call" or (report.failed and report.when == "setup"):
            self.items.append({"nodeid": report.nodeid, "outcome": report.outcome, "reports": found})

    def pytest_sessionfinish(self, session) -> None:
        from ..files import atomic_write

        ok = all(item["outcome"] == "passed" for item in self.items)
        text = json.dumps({"ok": ok, "items": self.items}, indent=2) + "\n"
        atomic_write(self.path, text, force=True)


SPEC_ROOTS = pytest.StashKey[list]()


def pytest_collect_file(file_path: Path, parent):
    """Spec files under --scalespec-specs become SpecFile collectors (nothing else is claimed)."""
    roots = parent.config.stash.get(SPEC_ROOTS, None)
    if roots is None:
        return None
    if file_path == RANDOM_ANCHOR and parent.config.getoption("scalespec_random"):
        # the anchor lies outside the user's rootdir, where pytest would print an empty path;
        # its absolute path makes every random item's node id one that reruns it alone
        return RandomSpecs.from_parent(parent, path=file_path, nodeid=str(file_path))
    if file_path.suffix.lower() in SPEC_SUFFIXES and any(
        file_path == root or root in file_path.parents for root in roots
    ):
        if not _looks_like_a_spec(file_path):  # package.json, CI configs: not ours
            parent.config.stash[SKIPPED].append(str(file_path))
            return None
        parent.config.stash[COLLECTED].append(str(file_path))
        return SpecFile.from_parent(parent, path=file_path)
    return None


SKIPPED = pytest.StashKey[list]()
COLLECTED = pytest.StashKey[list]()


def _looks_like_a_spec(path: Path) -> bool:
    """A spec is a mapping with a ``stages`` section; a file that does not parse counts as one,
    so a broken spec fails loudly instead of being skipped."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError:
        return True
    return isinstance(data, dict) and "stages" in data


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Say which files were not taken for specs, and when the spec paths held none."""
    if SPEC_ROOTS not in config.stash:
        return
    skipped, collected = config.stash[SKIPPED], config.stash[COLLECTED]
    if skipped:
        names = ", ".join(Path(name).name for name in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        terminalreporter.write_line(f"scalespec: not spec files (no 'stages' section), ignored: {names}")
    if config.getoption("scalespec_specs") and not collected:
        roots = ", ".join(config.getoption("scalespec_specs"))
        terminalreporter.write_line(
            f"scalespec: no spec files under {roots} (a spec is a .yaml, .yml or .json file with a 'stages' section)"
        )


def _variants(spec, wanted: str) -> list[str | None]:
    if wanted == "all":
        return list(spec.scaling.variants) or [None]
    if wanted == "default":
        return [spec.scaling.default]
    return [name.strip() for name in wanted.split(",") if name.strip()]


def _profiles(spec, wanted: str | None) -> list[str | None]:
    """``all``: no profile, then each of the spec's own (items ``b0``, ``b0:keras``); else the one given."""
    if wanted == "all":
        return [None, *spec.profiles]
    return [wanted]


class SpecFile(pytest.File):
    """A spec file: one item per selected variant (one failing item when the file is invalid)."""

    def collect(self):
        from ..errors import SpecError
        from ..spec.io import load_spec

        try:
            spec = load_spec(self.path)
        except SpecError as exc:
            yield SpecItem.from_parent(self, name="invalid", spec=None, variant=None, error=exc)
            return
        profiles = _profiles(spec, self.config.getoption("scalespec_profile"))
        for variant in _variants(spec, self.config.getoption("scalespec_variants")):
            for profile in profiles:
                name = (variant or "default") + (f":{profile}" if profile and len(profiles) > 1 else "")
                yield SpecItem.from_parent(
                    self, name=name, spec=spec, variant=variant, profile=profile, error=None
                )


class ConformanceError(AssertionError):
    """A failed conformance run: the spec as YAML and every check's figures."""


class SpecItem(pytest.Item):
    """Conform one spec file at one variant in the chosen backends."""

    def __init__(self, *, spec, variant, error, profile=None, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.variant, self.error, self.profile = spec, variant, error, profile
        self.add_marker("scalespec")

    def runtest(self) -> None:
        from ..ir.resolve import resolve
        from ..spec.io import dump_spec
        from .report import render
        from .runner import conform, network_identity, parse_backends

        if self.error is not None:
            raise self.error
        opt = self.config.getoption
        network = resolve(
            self.spec,
            variant=self.variant,
            resolution=opt("scalespec_resolution"),
            profile=self.profile,
        )
        identity = network_identity(network, model=str(self.path))
        report = conform(
            network,
            parse_backends(opt("scalespec_backends")),
            identity=identity,
            device=opt("scalespec_device"),
            seed=opt("scalespec_seed") or 0,
        )
        self.user_properties.extend(report_properties(report.as_dict()))
        if not report.ok:
            args = f"variant={self.variant!r}, resolution={network.resolution}, profile={self.profile!r}"
            raise ConformanceError(  # the figures first; the spec, for reference, after them
                f"{self.path} ({args}) failed: {', '.join(report.failed_names())}\n\n{render(report)}\n"
                f"the spec ({self.path.name}):\n{dump_spec(self.spec)}"
            )

    def repr_failure(self, excinfo, style=None):
        from ..errors import SpecError

        if isinstance(excinfo.value, SpecError):
            from .options import PYTEST, with_flag_names

            return str(with_flag_names(excinfo.value, PYTEST))
        if isinstance(excinfo.value, ConformanceError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"scalespec conform {self.path.name}::{self.name}"


class RandomSpecs(pytest.File):
    """The anchor collector of the random-spec items: one per seed."""

    def collect(self):
        base = self.config.getoption("scalespec_seed") or 0
        for index in range(self.config.getoption("scalespec_random")):
            yield RandomSpecsItem.from_parent(self, name=f"random[seed={base + index}]", seed=base + index)


class RandomSpecsItem(pytest.Item):
    """One Hypothesis-generated spec from this item's seed; a failure shows the shrunk, minimal spec.

    Hypothesis starts every search with the same simplest spec, so only the first seed's item
    checks it; the others check one spec drawn from their seed.
    """

    def __init__(self, *, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.add_marker("scalespec")

    def runtest(self) -> None:
        from .random_specs import ConformanceFailure, conform_random
        from .runner import parse_backends

        opt = self.config.getoption
        profile = (
            opt("hypothesis_profile", None)
            if self.config.pluginmanager.hasplugin("hypothesispytest")
            else None
        )
        result = conform_random(
            1,
            parse_backends(opt("scalespec_backends")),
            device=opt("scalespec_device"),
            seed=self.seed,
            profile=profile if profile in ("ci", "dev", "thorough") else None,
            minimal=self.seed == (opt("scalespec_seed") or 0),
        )
        for example in result.passed:
            self.user_properties.append(("scalespec.spec", example["spec"]))
            self.user_properties.extend(report_properties(example["report"]))
        if not result.ok:
            self.user_properties.extend(report_properties(result.failure.as_dict()))
            raise ConformanceError(
                str(ConformanceFailure(result.case, result.failure))
                + f"\n(seed {self.seed}, after {result.examples} runs, shrunk by Hypothesis)"
            )

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ConformanceError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return Path(__file__), None, f"scalespec random spec, seed {self.seed}"
