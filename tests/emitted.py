"""Load a generated model file the way a user does: as its own module, from a file on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_emitted(source: str, path: Path) -> ModuleType:
    """Write ``source`` to ``path`` and import it as a module (its ``build_model`` is the API)."""
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
