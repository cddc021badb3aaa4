"""What machine a benchmark ran on, for the figures written into docs/performance.md."""

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
