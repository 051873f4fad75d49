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


import sys  # noqa: E402

import pytest  # noqa: E402


def _process_settings() -> dict:
    """The framework settings a test could change for every later test of its worker; only
    for libraries already imported (reading them must not import anything)."""
    out = {}
    if "jax" in sys.modules:
        out["jax_enable_x64"] = bool(sys.modules["jax"].config.jax_enable_x64)
    if "torch" in sys.modules:
        out["torch default dtype"] = str(sys.modules["torch"].get_default_dtype())
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "config"):
        out["keras floatx"] = sys.modules["keras"].config.floatx()
    return out


@pytest.fixture(autouse=True)
def _settings_left_as_found():
    """A test that switches jax's x64, torch's default dtype or keras's floatx and leaves it
    so fails here, by name, instead of a later test of the same worker failing at random
    (CI of 2026-12-03: a leaked x64 broke a checkpoint test two files later)."""
    before = _process_settings()
    yield
    after = _process_settings()
    changed = {k: (before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]}
    assert not changed, f"this test left process settings changed (before, after): {changed}"
