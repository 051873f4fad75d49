r"""Prodigy: Adam whose step size d is estimated, as a lower bound on the distance to a solution.

.. math::

    \eta_k &= \gamma_k\, d_k \,\tfrac{\sqrt{1-\beta_2^{k}}}{1-\beta_1^{k}}
             \quad\text{(the fraction only with bias correction)} \\
    m_k &= \beta_1 m_{k-1} + (1-\beta_1)\, d_k\, g_k \\
    v_k &= \beta_2 v_{k-1} + (1-\beta_2)\, d_k^2\, g_k^2 \\
    r_k &= \beta_3 r_{k-1} + \tfrac{d_k}{d_0}\,\eta_k\, \langle g_k,\ w_0 - w_{k-1}\rangle \\
    s_k &= \beta_3 s_{k-1} + \tfrac{d_k}{d_0}\,\eta_k\, g_k
           \quad(\eta_k \to d_k \text{ with safeguard\_warmup}) \\
    \hat d_{k+1} &= c\, r_k / \lVert s_k\rVert_1, \qquad
    d_{k+1} = \min\bigl(\max_{j \le k+1} \hat d_j \vee d_0,\ \text{growth}\cdot d_k\bigr) \\
    w_k &= w_{k-1} - \eta_k\, \frac{m_k}{\sqrt{v_k} + d_{k+1}\,\epsilon}
           \;\bigl(-\ \eta_k \lambda\, w_{k-1} \text{ if decoupled}\bigr)

where :math:`\langle\cdot,\cdot\rangle` and :math:`\lVert\cdot\rVert_1` run over the whole tree
(one :math:`d` for all leaves), :math:`w_0` is the starting point and :math:`\gamma_k` the
``lr`` multiplier (1 unless a schedule is wanted). Mishchenko & Defazio (2024), "Prodigy: An
Expeditiously Adaptive Parameter-Free Learner", ICML 2024, arXiv 2306.06101, the Adam version
of the algorithm (Section 5, "Deriving Adam-like step sizes"), with the defaults and the options
of the authors' package ``prodigyopt`` 1.1.2 (``Prodigy``), which this rule matches to 1e-10.

==============  =========================  ===================
symbol          argument                   default
==============  =========================  ===================
gamma           ``lr``                     1.0 (or a schedule)
beta_1, beta_2  ``beta1``, ``beta2``       0.9, 0.999
beta_3          ``beta3``                  None: sqrt(beta_2)
epsilon         ``eps``                    1e-8 (0 allowed)
lambda          ``weight_decay``           0.0
                ``decouple``               True (AdamW-style)
                ``use_bias_correction``    False
                ``safeguard_warmup``       False
d_0             ``d0``                     1e-6
c               ``d_coef``                 1.0
growth          ``growth_rate``            inf
==============  =========================  ===================

**Where the package departs from the paper's equations.** (1) :math:`r` and :math:`s` carry no
:math:`(1-\beta_3)` factor and are divided by :math:`d_0`: both scale numerator and denominator
of :math:`\hat d` alike, so :math:`\hat d` is the paper's (the :math:`1/d_0` keeps the sums away
from underflow). (2) :math:`\epsilon` is scaled by the *new* :math:`d_{k+1}` where the paper
writes :math:`d_k` (optax.contrib and pytorch-optimizer do the same); this rule does as they do.
(3) While :math:`d` still equals :math:`d_0` the first estimate above it is taken whole
(``growth_rate`` applies from the step after). (4) Coupled decay (``decouple=False``) adds
:math:`\lambda w` to the gradient before everything else.

**Where the formula is undefined.** :math:`\hat d` is 0/0 while every gradient so far has been 0
(:math:`\lVert s\rVert_1 = 0`): the rule then leaves params and :math:`d` unchanged (the package
returns early too; it also skips its bias-correction count, which this rule's ``t`` does not).
With ``eps = 0`` a coordinate whose gradients have all been 0 gets :math:`m/\sqrt{v} = 0/0`, NaN,
from step 1 (the default eps makes it 0). (tests/robustness/test_rules_edge.py)
A NaN or infinite gradient entry makes :math:`\hat d` NaN or infinite, and so every leaf's step.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import tree
from ..backend import array_namespace, no_grad
from ..core import POSITIVE, NONNEGATIVE, UNIT, Optimizer, RuleInfo
from . import dadapt_common as dc


class ProdigyState(NamedTuple):
    t: int
    d: float        # the distance estimate d_k
    d_max: float    # the largest estimate so far (d0 at first)
    r: float        # the weighted numerator sum r_k
    m: object       # first moment (of d-scaled gradients)
    v: object       # second moment
    s: object       # the weighted gradient sum s_k
    w0: object      # the starting point


BUFFERS = ("m", "v", "s", "w0")


def prodigy(lr=1.0, beta1=0.9, beta2=0.999, beta3=None, eps=1e-8, weight_decay=0.0,
            decouple=True, use_bias_correction=False, safeguard_warmup=False, d0=1e-6,
            d_coef=1.0, growth_rate=math.inf):
    """Prodigy (Adam form); argument names as in ``prodigyopt.Prodigy`` (betas split in two)."""
    settings = {"lr": (lr, POSITIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                "d0": (d0, POSITIVE), "d_coef": (d_coef, POSITIVE),
                "growth_rate": (growth_rate, dc.GROWTH)}
    if beta3 is not None:
        settings["beta3"] = (beta3, UNIT)
    flags = {"decouple": decouple, "use_bias_correction": use_bias_correction,
             "safeguard_warmup": safeguard_warmup}
    h, bounds = dc.hyperparameters("prodigy", settings, flags)
    bounds["beta3"] = UNIT
    h.setdefault("beta3", math.sqrt(h["beta2"]))

    def init(params):
        spec, leaves = dc.init_leaves("prodigy", params)
        zeros = lambda: dc.zeros_tree(spec, leaves)  # noqa: E731
        return ProdigyState(0, h["d0"], h["d0"], 0.0, zeros(), zeros(), zeros(),
                            dc.copy_tree(spec, leaves))

    def step(params, grads, state):
        x, state = dc.gather("prodigy", ProdigyState, params, grads, state, BUFFERS, ("d", "d_max", "r"))
        with no_grad(x.w):
            return _step(x, state, dc.lr_at(h, bounds, x.t))

    def _step(x, state, lr):
        b1, b2, b3, d, d0 = h["beta1"], h["beta2"], h["beta3"], state.d, h["d0"]
        wd = h["weight_decay"]
        bias = math.sqrt(1 - b2 ** x.t) / (1 - b1 ** x.t) if h["use_bias_correction"] else 1.0
        eta = d * lr * bias
        g = x.g if wd == 0 or h["decouple"] else [g + wd * w for g, w in zip(x.g, x.w)]
        m0, v0, s0, w0 = (x.buffers[f] for f in BUFFERS)
        diff = [a - w for a, w in zip(w0, x.w)]
        r = b3 * state.r + (d / d0) * eta * dc.vdot(g, diff)
        m = [b1 * m + (1 - b1) * d * gi for m, gi in zip(m0, g)]
        v = [b2 * v + (1 - b2) * d * d * gi * gi for v, gi in zip(v0, g)]
        s_weight = (d / d0) * (d if h["safeguard_warmup"] else eta)
        s = [b3 * s + s_weight * gi for s, gi in zip(s0, g)]
        s_l1 = dc.l1_norm(s)
        if s_l1 == 0:  # every gradient so far 0: d_hat is 0/0, no step (module docstring)
            return params_and(x, x.w, state._replace(t=x.t, m=_tree(x, m), v=_tree(x, v),
                                                     s=_tree(x, s)))
        d_hat = h["d_coef"] * r / s_l1
        d_new = max(d, d_hat) if d == d0 else d
        d_max = max(state.d_max, d_hat)
        d_new = min(d_max, d_new * h["growth_rate"])
        xp = array_namespace(x.w[0]) if x.w else None
        new = []
        for w, mi, vi in zip(x.w, m, v):
            if wd != 0 and h["decouple"]:
                w = w - wd * eta * w
            new.append(w - eta * mi / (xp.sqrt(vi) + d_new * h["eps"]))
        return params_and(x, new, ProdigyState(x.t, d_new, d_max, r, _tree(x, m), _tree(x, v),
                                               _tree(x, s), state.w0))

    return Optimizer("prodigy", init, step, h, bounds)


def _tree(x, leaves):
    return tree.unflatten(x.spec, dc.as_leaves(x.like, leaves))


def params_and(x, leaves, state):
    return _tree(x, leaves), state


INFO = RuleInfo(
    name="prodigy", factory=prodigy, family="C. Adam family",
    paper="Mishchenko & Defazio (2024)", year=2024,
    hook="Adam with its step size d estimated: no learning rate to tune",
    equations="m_k = \\beta_1 m_{k-1} + (1-\\beta_1) d_k g_k\n"
              "v_k = \\beta_2 v_{k-1} + (1-\\beta_2) d_k^2 g_k^2\n"
              "r_k = \\beta_3 r_{k-1} + d_k^2 \\langle g_k, w_0 - w_{k-1}\\rangle\n"
              "s_k = \\beta_3 s_{k-1} + d_k^2 g_k\n"
              "d_{k+1} = \\max(d_k, r_k / \\lVert s_k\\rVert_1)\n"
              "w_k = w_{k-1} - d_k\\, m_k / (\\sqrt{v_k} + d_{k+1}\\epsilon)",
    buffers=4,
    checked_against={"prodigyopt.Prodigy": 1e-10},
)
