r"""D-Adapt AdaGrad: diagonal AdaGrad dual averaging with its step size d estimated.

.. math::

    \tilde g_k &= g_k + \lambda\, w_{k-1}, \qquad a_k = a_{k-1} + \tilde g_k^2
                 \quad (a_0 = 10^{-6}) \\
    s_k &= s_{k-1} + d_k \gamma_k\, \tilde g_k \\
    q_k &= q_{k-1} + (d_k \gamma_k)^2\, \bigl\lVert \tilde g_k\bigr\rVert^2_{A_k^{-1}},
          \qquad A_k = \operatorname{diag}(\sqrt{a_k} + \epsilon) \\
    \hat d_{k+1} &= \frac{\lVert s_k\rVert^2_{A_k^{-1}} - q_k}{\lVert s_k\rVert_1}, \qquad
    d_{k+1} = \max\bigl(d_k,\ \min(\hat d_{k+1},\ \text{growth}\cdot d_k)\bigr) \\
    z_k &= w_0 - s_k / (\sqrt{a_k} + \epsilon), \qquad w_k = \mu\, w_{k-1} + (1-\mu)\, z_k

with :math:`\lVert x\rVert^2_{A^{-1}} = \sum_i x_i^2 / A_{ii}`, sums over the whole tree.
Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by D-Adaptation", ICML 2023, arXiv
2301.07733, the coordinate-wise (AdaGrad) variant of D-Adaptation, with the defaults of the
authors' package ``dadaptation`` 3.2 (``DAdaptAdaGrad``, dense gradients), matched to 1e-10.

===========  =================  ===================
symbol       argument           default
===========  =================  ===================
gamma        ``lr``             1.0 (or a schedule)
mu           ``momentum``       0.0
lambda       ``weight_decay``   0.0 (coupled)
epsilon      ``eps``            1e-6
d_0          ``d0``             1e-6
growth       ``growth_rate``    inf
===========  =================  ===================

**As in the package**: :math:`a_0 = 10^{-6}` in every entry (not 0), so the rule is *not*
invariant to scaling the gradients (the D-Adapt Adam and SGD rules are, with eps 0).
The package keeps :math:`\lVert s\rVert^2_{A^{-1}}` and :math:`\lVert s\rVert_1` as running
sums of per-step changes; they are functions of the state, so this rule recomputes them
(the same numbers up to rounding: measured below 1e-12 relative in the tests).

**Where the formula is undefined.** While every gradient so far is 0, :math:`\lVert s\rVert_1 = 0`
and :math:`\hat d` is 0/0: params and :math:`d` stay unchanged (the package returns early). Where
one coordinate's gradients are all 0, :math:`s = 0` over :math:`\sqrt{a_0} > 0`: it stays at
:math:`w_0`, even at ``eps = 0``. (tests/robustness/test_rules_edge.py)

Non-finite gradient entries make :math:`\hat d` and so every leaf's step non-finite.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import tree
from ..backend import array_namespace, no_grad
from ..core import NONNEGATIVE, POSITIVE, UNIT, Optimizer, RuleInfo
from . import dadapt_common as dc

A0 = 1e-6  # the package's initial accumulator value


class DAdaptAdaGradState(NamedTuple):
    t: int
    d: float      # the distance estimate d_k
    q: float      # the running sum of weighted squared gradient norms
    a: object     # AdaGrad's sum of squared gradients, from 1e-6
    s: object     # the weighted gradient sum s_k
    w0: object    # the starting point


BUFFERS = ("a", "s", "w0")


def dadapt_adagrad(lr=1.0, momentum=0.0, weight_decay=0.0, eps=1e-6, d0=1e-6,
                   growth_rate=math.inf):
    """D-Adapt AdaGrad; argument names and defaults as in ``dadaptation.DAdaptAdaGrad``."""
    settings = {"lr": (lr, POSITIVE), "momentum": (momentum, UNIT),
                "weight_decay": (weight_decay, NONNEGATIVE), "eps": (eps, NONNEGATIVE),
                "d0": (d0, POSITIVE), "growth_rate": (growth_rate, dc.GROWTH)}
    h, bounds = dc.hyperparameters("dadapt_adagrad", settings, {})

    def init(params):
        spec, leaves = dc.init_leaves("dadapt_adagrad", params)
        a = tree.unflatten(spec, [dc.zeros_like(w) + A0 for w in leaves])
        return DAdaptAdaGradState(0, h["d0"], 0.0, a, dc.zeros_tree(spec, leaves),
                                  dc.copy_tree(spec, leaves))

    def step(params, grads, state):
        x, state = dc.gather("dadapt_adagrad", DAdaptAdaGradState, params, grads, state, BUFFERS,
                      ("d", "q"))
        with no_grad(x.w):
            return _step(x, state, dc.lr_at(h, bounds, x.t))

    def _step(x, state, lr):
        wd, mu, eps, d = h["weight_decay"], h["momentum"], h["eps"], state.d
        xp = array_namespace(x.w[0]) if x.w else None
        eta = d * lr
        g = x.g if wd == 0 else [g + wd * w for g, w in zip(x.g, x.w)]
        a = [ai + gi * gi for ai, gi in zip(x.buffers["a"], g)]
        denom = [xp.sqrt(ai) + eps for ai in a]
        s = [si + eta * gi for si, gi in zip(x.buffers["s"], g)]
        s_l1 = dc.l1_norm(s)
        buffers = {"a": _tree(x, a), "s": _tree(x, s)}
        if s_l1 == 0:  # every gradient so far 0: no step (module docstring)
            return _tree(x, x.w), state._replace(t=x.t, **buffers)
        q = state.q + eta * eta * dc.weighted_squared_norm(g, denom)
        d_hat = (dc.weighted_squared_norm(s, denom) - q) / s_l1
        d_new = dc.estimate(d, d_hat, h["growth_rate"])
        z = [w0 - si / den for w0, si, den in zip(x.buffers["w0"], s, denom)]
        new = z if mu == 0 else [mu * w + (1 - mu) * zi for w, zi in zip(x.w, z)]
        return _tree(x, new), DAdaptAdaGradState(x.t, d_new, q, w0=state.w0, **buffers)

    return Optimizer("dadapt_adagrad", init, step, h, bounds)


def _tree(x, leaves):
    return tree.unflatten(x.spec, dc.as_leaves(x.like, leaves))


INFO = RuleInfo(
    name="dadapt_adagrad", factory=dadapt_adagrad, family="B. Adaptive (diagonal)",
    paper="Defazio & Mishchenko (2023)", year=2023,
    hook="AdaGrad dual averaging with lr = d, d estimated from the gradients",
    equations="a_k = a_{k-1} + g_k^2\n"
              "s_k = s_{k-1} + d_k g_k\n"
              "q_k = q_{k-1} + d_k^2 \\lVert g_k\\rVert^2_{A_k^{-1}}\n"
              "d_{k+1} = \\max(d_k, (\\lVert s_k\\rVert^2_{A_k^{-1}} - q_k) / \\lVert s_k\\rVert_1)\n"
              "w_k = w_0 - s_k / (\\sqrt{a_k} + \\epsilon)",
    buffers=3,
    checked_against={"dadaptation.DAdaptAdaGrad": 1e-10},
)
