"""Hypothesis profiles come from scalespec.conformance.profiles: ``ci`` (the default here:
derandomized, bounded), ``dev`` and ``thorough``; all without a deadline.

Pick one with ``--hypothesis-profile=NAME`` or the SCALESPEC_HYPOTHESIS_PROFILE variable.

Keras on JAX (the keras-jax backend's worker, generated files run under KERAS_BACKEND=jax)
compiles each op with XLA on first use, 65 ms apiece; JAX's persistent compilation cache,
shared by every test and worker in .pytest_cache/jax, compiles each op once per run.

Under pytest-xdist (``-n auto``), a test marked ``whole_machine`` (efficientnet-l2's 14 GB
conformance) runs beside no other full-size model: it takes a file lock exclusively, every
``slow`` test takes it shared, and small tests take none, so the other workers keep running
them meanwhile. Collection puts ``whole_machine`` tests first (their worker is fresh: one that
had run other tests first crossed 24 GB) and ``slow`` ones last (none waits on the lock while
small tests are left to run).
"""

import fcntl
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from scalespec.conformance.profiles import PROFILE_ENV, register_profiles

register_profiles()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).parents[1] / ".pytest_cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))


@pytest.fixture(autouse=True, scope="module")
def _remote_workers_stop_after_each_module():
    """Keras-on-jax/torch worker processes hold 1-2 GB each; none outlives the module that used
    it, so efficientnet-l2's conformance (14.5 GB) never shares the machine with them."""
    yield
    from scalespec.backends import close_workers

    close_workers()


@pytest.fixture(autouse=True)
def _whole_machine_tests_run_alone(request):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set for every worker of one xdist run
    if run is None:
        yield
        return
    exclusive = request.node.get_closest_marker("whole_machine") is not None
    if not exclusive and request.node.get_closest_marker("slow") is None:
        yield  # a small model: it may run beside efficientnet-l2
        return
    with open(Path(tempfile.gettempdir()) / f"scalespec-tests-{run}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``whole_machine`` tests first, small tests next, ``slow`` ones last (the module docstring
    says why); otherwise collection order."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("whole_machine") is not None:
            return 0
        return 2 if item.get_closest_marker("slow") is not None else 1

    items.sort(key=rank)  # stable: each group keeps collection order
