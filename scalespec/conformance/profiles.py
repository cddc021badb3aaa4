"""Hypothesis profiles shared by the test suite, the ``conform --random`` runner and the plugin.

``ci``: derandomized and bounded, so a CI run is reproducible; ``dev``: more, random examples;
``thorough``: many. Every profile has no deadline, because one example builds framework models.
"""

from __future__ import annotations

PROFILES = {
    "ci": {"max_examples": 50, "derandomize": True, "print_blob": True},
    "dev": {"max_examples": 100},
    "thorough": {"max_examples": 1000},
}
PROFILE_ENV = "SCALESPEC_HYPOTHESIS_PROFILE"


def register_profiles() -> None:
    """Register ``ci``, ``dev`` and ``thorough`` with Hypothesis (idempotent; imports it lazily)."""
    from hypothesis import HealthCheck, settings

    common = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    for name, values in PROFILES.items():
        settings.register_profile(name, **values, **common)


def random_settings(examples: int, seed: int | None, profile: str | None = None):
    """Settings for ``--random N``: N examples, no example database, reproducible unless seeded.

    Without a seed the run is derandomized (the ``ci`` behaviour); with one, ``hypothesis.seed``
    picks the examples, so derandomize is turned off.
    """
    from hypothesis import Phase, settings

    register_profiles()
    parent = settings.get_profile(profile or "ci")
    # no explain phase: it reruns the failing spec many times to annotate it, each run a build
    phases = [phase for phase in parent.phases if phase != Phase.explain]
    return settings(
        parent,
        max_examples=examples,
        database=None,
        derandomize=seed is None,
        report_multiple_bugs=False,
        phases=phases,
    )
