r"""LARS: momentum SGD whose step for each layer is scaled by a trust ratio.

For each parameter array (a layer) :math:`w`, with :math:`v_0 = 0`:

.. math::

    \lambda_t &= \eta_{tc}\,\frac{\lVert w_{t-1}\rVert}{\lVert g_t\rVert + \beta\lVert w_{t-1}\rVert + \epsilon} \\
    v_t &= m\, v_{t-1} + \gamma_t\,\lambda_t\,(g_t + \beta\, w_{t-1}) \\
    w_t &= w_{t-1} - v_t

where :math:`\lambda_t = 1` when :math:`\lVert w_{t-1}\rVert = 0` or the denominator is 0.
You, Gitman & Ginsburg (2017), "Large Batch Training of Convolutional Networks",
arXiv 1708.03888, eq. (6) and Algorithm 1 (:math:`\gamma_t` is the global lr, which the paper
decays polynomially: pass a schedule; :math:`\eta_{tc}` the "LARS coefficient"; :math:`\beta`
the weight decay; :math:`m` the momentum). Norms are Frobenius norms of the whole array. The lr
sits inside the momentum buffer, as in Algorithm 1 (with a constant lr this equals the
"lr outside" form :math:`v = m v + \lambda d,\ w = w - \gamma v`).

=================  =======================  =======
symbol             argument                 default
=================  =======================  =======
gamma_t            ``lr``                   1e-3
m                  ``beta1``                0.9
eta_tc             ``trust_coefficient``    1e-3
beta               ``weight_decay``         0.0
epsilon            ``eps``                  0.0
=================  =======================  =======

**Zero norms.** The formula is 0/0 when :math:`w = 0` and :math:`g = 0`, and gives a zero
ratio (a frozen layer) when :math:`w = 0` alone. The paper does not say what to do; optax
(``scale_by_trust_ratio``) and pytorch-optimizer use ratio 1, and so does this rule. Where the
denominator is positive the formula is used as written: with :math:`g = 0`, :math:`\beta > 0`
it gives :math:`\eta_{tc}/\beta`, not 1.

**Notes and frameworks.**

* The cheat sheet writes :math:`q_t = \lVert w\rVert/(\lVert g+\lambda w\rVert+\epsilon)`
  without the trust coefficient (steps 1000x too large at :math:`\eta_{tc}=10^{-3}`) and without
  momentum. Its denominator is the norm of the sum; the paper's is the sum of the norms
  (:math:`\lVert g+\beta w\rVert \le \lVert g\rVert+\beta\lVert w\rVert`); they agree at
  :math:`\beta = 0`.
* optax ``lars`` uses the cheat sheet's denominator :math:`\lVert g+\beta w\rVert + \epsilon`, so
  it equals this rule only at ``weight_decay=0``. pytorch-optimizer ``LARS`` uses the paper's
  :math:`\lVert g\rVert+\beta\lVert w\rVert` (no :math:`\epsilon`) but skips decay and the
  ratio for arrays with ``ndim <= 1``; use ``refopt.partition`` for that convention.
* Both offer Nesterov momentum; the paper does not, and neither does this rule.

**Where the formula is undefined.** An all-zero gradient at zero decay and the default
``eps = 0`` makes the ratio 0/0; by the zero-norm rule above it is 1, so the step is 0 and the
leaf keeps its value exactly. A coordinate whose gradient is always 0 keeps its value exactly
(momentum of zeros). (tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves the norms, the trust
ratio, the scalar :math:`\gamma_t\lambda_t` and the momentum update are computed in float32 and
:math:`v` is rounded once to the leaf's dtype (``accumulator`` / ``rounded``); then
:math:`w - v` in the leaf's dtype. The scalar is why: at the defaults
:math:`\gamma_t\lambda_t = 10^{-6}\lVert w\rVert/\lVert g\rVert` (3.5e-7 for
:math:`\lVert w\rVert = 215`, :math:`\lVert g\rVert = 620`) is below float16's smallest normal
number 6.1e-5, where its spacing is 6e-8: rounded to float16 it was 2.9% and -3.5% off on the
three steps of the fuzz case, and every entry of the step with it. float32 and float64 are
computed as written, bit for bit as before. (tests/rules/test_half_precision.py,
tests/robustness/test_fuzz.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded, unless_overflowed, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule


class LARSState(NamedTuple):
    t: int
    v: object  # the velocity, lr and trust ratio included


def layer_norm(x):
    """The Frobenius norm of the whole array, a 0-d array in ``accumulator(x)``'s dtype (float32
    for a half-precision ``x``: the scalars built from it stay there, see Precision above),
    still finite where x*x overflows (``unless_overflowed``: else the trust ratio is 0 and the
    step silently vanishes)."""
    wide = accumulator(x)
    return unless_overflowed(array_namespace(x).linalg.vector_norm(wide), wide)


def trust_ratio(numerator, denominator):
    """``numerator / denominator``, but 1 where either is 0 (a 0-d array in their dtype)."""
    xp = array_namespace(numerator)
    one = xp.ones_like(numerator)
    defined = (numerator > 0) & (denominator > 0)
    return xp.where(defined, numerator / xp.where(defined, denominator, one), one)


def _update(w, g, v, *, t, lr, beta1, trust_coefficient, weight_decay, eps):
    xp = array_namespace(w)
    w_norm, g_norm = layer_norm(w), layer_norm(g)
    local_lr = trust_ratio(trust_coefficient * w_norm, g_norm + weight_decay * w_norm + eps)
    # in float32 for half leaves (the identity otherwise): lr * local_lr is subnormal in float16
    acc_w, acc_g = accumulator(w), accumulator(g)
    v = rounded(beta1 * accumulator(v) + lr * local_lr * (acc_g + weight_decay * acc_w), w)
    w = w - v
    return w, v


def lars(lr=1e-3, beta1=0.9, trust_coefficient=1e-3, weight_decay=0.0, eps=0.0):
    """LARS (paper form): local lr ``tc*||w|| / (||g|| + weight_decay*||w|| + eps)``, then momentum."""
    return rule("lars", LARSState, lambda w: (zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT),
                 "trust_coefficient": (trust_coefficient, POSITIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE), "eps": (eps, NONNEGATIVE)})


INFO = RuleInfo(
    name="lars", factory=lars, family="D. Layer-wise scaling",
    paper="You, Gitman & Ginsburg (2017)", year=2017, hook="Match step norm to weight norm",
    equations="\\lambda_t = \\eta_{tc} \\|w_{t-1}\\| / (\\|g_t\\| + \\beta \\|w_{t-1}\\| + \\epsilon)\n"
              "v_t = m\\, v_{t-1} + \\gamma_t \\lambda_t (g_t + \\beta w_{t-1})\n"
              "w_t = w_{t-1} - v_t",
    buffers=1,
    checked_against={"optax.lars": 1e-12, "pytorch_optimizer.LARS": 1e-12},
)
