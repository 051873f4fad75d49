"""refopt.psgd_kron checked by what the criterion implies, by hand, and by its laws.

The whitening criterion c(P) = E[h^T P h + v^T P^-1 v] has dc/dP = E[h h^T] - P^-1 E[v v^T] P^-1, so
its minimiser satisfies P E[h h^T] P = E[v v^T] = I:

* Newton pairs h = H v (H symmetric positive definite): P H^2 P = I, so P = H^-1. For a Kronecker
  H = H1 (x) H2 the fixed point holds sample by sample (A = B at P = H^-1, so E_i = 0), and the fit
  converges to it linearly, without noise: measured 1.6e-9 relative after 1500 updates, asserted 1e-8.
* Whitening, h = g ~ N(0, C1 (x) C2): P = C^-1/2, reached only on average; with a decaying fit step
  measured 6.0e-2 after 1500 updates, asserted 0.15 (C^-1 is 0.62 away: the test separates the two).
"""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import pytorch_optimizer
import torch

import refopt
from refopt import tree
from refopt.checkpoint import load_state, save_state
from refopt.conventions import measure
from refopt.flavors import pytorch_optimizer as P
from refopt.interop.torch import torch_optimizer
from refopt.rules.psgd_kron import diagonal_axes, norm_lower_bound, precondition, update_probability_schedule

from .independent import Check, assert_agrees


def replayed(seed=0, **kw):
    """The flavor drawing V and the balancing coin as pytorch-optimizer does, from seeded copies of
    the generators the library uses (torch's and NumPy's global ones, seeded by ``library``)."""
    opt = P.Kron(**kw)
    probes, coins = torch.Generator().manual_seed(seed), np.random.RandomState(seed)

    def draw(params):
        return tree.unflatten(tree.structure(params), [torch.randn(tuple(w.shape), generator=probes,
                                                                   dtype=torch.float64).numpy()
                                                       for _, w in tree.leaves_with_paths(params)])

    def step(params, grads, state):
        coin = coins.random_sample() < kw.get("balance_prob", 0.01)
        return opt.step(params, grads, state, probe=lambda: draw(params), balance=coin)
    return dataclasses.replace(opt, step=step)


def library(seed=0, **kw):
    """pytorch_optimizer.Kron as its users make a run reproducible: both global generators seeded."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch_optimizer(pytorch_optimizer.Kron, **kw)


SHAPES = {"w": (5, 4), "b": (4,), "s": (), "t": (2, 3, 2)}
F64 = {"precondition_dtype": torch.float64}
DIAG = {**F64, "memory_save_mode": "all_diag", "balance_prob": 0.5}
DECAY = {**F64, "pre_conditioner_update_probability": 0.3, "weight_decay": 0.1, "lr": 1e-2}
CHECKS = [  # tests/flavors/test_pytorch_optimizer_kron.py has more settings and the measured figures
    Check("psgd_kron", "pytorch_optimizer.Kron", lambda: replayed(**DIAG), lambda: library(**DIAG), 1e-10,
          shapes=SHAPES, why="diagonal factors, balancing half the time"),
    Check("psgd_kron", "pytorch_optimizer.Kron", lambda: replayed(**DECAY), lambda: library(**DECAY), 1e-5,
          shapes=SHAPES, why="triangular factors, p=0.3, decay: the library solves them in float32"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_pytorch_optimizer(check):
    assert_agrees(check)


def spd(rng, n, cond):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, cond, n)) @ Q.T


def inverse_root(M):
    lam, U = np.linalg.eigh(M)
    return (U * lam**-0.5) @ U.T


def fitted_P(pairs, precond_lr, shape=(4, 3)):
    """Fit only (lr = 0, no momentum, no clip, an update every step) on the given (V, h) pairs."""
    opt = refopt.psgd_kron(lr=0.0, b1=0.0, rms_clip=None, update_probability=1.0, precond_lr=precond_lr)
    w = np.zeros(shape)
    state = opt.init(w)
    for V, h in pairs:
        w, state = opt.step(w, h, state, probe=V)
    Q1, Q2 = state.Q
    return np.kron(Q1.T @ Q1, Q2.T @ Q2)


def test_newton_pairs_fit_the_inverse_hessian():
    rng, draws = np.random.default_rng(0), np.random.default_rng(1)
    H1, H2 = spd(rng, 4, 10.0), spd(rng, 3, 5.0)
    Vs = [draws.standard_normal((4, 3)) for _ in range(1500)]
    pairs = [(V, H1 @ V @ H2) for V in Vs]
    target = np.linalg.inv(np.kron(H1, H2))
    P = fitted_P(pairs, 0.1)
    assert np.linalg.norm(P - target) / np.linalg.norm(target) < 1e-8


def test_whitening_fits_the_inverse_square_root_of_the_gradient_covariance():
    rng, draws = np.random.default_rng(0), np.random.default_rng(1)
    C1, C2 = 3 * spd(rng, 4, 10.0), spd(rng, 3, 5.0)  # scaled: C^-1 and C^-1/2 then differ by more
    L1, L2 = np.linalg.cholesky(C1), np.linalg.cholesky(C2)
    pairs = [(draws.standard_normal((4, 3)), L1 @ draws.standard_normal((4, 3)) @ L2.T) for _ in range(1500)]
    target, wrong = inverse_root(np.kron(C1, C2)), np.linalg.inv(np.kron(C1, C2))
    P = fitted_P(pairs, lambda t: 0.1 / (1 + t / 200))
    assert np.linalg.norm(P - target) / np.linalg.norm(target) < 0.15
    assert np.linalg.norm(wrong - target) / np.linalg.norm(target) > 0.5  # 0.62


def run(opt, params, steps, seed=0):
    rng = np.random.default_rng(seed)
    state = opt.init(params)
    for _ in range(steps):
        grads = {k: rng.standard_normal(np.shape(w)) for k, w in params.items()}
        params, state = opt.step(params, grads, state)
    return params, state


PARAMS = {"w": np.ones((5, 4)), "t": np.ones((2, 3, 2)), "b": np.ones(6), "s": np.array(1.0),
          "one": np.ones((1, 3))}


def test_factors_triangular_or_diagonal_as_the_shape_decides():
    _, state = run(refopt.psgd_kron(lr=1e-2, max_size_triangular=4), PARAMS, 30)
    shapes = {k: [q.shape for q in Q] for k, Q in state.Q.items()}
    assert shapes == {"w": [(5,), (4, 4)], "t": [(2, 2), (3, 3), (2, 2)], "b": [(6,)], "s": [()],
                      "one": [(1,), (3, 3)]}
    for Q in state.Q.values():
        for q in Q:
            if q.ndim == 2:
                assert np.array_equal(q, np.triu(q)) and not np.allclose(q, np.diag(np.diag(q)))
    assert diagonal_axes((8, 3), 8192, 2, "one_diag") == (True, False)
    assert diagonal_axes((4, 4), 8192, 2, "one_diag") == (False, True)   # the last of equals
    assert diagonal_axes((4, 4), 8192, 2, "smart_one_diag") == (False, False)
    assert diagonal_axes((4, 4, 2), 8192, 4, None) == (True, True, True)


def test_preconditioning_is_the_kronecker_product_of_the_factor_grams():
    rng = np.random.default_rng(3)
    Q = (np.triu(rng.standard_normal((4, 4))), rng.standard_normal(3), np.triu(rng.standard_normal((2, 2))))
    x = rng.standard_normal((4, 3, 2))
    P = np.kron(np.kron(Q[0].T @ Q[0], np.diag(Q[1] ** 2)), Q[2].T @ Q[2])
    np.testing.assert_allclose(precondition(Q, x).ravel(), P @ x.ravel(), rtol=1e-12, atol=1e-12)


def test_with_no_updates_the_step_is_the_clipped_debiased_momentum():
    """Q stays I: w - lr * m_hat * min(1, 1.1 / (rms(m_hat) + 1e-12)), by hand."""
    lr, b1 = 0.1, 0.8
    opt = refopt.psgd_kron(lr=lr, b1=b1, update_probability=0.0)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4))
    state, m = opt.init(w), np.zeros((3, 4))
    for t in range(1, 6):
        g = rng.standard_normal((3, 4)) * 10 ** (t - 3)
        m = b1 * m + (1 - b1) * g
        m_hat = m / (1 - b1**t)
        expected = w - lr * m_hat * min(1.0, 1.1 / (math.sqrt(np.mean(m_hat**2)) + 1e-12))
        w, state = opt.step(w, g, state)
        np.testing.assert_allclose(w, expected, rtol=1e-14)


def test_balancing_rescales_the_factors_but_not_their_product():
    opt = refopt.psgd_kron(lr=1e-2)
    params, state = run(opt, {"w": np.ones((5, 4))}, 20)
    g = {"w": np.ones((5, 4))}
    (w1, s1), (w2, s2) = (opt.step(params, g, state, update=True, balance=b) for b in (True, False))
    P1, P2 = (np.kron(a.T @ a, b.T @ b) for a, b in (s1.Q["w"], s2.Q["w"]))
    np.testing.assert_allclose(P1, P2, rtol=1e-12)
    np.testing.assert_allclose(w1["w"], w2["w"], rtol=1e-13)
    assert not np.allclose(s1.Q["w"][0], s2.Q["w"][0], rtol=1e-6)


def test_update_decisions_and_probes_are_the_documented_draws():
    """u_t from SeedSequence([seed, t]) against p, V from SeedSequence([seed, t, k]): passing those
    draws explicitly gives the same bits as letting the rule draw them."""
    seed, p = 7, 0.5
    opt = refopt.psgd_kron(lr=1e-2, update_probability=p, seed=seed)
    params = {"a": np.ones((3, 2)), "b": np.ones(4)}
    rng = np.random.default_rng(0)
    s1 = s2 = opt.init(params)
    w1 = w2 = params
    decisions = []
    for t in range(1, 41):
        g = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t]))).random()
        decisions.append(bool(u < p))
        probe = {k: np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t, i])))
                 .standard_normal(v.shape) for i, (k, v) in enumerate(params.items())}
        w1, s1 = opt.step(w1, g, s1)
        w2, s2 = opt.step(w2, g, s2, update=decisions[-1], probe=probe)
        assert all(np.array_equal(w1[k], w2[k]) for k in params)
    assert 10 < sum(decisions) < 30


def test_seeds_give_different_draws_and_the_same_seed_the_same_bits():
    def final(seed):
        return run(refopt.psgd_kron(lr=1e-2, update_probability=0.5, seed=seed), {"w": np.ones((4, 3))}, 20)
    (a, sa), (b, sb), (c, sc) = final(0), final(0), final(1)
    assert np.array_equal(a["w"], b["w"]) and all(np.array_equal(x, y) for x, y in zip(sa.Q["w"], sb.Q["w"]))
    assert not np.allclose(a["w"], c["w"]) and not np.allclose(sa.Q["w"][1], sc.Q["w"][1])


def test_schedule_and_state_round_trip(tmp_path):
    p = update_probability_schedule()
    assert p(1) == p(501) == 1.0 and p(1001) == pytest.approx(math.exp(-0.5)) and p(10**5) == 0.03
    opt = refopt.psgd_kron(lr=1e-2)
    params, state = run(opt, PARAMS, 3)
    save_state(tmp_path / "s.npz", state)
    back = load_state(tmp_path / "s.npz")
    g = {k: np.full(np.shape(w), 0.5) for k, w in params.items()}
    (w1, _), (w2, _) = opt.step(params, g, state), opt.step(params, g, back)
    assert all(np.array_equal(w1[k], w2[k]) for k in params)


def test_norm_lower_bound_is_a_tight_lower_bound():
    rng = np.random.default_rng(5)
    for n in (1, 2, 5, 30):
        X = rng.standard_normal((n, 2 * n)) * rng.exponential(size=2 * n)
        S = X @ X.T
        norm = np.linalg.norm(S, 2)
        assert norm / math.sqrt(2) <= norm_lower_bound(S) <= norm * (1 + 1e-12)
    assert norm_lower_bound(np.zeros((3, 3))) == 0


@pytest.mark.parametrize("kwargs, match", [({"seed": -1}, "seed"),
                                           ({"memory_save_mode": "two_diag"}, "memory_save_mode"),
                                           ({"update_probability": 1.5}, "update_probability"),
                                           ({"max_size_triangular": 2.5}, "max_size_triangular"),
                                           ({"precond_init_scale": 0.0}, "precond_init_scale"),
                                           ({"rms_clip": -1.0}, "rms_clip")])
def test_bad_settings_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        refopt.psgd_kron(**kwargs)


def test_bad_schedule_value_and_leaves_are_named():
    opt = refopt.psgd_kron(update_probability=lambda t: 2.0)
    with pytest.raises(ValueError, match=r"update_probability .*schedule at step 1"):
        opt.step(np.ones(2), np.ones(2), opt.init(np.ones(2)))
    with pytest.raises(ValueError, match=r"\['e'\] is empty"):
        refopt.psgd_kron().init({"e": np.ones((0, 3))})
    with pytest.raises(ValueError, match=r"\['h'\] has dtype float16"):
        refopt.psgd_kron().init({"h": np.ones(3, dtype=np.float16)})


@settings(max_examples=25, deadline=None)
@given(shape=st.sampled_from([(), (3,), (2, 3), (1, 4), (2, 2, 3)]),
       dtype=st.sampled_from([np.float32, np.float64]), data=st.data(), update=st.booleans())
def test_inputs_kept_dtype_kept_same_bits(shape, dtype, data, update):
    elements = st.floats(-100, 100, width=32)
    w = data.draw(hnp.arrays(dtype, shape, elements=elements))
    g = data.draw(hnp.arrays(dtype, shape, elements=elements))
    opt = refopt.psgd_kron(lr=1e-2, update_probability=float(update))
    state = opt.init(w)
    w_copy, g_copy, Q_copy = w.copy(), g.copy(), [q.copy() for q in state.Q]
    out1, s1 = opt.step(w, g, state)
    out2, s2 = opt.step(w, g, state)
    assert np.array_equal(w, w_copy) and np.array_equal(g, g_copy)
    assert all(np.array_equal(q, c) for q, c in zip(state.Q, Q_copy))
    assert out1.dtype == dtype and out1.shape == shape and all(q.dtype == dtype for q in s1.Q)
    assert np.array_equal(out1, out2, equal_nan=True)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(s1.Q, s2.Q))


def _never_balanced():
    opt = refopt.psgd_kron(lr=1e-3)
    return dataclasses.replace(opt, step=lambda p, g, s: opt.step(p, g, s, balance=False))


def _rule(**kw):
    return lambda: refopt.psgd_kron(lr=1e-3, **kw)


DEPARTURES = [  # (what, paper side, other side, measured size, first differing step)
    ("pytorch-optimizer's clip eps 1e-6", _rule(), _rule(rms_clip_eps=1e-6), 8.1e-7, 1),
    ("pytorch-optimizer, all of it, p = 1", _rule(), lambda: P.Kron(precondition_dtype=None), 8.1e-7, 1),
    ("pytorch-optimizer's counter, p = 0.1", _rule(update_probability=0.1, rms_clip_eps=1e-6),
     lambda: P.Kron(precondition_dtype=None, pre_conditioner_update_probability=0.1), 0.15, 2),
    ("the author's fit on the raw gradient", _rule(), _rule(momentum_into_precond_update=False), 2.0, 2),
    ("the author's no RMS clip", _rule(), _rule(rms_clip=None), 12.0, 1),
]


@pytest.mark.parametrize("paper, other, size, first", [d[1:] for d in DEPARTURES],
                         ids=[d[0] for d in DEPARTURES])
def test_departures_are_the_sizes_the_docstring_gives(paper, other, size, first):
    got, step = measure(paper, other, {"w": (5, 4), "b": (4,), "t": (2, 3, 2)})
    assert got == pytest.approx(size, rel=0.05) and step == first


def test_balancing_is_rounding_only():
    got, step = measure(_rule(), _never_balanced, {"w": (5, 4), "b": (4,), "t": (2, 3, 2)})
    assert got < 1e-13 and step is None
