"""pytest plugin (entry point ``pytest11``): ``pytest --scalespec-specs DIR`` conforms spec files."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    group = parser.getgroup("scalespec")
    group.addoption(
        "--scalespec-specs",
        action="append",
        default=[],
        metavar="PATH",
        help="spec files or folders whose specs scalespec conformance checks (repeatable)",
    )
