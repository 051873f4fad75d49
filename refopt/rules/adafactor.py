r"""Adafactor: a factored second moment, a relative step size and update clipping.

For a matrix gradient :math:`G_t \in \mathbb{R}^{n\times m}` (Algorithm 4), with
:math:`R_0 = 0 \in \mathbb{R}^n`, :math:`C_0 = 0 \in \mathbb{R}^m`:

.. math::

    \hat\beta_{2t} &= 1 - t^{-c}, \qquad \rho_t = \min(\eta, 1/\sqrt{t}), \qquad
    \alpha_t = \max(\epsilon_2, \mathrm{RMS}(w_{t-1}))\, \rho_t \\
    R_t &= \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t})(G_t^2 + \epsilon_1 1_n 1_m^\top) 1_m \\
    C_t &= \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t}) 1_n^\top (G_t^2 + \epsilon_1 1_n 1_m^\top) \\
    \hat V_t &= R_t C_t / (1_n^\top R_t) \\
    U_t &= G_t / \sqrt{\hat V_t}, \qquad \hat U_t = U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
    w_t &= w_{t-1} - \alpha_t \hat U_t

For a vector or scalar (Algorithm 5) the second moment is kept whole:
:math:`\hat V_t = \hat\beta_{2t} \hat V_{t-1} + (1-\hat\beta_{2t})(G_t^2 + \epsilon_1)`.
Arrays of rank > 2 are factored over their last two axes, one (R, C) pair per leading
index (as torch and Keras do, and as the authors' tensor2tensor code does). Shazeer & Stern
(2018), "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML,
Algorithms 4 and 5 and Section 7 (relative step size), with the update clipping and the
increasing decay :math:`\hat\beta_{2t}` of the preceding sections (:math:`\hat\beta_{21} = 0`,
so the first step uses :math:`G_1^2` alone and no bias correction is needed).

:math:`R` and :math:`C` are row and column *sums* as in the paper; means (torch, Keras,
optax) give the same :math:`\hat V` since :math:`r_i c_j / \bar r = R_i C_j / \sum R`. With
``beta1 > 0`` the update :math:`\alpha_t \hat U_t` is smoothed by an EMA without bias
correction before it is applied (the paper's optional first moment, as in optax and
tensor2tensor); with ``beta1 = 0`` (default, the paper's choice) no buffer is kept.
:math:`U_t` is computed as :math:`(G_{ij}/\sqrt{C_j})\,\sqrt{1^\top R}/\sqrt{R_i}`, the same
number up to rounding: the literal product :math:`R_i C_j` underflows in float32 and
bfloat16 where a row and a column of the gradient are 0 (see ``_normalized``).
State arrays: per leaf ``v`` is the pair ``(R, C)`` (rank >= 2) or the array
:math:`\hat V` (rank < 2), and ``m`` is an array or ``()``; all in the param's dtype.

**Differences recorded.** The cheat sheet puts :math:`\epsilon` outside the root (the
paper adds :math:`\epsilon_1` to :math:`G^2`), uses a constant :math:`\beta_2` (paper:
:math:`1-t^{-0.8}`), omits the relative step, the clipping and the vector case, and calls
the reconstruction :math:`R_t`, the paper's name for the row statistic.
torch ``Adafactor``: :math:`\epsilon_1` (default machine epsilon) is used as clamps
(:math:`\hat V = RC/\max(\bar R, \epsilon_1)`, :math:`U = G/\sqrt{\max(\hat V, \epsilon_1^2)}`)
instead of being added; the two agree while the clamps do not bind.
optax ``adafactor``: no relative step (``learning_rate`` is :math:`\rho_t`; a constant 1e-2
equals :math:`\min(10^{-2}, t^{-1/2})` for :math:`t \le 10^4`), factors the two *largest*
axes and only when both are >= ``min_dim_size_to_factor`` (128), and computes
:math:`\hat\beta_{2t}` in float32 whatever the params' dtype.

============  ================  =======
symbol        argument          default
============  ================  =======
rho cap       ``lr``            1e-2 (caps rho_t = min(lr, 1/sqrt(t)))
epsilon_1     ``eps1``          1e-30
epsilon_2     ``eps2``          1e-3
d             ``d``             1.0 (clipping threshold)
c             ``decay_rate``    0.8 (beta2_t = 1 - t^-c)
beta_1        ``beta1``         0 (no momentum)
============  ================  =======

**Where the formula is undefined.** With ``eps1 = 0`` :math:`\hat V` is 0 wherever the gradient
has been 0 in a whole row or column of a matrix (or at an entry of a vector), so :math:`U_t` is
0/0 = NaN there, and the clipping's :math:`\mathrm{RMS}(U_t)` carries it to every entry of the
leaf: the whole leaf is NaN from step 1. A single zero entry in a matrix whose row and column
are otherwise nonzero is defined (:math:`\hat V > 0`, step 0 there). The formula is undefined
there; the paper's :math:`\epsilon_1 = 10^{-30}` (the default) keeps it defined: the step is 0
where the gradient is 0. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import array_namespace, c_order, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule


class AdafactorState(NamedTuple):
    t: int
    v: object  # per leaf: (R, C) for rank >= 2, the full V-hat for rank < 2
    m: object  # per leaf: EMA of the applied update, or () without momentum


def _rms(xp, x):
    flat = xp.reshape(x, (-1,))  # row-major, as c_order: the sum's bits do not follow the layout
    return xp.sqrt(xp.mean(flat * flat))


def _init_leaf(w, momentum):
    xp = array_namespace(w)
    if w.ndim >= 2:  # zeros summed away along an axis: right shape, dtype and device
        v = (xp.sum(zeros_like(w), axis=-1), xp.sum(zeros_like(w), axis=-2))
    else:
        v = zeros_like(w)
    return v, (zeros_like(w) if momentum else ())


def _second_moment(xp, g2, v, beta2_t):
    """The updated statistics: (R, C) for a matrix, V-hat itself for a vector."""
    if not isinstance(v, tuple):
        return beta2_t * v + (1 - beta2_t) * g2
    R, C = v
    return (beta2_t * R + (1 - beta2_t) * xp.sum(g2, axis=-1),
            beta2_t * C + (1 - beta2_t) * xp.sum(g2, axis=-2))


def _normalized(xp, g, v):
    """U = G / sqrt(V-hat), with V-hat = R C / (1^T R) for a matrix."""
    if not isinstance(v, tuple):
        return g / xp.sqrt(v)
    R, C = v
    # Computed as (G_ij / sqrt(C_j)) * (sqrt(1^T R) / sqrt(R_i)), never forming V-hat. The
    # literal R_i C_j / 1^T R first forms R_i C_j, about (eps1 n)(eps1 m) = 1e-60 for a row and
    # a column whose gradient is 0 or tiny: 0 in float32/bfloat16 (smallest 1.4e-45, 9.2e-41),
    # and then U = 0/0 = NaN over the whole leaf (through RMS(U)), although V-hat (~1e-30) and
    # U are representable. Here |G_ij| / sqrt(C_j) <= t^0.4 (C_j holds t^-c G_ij^2; c = 0.8) and
    # sqrt(1^T R) / sqrt(R_i) lies in [1, sqrt(max float / eps1)] ~ [1, 1e34]: neither factor
    # underflows or overflows unless U itself does.
    root_total = xp.expand_dims(xp.expand_dims(xp.sqrt(xp.sum(R, axis=-1)), axis=-1), axis=-1)
    per_column = g / xp.expand_dims(xp.sqrt(C), axis=-2)
    return per_column * (root_total / xp.expand_dims(xp.sqrt(R), axis=-1))


def _update(w, g, v, m, *, t, lr, eps1, eps2, d, decay_rate, beta1):
    xp = array_namespace(w)
    beta2_t = 1 - t ** (-decay_rate)
    rho_t = min(lr, 1 / math.sqrt(t))
    alpha_t = xp.maximum(_rms(xp, w), xp.full_like(_rms(xp, w), eps2)) * rho_t
    v = _second_moment(xp, c_order(g * g + eps1), v, beta2_t)
    U = _normalized(xp, g, v)
    U_hat = U / xp.maximum(xp.ones_like(_rms(xp, U)), _rms(xp, U) / d)
    step = alpha_t * U_hat
    if isinstance(m, tuple):  # no momentum buffer: beta1 = 0
        return w - step, v, m
    m = beta1 * m + (1 - beta1) * step
    return w - m, v, m


def adafactor(lr=1e-2, eps1=1e-30, eps2=1e-3, d=1.0, decay_rate=0.8, beta1=0.0):
    """Adafactor (Shazeer & Stern 2018): factored second moment for arrays of rank >= 2,
    relative step ``min(lr, 1/sqrt(t)) * max(eps2, RMS(w))``, clipping at RMS ``d``."""
    # a momentum buffer only when it can be used: a schedule or a nonzero beta1
    momentum = callable(beta1) or beta1 != 0.0
    return rule("adafactor", AdafactorState, lambda w: _init_leaf(w, momentum), _update,
                {"lr": (lr, NONNEGATIVE), "eps1": (eps1, NONNEGATIVE), "eps2": (eps2, NONNEGATIVE),
                 "d": (d, POSITIVE), "decay_rate": (decay_rate, POSITIVE), "beta1": (beta1, UNIT)})


INFO = RuleInfo(
    name="adafactor", factory=adafactor, family="C. Adam family",
    paper="Shazeer & Stern (2018)", year=2018, hook="Second moment, but low-rank (row x col)",
    equations="R_t = \\hat\\beta_{2t} R_{t-1} + (1-\\hat\\beta_{2t})(G_t^2 + \\epsilon_1) 1_m\n"
              "C_t = \\hat\\beta_{2t} C_{t-1} + (1-\\hat\\beta_{2t}) 1_n^\\top (G_t^2 + \\epsilon_1)\n"
              "\\hat V_t = R_t C_t / (1_n^\\top R_t),\\quad U_t = G_t / \\sqrt{\\hat V_t}\n"
              "w_t = w_{t-1} - \\max(\\epsilon_2, \\mathrm{RMS}(w_{t-1})) \\rho_t\\, "
              "U_t / \\max(1, \\mathrm{RMS}(U_t)/d)",
    buffers="n + m per matrix (rank >= 2), one array per vector",
    checked_against={"torch.optim.Adafactor": 1e-12, "optax.adafactor": 1e-6},
)
