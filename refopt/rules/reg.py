r"""REG: Muon's orthogonalization replaced by row-and-column scaling (RACS) of the momentum.

.. math::

    M_t &= \beta_1 M_{t-1} + (1-\beta_1) G_t \\
    \tilde M_t &= \mathrm{RACS}_k(M_t;\, p) \\
    \hat M_t &= \rho\, \tilde M_t \,/\, (\mathrm{RMS}(\tilde M_t) + \epsilon) \\
    W_t &= W_{t-1} - \eta\,(\hat M_t + \lambda W_{t-1})

with :math:`M_0 = 0`. :math:`\mathrm{RACS}_k` is :math:`k` rounds of alternating
normalisation of a matrix :math:`X` (:math:`m \times n`), rows then columns:

.. math::

    X &\leftarrow \mathrm{diag}\big(n^{1/p} / (\lVert X_{i,:}\rVert_p + \epsilon)\big)\, X \\
    X &\leftarrow X\, \mathrm{diag}\big(m^{1/p} / (\lVert X_{:,j}\rVert_p + \epsilon)\big)

so that each row and each column ends with mean :math:`|x|^p` equal to 1. This is Sinkhorn-Knopp
scaling of :math:`|X|^p` to row sums :math:`n` and column sums :math:`m` (the same total,
:math:`mn`, so both can hold at once): for a matrix with no zero entry it converges to a matrix
whose rows and columns have equal :math:`p`-norms (tested). The signs of :math:`M_t` are kept,
and so is the ratio of entries within a row and within a column, which is why the paper calls
it a milder regulariser than the matrix sign.

Liu, Wu, Fu, Liu, Han, Zhong & Yuan (Huawei Noah's Ark Lab, 2025), "REG: A Regularization
Optimizer for Robust Training Dynamics", arXiv 2510.03691.

**UNVERIFIED.** Read: the abstract and the first page of the paper (arXiv HTML v1) and
secondary summaries. They establish: momentum of the gradient only (no second moment); a
Row-and-Column-Scaling operator on the momentum matrix "grounded in balancing a matrix" in
place of Muon's matrix sign; an RMS rescale of the update towards AdamW's size; decoupled
decay; :math:`p = 2` worked best of the norms tried; the authors leave a convergence proof of
the full algorithm open. Not read anywhere (no official code exists in any index searched,
and the algorithm box is past what could be read): the RACS iteration itself. So these lines
are this rule's reading, not the paper's text:

* the two normalisation lines above (rows first, then columns, each to mean :math:`|x|^p = 1`,
  with :math:`\epsilon` added to each norm), and :math:`k` = 1 round by default;
* the RMS line :math:`\hat M_t = \rho \tilde M_t / (\mathrm{RMS}(\tilde M_t) + \epsilon)`
  with :math:`\rho = 0.2` (Moonlight's AdamW-matching RMS; the paper's target was not read);
* every default in the table below.

The first line (EMA momentum) and the last (decoupled decay) follow the summaries. Not to be
confused with pytorch-optimizer's ``RACS`` (Gong et al. 2025, arXiv 2502.07752), a different
algorithm (EMA row/column second moments of the gradient, a norm-growth limiter), nor with
SinkGD (arXiv 2502.06742, alternating row/column l2 normalisation, 5 rounds).

Cheat sheet: the title ("REG: A Simple and Effective Optimizer for Large Model Training") and
arXiv id 2502.06615 are wrong.

========  ====================  ==========================================
symbol    argument              default (UNVERIFIED, see above)
========  ====================  ==========================================
eta       ``lr``                1e-3
beta_1    ``beta1``             0.9
lambda    ``weight_decay``      0.1
rho       ``rho``               0.2 (AdamW-like update RMS, as Moonlight)
p         ``p``                 2
k         ``racs_steps``        1
epsilon   ``eps``               1e-8
========  ====================  ==========================================

**Where the formula is undefined.** RACS divides each row and column by its :math:`p`-norm plus
:math:`\epsilon`: at ``eps = 0`` a row or column of :math:`M_t` that is all 0 (for example an
all-zero gradient) is 0/0, and :math:`\mathrm{RMS}(\tilde M_t)` carries the NaN to the whole
leaf from step 1. A single zero entry stays 0 (scaling keeps zeros): no step there. With the
default ``eps`` (1e-8) an all-zero gradient gives the decay only.
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves the row and column
:math:`p`-norms and the RMS accumulate in float32 and are rounded once to the leaf's dtype
(summing in bfloat16 would drop the 9th bit of each partial sum; in float16 it overflows at
65504); the elementwise lines run in the leaf's dtype. float16 needs ``eps`` of at least 6e-8
(the default 1e-8 rounds to 0 and is refused). (tests/rules/test_half_precision.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import accumulator, array_namespace, c_order, rounded, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule
from .muon import matrix_check


def p_norms(X, p, axis):
    """(sum |x|^p)^(1/p) along ``axis`` (kept), accumulated in float32 for half-precision leaves."""
    xp = array_namespace(X)
    return rounded(xp.sum(xp.abs(accumulator(X)) ** p, axis=axis, keepdims=True) ** (1 / p), X)


def racs(M, p=2.0, steps=1, eps=1e-8):
    """Row-and-column scaling: ``steps`` rounds of rows to mean |x|^p = 1, then columns."""
    m, n = M.shape
    X = M
    for _ in range(steps):
        X = X * (n ** (1 / p) / (p_norms(X, p, axis=1) + eps))
        X = X * (m ** (1 / p) / (p_norms(X, p, axis=0) + eps))
    return X


def rms(x):
    xp, wide = array_namespace(x), accumulator(x)
    return rounded(xp.sqrt(xp.mean(wide * wide)), x)


class RegState(NamedTuple):
    t: int
    m: object  # the momentum buffer, EMA form


def _update(w, g, m, *, t, lr, beta1, weight_decay, rho, p, racs_steps, eps):
    g, m = c_order(g), c_order(m)  # results independent of the inputs' memory layout (c_order)
    m = beta1 * m + (1 - beta1) * g
    m_tilde = racs(m, p, racs_steps, eps)
    m_hat = rho * m_tilde / (rms(m_tilde) + eps)
    w = w - lr * (m_hat + weight_decay * w)
    return w, m


def reg(lr=1e-3, beta1=0.9, weight_decay=0.1, rho=0.2, p=2.0, racs_steps=1, eps=1e-8):
    """REG: EMA momentum, row-and-column scaled (RACS), rescaled to RMS ``rho``, decoupled decay."""
    if isinstance(racs_steps, bool) or not isinstance(racs_steps, int) or racs_steps < 1:
        raise ValueError(f"racs_steps must be an integer >= 1, got {racs_steps!r}")
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "weight_decay": (weight_decay, NONNEGATIVE),
             "rho": (rho, NONNEGATIVE), "p": (p, POSITIVE), "racs_steps": (racs_steps, None),
             "eps": (eps, NONNEGATIVE)}
    return rule("reg", RegState, lambda w: (zeros_like(w),), _update, hyper, check=matrix_check("reg"))


INFO = RuleInfo(
    name="reg", factory=reg, family="H. Muon family",
    paper="Liu et al. (2025), arXiv 2510.03691; UNVERIFIED: RACS is our reading", year=2025,
    hook="Equilibrate matrix (rows+cols), then step",
    equations="M_t = \\beta_1 M_{t-1} + (1-\\beta_1) G_t\n"
              "\\tilde M_t = \\mathrm{RACS}(M_t; p)\n"
              "\\hat M_t = \\rho\\, \\tilde M_t / \\mathrm{RMS}(\\tilde M_t)\n"
              "W_t = W_{t-1} - \\eta\\,(\\hat M_t + \\lambda W_{t-1})",
    buffers=1, matrix_only=True,
)
