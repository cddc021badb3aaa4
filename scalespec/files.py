"""Files scalespec writes and reads: atomic, no-clobber output and safetensors arrays."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
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


def check_output(path: str | Path, *, force: bool = False, field: str = "output") -> Path:
    """``path`` as a file scalespec may write: not a folder, in an existing folder, and not an
    existing file (a dangling symlink counts) unless ``force``; else a SpecError naming output."""
    if not str(path).strip():
        raise SpecError([(field, "the output file name is empty")])
    path = Path(path)
    try:
        if path.is_dir():
            raise SpecError([(field, f"{path} is a folder, not a file name")])
        if os.path.lexists(path) and not force:
            raise SpecError([(field, f"{path} exists; pass --force to overwrite it")])
        if not path.parent.is_dir():
            raise SpecError([(field, f"{path.parent} is not an existing folder")])
    except OSError as exc:  # a name too long, a loop of symlinks, ...
        raise SpecError([(field, f"cannot use {str(path)[:80]!r}: {exc.strerror or exc}")]) from None
    return path


def atomic_write(path: str | Path, data: str | bytes, *, force: bool = False, field: str = "output") -> Path:
    """Write ``data`` to ``path`` via a temporary file and rename; refuse to clobber without ``force``.

    Either the whole file appears or nothing does: a failure, Ctrl-C or SIGTERM leaves no
    partial or temporary file behind. A problem with the path is a SpecError naming ``output``.
    """
    path = check_output(path, force=force, field=field)
    mode = "wb" if isinstance(data, bytes) else "w"
    with _terminate_as_exit():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise SpecError([(field, f"cannot write into {path.parent}: {exc.strerror}")]) from None
        try:
            os.chmod(tmp, _default_mode(path))  # mkstemp's 0600 would make every output private
            with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SpecError([(field, f"cannot write {path}: {exc.strerror or exc}")]) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


@contextlib.contextmanager
def _terminate_as_exit():
    """While writing, SIGTERM raises SystemExit (so the temporary file is removed) instead of
    killing the process outright; only in the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
