"""Hypothesis profiles come from scalespec.conformance.profiles: ``ci`` (the default here:
derandomized, bounded), ``dev`` and ``thorough``; all without a deadline.

Pick one with ``--hypothesis-profile=NAME`` or the SCALESPEC_HYPOTHESIS_PROFILE variable.
"""

import os

from hypothesis import settings

from scalespec.conformance.profiles import PROFILE_ENV, register_profiles

register_profiles()
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))
