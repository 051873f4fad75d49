r"""MARS-M: a variance-reduced (corrected) gradient, clipped, averaged, then Moonlight's step.

.. math::

    C_t &= G_t + \gamma\,\frac{\beta_1}{1-\beta_1}\,(G_t - G_{t-1}) \\
    \tilde C_t &= C_t / \max(1, \lVert C_t \rVert_F) \\
    M_t &= \beta_1 M_{t-1} + (1-\beta_1)\,\tilde C_t \\
    O_t &= \mathrm{NS}_5(M_t) \\
    W_t &= W_{t-1} - \eta\left(0.2\sqrt{\max(A,B)}\, O_t + \lambda W_{t-1}\right)

with :math:`M_0 = 0` and :math:`G_0 = 0` (so :math:`C_1 = (1 + \gamma\beta_1/(1-\beta_1))G_1`).
The previous gradient is state. This is the *approximate* variant (the official code's
default, ``is_approx=True``): :math:`G_{t-1}` is last step's gradient, taken at
:math:`W_{t-2}` on the previous batch. The *exact* variant takes the gradient at the previous
point on the current batch, :math:`\nabla f(W_{t-2}, \xi_t)`: pass it as
``opt.step(params, grads, state, prev_grad=tree)``.

Liu, Yuan & Gu (2025), "MARS-M: When Variance Reduction Meets Matrices", arXiv 2510.21800,
Algorithms 2-3 as restated in the official AGI-Arena/MARS ``MARS_M/README.md``, and
``MARS_M/optimizers/mars_m.py`` (defaults below; clipping always applied). Parent method:
MARS, arXiv 2411.10438. ``newton_schulz`` is Muon's.

Differences met:

* Cheat sheet: writes :math:`\nabla f(X_t) - \nabla f(X_{t-1})` without saying on which batch
  (it is the approximate variant as written); no default for :math:`\gamma` (0.025). Its
  citation ("Training Large Language Models via Matrix Smoothing", arXiv 2503.03699) is wrong.
* pytorch-optimizer's ``MARS(mars_type="shampoo")`` is this rule with Muon's shape factor
  :math:`\sqrt{\max(1,\text{rows}/\text{cols})}` in place of :math:`0.2\sqrt{\max(A,B)}`:
  ``adjust_lr="original"``.

=========  ====================  ================================================
symbol     argument              default
=========  ====================  ================================================
eta        ``lr``                1e-3
beta_1     ``beta1``             0.95
gamma      ``gamma``             0.025
lambda     ``weight_decay``      0.1
epsilon    ``eps``               1e-7 (NS normalisation)
           ``adjust_lr``         "match_rms_adamw" (0.2 sqrt(max(A,B))) or "original"
k          ``ns_steps``          5
(a,b,c)    ``ns_coefficients``   (3.4445, -4.7750, 2.0315) or a preset (ns_presets)
=========  ====================  ================================================

**Where the formula is undefined.** Newton-Schulz divides by :math:`\lVert X\rVert_F +
\epsilon`. An all-zero gradient (so all-zero momentum, from step 1) gives NS(0) = 0/(0 +
:math:`\epsilon`) = 0 for ``eps > 0``, so the step is the decay only, as in KellerJordan/Muon
(``X.norm() + 1e-7``) and torch (``max(norm, eps)``); at ``eps = 0`` it is 0/0 and the whole
leaf is NaN at step 1 (the orthogonal factor of 0 is undefined). A zero row or column of the
gradient stays put; a single zero entry moves, since NS mixes entries (the clip of 0 is 0).
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves NS is Muon's (matmuls and
norm accumulated in float32, rounded to the leaf's dtype), and so is the clip's norm; the
elementwise lines run in the leaf's dtype. (tests/rules/test_half_precision.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, c_order, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .muon import (NS_COEFFICIENTS, choice, frobenius, matrix_check, newton_schulz, ns_settings,
                   rms_match_factor, shape_factor)


class MarsMState(NamedTuple):
    t: int
    m: object       # the EMA of clipped corrected gradients
    g_prev: object  # last step's gradient


def clip_to_unit_norm(c):
    """C if ||C||_F <= 1, else C / ||C||_F."""
    xp = array_namespace(c)
    norm = frobenius(c)  # accumulated in float32 for a half-precision leaf, then rounded
    return c / xp.maximum(norm, xp.ones_like(norm))


def _update(w, g, m, g_prev, *, t, lr, beta1, gamma, weight_decay, eps, adjust_lr, ns_steps,
            ns_coefficients, prev_grad=None):
    g, m = c_order(g), c_order(m)  # results independent of the inputs' memory layout (c_order)
    before = c_order(g_prev if prev_grad is None else prev_grad)
    c = g + gamma * (beta1 / (1 - beta1)) * (g - before)
    m = beta1 * m + (1 - beta1) * clip_to_unit_norm(c)
    o = newton_schulz(m, ns_steps, ns_coefficients, eps)
    scale = rms_match_factor(w.shape) if adjust_lr == "match_rms_adamw" else shape_factor(w.shape)
    w = w - lr * (scale * o + weight_decay * w)
    # a copy, not g itself: a caller zeroing its gradient buffer in place must not rewrite the state
    return w, m, array_namespace(g).asarray(g, copy=True)


def mars_m(lr=1e-3, beta1=0.95, gamma=0.025, weight_decay=0.1, eps=1e-7, adjust_lr="match_rms_adamw",
           ns_steps=5, ns_coefficients=NS_COEFFICIENTS):
    """MARS-M (approximate variant; exact with ``step(..., prev_grad=...)``): corrected, clipped
    gradient into an EMA, Newton-Schulz, Moonlight's scale and decoupled decay."""
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "gamma": (gamma, NONNEGATIVE),
             "weight_decay": (weight_decay, NONNEGATIVE), "eps": (eps, NONNEGATIVE),
             "adjust_lr": (choice("adjust_lr", adjust_lr, ("match_rms_adamw", "original")), None),
             "ns_steps": (ns_steps, None), "ns_coefficients": (ns_settings(ns_steps, ns_coefficients), None)}
    return rule("mars_m", MarsMState, lambda w: (zeros_like(w), zeros_like(w)), _update, hyper,
                aux=("prev_grad",), check=matrix_check("mars_m"))


INFO = RuleInfo(
    name="mars_m", factory=mars_m, family="H. Muon family", paper="Liu, Yuan & Gu (2025)", year=2025,
    hook="Corrected gradient + Muon orthogonal step",
    equations="C_t = G_t + \\gamma\\frac{\\beta_1}{1-\\beta_1}(G_t - G_{t-1})\n"
              "M_t = \\beta_1 M_{t-1} + (1-\\beta_1)\\,\\mathrm{Clip}(C_t, 1)\n"
              "O_t = \\mathrm{NS}_5(M_t)\n"
              "W_t = W_{t-1} - \\eta\\,(0.2\\sqrt{\\max(A,B)}\\, O_t + \\lambda W_{t-1})",
    buffers=2, matrix_only=True,
    checked_against={"pytorch_optimizer.MARS (flavor, NS in float64)": 1e-12},
)
