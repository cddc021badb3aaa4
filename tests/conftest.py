"""Hypothesis profiles: ``ci`` (default: derandomized, bounded), ``dev``, ``thorough``.

Pick one with ``--hypothesis-profile=NAME`` or the SCALESPEC_HYPOTHESIS_PROFILE variable.
"""

import os

from hypothesis import HealthCheck, settings

_common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", max_examples=50, derandomize=True, print_blob=True, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("thorough", max_examples=1000, **_common)
settings.load_profile(os.environ.get("SCALESPEC_HYPOTHESIS_PROFILE", "ci"))
