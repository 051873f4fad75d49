"""What the robustness fuzz accepts as an outcome, and the count of cases it ran.

``attempt`` runs one case: a result (which the test then checks) or a ValueError/TypeError
naming the leaf or parameter; anything else fails with its type and message on one line.
``COUNTS`` tallies (input class, outcome) over the session; each fuzz module prints it at its end.
"""
from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import Phase, settings

import refopt
from tests.robustness import strategies as S

COUNTS: collections.Counter = collections.Counter()
# check_finite's error for a non-finite param or buffer that step produced (refopt.finite)
CHECK_FINITE_ERRORS = tuple(e for e in (refopt.NonFiniteGradient,
                                        getattr(refopt.core, "NonFiniteState", None)) if e is not None)
LONG = settings.default.max_examples > 25  # the ci profile's count


CI_SHARE = 0.6


def budget(k: int):
    """CI_SHARE of k examples under CI, and no shrinking there: while a class still fails, shrinking its
    examples cost minutes; the unshrunk example is printed all the same, and the long profiles
    (which shrink) give the minimal one."""
    if LONG:
        return settings(max_examples=settings.default.max_examples)
    # CI_SHARE of k: at 43 rules the full k cost ~80 s of the suite's ~820 CPU seconds
    return settings(max_examples=max(3, round(k * CI_SHARE)),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    """Print the cases run so far (all fuzz modules together) when a fuzz module ends."""
    yield
    rep = request.config.pluginmanager.get_plugin("terminalreporter")
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    total = sum(COUNTS.values())
    lines = [f"robustness fuzz: {total} cases run"]
    for cls in sorted({c for c, _ in COUNTS}):
        lines.append(f"  {cls:22s} result {COUNTS[cls, 'result']:5d}  clear error {COUNTS[cls, 'error']:5d}")
    if rep is not None and cap is not None:
        with cap.global_and_fixture_disabled():  # teardown output is captured otherwise
            rep.write_line("")
            for line in lines:
                rep.write_line(line)


# ----------------------------------------------------------------------------- outcomes

def attempt(cls, fn, names, *, result_ok=True, extra_ok=()):
    """Run ``fn``: a result (returned) or a ValueError/TypeError naming one of ``names``.

    ``extra_ok`` lists further exception types accepted under the same naming rule."""
    try:
        out = fn()
    except (ValueError, TypeError, *extra_ok) as err:
        msg = str(err)
        if type(err).__module__.split(".")[0] in ("numpy", "torch", "jax", "jaxlib", "ml_dtypes"):
            pytest.fail(f"[{cls}] obscure {type(err).__module__}.{type(err).__name__} from inside "
                        f"the array library: {msg[:300]}", pytrace=False)
        if not any(n(msg) if callable(n) else n in msg for n in names):
            pytest.fail(f"[{cls}] {type(err).__name__} names none of {names}: {msg[:300]}", pytrace=False)
        COUNTS[cls, "error"] += 1
        return None
    except Exception as err:  # the obscure crash this suite exists to find
        pytest.fail(f"[{cls}] obscure {type(err).__name__}: {str(err)[:300]}", pytrace=False)
    if not result_ok:
        pytest.fail(f"[{cls}] returned a result; a ValueError/TypeError naming {names} is required",
                    pytrace=False)
    COUNTS[cls, "result"] += 1
    return out


def host(a):
    return refopt.backend.to_numpy(a) if hasattr(a, "shape") else np.asarray(a)


def assert_same(a, b, what):
    """Same tree of arrays, same types, dtypes, shapes and bits (NaN equal to the same NaN)."""
    la, lb = S.leaves(a), S.leaves(b)
    assert len(la) == len(lb), f"{what}: {len(la)} leaves vs {len(lb)}"
    for x, y in zip(la, lb):
        assert type(x) is type(y), f"{what}: {type(x).__name__} vs {type(y).__name__}"
        x, y = host(x), host(y)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        assert np.array_equal(np.ascontiguousarray(x).view(np.uint8),
                              np.ascontiguousarray(y).view(np.uint8)), f"{what}: bits differ"


def assert_kept(out, like, what):
    """``out`` has ``like``'s containers and each leaf ``like``'s type, dtype and shape."""
    lo, ll = S.leaves(out), S.leaves(like)
    assert len(lo) == len(ll), f"{what}: {len(lo)} leaves vs {len(ll)}"
    for x, y in zip(lo, ll):
        assert type(x) is type(y), f"{what}: a {type(x).__name__} came back for a {type(y).__name__}"
        assert x.dtype == y.dtype and tuple(x.shape) == tuple(y.shape), \
            f"{what}: {x.dtype}{tuple(x.shape)} came back for {y.dtype}{tuple(y.shape)}"


def all_finite(tree) -> bool:
    return all(np.all(np.isfinite(host(a).astype(np.float64))) for a in S.leaves(tree)
               if hasattr(a, "shape") or isinstance(a, float))


def state_arrays(state) -> list:
    return [a for a in S.leaves(state) if hasattr(a, "shape")]


rules = pytest.mark.parametrize("name", S.RULE_NAMES)

