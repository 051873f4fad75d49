"""Adan: the paper's Algorithm 1 transcribed in its own notation, hand-derived first steps,
agreement with pytorch-optimizer (the official code's form) and optax (at beta2 = 1/2, where
its (1-b2) slip coincides with b2), and the size of that slip at the default beta2."""
import numpy as np
import optax
import pytest
from pytorch_optimizer import Adan

import refopt
from refopt.oracle import mixed_gradients, trajectory
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees, initial_params, relative_errors

LR, B, EPS, WD = 0.01, (0.98, 0.92, 0.99), 1e-8, 0.02
CODE_FORM = dict(debias=True, eps_inside=False)

# Same operations in a different order (lerp vs beta*m + (1-beta)*g, one division by
# sqrt(1-b3^t) vs dividing n first): a few ulps per step.
CHECKS = [
    Check("adan", "pytorch_optimizer.Adan",
          lambda: refopt.adan(lr=LR, beta1=B[0], beta2=B[1], beta3=B[2], eps=EPS, weight_decay=WD,
                              **CODE_FORM),
          lambda: torch_optimizer(Adan, lr=LR, betas=B, eps=EPS, weight_decay=WD),
          rtol=1e-12, why="debias, eps outside, proximal decay 0.02"),
    Check("adan", "optax.adan",
          lambda: refopt.adan(lr=LR, beta1=B[0], beta2=0.5, beta3=B[2], eps=EPS, weight_decay=WD,
                              proximal=False, **CODE_FORM),
          lambda: optax_transformation(optax.adan(LR, b1=B[0], b2=0.5, b3=B[2], eps=EPS, eps_root=0.0,
                                                  weight_decay=WD)),
          rtol=1e-12, why="beta2=0.5 (optax's 1-b2 = b2), eps_root=0, decay not proximal"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def paper_algorithm_1(theta, grads, eta, beta_paper, eps, lam):
    """Xie et al., Algorithm 1, in the paper's notation: betas weight the new term, the
    stream is g_0, g_1, ..., m_0 = g_0, v_0 = 0, v_1 = g_1 - g_0, n_0 = g_0^2."""
    b1, b2, b3 = beta_paper
    out = []
    for k, g in enumerate(grads):
        if k == 0:
            m, v, n = g, np.zeros_like(g), g * g
        else:
            diff = g - grads[k - 1]
            m = (1 - b1) * m + b1 * g
            v = diff if k == 1 else (1 - b2) * v + b2 * diff
            n = (1 - b3) * n + b3 * (g + (1 - b2) * diff) ** 2
        eta_k = eta / np.sqrt(n + eps)
        theta = (theta - eta_k * (m + (1 - b2) * v)) / (1 + lam * eta)
        out.append(theta)
    return out


def test_defaults_are_the_papers_algorithm_1():
    params = initial_params({"w": (5, 4)}, 3)
    grads = mixed_gradients(params, 40, seed=4)
    lr, eps, lam = 0.01, 1e-8, 0.02
    ours = trajectory(refopt.adan(lr=lr, eps=eps, weight_decay=lam), params, grads)
    paper = paper_algorithm_1(params["w"], [g["w"] for g in grads], lr, (0.02, 0.08, 0.01), eps, lam)
    # the same arithmetic in the paper's convention; 1 - 0.02 and 0.98 differ by an ulp, so 1e-12
    assert relative_errors(ours, [{"w": p} for p in paper], params).max() < 1e-12


def test_first_three_steps_by_hand():
    lr, (b1, b2, b3), eps = 0.1, (0.5, 0.25, 0.75), 0.0
    opt = refopt.adan(lr=lr, beta1=b1, beta2=b2, beta3=b3, eps=eps, weight_decay=1.0)
    w0, g1, g2, g3 = np.array([1.0]), np.array([2.0]), np.array([4.0]), np.array([-2.0])
    s = opt.init(w0)
    # t = 1: m = g1, v = 0, n = g1^2: w1 = (w0 - lr*sign(g1)) / (1 + lr*wd)
    w1, s = opt.step(w0, g1, s)
    np.testing.assert_allclose(w1, (1.0 - 0.1) / 1.1, rtol=1e-15)
    # t = 2: d = 2, m = 0.5*2 + 0.5*4 = 3, v = d = 2 (full weight), n = 0.75*4 + 0.25*(4 + 0.25*2)^2
    w2, s = opt.step(w1, g2, s)
    n2 = 0.75 * 4 + 0.25 * 4.5**2
    np.testing.assert_allclose([s.m[0], s.v[0], s.n[0]], [3.0, 2.0, n2], rtol=1e-15)
    np.testing.assert_allclose(w2, (w1 - 0.1 * (3.0 + 0.25 * 2.0) / np.sqrt(n2)) / 1.1, rtol=1e-15)
    # t = 3: d = -6, m = 1.5 - 1 = 0.5, v = 0.25*2 + 0.75*(-6) = -4, n = 0.75*n2 + 0.25*(-2 - 1.5)^2
    w3, s = opt.step(w2, g3, s)
    n3 = 0.75 * n2 + 0.25 * 3.5**2
    np.testing.assert_allclose([s.m[0], s.v[0], s.n[0]], [0.5, -4.0, n3], rtol=1e-15)
    np.testing.assert_allclose(w3, (w2 - 0.1 * (0.5 + 0.25 * -4.0) / np.sqrt(n3)) / 1.1, rtol=1e-15)


def test_code_form_first_step_by_hand():
    # debias: m_hat = g, v = 0 (d_1 = 0), n_hat = g^2; eps outside; no_prox decay
    opt = refopt.adan(lr=0.1, eps=0.5, weight_decay=1.0, debias=True, eps_inside=False, proximal=False)
    w1, _ = opt.step(np.array([1.0]), np.array([2.0]), opt.init(np.array([1.0])))
    np.testing.assert_allclose(w1, 1.0 * (1 - 0.1) - 0.1 * 2.0 / (2.0 + 0.5), rtol=1e-15)


def test_paper_and_code_forms_part_after_the_first_step():
    """Same first step (eps = 0), then different numbers: a real convention difference."""
    params = initial_params({"w": (4, 3)}, 0)
    grads = mixed_gradients(params, 6, seed=1)
    paper = trajectory(refopt.adan(eps=0.0), params, grads)
    code = trajectory(refopt.adan(eps=0.0, **CODE_FORM), params, grads)
    errors = relative_errors(paper, code, params).max(axis=1)
    assert errors[0] < 1e-15 and errors[1:].min() > 1e-3


def test_optax_slip_at_default_beta2_is_large():
    """optax.adan at b2 = 0.92 weights the gradient difference by 0.08 instead of 0.92 (as
    the cheat sheet does): far from the official code, so it cannot serve as a check there."""
    params = initial_params({"w": (4, 3)}, 0)
    grads = mixed_gradients(params, 10, seed=1)
    ours = trajectory(refopt.adan(lr=LR, proximal=False, **CODE_FORM), params, grads)
    theirs = trajectory(optax_transformation(optax.adan(LR, eps_root=0.0)), params, grads)
    assert relative_errors(ours, theirs, params).max() > 1e-2


def test_flags_must_be_booleans():
    for flag in ("debias", "eps_inside", "proximal"):
        with pytest.raises(ValueError, match=flag):
            refopt.adan(**{flag: "yes"})
