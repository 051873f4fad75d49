"""Hypothesis profiles: CI derandomizes (same examples every run, so a red CI is
reproducible); ``HYPOTHESIS_PROFILE=explore`` searches wider on a developer's machine."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
