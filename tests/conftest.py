"""Hypothesis profiles come from scalespec.conformance.profiles: ``ci`` (the default here:
derandomized, bounded), ``dev`` and ``thorough``; all without a deadline.

Pick one with ``--hypothesis-profile=NAME`` or the SCALESPEC_HYPOTHESIS_PROFILE variable.

Under pytest-xdist (``-n auto``), a test marked ``whole_machine`` (efficientnet-l2's 14 GB
conformance) runs alone: it takes a file lock exclusively, every other test takes it shared.
"""

import fcntl
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from scalespec.conformance.profiles import PROFILE_ENV, register_profiles

register_profiles()
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))


@pytest.fixture(autouse=True)
def _whole_machine_tests_run_alone(request):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set for every worker of one xdist run
    if run is None:
        yield
        return
    exclusive = request.node.get_closest_marker("whole_machine") is not None
    with open(Path(tempfile.gettempdir()) / f"scalespec-tests-{run}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
