"""Shampoo: agreement with pytorch-optimizer (matrices, a vector and an order-3 tensor),
closed forms from the SVD for matrices whose gradients share singular vectors, the order-k
rule against an explicit Kronecker product, the vector case as full-matrix AdaGrad, and the
hand-derived first step."""
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from pytorch_optimizer import Shampoo

import refopt
from refopt.oracle import mixed_gradients
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, EPS = 0.1, 1.0
SHAPES = {"w": (5, 4), "b": (4,), "conv": (2, 3, 2)}

# pytorch-optimizer takes inverse roots by SVD, we by eigh. Any float64 inverse root of H
# carries a relative error ~ cond(H) * 1e-16; with eps = 1 and the stream's spikes of 100,
# cond(H) <= ~1e4 and the two agree to 4e-13. (With eps = 1e-3 the vector leaf's H = eps*I +
# g g^T reaches cond ~1e7: both then differ from a 40-digit mpmath reference by 1.5e-11 and
# 3e-11, and from each other by 1.5e-11, which is conditioning, not a convention.)
CHECKS = [
    Check("shampoo", "pytorch_optimizer.Shampoo", lambda: refopt.shampoo(lr=LR, eps=EPS),
          lambda: torch_optimizer(Shampoo, lr=LR, momentum=0.0, weight_decay=0.0, matrix_eps=EPS),
          rtol=1e-12, steps=30, shapes=SHAPES, why="momentum=0, matrix_eps=eps"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@given(seed=st.integers(0, 2**31), m=st.integers(1, 5), n=st.integers(1, 5), steps=st.integers(1, 4),
       eps=st.sampled_from([1e-4, 1e-2, 1.0]))
def test_shared_singular_vectors_give_the_closed_form(seed, m, n, steps, eps):
    """Gradients G_s = U diag(d_s) V^T with fixed orthogonal U (m x m), V (n x n): then
    L_t = U diag(eps + sum d^2) U^T and R_t = V diag(eps + sum d^2) V^T (padded with eps),
    so L^{-1/4} G_t R^{-1/4} = U diag(d_t / (eps + sum_s d_s^2)^{1/2}) V^T exactly."""
    rng = np.random.default_rng(seed)
    U, V, r = orthogonal(rng, m), orthogonal(rng, n), min(m, n)
    opt = refopt.shampoo(lr=1.0, eps=eps)
    w = np.zeros((m, n))
    state = opt.init(w)
    total = np.zeros(r)
    for _ in range(steps):
        d = rng.standard_normal(r) * rng.choice([1e-2, 1.0, 10.0])
        S = np.zeros((m, n))
        S[:r, :r] = np.diag(d)
        total = total + d**2
        expected_step = np.zeros((m, n))
        expected_step[:r, :r] = np.diag(d / np.sqrt(eps + total))
        w_new, state = opt.step(w, U @ S @ V.T, state)
        # eigh of an SPD matrix with condition <= (eps + 400*steps)/eps: relative error ~cond*1e-16
        np.testing.assert_allclose(w - w_new, U @ expected_step @ V.T, rtol=0,
                                   atol=1e-9 * max(1.0, np.abs(d).max()))
        w = w_new


@given(seed=st.integers(0, 2**31), n=st.integers(1, 4), lr=st.floats(0.01, 1.0))
def test_on_a_kronecker_quadratic_shampoo_runs_scalar_recursions_in_the_eigenbasis(seed, n, lr):
    """f(W) = tr(W^T A W B)/2 has gradient A W B and Hessian B kron A. With A = U diag(a) U^T,
    B = V diag(b) V^T and W_0 = U diag(x) V^T every gradient is U diag(c x) V^T (c = a b), so
    L and R stay diagonal in U and V and each singular value follows its own recursion
    x <- x - lr c x / (eps + sum_s (c x_s)^2)^{1/2} (AdaGrad-norm on one coordinate)."""
    rng = np.random.default_rng(seed)
    U, V = orthogonal(rng, n), orthogonal(rng, n)
    a, b = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
    A, B = U @ np.diag(a) @ U.T, V @ np.diag(b) @ V.T
    x = rng.uniform(0.5, 2.0, n)
    eps = 1.0
    opt = refopt.shampoo(lr=lr, eps=eps)
    W = U @ np.diag(x) @ V.T
    state = opt.init(W)
    total = np.zeros(n)
    for _ in range(10):
        W, state = opt.step(W, A @ W @ B, state)
        g = a * b * x
        total = total + g**2
        x = x - lr * g / np.sqrt(eps + total)
        # cond(L) <= 1 + 10 * (4 * 2)^2: eigh's rounding is ~1e-14. Curvatures are kept within
        # [0.25, 4] because off-diagonal (rounding-sized) components of W are not damped by
        # their own statistics: with large curvature and lr they grow and swamp the check.
        np.testing.assert_allclose(W, U @ np.diag(x) @ V.T, rtol=0, atol=1e-12)


def test_order_3_rule_is_a_kronecker_product_of_inverse_roots():
    """vec(G x_1 A x_2 B x_3 C) = (A kron B kron C) vec(G) for C-order vec; each factor is
    (eps I + sum of mode-i unfoldings' Gram matrices)^(-1/6), computed here by scipy's
    fractional_matrix_power (a Schur method, independent of eigh)."""
    rng = np.random.default_rng(0)
    shape, eps = (2, 3, 4), 0.1
    opt = refopt.shampoo(lr=1.0, eps=eps)
    w = np.zeros(shape)
    state = opt.init(w)
    stats = [eps * np.eye(n) for n in shape]
    for _ in range(3):
        G = rng.standard_normal(shape)
        for i in range(3):
            unfolded = np.moveaxis(G, i, 0).reshape(shape[i], -1)
            stats[i] = stats[i] + unfolded @ unfolded.T
        roots = [np.real(scipy.linalg.fractional_matrix_power(H, -1 / 6)) for H in stats]
        expected = (np.kron(np.kron(roots[0], roots[1]), roots[2]) @ G.ravel()).reshape(shape)
        w_new, state = opt.step(w, G, state)
        np.testing.assert_allclose(w - w_new, expected, rtol=1e-12, atol=1e-12)
        w = w_new


def test_a_vector_gets_full_matrix_adagrad():
    """Order 1: H_t = eps I + sum g g^T and the step H_t^{-1/2} g_t (the paper's k = 1)."""
    rng = np.random.default_rng(1)
    eps = 0.5
    opt = refopt.shampoo(lr=1.0, eps=eps)
    w = np.zeros(4)
    state = opt.init(w)
    H = eps * np.eye(4)
    for _ in range(4):
        g = rng.standard_normal(4)
        H = H + np.outer(g, g)
        w_new, state = opt.step(w, g, state)
        np.testing.assert_allclose(w - w_new, np.linalg.solve(scipy.linalg.sqrtm(H).real, g),
                                   rtol=1e-12, atol=1e-14)
        w = w_new


def test_first_step_by_hand():
    # G = diag(3, 4): L_1 = R_1 = diag(eps + 9, eps + 16); step = diag(3/(eps+9)^(1/2), 4/(eps+16)^(1/2))
    opt = refopt.shampoo(lr=0.5, eps=7.0)
    w0 = np.ones((2, 2))
    w1, s = opt.step(w0, np.diag([3.0, 4.0]), opt.init(w0))
    np.testing.assert_allclose(w1, w0 - 0.5 * np.diag([3.0 / 4.0, 4.0 / np.sqrt(23.0)]), rtol=1e-15)
    np.testing.assert_allclose(s.H[0], np.diag([16.0, 23.0]), rtol=1e-15)
    assert isinstance(s.H, tuple) and len(s.H) == 2


def test_state_is_one_matrix_per_mode_in_the_params_dtype():
    opt = refopt.shampoo()
    params = {"v": np.zeros(3, np.float32), "t": np.zeros((2, 3, 4), np.float32)}
    s = opt.init(params)
    assert [h.shape for h in s.H["v"]] == [(3, 3)]
    assert [h.shape for h in s.H["t"]] == [(2, 2), (3, 3), (4, 4)]
    assert all(h.dtype == np.float32 for h in s.H["t"] + s.H["v"])
    np.testing.assert_array_equal(s.H["v"][0], np.float32(0.1) * np.eye(3, dtype=np.float32))  # default eps


def test_scalars_and_eps_schedules_are_rejected():
    with pytest.raises(ValueError, match="<root>.*scalar"):
        refopt.shampoo().init(np.float64(1.0) * np.ones(()))
    with pytest.raises(ValueError, match="eps"):
        refopt.shampoo(eps=lambda t: 1e-4)


# --------------------------------------------------------------- precision (issue 9, section 3)
#
# One step on a vector from H_0 = eps I: H_1 = eps I + g g^T has eigenvalue eps + |g|^2 on g and
# eps on its complement, so H_1^{-1/2} g = g / sqrt(eps + |g|^2) exactly (the closed form).

EPS_SMALL = 1e-4  # well below the default 0.1: large kappa, where precision shows


def one_vector_step(g):
    opt = refopt.shampoo(lr=1.0, eps=EPS_SMALL)
    w0 = np.zeros_like(g)
    w1, _ = opt.step(w0, g, opt.init(w0))
    return -w1


def closed_form(g):
    g = g.astype(np.float64)
    return g / np.sqrt(EPS_SMALL + g @ g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_vector_step_has_the_closed_form(scale, dtype):
    """Random g. The statistic is stored in g's dtype, rounding each entry by u g_i g_j (u the
    unit roundoff), and eigh is exact only for a matrix within n u |H| of it (backward stability,
    n = 8): either tilts the top eigenvector g/|g| by up to n u and leaks |g| n u onto eigenvalues
    ~eps, where the root multiplies it by 1/sqrt(eps): a relative error up to n kappa u, kappa =
    |g| / sqrt(eps), whatever the root's precision. On top, the three products and the cast cost
    ~n u = 8u (measured up to 5.4u at |g| = 1e-3). Tolerance: (n kappa + 16) u of max|step|.
    Measured over 40 seeds: up to 1.35 kappa u with OpenBLAS's default kernels, 6.2 kappa u with
    OPENBLAS_CORETYPE=Haswell (the LAPACK path changes, not the math). In float64 the tolerance
    is <= 1e-13 for |g| <= 1, and 1e-10 at |g| = 1e3: there the problem's conditioning, not the
    root, sets the error."""
    u = np.finfo(dtype).eps / 2
    for seed in range(3):
        g = (scale / np.sqrt(8) * np.random.default_rng(seed).standard_normal(8)).astype(dtype)
        kappa = np.linalg.norm(g.astype(np.float64)) / np.sqrt(EPS_SMALL)
        expected = closed_form(g)
        got = one_vector_step(g)
        assert got.dtype == dtype
        assert np.max(np.abs(got - expected)) <= (g.size * kappa + 16) * u * np.max(np.abs(expected))


def test_float32_root_is_exact_when_the_statistic_is():
    """|g| = 1.1e3 with entries of 4 significant bits: float32 holds g g^T exactly (eps vanishes
    in the diagonal's rounding, changing the result by eps/(2|g|^2) = 4e-14), so only the root
    is left: within 1 float32 ulp of each entry (measured 0.41). The float32 eigh this rule
    used before was 1.1% off here."""
    g = (2.0**9 * np.array([1, -0.5, 0.75, 1.25, -1.5, 0.375, -0.625, 1.0])).astype(np.float32)
    expected = closed_form(g)
    got = one_vector_step(g)
    assert np.all(np.abs(got - expected) <= np.spacing(np.abs(expected).astype(np.float32)))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 2)])
def test_empty_leaves_are_refused_naming_the_leaf(shape):
    with pytest.raises(ValueError, match=r"\['layer'\]\['w'\] is empty"):
        refopt.shampoo().init({"layer": {"w": np.zeros(shape)}})


def test_half_precision_is_refused_naming_the_leaf():
    import ml_dtypes
    for dtype in (np.float16, ml_dtypes.bfloat16):
        with pytest.raises(ValueError, match=r"\['w'\].*needs float32 or float64"):
            refopt.shampoo().init({"w": np.zeros((2, 2), dtype)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_names_the_leaf(bad):
    """Before: numpy.linalg.LinAlgError from inside eigh."""
    params = {"a": np.ones(3), "b": np.ones((2, 2))}
    opt = refopt.shampoo()
    grads = {"a": np.ones(3), "b": np.array([[1.0, bad], [1.0, 1.0]])}
    with pytest.raises(ValueError, match=r"grads leaf \['b'\] has a NaN or an infinity"):
        opt.step(params, grads, opt.init(params))


def test_overflowing_statistic_names_the_leaf():
    """|g| = 1e20 is finite in float32 but g^2 = inf: the statistic, not the gradient, is bad."""
    params = {"a": np.ones(3, np.float32), "b": np.ones((2, 2), np.float32)}
    grads = {"a": np.ones(3, np.float32), "b": np.array([[1e20, 1.0], [1.0, 1.0]], np.float32)}
    opt = refopt.shampoo()
    with np.errstate(over="ignore"), pytest.raises(ValueError, match=r"state.H leaf \['b'\] \(mode 0\)"):
        opt.step(params, grads, opt.init(params))


# --------------------------------------------------------------- the rounding bound and the vectors

def svd_step(g, H):
    """G x_1 H_1^(-1/2k) ... with each root from scipy's SVD of H_i (U S^-p U^T; H_i is SPD)."""
    p = 1 / (2 * g.ndim)
    for i, Hi in enumerate(H):
        U_, S, _ = scipy.linalg.svd(Hi)
        root = (U_ * S**-p) @ U_.T
        g = np.moveaxis(np.tensordot(root, g, axes=(1, i)), 0, i)
    return g


def test_rounding_bound_covers_two_roots_and_every_shampoo_vector():
    """``shampoo_rounding`` bounds what rounding can do. (1) Two correct float64 roots, ours and
    one by SVD (scipy's, another LAPACK path), stay within it at every step. (2) The tolerance at
    which refopt.vectors regenerates Shampoo's vectors (LAPACK's last bits vary with the BLAS
    kernel) is above the bound of each of those vectors' params after all their steps."""
    from refopt import vectors

    from .shampoo_rounding import U, step_error, update_bounds

    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 15, seed=1)
    opt = refopt.shampoo(lr=1e-3, eps=1e-4)
    w, state, gaps = params, opt.init(params), []
    for g, bound in zip(grads, update_bounds(1e-3, 1e-4, params, grads)):
        new, state = opt.step(w, g, state)
        for k in params:
            ours = new[k] - w[k]
            if np.max(np.abs(ours)):
                theirs = (w[k] - 1e-3 * svd_step(g[k], state.H[k])) - w[k]
                gaps.append(np.max(np.abs(theirs - ours)) / np.max(np.abs(ours)))
                assert gaps[-1] <= bound
        w = new
    assert max(gaps) > 0.0
    for stem, kind, name, args, make in vectors.settings():
        if name not in ("shampoo", "pytorch_optimizer.Shampoo"):  # SOAP's and Kron's are measured
            continue
        v = vectors.generate(stem, kind, name, args, make)
        lr, eps = args["lr"], args.get("eps", args.get("matrix_eps"))
        opt = refopt.shampoo(lr=lr, eps=eps)
        w = vectors.decode(v["params"])
        state, err, worst = opt.init(w), dict.fromkeys(w, 0.0), 0.0
        for g in map(vectors.decode, v["grads"]):
            w, state = opt.step(w, g, state)
            for k in w:  # errors add up over the steps; the vector compares relative to max|w|
                err[k] += lr * step_error(g[k], state.H[k]) + U * np.max(np.abs(w[k]))
                worst = max(worst, err[k] / np.max(np.abs(w[k])))
        assert worst <= vectors.REPLAY_RTOL[name], (stem, worst)
