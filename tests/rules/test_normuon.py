"""NorMuon: its two forms (the paper's Algorithm 1 and the official code) as settings of one rule,
each by a worked example with NS in closed form; against pytorch-optimizer's NorMuon, which
implements both, as shipped; the equal-row-RMS law.

pytorch-optimizer runs Newton-Schulz in bfloat16 whatever the params' dtype, so the comparison
here leaves NS out rather than bending the framework: every step, the momentum (the lines before
NS) is compared through the state, and the lines after NS are run by ``row_normalized`` (the
rule's own function) on the output of pytorch-optimizer's own NS function called on pytorch-
optimizer's NS input; the second moment and the step must match. NS itself is Muon's
(tests/rules/test_muon.py; the bfloat16 emulation, tests/flavors/test_bfloat16_muon.py).
No other installed framework has NorMuon (torch, optax: no).
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pytorch_optimizer import NorMuon
from pytorch_optimizer.optimizer.utils.matrix import get_newton_schulz_weights, zero_power_via_newton_schulz_5

import refopt
from refopt.oracle import mixed_gradients
from refopt.rules.normuon import FORMS, row_normalized

from .independent import Check
from .test_muon import SHAPES, ns_closed_form

LR, WD = 0.01, 0.1

# ours / theirs build the two sides; the test below runs them as the module docstring says, over
# 8 mixed steps on a tall and a wide matrix (CPU bfloat16 matmuls take ~30 ms each: 30 steps on
# three shapes measured 9.0e-14 (paper) and 4.5e-14 (official), float64 rounding in another
# order). A form error (the other form, eps inside the root, a missing shape factor or Nesterov
# term) is >= 1e-3 of the update (test_the_forms_differ_and_the_comparison_sees_it).
PARTS_SHAPES = {"tall": SHAPES["tall"], "wide": SHAPES["wide"]}
CHECKS = [
    Check("normuon", "pytorch_optimizer.NorMuon",
          lambda: refopt.normuon(lr=LR, weight_decay=WD, **FORMS["paper"]),
          lambda: dict(lr=LR, weight_decay=WD, nesterov=False, update_scale="match_rms"),
          rtol=1e-12, shapes=PARTS_SHAPES, why="paper form (match_rms, no Nesterov), all but NS"),
    Check("normuon", "pytorch_optimizer.NorMuon",
          lambda: refopt.normuon(**{**FORMS["official"], "lr": LR, "weight_decay": WD}),
          lambda: dict(lr=LR, weight_decay=WD),  # pytorch-optimizer's defaults are the official form
          rtol=1e-12, shapes=PARTS_SHAPES, why="official form (preserve_norm, Nesterov), all but NS"),
]


def parts_agree(check, steps=8, seed=0):
    """The worst relative difference of momentum, second moment and update, per the docstring."""
    worst = 0.0
    for name, shape in check.shapes.items():
        rng = np.random.default_rng(seed)
        w0 = rng.standard_normal(shape)
        grads = mixed_gradients(w0, steps, seed=seed + 1)
        ours = check.ours()
        hyper = ours.hyperparams
        state = ours.init(w0)
        p = torch.nn.Parameter(torch.tensor(w0))
        kw = check.theirs()
        theirs = NorMuon([dict(params=[p], use_muon=True)], foreach=False, **kw)
        r = np.zeros((shape[0], 1))
        for g in grads:
            before = p.detach().clone()
            p.grad = torch.tensor(g)
            theirs.step()
            kz = theirs.state[p]
            _, state = ours.step(w0, g, state)  # only its momentum is used: it does not depend on NS
            m_kz = kz["momentum_buffer"]
            worst = max(worst, rel(state.m, m_kz.numpy()))
            u = torch.tensor(g).lerp(m_kz, hyper["beta1"]) if hyper["nesterov"] else m_kz
            o = zero_power_via_newton_schulz_5(u, num_steps=5, weights=get_newton_schulz_weights("original"))
            step, r = row_normalized(o.to(torch.float64).numpy(), r, beta2=hyper["beta2"], eps=hyper["eps"],
                                     update_scale=hyper["update_scale"])
            w = before.numpy()
            du_ours = -hyper["lr"] * hyper["weight_decay"] * w - hyper["lr"] * step
            du_theirs = p.detach().numpy() - w
            worst = max(worst, rel(r, kz["second_momentum_buffer"].numpy()), rel(du_ours, du_theirs))
    return worst


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert parts_agree(check) <= check.rtol


def test_the_forms_differ_and_the_comparison_sees_it():
    """Each form against the other's pytorch-optimizer settings: far beyond 1e-12."""
    paper, official = CHECKS
    swapped = Check("normuon", "pytorch_optimizer.NorMuon", paper.ours, official.theirs, rtol=1e-12,
                    shapes={"tall": (6, 4)})
    assert parts_agree(swapped, steps=3) > 1e-3


def test_forms_are_the_documented_settings():
    assert FORMS["paper"] == dict(nesterov=False, update_scale="match_rms")
    assert FORMS["official"] == dict(lr=0.02, nesterov=True, update_scale="preserve_norm")
    assert refopt.normuon().hyperparams["update_scale"] == "match_rms"  # the default is the paper


def test_worked_example_from_algorithm_1():
    """Three steps on a 2x3 weight, each line of Algorithm 1 written out with NumPy, NS by
    its closed form on the singular values (test_muon.ns_closed_form), eps as in the rule."""
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    grads = [np.array([[1.0, 2.0, -1.0], [0.0, -3.0, 1.0]]),
             np.array([[-0.5, 0.25, 2.0], [1.0, 1.0, -1.0]]),
             np.array([[0.0, 0.0, 4.0], [-2.0, 0.5, 0.0]])]
    lr, b1, b2, lam, eps = 0.1, 0.9, 0.8, 0.01, 1e-10
    opt = refopt.normuon(lr=lr, beta1=b1, beta2=b2, weight_decay=lam, eps=eps, ns_eps=0.0)
    state = opt.init(w)
    W, M, r = w.copy(), np.zeros((2, 3)), np.zeros((2, 1))
    m, n = 2, 3
    for G in grads:
        M = b1 * M + (1 - b1) * G                                # line: M_t
        O = ns_closed_form(M)[0]                                 # line: O_t = NS5(M_t)
        r = b2 * r + (1 - b2) * (O * O).mean(axis=1, keepdims=True)  # line: v_t, per row
        O_bar = O / (np.sqrt(r) + eps)                           # line: O_hat, rows
        eta_hat = 0.2 * lr * np.sqrt(m * n) / (np.linalg.norm(O_bar) + eps)
        W = W - lr * lam * W - eta_hat * O_bar                   # line: theta_t
        w, state = opt.step(w, G, state)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-13)     # a few ulps of the O(1) entries
        np.testing.assert_allclose(state.r, r, rtol=0, atol=1e-15)
    assert state.r.shape == (2, 1)


def test_worked_example_of_the_official_code():
    """The official form on a tall 3x2 weight (shape factor sqrt(max(1, 3/2))), three steps, each
    line of zichongli5/NorMuon's normuon_update written out: Nesterov mix, NS (closed form), v,
    1/(sqrt(v) + 1e-10), the rescale to the norm before it, the shape factor, decay w(1 - lr wd)."""
    w = np.array([[0.5, -1.0], [2.0, 1.5], [0.0, -0.5]])
    grads = [np.array([[1.0, 2.0], [-1.0, 0.0], [-3.0, 1.0]]),
             np.array([[-0.5, 0.25], [2.0, 1.0], [1.0, -1.0]]),
             np.array([[0.0, 4.0], [-2.0, 0.5], [0.0, 1.0]])]
    lr, b1, b2, lam = 0.02, 0.95, 0.95, 0.1
    opt = refopt.normuon(**{**FORMS["official"], "beta1": b1, "beta2": b2, "weight_decay": lam,
                            "ns_eps": 0.0})
    assert opt.hyperparams["lr"] == lr and opt.hyperparams["eps"] == 1e-10
    state = opt.init(w)
    W, M, v = w.copy(), np.zeros((3, 2)), np.zeros((3, 1))
    for G in grads:
        M = b1 * M + (1 - b1) * G                                # momentum.lerp_(grad, 1 - beta)
        U = (1 - b1) * G + b1 * M                                # grad.lerp_(momentum, beta)
        O = ns_closed_form(U)[0]
        vnorm = np.linalg.norm(O)
        v = b2 * v + (1 - b2) * (O * O).mean(axis=1, keepdims=True)
        O = O / (np.sqrt(v) + 1e-10)
        O = O * (vnorm / (np.linalg.norm(O) + 1e-10))
        O = O * np.sqrt(max(1.0, 3 / 2))
        W = W * (1 - lr * lam) - lr * O
        w, state = opt.step(w, G, state)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-13)     # a few ulps of the O(1) entries
        np.testing.assert_allclose(state.r, v, rtol=0, atol=1e-15)
        np.testing.assert_allclose(state.m, M, rtol=0, atol=1e-15)


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 8), cols=st.integers(1, 8),
       beta2=st.sampled_from([0.0, 0.95]), steps=st.integers(1, 4))
def test_rows_of_the_update_have_equal_rms(seed, rows, cols, beta2, steps):
    """Condition: r_t is this step's mean_cols(O_t^2) up to a constant, i.e. beta2 = 0 (any
    step) or t = 1 (any beta2: r_1 = (1 - beta2) mean_cols(O_1^2)); eps = 0; no zero row in O
    (Gaussian gradients). Then every row of O_bar has RMS 1/sqrt(1 - beta2) and, after the
    0.2 sqrt(mn)/||O_bar||_F scaling, every row of the update has RMS 0.2 * lr."""
    if beta2 > 0:
        steps = 1
    rng = np.random.default_rng(seed)
    opt = refopt.normuon(lr=1.0, beta2=beta2, eps=0.0, ns_eps=0.0)
    w = rng.standard_normal((rows, cols))
    state = opt.init(w)
    for _ in range(steps):
        w_next, state = opt.step(w, rng.standard_normal((rows, cols)), state)
        row_rms = np.sqrt(np.mean((w - w_next) ** 2, axis=1))
        np.testing.assert_allclose(row_rms, 0.2, rtol=1e-12)
        w = w_next


def test_rows_are_not_equalised_when_the_second_moment_remembers():
    """The condition matters: with beta2 = 0.95 after several steps the rows differ."""
    rng = np.random.default_rng(0)
    opt = refopt.normuon(lr=1.0, beta2=0.95, eps=0.0, ns_eps=0.0)
    w = rng.standard_normal((4, 6))
    state = opt.init(w)
    for k in range(5):
        scale = np.array([[1.0], [1.0], [1.0], [10.0 ** k]])  # one row's gradient keeps growing
        w_next, state = opt.step(w, scale * rng.standard_normal((4, 6)), state)
        row_rms = np.sqrt(np.mean((w - w_next) ** 2, axis=1))
        w = w_next
    assert row_rms.max() / row_rms.min() > 1.01


def test_zero_gradient_gives_a_zero_step_not_nan():
    w = np.ones((2, 3))
    opt = refopt.normuon(weight_decay=0.0)
    w1, s = opt.step(w, np.zeros((2, 3)), opt.init(w))
    np.testing.assert_array_equal(w1, w)
