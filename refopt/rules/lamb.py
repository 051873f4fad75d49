r"""LAMB: the AdamW direction, rescaled per layer by a trust ratio.

For each parameter array (a layer) :math:`w`, with :math:`m_0 = s_0 = 0`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat s_t = s_t / (1-\beta_2^t) \\
    r_t &= \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon} + \lambda\, w_{t-1} \\
    w_t &= w_{t-1} - \eta\,\frac{\phi(\lVert w_{t-1}\rVert)}{\lVert r_t\rVert}\, r_t

with :math:`\phi` the identity and the ratio set to 1 when :math:`\lVert w_{t-1}\rVert = 0` or
:math:`\lVert r_t\rVert = 0`. You, Li, Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer
& Hsieh (2020), "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
ICLR 2020 (arXiv 1904.00962), Algorithm 2. Norms are Frobenius norms of the whole array.

=========  ===================  =======
symbol     argument             default
=========  ===================  =======
eta        ``lr``               1e-3
beta_1     ``beta1``            0.9
beta_2     ``beta2``            0.999
epsilon    ``eps``              1e-6
lambda     ``weight_decay``     0.0
(flag)     ``bias_correction``  True
=========  ===================  =======

**Bias correction.** The ICLR 2020 Algorithm 2 bias-corrects both moments; some
implementations follow an earlier arXiv version without it (gluon-nlp's LAMB defaults to
``bias_correction=False`` and says the latest version removed it). ``bias_correction=False``
gives that variant (:math:`\hat m = m`, :math:`\hat s = s`).

**Notes and frameworks.**

* The cheat sheet writes :math:`q_t = \lVert w\rVert/(\lVert u\rVert+\epsilon)`: the paper has
  no :math:`\epsilon` in the ratio (it has the zero-norm rule above), and :math:`\phi` may be a
  clamp :math:`\min(\max(z,\gamma_l),\gamma_u)` in the paper's general statement; identity here.
* optax ``lamb`` is this rule (``scale_by_adam(eps_root=0)``, decay, trust ratio with the
  same zero-norm rule). Keras ``Lamb`` leaves :math:`\lambda w` out of the ratio.
  pytorch-optimizer ``Lamb`` differs in several places at once (it does not bias-correct
  :math:`s`, clamps :math:`\lVert w\rVert` to 10, clips the global gradient norm to 1 by
  default, and applies decay outside the ratio), so it is not used as a check.

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all been
exactly 0 makes :math:`\hat m_t/(\sqrt{\hat s_t}+\epsilon)` 0/0: NaN there from step 1.
:math:`\lVert r_t\rVert` is then NaN, which fails the trust ratio's ``> 0`` test (as in
optax), so the other coordinates take ratio 1 and stay finite. The formula is undefined
there and the NaN propagates (DESIGN); ``refopt.check_finite`` reports it. The trust ratio
itself is defined everywhere: 1 when :math:`\lVert w\rVert` or :math:`\lVert r\rVert` is 0
(paper). With the default ``eps`` (1e-6) the step at a zero-gradient coordinate is exactly 0.
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves the whole update is
computed in float32 and each stored number (:math:`w, m, s`) is rounded once to the leaf's dtype
(``accumulator`` / ``rounded``; the norms by ``refopt.rules.lars.layer_norm``), because the
intermediates leave float16's range where the stored numbers do not: :math:`\hat s_t =
s_t/(1-\beta_2)` at :math:`t = 1` is :math:`g^2`, inf for :math:`|g| \ge 256` (then
:math:`r = 0` there and :math:`\lVert r\rVert` 9% low over the leaf in the fuzz case), and
:math:`\eta\,\lVert w\rVert/\lVert r\rVert` is :math:`10^{-9}` for :math:`w = g = 10^{-3}`,
0 in float16 (the leaf never moved where float16 :math:`w` can move one ulp a step). What float16
storage itself loses stays lost: :math:`s = (1-\beta_2) g^2 = 10^{-9}` at :math:`|g| = 10^{-3}` is
below its smallest subnormal 6e-8 and is stored as 0. float32 and float64 are computed as
written, bit for bit as before. (tests/rules/test_half_precision.py, tests/robustness/test_fuzz.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .lars import layer_norm, trust_ratio


class LAMBState(NamedTuple):
    t: int
    m: object  # EMA of gradients
    s: object  # EMA of squared gradients


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, weight_decay, bias_correction):
    xp = array_namespace(w)
    # float32 for half leaves (the identity otherwise), each stored buffer rounded once: see
    # Precision (s_hat overflows float16 and lr * ratio underflows it)
    w32, g32 = accumulator(w), accumulator(g)
    m32 = beta1 * accumulator(m) + (1 - beta1) * g32
    s32 = beta2 * accumulator(s) + (1 - beta2) * g32 * g32
    m_hat = m32 / (1 - beta1**t) if bias_correction else m32
    s_hat = s32 / (1 - beta2**t) if bias_correction else s32
    r = m_hat / (xp.sqrt(s_hat) + eps) + weight_decay * w32
    ratio = trust_ratio(layer_norm(w), layer_norm(r))
    w = rounded(w32 - lr * ratio * r, w)
    return w, rounded(m32, w), rounded(s32, w)


def lamb(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0, bias_correction=True):
    """LAMB: the AdamW direction ``r`` scaled by ``||w|| / ||r||`` per array."""
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, got {bias_correction!r}")
    return rule("lamb", LAMBState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                 "bias_correction": (bias_correction, None)})


INFO = RuleInfo(
    name="lamb", factory=lamb, family="D. Layer-wise scaling",
    paper="You et al. (2020)", year=2020, hook="Adam direction, LARS scaling",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2) g_t \\odot g_t\n"
              "r_t = \\hat m_t / (\\sqrt{\\hat s_t} + \\epsilon) + \\lambda w_{t-1}\n"
              "w_t = w_{t-1} - \\eta\\, (\\|w_{t-1}\\| / \\|r_t\\|)\\, r_t",
    buffers=2,
    checked_against={"optax.lamb": 1e-12},
)
