r"""NorMuon: Muon followed by a per-row (per-neuron) second-moment normalisation.

.. math::

    M_t &= \beta_1 M_{t-1} + (1-\beta_1) G_t \\
    O_t &= \mathrm{NS}_5(M_t) \\
    r_t &= \beta_2 r_{t-1} + (1-\beta_2)\,\mathrm{mean}_\text{cols}(O_t \odot O_t) \\
    \bar O_t &= O_t \,/\, (\sqrt{r_t} + \epsilon) \quad (\text{row-wise}) \\
    \hat\eta_t &= 0.2\,\eta\,\sqrt{mn} \,/\, (\lVert \bar O_t \rVert_F + \epsilon) \\
    W_t &= W_{t-1} - \eta\lambda W_{t-1} - \hat\eta_t\, \bar O_t

with :math:`M_0 = 0`, :math:`r_0 = 0` (one entry per row: shape (rows, 1)), no bias
correction, :math:`W` of shape :math:`m \times n`. The last two lines give the update an RMS of
exactly 0.2 (up to :math:`\epsilon`), as Moonlight's does.

Li, Liu, Liang, Chen & Zhao (2025), "NorMuon: Making Muon more efficient and scalable",
arXiv 2510.05491, Algorithm 1. The paper's body was not read here: Algorithm 1 is taken from
pytorch-optimizer's ``NorMuon`` docstring (which names its ``match_rms`` scale as the paper's
Algorithm 1) and a third-party rendering, which agree (formulas.md section 24 marks it
UNVERIFIED). The :math:`\epsilon` in :math:`\hat\eta_t` is not in that rendering:
without it a zero gradient at step 1 gives 0/0; the official code and pytorch-optimizer have it.

**The two forms, as settings.** The paper's Algorithm 1 is the defaults
(``FORMS["paper"]``: ``nesterov=False, update_scale="match_rms"``). The official code
(zichongli5/NorMuon ``normuon.py``) differs: Nesterov mix :math:`U_t = (1-\beta_1)G_t + \beta_1 M_t`
before NS, and instead of :math:`\hat\eta` it rescales :math:`\bar O_t` back to the Frobenius
norm of :math:`O_t` (``+ 1e-10`` in that denominator too) and multiplies by Muon's
:math:`\sqrt{\max(1, \text{rows}/\text{cols})}`, stepping with the plain lr and decaying
:math:`W(1 - \eta\lambda)` first; lr 0.02, momentum and beta2 0.95, eps 1e-10 after the root
(``FORMS["official"]``: ``refopt.normuon(**FORMS["official"])``; the same eps and NS settings).
pytorch-optimizer's ``NorMuon`` implements both: its defaults are the official form, its
``update_scale="match_rms", nesterov=False`` the paper's. It runs NS in bfloat16; this rule runs
NS in the leaf's dtype (``refopt.flavors.pytorch_optimizer.NorMuon`` models the bfloat16), so
its check against this rule compares everything but NS, step by step: the momentum, and the
lines after NS (``row_normalized``) on pytorch-optimizer's own NS output (tests/rules/
test_normuon.py). Each form also has a worked example with NS in closed form.

Other differences met: the cheat sheet's :math:`\hat\eta` is used but never defined (it is the
line above); its citation (arXiv 2503.07067) is wrong: 2510.05491. microsoft/dion's NorMuon
variants differ again (eps 1e-8; one reduces over the shorter axis and bias-corrects v): not
settings here.

========  ====================  ==========================================
symbol    argument              default
========  ====================  ==========================================
eta       ``lr``                1e-3 (official code, preserve_norm: 0.02)
beta_1    ``beta1``             0.95
beta_2    ``beta2``             0.95
lambda    ``weight_decay``      0
epsilon   ``eps``               1e-10 (row normalisation and eta-hat)
          ``ns_eps``            1e-7 (NS normalisation)
          ``nesterov``          False (official code: True)
          ``update_scale``      "match_rms" (official code: "preserve_norm")
k         ``ns_steps``          5
(a,b,c)   ``ns_coefficients``   (3.4445, -4.7750, 2.0315) or a preset (ns_presets)
========  ====================  ==========================================

**Where the formula is undefined.** Newton-Schulz divides by :math:`\lVert X\rVert_F +
\epsilon`. An all-zero gradient (so all-zero momentum, from step 1) gives NS(0) = 0/(0 +
:math:`\epsilon`) = 0 for ``eps > 0``, so the step is the decay only, as in KellerJordan/Muon
(``X.norm() + 1e-7``) and torch (``max(norm, eps)``); at ``eps = 0`` it is 0/0 and the whole
leaf is NaN at step 1 (the orthogonal factor of 0 is undefined). A zero row or column of the
gradient stays put; a single zero entry moves, since NS mixes entries. NorMuon's row
normalisation :math:`O/(\sqrt{r_t}+\epsilon)` is 0/0 at ``eps = 0`` for a zero row of :math:`O`:
the whole leaf is then NaN (the Frobenius rescaling carries it); the default 1e-10 keeps it 0.
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves NS is Muon's (matmuls and
norm accumulated in float32, rounded to the leaf's dtype), and so are the row means of
:math:`O \odot O` and the Frobenius norms here; the elementwise lines run in the leaf's dtype.
float16 needs ``eps`` of at least 6e-8 (the default 1e-10 rounds to 0 and is refused).
(tests/rules/test_half_precision.py)
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import accumulator, array_namespace, c_order, rounded, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .muon import (NS_COEFFICIENTS, choice, flag, frobenius, matrix_check, newton_schulz, ns_settings,
                   shape_factor)


class NorMuonState(NamedTuple):
    t: int
    m: object  # the momentum buffer, EMA form, shaped like the weight
    r: object  # the per-row second moment of O, shape (rows, 1)


def row_mean_square(o):
    """mean over columns of ``o * o``, shape (rows, 1), accumulated in float32 for half leaves."""
    xp, wide = array_namespace(o), accumulator(o)
    return rounded(xp.mean(wide * wide, axis=1, keepdims=True), o)


def row_normalized(o, r, *, beta2, eps, update_scale):
    """The lines after NS: the row second moment ``r`` updated from ``o``, ``o`` divided by its
    root row by row, and scaled as ``update_scale`` says (without the lr): ``(step, r)``."""
    xp = array_namespace(o)
    r = beta2 * r + (1 - beta2) * row_mean_square(o)
    o_bar = o / (xp.sqrt(r) + eps)
    if update_scale == "match_rms":
        step = 0.2 * math.sqrt(o.shape[0] * o.shape[1]) / (frobenius(o_bar) + eps) * o_bar
    else:  # the official code: keep Muon's norm and shape factor
        step = frobenius(o) / (frobenius(o_bar) + eps) * o_bar * shape_factor(o.shape)
    return step, r


def _update(w, g, m, r, *, t, lr, beta1, beta2, weight_decay, eps, ns_eps, nesterov, update_scale,
            ns_steps, ns_coefficients):
    g, m, r = c_order(g), c_order(m), c_order(r)  # results independent of memory layout (c_order)
    m = beta1 * m + (1 - beta1) * g
    u = (1 - beta1) * g + beta1 * m if nesterov else m
    o = newton_schulz(u, ns_steps, ns_coefficients, ns_eps)
    step, r = row_normalized(o, r, beta2=beta2, eps=eps, update_scale=update_scale)
    w = w - lr * weight_decay * w - lr * step
    return w, m, r


# The paper's Algorithm 1 (the defaults) and the official code (zichongli5/NorMuon normuon.py,
# and pytorch-optimizer's NorMuon defaults) as settings: refopt.normuon(**FORMS["official"]).
FORMS = {"paper": dict(nesterov=False, update_scale="match_rms"),
         "official": dict(lr=0.02, nesterov=True, update_scale="preserve_norm")}


def _init(w):
    return zeros_like(w), zeros_like(w[:, :1])


def normuon(lr=1e-3, beta1=0.95, beta2=0.95, weight_decay=0.0, eps=1e-10, ns_eps=1e-7, nesterov=False,
            update_scale="match_rms", ns_steps=5, ns_coefficients=NS_COEFFICIENTS):
    """NorMuon (paper's Algorithm 1): Muon's orthogonalized momentum, rows normalised by an EMA
    of their mean square, the whole update scaled to RMS 0.2, decoupled decay."""
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
             "weight_decay": (weight_decay, NONNEGATIVE), "eps": (eps, NONNEGATIVE),
             "ns_eps": (ns_eps, NONNEGATIVE), "nesterov": (flag("nesterov", nesterov), None),
             "update_scale": (choice("update_scale", update_scale, ("match_rms", "preserve_norm")), None),
             "ns_steps": (ns_steps, None), "ns_coefficients": (ns_settings(ns_steps, ns_coefficients), None)}
    return rule("normuon", NorMuonState, _init, _update, hyper, check=matrix_check("normuon"))


INFO = RuleInfo(
    name="normuon", factory=normuon, family="H. Muon family", paper="Li et al. (2025)", year=2025,
    hook="Muon + per-row RMS equalizer",
    equations="M_t = \\beta_1 M_{t-1} + (1-\\beta_1) G_t\n"
              "O_t = \\mathrm{NS}_5(M_t)\n"
              "r_t = \\beta_2 r_{t-1} + (1-\\beta_2)\\,\\mathrm{mean}_\\mathrm{cols}(O_t \\odot O_t)\n"
              "\\bar O_t = O_t / (\\sqrt{r_t} + \\epsilon)\n"
              "\\hat\\eta_t = 0.2\\,\\eta\\sqrt{mn} / \\lVert \\bar O_t \\rVert_F\n"
              "W_t = W_{t-1} - \\eta\\lambda W_{t-1} - \\hat\\eta_t \\bar O_t",
    buffers="1 + rows/size (m, and r with one entry per row)", matrix_only=True,
    checked_against={"pytorch_optimizer.NorMuon": 1e-12},
)
