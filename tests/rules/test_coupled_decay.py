"""refopt.coupled_weight_decay (the notes' L2 form, g <- g + lambda w, then any rule):
agreement with the frameworks' coupled weight_decay (torch's Adam, Adagrad, RMSprop,
Adadelta and SGD; optax's add_decayed_weights before the rule), steps by hand, and the
difference from decoupled decay for adaptive rules.

The comparisons are not named CHECKS: they check the combinator, not the rules'
checked_against entries."""
import math

import numpy as np
import optax
import pytest
import torch

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, WD = 0.01, 0.3
l2 = refopt.coupled_weight_decay

COUPLED = [
    Check("adam", "torch.optim.Adam", lambda: l2(refopt.adam(lr=LR), WD),
          lambda: torch_optimizer(torch.optim.Adam, lr=LR, weight_decay=WD), rtol=1e-12, why="weight_decay"),
    Check("adagrad", "torch.optim.Adagrad", lambda: l2(refopt.adagrad(lr=LR), WD),
          lambda: torch_optimizer(torch.optim.Adagrad, lr=LR, weight_decay=WD), rtol=1e-12,
          why="weight_decay"),
    Check("rmsprop", "torch.optim.RMSprop",
          lambda: l2(refopt.rmsprop(lr=LR, beta2=0.99, momentum=0.5, centered=True), WD),
          lambda: torch_optimizer(torch.optim.RMSprop, lr=LR, weight_decay=WD, momentum=0.5, centered=True),
          rtol=1e-12, why="weight_decay"),
    Check("adadelta", "torch.optim.Adadelta", lambda: l2(refopt.adadelta(beta2=0.9), WD),
          lambda: torch_optimizer(torch.optim.Adadelta, weight_decay=WD), rtol=1e-12, why="weight_decay"),
    Check("amsgrad", "torch.optim.Adam",
          lambda: l2(refopt.amsgrad(lr=lambda t: LR * math.sqrt(1 - 0.999**t) / (1 - 0.9**t),
                                    eps=lambda t: 1e-8 * math.sqrt(1 - 0.999**t)), WD),
          lambda: torch_optimizer(torch.optim.Adam, lr=LR, weight_decay=WD, amsgrad=True), rtol=1e-12,
          why="amsgrad weight_decay"),
    Check("momentum", "torch.optim.SGD", lambda: l2(refopt.momentum(lr=LR, beta1=0.9), WD),
          lambda: torch_optimizer(torch.optim.SGD, lr=LR, momentum=0.9, weight_decay=WD), rtol=1e-12,
          why="weight_decay"),
    Check("adam", "optax.adam", lambda: l2(refopt.adam(lr=LR), WD),
          lambda: optax_transformation(optax.chain(optax.add_decayed_weights(WD), optax.adam(LR))),
          rtol=1e-12, why="add_decayed_weights then adam"),
]
# Measured worst relative errors: 0 (Adagrad) to 1.1e-14 (Adam, AMSGrad): rounding only.


@pytest.mark.parametrize("check", COUPLED, ids=lambda c: c.id)
def test_agrees_with_frameworks_coupled_weight_decay(check):
    assert_agrees(check)


def test_sgd_with_l2_by_hand_equals_decoupled_shrink_by_lr_times_lambda():
    # w_1 = w_0 - lr (g + lam w_0) = (1 - lr lam) w_0 - lr g: for SGD coupled = decoupled
    opt = l2(refopt.sgd(lr=0.5), 0.25)
    w0, g = np.array([2.0, -4.0]), np.array([1.0, 0.5])
    w1, _ = opt.step(w0, g, opt.init(w0))
    np.testing.assert_array_equal(w1, (1 - 0.5 * 0.25) * w0 - 0.5 * g)


def test_for_adam_the_l2_term_is_rescaled_unlike_adamw():
    """With zero loss gradient the L2 gradient is lam w, and Adam's first step is
    -lr (lam w)/(|lam w| + eps) = -lr sign(w) (for lam|w| >> eps): every weight moves by lr,
    whatever lam is. AdamW shrinks by eta lam w instead."""
    w0 = np.array([3.0, -0.5, 1e-3])
    for lam in (1e-3, 1.0):
        opt = l2(refopt.adam(lr=0.01, eps=1e-12), lam)
        w1, _ = opt.step(w0, np.zeros(3), opt.init(w0))
        g = lam * w0
        np.testing.assert_allclose(w1, w0 - 0.01 * g / (np.abs(g) + 1e-12), rtol=1e-15)
        np.testing.assert_allclose(w1 - w0, -0.01 * np.sign(w0), rtol=1e-5)  # eps/(lam|w|) <= 1e-6
        dec = refopt.adamw(lr=0.01, weight_decay=lam)
        w1d, _ = dec.step(w0, np.zeros(3), dec.init(w0))
        np.testing.assert_allclose(w1d, (1 - lam) * w0, rtol=1e-15)


def test_name_hyperparams_dtype_and_validation():
    opt = l2(refopt.adam(), 0.1)
    assert opt.name == "adam+l2" and opt.hyperparams["coupled_weight_decay"] == 0.1 and opt.hyperparams["lr"] == 1e-3
    w = np.ones(3, dtype=np.float32)
    w1, s = opt.step(w, w, opt.init(w))
    assert w1.dtype == np.float32 and s.m.dtype == np.float32
    with pytest.raises(ValueError, match=r"weight_decay must be a number in \[0, inf\)"):
        l2(refopt.adam(), -0.1)
    with pytest.raises(ValueError, match="<root>"):  # checked before lam*w could broadcast
        opt.step(np.ones((3, 2)), np.ones((3, 1)), opt.init(np.ones((3, 2))))
