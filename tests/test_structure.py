"""The package's shape: no import cycle inside scalespec/, and every backend folder has the same parts."""

from __future__ import annotations

import ast
from pathlib import Path

import scalespec
from scalespec.backends import BACKEND_NAMES

PACKAGE = Path(scalespec.__file__).parent
BACKEND_PARTS = (
    "runtime.py",
    "build.py",
    "emit.py",
    "weights.py",
    "published.py",
    "measure.py",
    "train.py",
    "backend.py",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every scalespec module ``path`` imports, at any depth of the file (lazy imports count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {t for t in found if t.split(".")[0] == "scalespec"}


def test_no_import_cycle_inside_scalespec():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {
        name: {t for t in _imports(path, name) if t in modules and t != name}
        for name, path in modules.items()
    }
    # a package's __init__ importing its own submodules is not a cycle back into it
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_every_backend_folder_has_the_same_parts():
    for name in BACKEND_NAMES:
        folder = PACKAGE / "backends" / name
        assert sorted(p.name for p in folder.glob("*.py") if p.name != "__init__.py") == sorted(BACKEND_PARTS)
