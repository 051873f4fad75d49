"""Hypothesis profiles: CI derandomizes (same examples every run, so a red CI is
reproducible); ``HYPOTHESIS_PROFILE=explore`` searches wider on a developer's machine, and
``HYPOTHESIS_PROFILE=fuzz-long`` runs the robustness fuzz at full size."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=500, deadline=None)
# The robustness fuzz (tests/robustness/test_fuzz.py) at full size: 500 examples per test,
# shrinking on, random seeds (tens of minutes; not for CI).
settings.register_profile("fuzz-long", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
