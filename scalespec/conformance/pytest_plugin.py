"""pytest plugin (entry point ``pytest11``): ``pytest --scalespec-specs DIR`` conforms spec files.

One test item per spec file and variant: ``specs/net.yaml::b0``. By default only the spec's
default variant is collected (``::default`` when it names none); ``--scalespec-variants all``
or a comma list collects more. ``--scalespec-random N`` adds one item running N
Hypothesis-generated specs. The plugin is loaded by every pytest run where scalespec is
installed, so it imports no framework (nor Hypothesis) at load time and does nothing unless
``--scalespec-specs`` or ``--scalespec-random`` is given.
"""

from __future__ import annotations

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
    config.args.extend(str(path) for path in paths)
    if config.getoption("scalespec_random"):
        config.args.append(str(RANDOM_ANCHOR))


SPEC_ROOTS = pytest.StashKey[list]()


def pytest_collect_file(file_path: Path, parent):
    """Spec files under --scalespec-specs become SpecFile collectors (nothing else is claimed)."""
    roots = parent.config.stash.get(SPEC_ROOTS, None)
    if roots is None:
        return None
    if file_path == RANDOM_ANCHOR and parent.config.getoption("scalespec_random"):
        return RandomSpecs.from_parent(parent, path=file_path)
    if file_path.suffix.lower() in SPEC_SUFFIXES and any(
        file_path == root or root in file_path.parents for root in roots
    ):
        return SpecFile.from_parent(parent, path=file_path)
    return None


def _variants(spec, wanted: str) -> list[str | None]:
    if wanted == "all":
        return list(spec.scaling.variants) or [None]
    if wanted == "default":
        return [spec.scaling.default]
    return [name.strip() for name in wanted.split(",") if name.strip()]


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
        for variant in _variants(spec, self.config.getoption("scalespec_variants")):
            yield SpecItem.from_parent(
                self, name=variant or "default", spec=spec, variant=variant, error=None
            )


class ConformanceError(AssertionError):
    """A failed conformance run: the spec as YAML and every check's figures."""


class SpecItem(pytest.Item):
    """Conform one spec file at one variant in the chosen backends."""

    def __init__(self, *, spec, variant, error, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.variant, self.error = spec, variant, error
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
            profile=opt("scalespec_profile"),
        )
        identity = network_identity(network, model=str(self.path))
        report = conform(
            network,
            parse_backends(opt("scalespec_backends")),
            identity=identity,
            device=opt("scalespec_device"),
            seed=opt("scalespec_seed") or 0,
        )
        self.user_properties.append(("scalespec", report.as_dict()))
        if not report.ok:
            args = f"variant={self.variant!r}, resolution={network.resolution}, profile={opt('scalespec_profile')!r}"
            raise ConformanceError(
                f"{self.path} ({args}) failed: {', '.join(report.failed_names())}\n\n{dump_spec(self.spec)}\n{render(report)}"
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
    """The anchor collector of the one random-specs item."""

    def collect(self):
        yield RandomSpecsItem.from_parent(self, name="scalespec-random-specs")


class RandomSpecsItem(pytest.Item):
    """N Hypothesis-generated specs; a failure shows the shrunk, minimal failing spec."""

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
            opt("scalespec_random"),
            parse_backends(opt("scalespec_backends")),
            device=opt("scalespec_device"),
            seed=opt("scalespec_seed") or None,
            profile=profile if profile in ("ci", "dev", "thorough") else None,
        )
        if not result.ok:
            raise ConformanceError(
                str(ConformanceFailure(result.case, result.failure))
                + f"\n(after {result.examples} runs, shrunk by Hypothesis)"
            )

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ConformanceError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return Path(__file__), None, f"scalespec random specs x{self.config.getoption('scalespec_random')}"
