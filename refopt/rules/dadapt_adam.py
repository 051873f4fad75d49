r"""D-Adapt Adam: Adam whose step size d is a running lower bound on the distance to a solution.

.. math::

    \eta_k &= \gamma_k\, d_k \,\tfrac{\sqrt{1-\beta_2^{k}}}{1-\beta_1^{k}}
             \quad\text{(the fraction only with bias correction)} \\
    \rho_k &= \sqrt{\beta_2}\,\rho_{k-1} + (1-\sqrt{\beta_2})\,\eta_k
              \bigl\langle g_k,\ s_{k-1} / (\sqrt{v_{k-1}} + \epsilon)\bigr\rangle \\
    m_k &= \beta_1 m_{k-1} + (1-\beta_1)\, \eta_k\, g_k \\
    v_k &= \beta_2 v_{k-1} + (1-\beta_2)\, g_k^2 \\
    s_k &= \sqrt{\beta_2}\, s_{k-1} + (1-\sqrt{\beta_2})\, \eta_k\, g_k \\
    \hat d_{k+1} &= \frac{\rho_k}{(1-\sqrt{\beta_2})\,\lVert s_k\rVert_1}, \qquad
    d_{k+1} = \max\bigl(d_k,\ \min(\hat d_{k+1},\ \text{growth}\cdot d_k)\bigr) \\
    w_k &= w_{k-1} - \frac{m_k}{\sqrt{v_k} + \epsilon}
           \;\bigl(-\ \eta_k \lambda\, w_{k-1} \text{ if decoupled}\bigr)

with the inner product and the 1-norm over the whole tree (one :math:`d`, ``rho`` the weighted
numerator). Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by D-Adaptation", ICML
2023, arXiv 2301.07733, the Adam variant (Section 6 and its appendix algorithm), with the defaults
and options of the authors' package ``dadaptation`` 3.2 (``DAdaptAdam``), matched to 1e-10. The
step :math:`\eta_k` sits inside :math:`m`, so the update divides only by the root.

==============  =========================  ===================
symbol          argument                   default
==============  =========================  ===================
gamma           ``lr``                     1.0 (or a schedule)
beta_1, beta_2  ``beta1``, ``beta2``       0.9, 0.999
epsilon         ``eps``                    1e-8 (0 allowed)
lambda          ``weight_decay``           0.0
                ``decouple``               False (coupled: lambda w added to g)
                ``use_bias_correction``    False
d_0             ``d0``                     1e-6
growth          ``growth_rate``            inf
==============  =========================  ===================

The estimate is of the distance in the infinity norm (Hölder: :math:`\langle g, s\rangle \le
\lVert g\rVert_1 \lVert s\rVert_\infty`), the Adam step being per coordinate. optax.contrib
``dadapt_adamw`` is this rule with bias correction and decoupled decay always on
(refopt.flavors.optax_contrib_dadapt).

**Where the formula is undefined.** While every gradient so far is 0, :math:`\lVert s\rVert_1 = 0`
and :math:`\hat d` is 0/0: params and :math:`d` are left unchanged (the package returns early).
With ``eps = 0`` a coordinate whose gradients have all been 0 gets :math:`m/\sqrt{v} = 0/0`, NaN,
from step 1 (the default eps makes it 0). (tests/robustness/test_rules_edge.py)
A NaN or infinite gradient entry makes :math:`\hat d` and every leaf's step NaN or infinite.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import tree
from ..backend import array_namespace, no_grad
from ..core import NONNEGATIVE, POSITIVE, UNIT, Optimizer, RuleInfo
from . import dadapt_common as dc


class DAdaptAdamState(NamedTuple):
    t: int
    d: float      # the distance estimate d_k
    rho: float    # the weighted numerator
    m: object     # first moment of eta-scaled gradients
    v: object     # second moment
    s: object     # the weighted gradient sum s_k


BUFFERS = ("m", "v", "s")


def dadapt_adam(lr=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decouple=False,
                use_bias_correction=False, d0=1e-6, growth_rate=math.inf):
    """D-Adapt Adam; argument names as in ``dadaptation.DAdaptAdam`` (betas split in two)."""
    settings = {"lr": (lr, POSITIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                "d0": (d0, POSITIVE), "growth_rate": (growth_rate, dc.GROWTH)}
    flags = {"decouple": decouple, "use_bias_correction": use_bias_correction}
    h, bounds = dc.hyperparameters("dadapt_adam", settings, flags)

    def init(params):
        spec, leaves = dc.init_leaves("dadapt_adam", params)
        zeros = lambda: dc.zeros_tree(spec, leaves)  # noqa: E731
        return DAdaptAdamState(0, h["d0"], 0.0, zeros(), zeros(), zeros())

    def step(params, grads, state):
        x, state = dc.gather("dadapt_adam", DAdaptAdamState, params, grads, state, BUFFERS, ("d", "rho"))
        with no_grad(x.w):
            return _step(x, state, dc.lr_at(h, bounds, x.t))

    def _step(x, state, lr):
        b1, b2, eps, wd, d = h["beta1"], h["beta2"], h["eps"], h["weight_decay"], state.d
        sb2 = math.sqrt(b2)
        bias = math.sqrt(1 - b2 ** x.t) / (1 - b1 ** x.t) if h["use_bias_correction"] else 1.0
        eta = d * lr * bias
        g = x.g if wd == 0 or h["decouple"] else [g + wd * w for g, w in zip(x.g, x.w)]
        m0, v0, s0 = (x.buffers[f] for f in BUFFERS)
        xp = array_namespace(x.w[0]) if x.w else None
        scaled = [s / (xp.sqrt(v) + eps) for s, v in zip(s0, v0)]
        rho = sb2 * state.rho + (1 - sb2) * (eta * dc.vdot(g, scaled))
        m = [b1 * m + eta * (1 - b1) * gi for m, gi in zip(m0, g)]
        v = [b2 * v + (1 - b2) * gi * gi for v, gi in zip(v0, g)]
        s = [sb2 * s + eta * (1 - sb2) * gi for s, gi in zip(s0, g)]
        s_l1 = dc.l1_norm(s)
        buffers = {"m": _tree(x, m), "v": _tree(x, v), "s": _tree(x, s)}
        if s_l1 == 0:  # every gradient so far 0: no step (module docstring)
            return _tree(x, x.w), state._replace(t=x.t, **buffers)
        denominator = (1 - sb2) * s_l1
        # a subnormal ||s||_1 times (1 - sqrt(beta2)) can round to 0: divide in two steps then
        d_hat = rho / denominator if denominator != 0 else rho / (1 - sb2) / s_l1
        d_new = dc.estimate(d, d_hat, h["growth_rate"])
        new = []
        for w, mi, vi in zip(x.w, m, v):
            if wd != 0 and h["decouple"]:
                w = w - wd * eta * w
            new.append(w - mi / (xp.sqrt(vi) + eps))
        return _tree(x, new), DAdaptAdamState(x.t, d_new, rho, **buffers)

    return Optimizer("dadapt_adam", init, step, h, bounds)


def _tree(x, leaves):
    return tree.unflatten(x.spec, dc.as_leaves(x.like, leaves))


INFO = RuleInfo(
    name="dadapt_adam", factory=dadapt_adam, family="C. Adam family",
    paper="Defazio & Mishchenko (2023)", year=2023,
    hook="Adam with lr = d, d a growing lower bound on the distance to a solution",
    equations="\\rho_k = \\sqrt{\\beta_2}\\rho_{k-1} + (1-\\sqrt{\\beta_2}) d_k "
              "\\langle g_k, s_{k-1}/(\\sqrt{v_{k-1}}+\\epsilon)\\rangle\n"
              "m_k = \\beta_1 m_{k-1} + (1-\\beta_1) d_k g_k\n"
              "v_k = \\beta_2 v_{k-1} + (1-\\beta_2) g_k^2\n"
              "s_k = \\sqrt{\\beta_2} s_{k-1} + (1-\\sqrt{\\beta_2}) d_k g_k\n"
              "d_{k+1} = \\max(d_k, \\rho_k / ((1-\\sqrt{\\beta_2}) \\lVert s_k\\rVert_1))\n"
              "w_k = w_{k-1} - m_k / (\\sqrt{v_k} + \\epsilon)",
    buffers=3,
    checked_against={"dadaptation.DAdaptAdam": 1e-10},
)
