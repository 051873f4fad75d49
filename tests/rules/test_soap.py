"""refopt.soap beyond the conformance suite: exact zero rows, sign invariance, rotation equivariance,
the rotation-free leaves (plain Adam) and the knobs. The identity with Adam in the eigenbasis is in
tests/analysis/test_soap.py."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees


def _their_soap(**kwargs):
    from pytorch_optimizer import SOAP
    return torch_optimizer(SOAP, **kwargs)


# pytorch-optimizer's SOAP as the paper rule: its eps outside the uncorrected root is the rule's eps
# divided by sqrt(1 - beta2^k); no decay (it decays the updated params); no refresh within the 50
# steps (its QR is float32: refreshes are compared in tests/flavors/test_pytorch_optimizer_soap.py);
# matrices and tensors only (it skips a vector's first gradient, the rule runs AdamW on it from there).
# The stream's first gradient is dense, so no zero rows; measured 1.2e-14 (seed 0), 7.0e-15 (seed 1).
CHECKS = [
    Check("soap", "pytorch_optimizer.SOAP",
          lambda: refopt.soap(weight_decay=0.0, precondition_frequency=1000,
                              eps=lambda t: 1e-8 / math.sqrt(1 - 0.95 ** max(t - 1, 1))),
          lambda: _their_soap(weight_decay=0.0, precondition_frequency=1000), rtol=1e-10,
          shapes={"w": (5, 4), "c": (2, 3, 2)}, why="no decay, no refresh, eps outside the root"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def _run(opt, w, grads, state=None):
    state = opt.init(w) if state is None else state
    for g in grads:
        w, state = opt.step(w, g, state)
    return w, state


def _masked_stream(steps, seed=0):
    rng = np.random.default_rng(seed)
    grads = []
    for _ in range(steps):
        g = rng.standard_normal((6, 5))
        g[[1, 4]] = 0.0
        g[:, 2] = 0.0
        grads.append(g)
    return grads


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_zero_rows_and_columns_stay_put_through_refreshes(backend):
    # plain eigh of these factors gives the zero rows ~1e-17 entries (measured: 50 of 50 seeds), which
    # would move them; the rule keeps their unit eigenvectors, so they stay bit for bit
    grads, w0 = _masked_stream(9), np.arange(30.0).reshape(6, 5)
    opt = refopt.soap(weight_decay=0.0, precondition_frequency=2)
    if backend == "torch":
        import array_api_compat.torch as xp
        w, _ = _run(opt, xp.asarray(w0), [xp.asarray(g) for g in grads])
        w = w.numpy()
    else:
        w, _ = _run(opt, w0, grads)
    assert np.array_equal(w[[1, 4]], w0[[1, 4]]) and np.array_equal(w[:, 2], w0[:, 2])
    assert not np.array_equal(w[0], w0[0])


def test_an_all_zero_gradient_gives_no_step_and_identity_bases():
    opt = refopt.soap(weight_decay=0.0, precondition_frequency=1)
    w0 = np.ones((3, 4))
    w, s = _run(opt, w0, [np.zeros((3, 4))] * 4)
    assert np.array_equal(w, w0)
    assert np.array_equal(s.Q[0], np.eye(3)) and np.array_equal(s.Q[1], np.eye(4))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), flips=st.lists(st.booleans(), min_size=7, max_size=7))
def test_flipping_basis_columns_changes_no_bit(seed, flips):
    """The step does not depend on the eigenvectors' signs: flip columns of the stored bases mid-run
    (as another backend's eigh might return them) and the params come out the same bits."""
    rng = np.random.default_rng(seed)
    w0, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(8)]
    opt = refopt.soap(precondition_frequency=3)
    w, s = _run(opt, w0, grads[:4])
    sign = np.where(flips, -1.0, 1.0)
    flipped = s._replace(Q=(s.Q[0] * sign[:3], s.Q[1] * sign[3:]))
    assert np.array_equal(_run(opt, w, grads[4:], flipped)[0], _run(opt, w, grads[4:], s)[0])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), refresh=st.sampled_from(["qr", "eigh"]))
def test_rotating_the_problem_rotates_the_run(seed, refresh):
    """SOAP is equivariant under W -> U W V^T (its factors become U L U^T, V R V^T and their
    eigenvectors U Q_L, V Q_R), which Adam is not: the run on U G V^T is U (run on G) V^T, up to the
    eigenvectors' conditioning (1e-8 relative here)."""
    rng = np.random.default_rng(seed)
    U, V = (np.linalg.qr(rng.standard_normal((n, n)))[0] for n in (3, 4))
    w0, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) + 1.0 for _ in range(7)]
    opt = refopt.soap(lr=1e-2, precondition_frequency=2, refresh=refresh)
    w, _ = _run(opt, w0, grads)
    w_rot, _ = _run(opt, U @ w0 @ V.T, [U @ g @ V.T for g in grads])
    scale = np.max(np.abs(w - w0))
    assert np.max(np.abs(U @ w @ V.T - w_rot)) <= 1e-8 * scale
    adam = refopt.adamw(lr=1e-2, beta1=0.95, beta2=0.95, weight_decay=0.01)
    a, _ = _run(adam, w0, grads)
    a_rot, _ = _run(adam, U @ w0 @ V.T, [U @ g @ V.T for g in grads])
    assert np.max(np.abs(U @ a @ V.T - a_rot)) > 1e-4 * np.max(np.abs(a - w0))  # the test can tell


@pytest.mark.parametrize("shape, kwargs", [((5,), {}), ((), {}), ((3, 7), dict(max_precond_dim=2))])
def test_a_leaf_with_nothing_to_rotate_is_adamw_from_the_first_call(shape, kwargs):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape) for _ in range(6)]
    w0 = rng.standard_normal(shape)
    w, _ = _run(refopt.soap(**kwargs), w0, grads)
    adamw = refopt.adamw(lr=3e-3, beta1=0.95, beta2=0.95, eps=1e-8, weight_decay=3e-3 * 0.01)  # its lambda: lr wd
    a, _ = _run(adamw, w0, grads)
    assert np.max(np.abs(w - a)) <= 1e-15 * max(1.0, float(np.max(np.abs(w0))))


def test_a_dimension_over_max_precond_dim_is_not_rotated():
    rng = np.random.default_rng(1)
    w0, grads = rng.standard_normal((3, 7)), [rng.standard_normal((3, 7)) for _ in range(4)]
    _, s = _run(refopt.soap(max_precond_dim=5), w0, grads)
    assert s.L[0].shape == (3, 3) and s.L[1].shape == (0, 0) and s.Q[1].shape == (0, 0)
    _, s = _run(refopt.soap(precondition_1d=True), rng.standard_normal(4), [rng.standard_normal(4)] * 2)
    assert s.Q[0].shape == (4, 4)


def test_the_first_call_moves_nothing_and_decay_is_decoupled():
    w0, g = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    opt = refopt.soap(weight_decay=0.5, lr=0.1)
    w, s = opt.step(w0, g, opt.init(w0))
    assert np.array_equal(w, w0) and s.t == 1
    w2, _ = opt.step(w, np.zeros((2, 3)), s)  # zero gradient after one: M decays, the step is not 0
    w3, _ = refopt.soap(weight_decay=0.0, lr=0.1).step(w, np.zeros((2, 3)), s)
    assert np.allclose(w2, w3 - 0.1 * 0.5 * w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps"), (dict(precondition_frequency=0), "precondition_frequency"),
    (dict(max_precond_dim=2.5), "max_precond_dim"), (dict(refresh="svd"), "refresh"),
    (dict(shampoo_beta=1.0), "shampoo_beta"), (dict(precondition_1d=1), "precondition_1d")])
def test_bad_settings_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        refopt.soap(**kwargs)


def test_a_gradient_that_overflows_the_factors_propagates_nan_not_a_crash():
    opt = refopt.soap()
    w = np.ones((2, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        w, s = _run(opt, w, [np.full((2, 2), 1e200)] * 3)
    assert np.isnan(w).all()
