r"""Moonlight: Muon with decoupled weight decay and an update RMS matched to AdamW's.

.. math::

    M_t &= \beta_1 M_{t-1} + G_t \\
    O_t &= \mathrm{NS}_5(M_t) \\
    W_t &= W_{t-1} - \eta\left(0.2\,\sqrt{\max(A, B)}\; O_t + \lambda W_{t-1}\right)

with :math:`M_0 = 0` and :math:`W` of shape :math:`A \times B`. An exactly orthogonal
:math:`O` (all :math:`\min(A,B)` singular values 1) has RMS :math:`1/\sqrt{\max(A,B)}`, so the
factor makes the update RMS 0.2, about that of AdamW's update, and AdamW's lr and decay can be
reused. Since NS leaves the singular values only near 1, the RMS is
:math:`0.2\,\mathrm{rms}(\sigma(O))` (measured in test_moonlight.py).

Liu, Su, Yao, Jiang, Lai, Du et al. (Moonshot AI, 2025), "Muon is Scalable for LLM Training",
arXiv 2502.16982, the sections on adding weight decay and on consistent update RMS
(section numbers not checked). ``newton_schulz`` is Muon's (``refopt.rules.muon``). The
momentum is the sum form without Nesterov, as formulas.md section 23 gives the paper's update
(read there from the MARS-M README's restatement and torch's docstring, not from the paper's
own equations).

Differences met:

* Cheat sheet: :math:`M_t = \beta_1 U_t + \nabla f`, with :math:`U_t` undefined; it is
  :math:`M_{t-1}`. Its citation (arXiv 2501.09483) is wrong: 2502.16982.
* The reference code (MoonshotAI/Moonlight ``examples/toy_train.py``) mixes in Nesterov,
  :math:`U_t = G_t + \beta_1 M_t`, by default: ``nesterov=True`` here. torch's
  ``Muon(adjust_lr_fn="match_rms_adamw")`` is this rule with Nesterov and EMA momentum, which
  gives the same :math:`O_t` (NS is scale-invariant up to :math:`\epsilon`).
* The decay is multiplied by the plain lr, not the adjusted one, everywhere (paper, code, torch).

========  ====================  =========================
symbol    argument              default
========  ====================  =========================
eta       ``lr``                1e-3
beta_1    ``beta1``             0.95
lambda    ``weight_decay``      0.1
epsilon   ``eps``               1e-7 (NS normalisation)
0.2       ``rms``               0.2
          ``nesterov``          False (reference code: True)
k         ``ns_steps``          5
(a,b,c)   ``ns_coefficients``   (3.4445, -4.7750, 2.0315) or a preset (ns_presets)
========  ====================  =========================

**Where the formula is undefined.** As for ``refopt.muon`` (same Newton-Schulz): an all-zero
gradient gives NS(0) = 0 for ``eps > 0``, so the step is the decay only; at ``eps = 0`` the
whole leaf is NaN at step 1. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import c_order, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .muon import NS_COEFFICIENTS, flag, matrix_check, newton_schulz, ns_settings, rms_match_factor


class MoonlightState(NamedTuple):
    t: int
    m: object  # the momentum buffer, sum form


def _update(w, g, m, *, t, lr, beta1, weight_decay, eps, rms, nesterov, ns_steps, ns_coefficients):
    g, m = c_order(g), c_order(m)  # results independent of the inputs' memory layout (c_order)
    m = beta1 * m + g
    u = g + beta1 * m if nesterov else m
    o = newton_schulz(u, ns_steps, ns_coefficients, eps)
    w = w - lr * (rms_match_factor(w.shape, rms) * o + weight_decay * w)
    return w, m


def moonlight(lr=1e-3, beta1=0.95, weight_decay=0.1, eps=1e-7, rms=0.2, nesterov=False, ns_steps=5,
              ns_coefficients=NS_COEFFICIENTS):
    """Muon with the update scaled to RMS ``rms`` (0.2 sqrt(max(A, B)) O) and decoupled decay."""
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "weight_decay": (weight_decay, NONNEGATIVE),
             "eps": (eps, NONNEGATIVE), "rms": (rms, NONNEGATIVE),
             "nesterov": (flag("nesterov", nesterov), None), "ns_steps": (ns_steps, None),
             "ns_coefficients": (ns_settings(ns_steps, ns_coefficients), None)}
    return rule("moonlight", MoonlightState, lambda w: (zeros_like(w),), _update, hyper,
                check=matrix_check("moonlight"))


INFO = RuleInfo(
    name="moonlight", factory=moonlight, family="H. Muon family", paper="Liu et al. (2025)", year=2025,
    hook="Muon + right RMS scale + decay",
    equations="M_t = \\beta_1 M_{t-1} + G_t\n"
              "O_t = \\mathrm{NS}_5(M_t)\n"
              "W_t = W_{t-1} - \\eta\\,(0.2\\sqrt{\\max(A,B)}\\, O_t + \\lambda W_{t-1})",
    buffers=1, matrix_only=True,
    checked_against={"torch.optim.Muon (flavor, NS in float64)": 1e-12, "pytorch_optimizer.Muon (flavor, NS in float64)": 1e-12},
)
