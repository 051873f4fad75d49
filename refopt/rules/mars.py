r"""MARS (AdamW form): a variance-reduced (corrected) gradient, clipped, into Adam with decoupled decay.

.. math::

    c_t &= g_t + \gamma\,\frac{\beta_1}{1-\beta_1}\,(g_t - g_{t-1}) \\
    \tilde c_t &= c_t / \max(1, \lVert c_t \rVert_2) \\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\,\tilde c_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\,\tilde c_t \odot \tilde c_t \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat s_t = s_t / (1-\beta_2^t) \\
    w_t &= w_{t-1} - \eta\left(\frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon} + \lambda w_{t-1}\right)

with :math:`m_0 = s_0 = 0` and :math:`g_0 = 0` (so :math:`c_1 = (1 + \gamma\beta_1/(1-\beta_1))g_1`).
The clip is per leaf: :math:`\lVert c_t\rVert_2` is the norm of one parameter tensor (the
authors' code clips each tensor; the paper's algorithm writes one parameter vector). The previous
gradient is state. This is the *approximate* variant (the authors' default, ``is_approx=True``):
:math:`g_{t-1}` is last step's gradient, taken at :math:`w_{t-2}` on the previous batch. The
*exact* variant takes the gradient at the previous point on the current batch,
:math:`\nabla f(w_{t-2}, \xi_t)`: pass it as ``opt.step(params, grads, state, prev_grad=tree)``.

Yuan, Liu, Wu, Zhou & Gu (2024), "MARS: Unleashing the Power of Variance Reduction for Training
Large Models", ICML 2025 (PMLR 267:73553-73587), arXiv 2411.10438: the MARS framework's instance
with the AdamW preconditioner, MARS-AdamW (its algorithm numbers were not checked against the PDF),
and the authors' AGI-Arena/MARS ``mars.py`` (``mars_type="mars-adamw"``), whose constructor defaults
are below; the authors' code is not on the package registry (no such package on PyPI), so it is
checked as its update written out in NumPy (tests/rules/test_mars.py, 6.4e-16).
``refopt.mars_m`` is the matrix (Muon) form; its clip is this one.

Differences met, measured (update relative error at step 1 over the mixed stream unless said):

* pytorch-optimizer 4.1.0 ``MARS(mars_type="adamw")`` adds eps before the bias correction and
  1e-15 to s inside the root, :math:`\hat m / ((\sqrt{s + 10^{-15}} + \epsilon)/\sqrt{1-\beta_2^t})`:
  worth 8.2e-6 and 4.1e-10 at its defaults (its flavor passes ``eps`` :math:`\epsilon/\sqrt{1-\beta_2^t}`
  and ``eps_root`` :math:`10^{-15}/(1-\beta_2^t)`, then equals it to 9.8e-14). It and the authors'
  code send leaves of ndim < 2 to plain AdamW (``lr_1d``, ``betas_1d``, ``weight_decay_1d``: no
  correction, no clip) unless ``optimize_1d=True`` (``refopt/conventions/beyond.py``).
* The authors' code: the rule's lines (eps after the bias correction, decay :math:`\eta\lambda w`).
* optax has no MARS (0.2.8); its pull requests read other formulas (from their descriptions;
  modelled in NumPy in tests/rules/test_mars.py). #1697 (closed): this :math:`c_t`, clipping
  optional (modelled off). #1560/#1562 (closed): only the correction
  :math:`\gamma\beta_1/(1-\beta_1)(g_t - g_{t-1})` clipped, by a global norm (modelled at 1), and
  none at t = 1. #1689 (open): STORM's recursion :math:`c_t = g_t + (1-\gamma)(c_{t-1} - g_{t-1})`,
  :math:`c_1 = g_1`, no clip. One step cannot tell them apart (Adam's first step is
  :math:`\mathrm{sign}(c_1)` up to eps: 1.7e-6, 1.6e-6, 1.6e-6 of the rule's displacement); after
  10 steps they are 1.55, 1.75 and 2.04 times the rule's displacement away (the stream's spikes of
  100 pass unclipped, or clipped only in the correction).

=========  ====================  =============================================
symbol     argument              default
=========  ====================  =============================================
eta        ``lr``                3e-3
beta_1     ``beta1``             0.95
beta_2     ``beta2``             0.99
gamma      ``gamma``             0.025
epsilon    ``eps``               1e-8
lambda     ``weight_decay``      0.0
           ``eps_root``          0.0 (not the paper's: added to the bias-corrected s inside the root)
=========  ====================  =============================================

**Where the formula is undefined.** :math:`\beta_1 < 1` (the correction divides by
:math:`1-\beta_1`). With ``eps = 0`` an entry whose corrected gradients have all been 0 gives 0/0
(NaN), as Adam. An all-zero :math:`c_t` is left as it is by the clip (0 / max(1, 0) = 0).
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves the clip's norm accumulates in
float32 and is rounded to the leaf's dtype (``refopt.rules.muon.frobenius``); the elementwise lines
run in the leaf's dtype.
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, c_order, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .mars_m import clip_to_unit_norm


class MarsState(NamedTuple):
    t: int
    m: object       # EMA of clipped corrected gradients
    s: object       # EMA of their squares
    g_prev: object  # last step's gradient


def _update(w, g, m, s, g_prev, *, t, lr, beta1, beta2, gamma, eps, eps_root, weight_decay, prev_grad=None):
    xp = array_namespace(w)
    g = c_order(g)  # the clip's sum in one order whatever the layout
    before = c_order(g_prev if prev_grad is None else prev_grad)
    c = g + gamma * (beta1 / (1 - beta1)) * (g - before)
    c = clip_to_unit_norm(c)
    m = beta1 * m + (1 - beta1) * c
    s = beta2 * s + (1 - beta2) * c * c
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - lr * (m_hat / (xp.sqrt(s_hat + eps_root) + eps) + weight_decay * w)  # eps_root 0: the paper's
    # a copy, not g itself: a caller zeroing its gradient buffer in place must not rewrite the state
    return w, m, s, xp.asarray(g, copy=True)


def mars(lr=3e-3, beta1=0.95, beta2=0.99, gamma=0.025, eps=1e-8, weight_decay=0.0, eps_root=0.0):
    """MARS-AdamW (approximate variant; exact with ``step(..., prev_grad=...)``): corrected,
    per-leaf clipped gradient into Adam's moments, bias correction, decoupled decay."""
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
             "gamma": (gamma, NONNEGATIVE), "eps": (eps, NONNEGATIVE),
             "weight_decay": (weight_decay, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)}
    return rule("mars", MarsState, lambda w: (zeros_like(w), zeros_like(w), zeros_like(w)), _update, hyper,
                aux=("prev_grad",))


INFO = RuleInfo(
    name="mars", factory=mars, family="F. Modern variants", paper="Yuan et al. (2024)", year=2024,
    hook="Corrected, clipped gradient into AdamW",
    equations="c_t = g_t + \\gamma\\frac{\\beta_1}{1-\\beta_1}(g_t - g_{t-1})\n"
              "m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\,\\mathrm{Clip}(c_t, 1)\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2)\\,\\mathrm{Clip}(c_t, 1)^2\n"
              "w_t = w_{t-1} - \\eta\\,(\\hat m_t / (\\sqrt{\\hat s_t} + \\epsilon) + \\lambda w_{t-1})",
    buffers=3,
    checked_against={"pytorch_optimizer.MARS": 1e-10},
)
