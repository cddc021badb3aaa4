"""The one exception type the API raises for bad user input."""

from __future__ import annotations

from collections.abc import Sequence


class SpecError(ValueError):
    """A spec, model name, weights file or request that scalespec cannot accept.

    ``problems`` holds ``(location, message)`` pairs; a location is a dotted field path
    such as ``stages.2.block.kernel`` (prefixed by the file name when one is known).
    """

    def __init__(self, problems: Sequence[tuple[str, str]] | str, source: str | None = None):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.source = source
        self.problems = [(self._join(source, loc), msg) for loc, msg in problems]
        super().__init__(self._render())

    @staticmethod
    def _join(source: str | None, loc: str) -> str:
        if source and loc:
            return f"{source}: {loc}"
        return source or loc

    def _render(self) -> str:
        lines = [printable(f"{loc}: {msg}" if loc else msg) for loc, msg in self.problems]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} problems:\n" + "\n".join(f"  - {line}" for line in lines)


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``, ``\\n``), so a spec's
    text cannot move the cursor, colour the terminal or forge a line of output."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
