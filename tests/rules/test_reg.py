"""REG and its RACS operator: a RACS step written out in numbers, a worked example of the update
following the rule's equations, and the balancing laws.

No installed framework implements REG (pytorch-optimizer's ``RACS`` is a different algorithm,
see refopt/rules/reg.py), and the paper's exact RACS definition could not be read, so there
is no framework check (CHECKS is empty) and the equations tested are the rule's documented
reading, marked UNVERIFIED there.
"""
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.rules.reg import racs

CHECKS = []


def test_one_racs_round_in_numbers():
    """X = [[3, 4], [0, 5]], p = 2, m = n = 2. Rows: norms 5 and 5, times sqrt(2)/5 gives
    [[0.6 sqrt2, 0.8 sqrt2], [0, sqrt2]]. Columns: norms 0.6 sqrt2 and sqrt(1.28 + 2) = sqrt(3.28),
    times sqrt(2)/norm gives [[sqrt2, 1.6/sqrt(3.28)], [0, 2/sqrt(3.28)]]."""
    got = racs(np.array([[3.0, 4.0], [0.0, 5.0]]), p=2.0, steps=1, eps=0.0)
    r = math.sqrt(3.28)
    np.testing.assert_allclose(got, [[math.sqrt(2), 1.6 / r], [0.0, 2.0 / r]], rtol=1e-15, atol=0)


def test_worked_example_two_steps():
    """M_t = b M + (1-b) G; M~ = RACS(M); M^ = rho M~ / (RMS(M~) + eps); W -= lr (M^ + lam W)."""
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    grads = [np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 1.0]]), np.array([[-0.5, 0.25, 2.0], [1.0, 1.0, -1.0]])]
    lr, b, lam, rho, eps = 0.1, 0.9, 0.01, 0.2, 1e-8
    opt = refopt.reg(lr=lr, beta1=b, weight_decay=lam, rho=rho, p=2.0, racs_steps=1, eps=eps)
    state = opt.init(w)
    W, M = w.copy(), np.zeros((2, 3))
    for G in grads:
        M = b * M + (1 - b) * G
        rows = np.sqrt((M**2).sum(axis=1, keepdims=True))
        X = M * (np.sqrt(3) / (rows + eps))             # rows to mean square 1 (n = 3)
        cols = np.sqrt((X**2).sum(axis=0, keepdims=True))
        X = X * (np.sqrt(2) / (cols + eps))             # columns to mean square 1 (m = 2)
        M_hat = rho * X / (np.sqrt(np.mean(X**2)) + eps)
        W = W - lr * (M_hat + lam * W)
        w, state = opt.step(w, G, state)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-15)  # same operations, a few ulps
        np.testing.assert_allclose(state.m, M, rtol=0, atol=1e-16)


matrices = st.tuples(st.integers(0, 2**31), st.integers(1, 8), st.integers(1, 8))


def birkhoff_rounds(A, tol=1e-12):
    """Rounds of Sinkhorn-Knopp on the positive matrix A that Birkhoff's contraction bound says
    reach ``tol``: each row (or column) scaling contracts Hilbert's projective distance by
    kappa = tanh(Delta / 4), Delta = log of the largest ratio of cross ratios
    A_ik A_jl / (A_il A_jk) (Birkhoff 1957; Franklin & Lorenz 1989, "On the scaling of
    multidimensional matrices", Linear Algebra Appl. 114/115), so a round contracts by kappa^2
    from a start at most Delta away."""
    L = np.log(A)
    cross = L[:, None, :, None] + L[None, :, None, :] - L[:, None, None, :] - L[None, :, :, None]
    delta = max(float(cross.max()), 1e-3)
    kappa = math.tanh(delta / 4)
    return max(1, math.ceil(math.log(tol / max(delta, 1.0)) / (2 * math.log(kappa))))


@given(spec=matrices, p=st.sampled_from([1.0, 2.0, 3.0]))
def test_racs_converges_to_equal_row_and_column_norms(spec, p):
    """Precondition: every entry has |x| in [0.5, 2] (no zero entry, so Sinkhorn-Knopp scaling
    of |X|^p converges). After the rounds Birkhoff's bound asks for 1e-12 (up to ~480 at p = 3,
    where a cross ratio can be 4^6; 60 fixed rounds left 9.9e-10 on a 2 x 2 draw with cross
    ratio 0.0058), every row and column has mean |x|^p = 1, i.e. row p-norms n^(1/p) and
    column p-norms m^(1/p), to 1e-10."""
    seed, m, n = spec
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 2.0, (m, n)) * rng.choice([-1.0, 1.0], (m, n))
    Y = racs(X, p=p, steps=birkhoff_rounds(np.abs(X) ** p), eps=0.0)
    np.testing.assert_allclose(np.mean(np.abs(Y) ** p, axis=1), 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.mean(np.abs(Y) ** p, axis=0), 1.0, rtol=0, atol=1e-10)


@given(spec=matrices, steps=st.integers(1, 5))
def test_racs_is_a_diagonal_scaling_that_keeps_signs(spec, steps):
    """RACS(X) = D_r X D_c with positive diagonals: Y_ij / X_ij = d_i e_j (rank one, positive),
    so signs and the ratios within each row and each column are kept."""
    seed, m, n = spec
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 2.0, (m, n)) * rng.choice([-1.0, 1.0], (m, n))
    ratio = racs(X, steps=steps, eps=0.0) / X
    assert (ratio > 0).all()
    outer = np.outer(ratio[:, 0], ratio[0, :]) / ratio[0, 0]
    np.testing.assert_allclose(ratio, outer, rtol=1e-12)


@given(spec=matrices)
def test_update_rms_is_rho(spec):
    """With lam = 0 the update is rho M~/RMS(M~): its RMS is rho (eps = 0, nonzero M)."""
    seed, m, n = spec
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n))
    opt = refopt.reg(lr=1.0, weight_decay=0.0, rho=0.2, eps=0.0)
    w1, _ = opt.step(w, rng.standard_normal((m, n)), opt.init(w))
    np.testing.assert_allclose(np.sqrt(np.mean((w - w1) ** 2)), 0.2, rtol=1e-12)


def test_zero_row_gives_zero_not_nan():
    w = np.ones((2, 2))
    opt = refopt.reg(weight_decay=0.0)
    w1, _ = opt.step(w, np.array([[1.0, -2.0], [0.0, 0.0]]), opt.init(w))
    assert np.isfinite(w1).all() and (w1[1] == 1.0).all()
