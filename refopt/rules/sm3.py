r"""SM3-II: AdaGrad whose per-entry sums of squares are replaced by one accumulator per row and
per column (per slice along each axis), at the memory of the covers, not of the parameters.

For a leaf with :math:`k \ge 2` axes, cover :math:`r` is one slice along one axis (a row, a
column, ...), with accumulator :math:`\mu(r)`, :math:`\mu_0 = 0`; each step, per entry :math:`i`:

.. math::

    \nu_t(i) &= \min_{r \ni i} \mu_{t-1}(r) + g_t(i)^2 \\
    u_t(i) &= g_t(i) / \sqrt{\nu_t(i) + \epsilon} \quad (0 \text{ where } \nu_t(i) = 0) \\
    \mu_t(r) &= \max_{i \in r} \nu_t(i) \\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, u_t \\
    w_t &= w_{t-1} - \eta\, m_t

A vector or 0-d leaf is covered by its single entries: :math:`\nu_t` is AdaGrad's sum of squares.
Anil, Gupta, Koren & Singer (2019), "Memory-Efficient Adaptive Optimization", NeurIPS, arXiv
1901.11150, Algorithm 2 (SM3-II, "with the convention 0/0 = 0"); an :math:`m \times n` matrix
keeps :math:`m + n` numbers instead of :math:`mn`. The paper proves (Prop. 3)
:math:`\nu_t(i) \ge \sum_{s \le t} g_s(i)^2`: the step is never larger than AdaGrad's
(tests/rules/test_sm3.py). Momentum (Section 5: the experiments use :math:`\beta_1 = 0.9`) is an
EMA of the preconditioned gradient; ``beta1=0`` is Algorithm 2 itself.

=========  ==========  =======
symbol     argument    default
=========  ==========  =======
eta        ``lr``      0.1
beta_1     ``beta1``   0.0
epsilon    ``eps``     0.0
=========  ==========  =======

**Frameworks.** optax ``sm3(learning_rate, momentum=0.9)`` is this rule with ``beta1=momentum``
and :math:`\epsilon = 10^{-8}` (``scale_by_sm3``'s, inside the root).

**Where the formula is undefined.** :math:`g/\sqrt{\nu}` is 0/0 where :math:`\nu_t(i) = 0`,
which happens only where :math:`g_t(i) = 0` and every cover of :math:`i` has seen only zeros; the
paper's convention 0/0 = 0 gives no step there, so a zero-gradient coordinate is left unchanged
(with ``eps = 0`` as with ``eps > 0``). (tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out; for float16 and bfloat16 leaves :math:`\nu_t` and
:math:`g/\sqrt{\nu_t}` are computed in float32 and rounded once (the covers and :math:`m` are
stored in the leaf's dtype): :math:`g^2` of a float16 gradient above 256 overflows float16.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class SM3State(NamedTuple):
    t: int
    mu: object  # per leaf: a tuple of one accumulator per axis (the leaf's shape for ndim <= 1)
    m: object   # EMA of the preconditioned gradients


def _covers(w):
    """mu_0 = 0: one vector per axis for ndim >= 2, one accumulator per entry otherwise."""
    xp = array_namespace(w)
    if w.ndim <= 1:
        return (zeros_like(w),)
    return tuple(xp.zeros((n,), dtype=w.dtype) for n in w.shape)


def _init(w):
    return _covers(w), zeros_like(w)


def _along(v, axis, ndim):
    """Cover accumulator ``v`` of ``axis`` shaped to broadcast against the leaf."""
    xp = array_namespace(v)
    return xp.reshape(v, tuple(v.shape[0] if a == axis else 1 for a in range(ndim)))


def _update(w, g, mu, m, *, t, lr, beta1, eps):
    xp = array_namespace(w)
    a = accumulator(g)  # float32 for 16-bit leaves: nu is not stored, and g^2 overflows float16
    if w.ndim <= 1:
        nu = accumulator(mu[0]) + a * a
        mu = (rounded(nu, w),)
    else:
        nu = reduce(xp.minimum, [_along(accumulator(v), i, w.ndim) for i, v in enumerate(mu)]) + a * a
        if math.prod(w.shape) > 0:  # an empty leaf has no entries to take a maximum over
            mu = tuple(rounded(xp.max(nu, axis=tuple(j for j in range(w.ndim) if j != i)), w)
                       for i in range(w.ndim))
    positive = nu > 0
    u = rounded(xp.where(positive, a / xp.sqrt(xp.where(positive, nu, 1.0) + eps), 0.0), w)  # 0/0 = 0
    m = beta1 * m + (1 - beta1) * u
    w = w - lr * m
    return w, mu, m


def sm3(lr=0.1, beta1=0.0, eps=0.0):
    """SM3-II with row/column (per-axis) covers; ``beta1`` > 0 adds momentum, as optax."""
    return rule("sm3", SM3State, _init, _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "eps": (eps, NONNEGATIVE)})


INFO = RuleInfo(
    name="sm3", factory=sm3, family="B. Adaptive (diagonal)",
    paper="Anil et al. (2019)", year=2019, hook="AdaGrad with row/column accumulators",
    equations="\\nu_t(i) = \\min_{r \\ni i} \\mu_{t-1}(r) + g_t(i)^2\n"
              "\\mu_t(r) = \\max_{i \\in r} \\nu_t(i)\n"
              "m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\, g_t / \\sqrt{\\nu_t}\n"
              "w_t = w_{t-1} - \\eta\\, m_t",
    buffers="m + n per matrix, + 1 momentum",
    checked_against={"optax.sm3": 1e-12},
)
