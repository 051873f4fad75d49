r"""Yogi: an additive second-moment update whose size depends on :math:`g_t^2` only.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    s_t &= s_{t-1} - (1-\beta_2)\, \mathrm{sign}(s_{t-1} - g_t^2)\, g_t^2 \\
    \eta_t &= \eta\, \sqrt{1-\beta_2^t} \,/\, (1-\beta_1^t) \\
    w_t &= w_{t-1} - \eta_t \frac{m_t}{\sqrt{s_t} + \epsilon}

with :math:`m_0 = 0` and :math:`s_0 = 10^{-6}`. Zaheer, Reddi, Sachan, Kale & Kumar (2018),
"Adaptive Methods for Nonconvex Optimization", NeurIPS, Algorithm 2, as its authors' code
implements it: tensorflow/addons ``optimizers/yogi.py`` ("See Algorithm 2"), which folds the
bias corrections into the step size (Adam's :math:`\hat\epsilon` form, line 3) and defaults to
lr 0.01, :math:`\beta = (0.9, 0.999)`, ``epsilon=1e-3`` and ``initial_accumulator_value=1e-6``
for :math:`s` only (its :math:`m` slot starts at 0). The paper's PDF could not be read here:
whether Algorithm 2 itself writes the corrections is UNVERIFIED; the code that claims to
implement it does.

Adam's :math:`s_t - s_{t-1} = -(1-\beta_2)(s_{t-1} - g_t^2)` shrinks :math:`s`
multiplicatively when :math:`g_t^2 \ll s_{t-1}`, so the effective rate
:math:`\eta/\sqrt{s}` can grow fast; Yogi moves :math:`s` towards :math:`g_t^2` by at most
:math:`(1-\beta_2) g_t^2`, whatever :math:`s_{t-1}` is. :math:`s_t \ge 0` whenever
:math:`s_0 \ge 0` (if :math:`s_{t-1} > g_t^2` it loses at most :math:`(1-\beta_2) g_t^2 < s_{t-1}`).

**The library variants, as settings.**

* ``bias_correction="moments"``, ``initial_momentum=1e-6``: optax ``scale_by_yogi`` / ``yogi``
  and pytorch-optimizer ``Yogi`` (both moments start at 1e-6, and each is divided by its own
  correction, :math:`w_t = w_{t-1} - \eta\,\hat m_t/(\sqrt{\hat s_t} + \epsilon)` with
  :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat s_t = s_t/(1-\beta_2^t)`): ``eps`` then
  sits inside the correction, a different update from line 3's, not a rounding of it.
* ``bias_correction="none"``: :math:`w_t = w_{t-1} - \eta\, m_t/(\sqrt{s_t}+\epsilon)`, the
  algorithm box as secondary sources restate it (and this rule's default before this version,
  with ``initial_accumulator=0``).
* TensorFlow Federated's ``build_yogi`` is the default form.

With :math:`\beta_1 = \beta_2 = 0` every correction is exactly 1 and :math:`m_0` drops out, so
all three forms coincide.

=========  =======================  ==================================================
symbol     argument                 default
=========  =======================  ==================================================
eta        ``lr``                   1e-2
beta_1     ``beta1``                0.9
beta_2     ``beta2``                0.999
epsilon    ``eps``                  1e-3 (much larger than Adam's 1e-8, as every
                                    implementation read has it)
s_0        ``initial_accumulator``  1e-6
m_0        ``initial_momentum``     0 (optax, pytorch-optimizer: 1e-6)
           ``bias_correction``      ``"step_size"`` (``"moments"``, ``"none"``)
=========  =======================  ==================================================

**Where the formula is undefined.** Nowhere with :math:`s_0 > 0` (the default 1e-6): a
coordinate whose gradients have all been exactly 0 keeps :math:`s_t = s_0` and :math:`m_t = m_0
\beta_1^t`, so its step is :math:`m_t/(\sqrt{s_0}+\epsilon)`, exactly 0 for the default
:math:`m_0 = 0` even at ``eps = 0``, and an all-zero gradient leaves the leaf unchanged. Only
``initial_accumulator=0`` with ``eps=0`` makes that step 0/0, undefined from step 1 (every other
coordinate stays finite); the rule then propagates it (DESIGN) and ``refopt.check_finite``
reports it.
(tests/robustness/test_rules_edge.py)

**float16.** :math:`s` is kept in the params' dtype, and float16 cannot hold the small
changes of :math:`s` that Yogi builds from small gradients: each step adds at most
:math:`(1-\beta_2) g_t^2`, which is 0 in float16 (below half its smallest subnormal,
:math:`2^{-25} \approx 3\cdot10^{-8}`) for :math:`|g_t| < 5.5\cdot10^{-3}` at
:math:`\beta_2 = 0.999`, so :math:`s` stays at :math:`s_0` however many steps are taken. With
``initial_accumulator=0`` the step is then :math:`m_t/\epsilon` instead of
:math:`m_t/(\sqrt{s_t}+\epsilon)`: too large by :math:`\sqrt{s_t}/\epsilon`, up to 17% per step at
the default :math:`\epsilon = 10^{-3}` while the float64 :math:`s` is still below
:math:`3\cdot10^{-8}`, and towards :math:`|g|/\epsilon` (5.5x) on a long run (the float64 :math:`s`
tends to :math:`g^2`). Measured: :math:`g = w_0 = 10^{-3}` for 3 steps (``initial_accumulator=0,
bias_correction="none"``) moves :math:`w` by -0.0056000 in float16 and -0.0053594 in float64
on the same inputs, 4.5% of the step; the float64 :math:`s_t = t \cdot 1.0\cdot10^{-9}` rounds to 0 in
float16, so no order of operations can do better (rounding the exact float64 state to float16
each step gives the same 0). The default :math:`s_0 = 10^{-6}` (float16 holds it as 1.013e-6)
hides most of it: the same run at the defaults is 0.35% off. Likewise :math:`s` cannot hold
:math:`g^2 \ge 65504` (:math:`|g| \ge 256`) once it has grown to it: it overflows to inf and
the steps become 0. Use float32 or wider for :math:`s` with gradients this small or large.
(tests/rules/test_low_precision_adafactor_yogi.py; the fuzz suite, tests/robustness/test_fuzz.py,
draws float16 gradients for Yogi with |g| in [0.25, 255] for this reason.)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule
from .muon import choice


class YogiState(NamedTuple):
    t: int
    m: object  # first moment
    s: object  # second moment, moved additively


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, bias_correction):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    # (1-beta2) g^2 as ((1-beta2) g) g: g * g alone overflows float16 for |g| >= 256 (65504 is
    # its largest number), and inf in s makes every later step exactly 0, while (1-beta2) g^2
    # is finite up to |g| ~ 8000. Where the product is a normal number, so is (1-beta2) g: no
    # precision is lost. g * g is still right for the sign: an inf there is larger than any s.
    g2 = g * g
    s = s - xp.sign(s - g2) * (((1 - beta2) * g) * g)
    if bias_correction == "step_size":  # the authors' code: both corrections in the step size
        lr_t = lr * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
        w = w - lr_t * m / (xp.sqrt(s) + eps)
    elif bias_correction == "moments":  # optax, pytorch-optimizer: Adam's m-hat and s-hat
        w = w - lr * (m / (1 - beta1**t)) / (xp.sqrt(s / (1 - beta2**t)) + eps)
    else:
        w = w - lr * m / (xp.sqrt(s) + eps)
    return w, m, s


BIAS_CORRECTIONS = ("step_size", "moments", "none")


def yogi(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3, initial_accumulator=1e-6, initial_momentum=0.0,
         bias_correction="step_size"):
    """Yogi (Zaheer et al. 2018, Algorithm 2 as tensorflow/addons implements it):
    ``s <- s - (1-beta2)*sign(s - g^2)*g^2``, ``w <- w - lr_t*m/(sqrt(s) + eps)`` with
    ``lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t)``; ``s_0 = initial_accumulator``,
    ``m_0 = initial_momentum``; ``bias_correction`` chooses the library variants (docstring)."""
    # initial values, not rates: numbers fixed at construction, never schedules
    s0 = number("initial_accumulator", initial_accumulator, NONNEGATIVE)
    m0 = number("initial_momentum", initial_momentum, NONNEGATIVE)
    return rule("yogi", YogiState, lambda w: (zeros_like(w) + m0, zeros_like(w) + s0), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE),
                 "bias_correction": (choice("bias_correction", bias_correction, BIAS_CORRECTIONS), None)})


INFO = RuleInfo(
    name="yogi", factory=yogi, family="C. Adam family",
    paper="Zaheer et al. (2018)", year=2018, hook="s_t grows cautiously (direction of gap)",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "s_t = s_{t-1} - (1-\\beta_2)\\, \\mathrm{sign}(s_{t-1} - g_t^2)\\, g_t^2\n"
              "\\eta_t = \\eta \\sqrt{1-\\beta_2^t} / (1-\\beta_1^t)\n"
              "w_t = w_{t-1} - \\eta_t \\frac{m_t}{\\sqrt{s_t} + \\epsilon}",
    buffers=2,
    checked_against={"optax.yogi": 1e-10, "pytorch_optimizer.Yogi": 1e-10},
)
