"""Files scalespec writes and reads: atomic, no-clobber output and safetensors arrays."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import SpecError


def _default_mode(path: Path) -> int:
    """An overwritten file keeps its mode; a new one gets 0666 less the umask, as open() would."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, data: str | bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file and rename; refuse to clobber without ``force``.

    Either the whole file appears or nothing does: a failure leaves no partial file behind.
    """
    path = Path(path)
    if path.exists() and not force:
        raise SpecError([("output", f"{path} exists; pass --force to overwrite it")])
    if not path.parent.exists():
        raise SpecError([("output", f"directory {path.parent} does not exist")])
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _default_mode(path))  # mkstemp's 0600 would make every output private
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_safetensors(arrays: Mapping[str, np.ndarray], path: str | Path, *, force: bool = False) -> Path:
    """Write float32 arrays (canonical weights, outputs) to a .safetensors file, atomically."""
    from safetensors.numpy import save

    data = save({name: np.ascontiguousarray(value, dtype=np.float32) for name, value in arrays.items()})
    return atomic_write(path, data, force=force)


def load_safetensors(path: str | Path, *, field: str = "weights") -> dict[str, np.ndarray]:
    """Read a .safetensors file; an unreadable or malformed file is a SpecError naming ``field``."""
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise SpecError([(field, f"cannot read {path}: {exc}")]) from None
