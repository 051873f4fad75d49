r"""D-Adapt SGD: dual averaging whose step size d is a growing lower bound on D = ||w_0 - w*||.

.. math::

    \eta_k &= \gamma_k\, d_k / \lVert g_1\rVert \\
    \tilde g_k &= g_k + \lambda\, w_{k-1} \\
    \rho_k &= \rho_{k-1} + \eta_k \langle \tilde g_k,\ s_{k-1}\rangle \\
    s_k &= s_{k-1} + \eta_k\, \tilde g_k \\
    \hat d_{k+1} &= \frac{2 \rho_k}{\lVert s_k\rVert_2}, \qquad
    d_{k+1} = \max\bigl(d_k,\ \min(\hat d_{k+1},\ \text{growth}\cdot d_k)\bigr) \\
    z_k &= w_0 - s_k, \qquad w_k = \mu\, w_{k-1} + (1-\mu)\, z_k

with sums and norms over the whole tree. Since :math:`\rho_k = \tfrac12(\lVert s_k\rVert^2 -
\sum_j \eta_j^2\lVert \tilde g_j\rVert^2)`, :math:`\hat d` is the paper's D-Adaptation estimate
for dual averaging. Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by D-Adaptation",
ICML 2023, arXiv 2301.07733 (Algorithm 1, dual averaging with D-Adaptation, and the SGD variant
with momentum of Section 6), with the defaults of the authors' package ``dadaptation`` 3.2
(``DAdaptSGD``), matched to 1e-10.

===========  =================  ===================
symbol       argument           default
===========  =================  ===================
gamma        ``lr``             1.0 (or a schedule)
mu           ``momentum``       0.0
lambda       ``weight_decay``   0.0 (coupled)
d_0          ``d0``             1e-6
growth       ``growth_rate``    inf
===========  =================  ===================

**As in the package**: :math:`\lVert g_1\rVert` is the first gradient's norm *without* the decay
term (dadaptation 3.2 adds it out of place there, so it is lost; pytorch-optimizer does the same);
momentum is the averaging :math:`w_k = \mu w_{k-1} + (1-\mu) z_k` of the dual-averaging point.

**Where the formula is undefined.** :math:`\lVert g_1\rVert = 0` (a first gradient of zeros)
makes :math:`\eta` a division by 0 (the package raises ZeroDivisionError): the rule takes no
step and measures :math:`\lVert g\rVert` again at the next step (as pytorch-optimizer does).
A coordinate whose gradients are all 0 keeps :math:`s = 0` and so stays at :math:`w_0`.
(tests/robustness/test_rules_edge.py)

Non-finite gradient entries make the norms, :math:`\hat d` and so every leaf's step non-finite
(one :math:`d` for the whole tree).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import tree
from ..backend import no_grad
from ..core import NONNEGATIVE, POSITIVE, UNIT, Optimizer, RuleInfo
from . import dadapt_common as dc


class DAdaptSGDState(NamedTuple):
    t: int
    d: float        # the distance estimate d_k
    rho: float      # the numerator sum
    g0_norm: float  # ||g_1||, 0 until a nonzero first gradient is seen
    s: object       # the weighted gradient sum s_k
    w0: object      # the starting point


BUFFERS = ("s", "w0")


def dadapt_sgd(lr=1.0, momentum=0.0, weight_decay=0.0, d0=1e-6, growth_rate=math.inf):
    """D-Adapt SGD; argument names and defaults as in ``dadaptation.DAdaptSGD``."""
    settings = {"lr": (lr, POSITIVE), "momentum": (momentum, UNIT),
                "weight_decay": (weight_decay, NONNEGATIVE), "d0": (d0, POSITIVE),
                "growth_rate": (growth_rate, dc.GROWTH)}
    h, bounds = dc.hyperparameters("dadapt_sgd", settings, {})

    def init(params):
        spec, leaves = dc.init_leaves("dadapt_sgd", params)
        return DAdaptSGDState(0, h["d0"], 0.0, 0.0, dc.zeros_tree(spec, leaves),
                              dc.copy_tree(spec, leaves))

    def step(params, grads, state):
        x, state = dc.gather("dadapt_sgd", DAdaptSGDState, params, grads, state, BUFFERS,
                      ("d", "rho", "g0_norm"))
        with no_grad(x.w):
            return _step(x, state, dc.lr_at(h, bounds, x.t))

    def _step(x, state, lr):
        g0_norm = state.g0_norm if state.g0_norm != 0 else math.sqrt(dc.squared_norm(x.g))
        if g0_norm == 0:  # no first gradient yet: no step (module docstring)
            return _tree(x, x.w), state._replace(t=x.t)
        wd, mu, d = h["weight_decay"], h["momentum"], state.d
        eta = d * lr / g0_norm
        g = x.g if wd == 0 else [g + wd * w for g, w in zip(x.g, x.w)]
        s0, w0 = x.buffers["s"], x.buffers["w0"]
        rho = state.rho + eta * dc.vdot(g, s0)
        s = [s + eta * gi for s, gi in zip(s0, g)]
        s_norm = math.sqrt(dc.squared_norm(s))
        if s_norm == 0:
            return _tree(x, x.w), state._replace(t=x.t, g0_norm=g0_norm, s=_tree(x, s))
        d_new = dc.estimate(d, 2 * rho / s_norm, h["growth_rate"])
        new = [mu * w + (1 - mu) * (a - si) for w, a, si in zip(x.w, w0, s)]
        return _tree(x, new), DAdaptSGDState(x.t, d_new, rho, g0_norm, _tree(x, s), state.w0)

    return Optimizer("dadapt_sgd", init, step, h, bounds)


def _tree(x, leaves):
    return tree.unflatten(x.spec, dc.as_leaves(x.like, leaves))


INFO = RuleInfo(
    name="dadapt_sgd", factory=dadapt_sgd, family="A. Baselines",
    paper="Defazio & Mishchenko (2023)", year=2023,
    hook="Dual averaging with lr = d, d a growing lower bound on ||w_0 - w*||",
    equations="\\eta_k = d_k / \\lVert g_1\\rVert\n"
              "\\rho_k = \\rho_{k-1} + \\eta_k \\langle g_k, s_{k-1}\\rangle\n"
              "s_k = s_{k-1} + \\eta_k g_k\n"
              "d_{k+1} = \\max(d_k, 2\\rho_k / \\lVert s_k\\rVert)\n"
              "w_k = \\mu w_{k-1} + (1-\\mu)(w_0 - s_k)",
    buffers=2,
    checked_against={"dadaptation.DAdaptSGD": 1e-10},
)
