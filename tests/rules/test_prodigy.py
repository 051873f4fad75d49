"""Prodigy: agreement with the authors' package (prodigyopt 1.1.2) on the mixed stream and on a
convex quadratic (where d grows by orders of magnitude), a hand-derived first step and second
estimate, d non-decreasing (hypothesis), invariance to the gradients' scale (where eps is
negligible, and not where it is not), and the bound d <= ||w_0 - w*||_inf on convex problems."""
import math
import zlib

import numpy as np
import prodigyopt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
from refopt import tree
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees


class OnQuadratic:
    """An optimizer fed the gradient of f(w) = sum_leaf 0.5 h (w - w*)^2 at its current params,
    in place of the stream it is given: a closed loop on a convex problem, where the D-Adaptation
    estimates grow from d0 towards the distance to the solution (the mixed stream is no
    objective's gradient, so there d barely moves)."""

    def __init__(self, make, seed=3):
        self.make, self.seed = make, seed

    def __call__(self):
        self.opt = self.make()
        return self

    def gradient(self, params):
        out = {}
        for path, w in tree.leaves_with_paths(params):  # one draw per path: any leaf order
            rng = np.random.default_rng([self.seed, zlib.crc32(path.encode())])
            h = rng.uniform(0.1, 3.0, np.shape(w))
            target = rng.standard_normal(np.shape(w))
            out[path] = h * (np.asarray(w) - target)
        return tree.unflatten(tree.structure(params), list(out.values()))

    def init(self, params):
        return self.opt.init(params)

    def step(self, params, grads, state):
        return self.opt.step(params, self.gradient(params), state)


NONDEFAULT = dict(lr=0.7, eps=1e-6, weight_decay=0.05, use_bias_correction=True, d0=1e-4,
                  d_coef=0.8, growth_rate=1.05)
OURS_NONDEFAULT = dict(NONDEFAULT, beta1=0.8, beta2=0.99, beta3=0.95)
THEIRS_NONDEFAULT = dict(NONDEFAULT, betas=(0.8, 0.99), beta3=0.95)
COUPLED = dict(weight_decay=0.1, decouple=False, safeguard_warmup=True)


def ours(**kw):
    return lambda: refopt.prodigy(**kw)


def theirs(**kw):
    return lambda: torch_optimizer(prodigyopt.Prodigy, **kw)


# The package computes in float64 tensors with Python-float scalars, the same operations in the
# same order except the tree-wide sums (torch.dot per leaf, then Python): a few ulps; 1e-10 is
# the bar and leaves four orders of magnitude of slack over the measured 0 to 1e-14.
CHECKS = [
    Check("prodigy", "prodigyopt.Prodigy", ours(), theirs(), rtol=1e-10),
    Check("prodigy", "prodigyopt.Prodigy", ours(**OURS_NONDEFAULT), theirs(**THEIRS_NONDEFAULT),
          rtol=1e-10, why="betas,beta3,eps,decay,bias,d0,d_coef,growth"),
    Check("prodigy", "prodigyopt.Prodigy", ours(**COUPLED), theirs(**COUPLED), rtol=1e-10,
          why="coupled-decay,safeguard_warmup"),
    Check("prodigy", "prodigyopt.Prodigy", OnQuadratic(ours()), OnQuadratic(theirs()), rtol=1e-10,
          why="quadratic-closed-loop"),
    Check("prodigy", "prodigyopt.Prodigy", OnQuadratic(ours(**OURS_NONDEFAULT)),
          OnQuadratic(theirs(**THEIRS_NONDEFAULT)), rtol=1e-10, why="quadratic-nondefault"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_the_authors_package(check):
    assert_agrees(check)


def test_d_grows_on_the_quadratic():
    """The closed-loop checks above exercise the estimate: d leaves d0 by orders of magnitude."""
    loop = OnQuadratic(ours())()
    w = {"w": np.zeros((5, 4)), "b": np.zeros(4)}
    state = loop.init(w)
    for _ in range(50):
        w, state = loop.step(w, None, state)
    assert state.d > 1e3 * 1e-6


def test_first_step_and_second_estimate_by_hand():
    """Step 1: r_1 = 0 (w = w_0), so d stays d0, m = d0 (1-b1) g, sqrt(v) = d0 sqrt(1-b2)|g| and the
    step is d0 lr (1-b1) g / (sqrt(1-b2)|g| + eps). Step 2: r and s both carry the weight d0 lr,
    so d_2 = max(d0, <g_2, w_0 - w_1> / ||b3 g_1 + g_2||_1)."""
    b1, b2, b3, eps, lr, d0 = 0.5, 0.99, 0.9, 1e-6, 20.0, 1e-6
    opt = refopt.prodigy(lr=lr, beta1=b1, beta2=b2, beta3=b3, eps=eps, d0=d0)
    w0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([0.3, -0.1, 2.0]), np.array([0.2, 0.4, 1.0])
    w1, s1 = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_allclose(w1, w0 - d0 * lr * (1 - b1) * g1 / (math.sqrt(1 - b2) * abs(g1) + eps),
                               rtol=1e-14)  # a few roundings of the same expression
    assert s1.d == d0
    _, s2 = opt.step(w1, g2, s1)
    d2 = float(g2 @ (w0 - w1)) / float(np.sum(np.abs(b3 * g1 + g2)))
    assert d2 > d0
    assert s2.d == pytest.approx(d2, rel=1e-13)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), growth=st.sampled_from([1.0, 1.02, math.inf]),
       coef=st.floats(0.1, 5.0))
def test_d_never_decreases(seed, growth, coef):
    rng = np.random.default_rng(seed)
    opt = refopt.prodigy(growth_rate=growth, d_coef=coef)
    w = rng.standard_normal(6)
    state = opt.init(w)
    for _ in range(15):
        before = state.d
        w, state = opt.step(w, rng.standard_normal(6) * 10 ** rng.uniform(-3, 3), state)
        assert state.d >= before and state.d <= state.d_max


def _run(opt, w, grads):
    state = opt.init(w)
    for g in grads:
        w, state = opt.step(w, g, state)
    return w, state


@pytest.mark.parametrize("c", [1e-4, 1e3])
def test_gradient_scale_leaves_the_steps_unchanged_where_eps_is_negligible(c):
    """d_hat = r/||s||_1 and m/sqrt(v) are both homogeneous of degree 0 in g, so scaling every
    gradient by c changes nothing but the eps term (d eps beside sqrt(v) ~ d |g|)."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(8) for _ in range(30)]
    w = rng.standard_normal(8)
    opt = refopt.prodigy(eps=1e-300)
    base, sb = _run(opt, w, grads)
    scaled, ss = _run(opt, w, [c * g for g in grads])
    np.testing.assert_allclose(scaled, base, rtol=1e-12)  # rounding only: c is not a power of 2
    assert ss.d == pytest.approx(sb.d, rel=1e-12)
    # with the default eps = 1e-8, gradients of size 1e-8 feel it: no longer invariant
    tiny, _ = _run(refopt.prodigy(), w, [1e-8 * g for g in grads])
    unit, _ = _run(refopt.prodigy(), w, grads)
    assert np.max(np.abs(tiny - unit)) > 1e-3 * np.max(np.abs(unit - w))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), kappa=st.sampled_from([1.0, 10.0, 1000.0]))
def test_d_stays_below_the_distance_to_the_solution(seed, kappa):
    """Convexity gives <g_k, w_{k-1} - w*> >= 0, so r_k <= <s_k, w_0 - w*> <= ||s_k||_1 D_inf:
    d_hat <= D_inf = ||w_0 - w*||_inf (d_coef = 1, exact gradients, d0 below D_inf)."""
    rng = np.random.default_rng(seed)
    h = np.geomspace(1.0, kappa, 10)
    target = rng.standard_normal(10)
    w = np.zeros(10)
    d_inf = float(np.max(np.abs(target)))
    opt = refopt.prodigy()
    state = opt.init(w)
    for _ in range(200):
        w, state = opt.step(w, h * (w - target), state)
        assert state.d <= d_inf * (1 + 1e-12)
