"""Shared by the benchmarks: the machine line for docs/performance.md, and loading emitted files."""

from __future__ import annotations

import platform
import subprocess


def cpu_model() -> str:
    """The CPU model name lscpu reports (platform's guess when lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def build_emitted(source: str, **kwargs):
    """Write generated source to a file, import it as a user would, and return ``build_model(**kwargs)``."""
    import tempfile
    from pathlib import Path

    from scalespec.backends.source import load_generated

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated_model.py"
        path.write_text(source, encoding="utf-8")
        return load_generated(path).build_model(**kwargs)
