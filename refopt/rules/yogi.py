r"""Yogi: an additive second-moment update whose size depends on :math:`g_t^2` only.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    s_t &= s_{t-1} - (1-\beta_2)\, \mathrm{sign}(s_{t-1} - g_t^2)\, g_t^2 \\
    w_t &= w_{t-1} - \eta \frac{m_t}{\sqrt{s_t} + \epsilon}

with :math:`m_0 = 0` and :math:`s_0 = s_{\mathrm{init}}` (``initial_accumulator``). Zaheer,
Reddi, Sachan, Kale & Kumar (2018), "Adaptive Methods for Nonconvex Optimization", NeurIPS,
Algorithm 2.

Adam's :math:`s_t - s_{t-1} = -(1-\beta_2)(s_{t-1} - g_t^2)` shrinks :math:`s`
multiplicatively when :math:`g_t^2 \ll s_{t-1}`, so the effective rate
:math:`\eta/\sqrt{s}` can grow fast; Yogi moves :math:`s` towards :math:`g_t^2` by at most
:math:`(1-\beta_2) g_t^2`, whatever :math:`s_{t-1}` is. :math:`s_t \ge 0` whenever
:math:`s_0 \ge 0` (if :math:`s_{t-1} > g_t^2` it loses at most :math:`(1-\beta_2) g_t^2 < s_{t-1}`).

**Differences recorded.**

* Bias correction: Algorithm 2 of the paper divides by :math:`\sqrt{s_t}` with no
  :math:`1-\beta^t` corrections (as the paper's Algorithm 1, its Adam, is written), and so
  does this rule. (The PDF could not be re-read in this session; formulas.md section 13
  marks the point UNVERIFIED.) Every implementation read corrects: optax ``yogi`` and
  pytorch_optimizer ``Yogi`` divide :math:`m_t` and :math:`s_t` by :math:`1-\beta^t`
  (Adam style), TensorFlow Federated's ``build_yogi`` uses the Adam epsilon-hat form
  :math:`\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t) \cdot m_t/(\sqrt{s_t}+\epsilon)`; the cheat
  sheet's hats follow the first. These are different updates, not knobs: they belong in
  ``refopt.flavors``. With :math:`\beta_1 = \beta_2 = 0` the corrections are exactly 1 and
  the frameworks reduce to this rule, which is how the tests compare them.
* Initial state: the algorithm box sets :math:`s_0 = 0`; optax, pytorch_optimizer,
  TF-Addons and TF Federated start at 1e-6 (optax and pytorch_optimizer both moments).
  ``initial_accumulator`` sets :math:`s_0` here; :math:`m_0` stays 0 (a 1e-6 in :math:`m_0`
  decays as :math:`\beta_1^t \cdot 10^{-6}`).
* :math:`\epsilon = 10^{-3}` and :math:`\eta = 10^{-2}` are the values the frameworks use for
  Yogi (much larger than Adam's 1e-8, 1e-3); the cheat sheet gives neither.

=========  =======================  =======
symbol     argument                 default
=========  =======================  =======
eta        ``lr``                   1e-2
beta_1     ``beta1``                0.9
beta_2     ``beta2``                0.999
epsilon    ``eps``                  1e-3
s_0        ``initial_accumulator``  0 (optax, pytorch_optimizer 1e-6)
=========  =======================  =======

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all been
exactly 0 makes :math:`m_t/(\sqrt{s_t}+\epsilon)` 0/0: the step there is NaN from step 1, every
other coordinate stays finite. The formula is undefined there and the rule propagates the NaN
(DESIGN); ``refopt.check_finite`` reports it. With the default ``eps`` (1e-3) the step there is
exactly 0, and an all-zero gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)

**float16.** :math:`s` is kept in the params' dtype, and float16 cannot hold the small
:math:`s` that Yogi builds from small gradients: each step adds at most
:math:`(1-\beta_2) g_t^2`, which is 0 in float16 (below half its smallest subnormal,
:math:`2^{-25} \approx 3\cdot10^{-8}`) for :math:`|g_t| < 5.5\cdot10^{-3}` at
:math:`\beta_2 = 0.999`. Then :math:`s` stays 0 however many steps are taken, and the step is
:math:`\eta m_t/\epsilon` instead of :math:`\eta m_t/(\sqrt{s_t}+\epsilon)`: too large by
:math:`\sqrt{s_t}/\epsilon`, up to 17% per step at the default :math:`\epsilon = 10^{-3}` while
the float64 :math:`s` is still below :math:`3\cdot10^{-8}`, and towards :math:`|g|/\epsilon` (5.5x) on
a long run (the float64 :math:`s` tends to :math:`g^2`). Measured: :math:`g = w_0 = 10^{-3}` for 3 steps
gives -0.0046005 in float16 vs -0.0043590 in float64 on the same inputs, 4.5% of the step;
the float64 :math:`s_t = t \cdot 1.0\cdot10^{-9}` rounds to 0 in float16, so no order of
operations can do better (rounding the exact float64 state to float16 each step gives the
same 0). Likewise :math:`s` cannot hold :math:`g^2 \ge 65504` (:math:`|g| \ge 256`) once it has
grown to it: it overflows to inf and the steps become 0. Use float32 or wider for :math:`s` with
gradients this small or large. (tests/rules/test_low_precision_adafactor_yogi.py; the fuzz
suite, tests/robustness/test_fuzz.py, draws float16 gradients for Yogi with |g| in
[0.25, 255] for this reason.)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule


class YogiState(NamedTuple):
    t: int
    m: object  # first moment
    s: object  # second moment, moved additively


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    # (1-beta2) g^2 as ((1-beta2) g) g: g * g alone overflows float16 for |g| >= 256 (65504 is
    # its largest number), and inf in s makes every later step exactly 0, while (1-beta2) g^2
    # is finite up to |g| ~ 8000. Where the product is a normal number, so is (1-beta2) g: no
    # precision is lost. g * g is still right for the sign: an inf there is larger than any s.
    g2 = g * g
    s = s - xp.sign(s - g2) * (((1 - beta2) * g) * g)
    w = w - lr * m / (xp.sqrt(s) + eps)
    return w, m, s


def yogi(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3, initial_accumulator=0.0):
    """Yogi (Zaheer et al. 2018, Algorithm 2): ``s <- s - (1-beta2)*sign(s - g^2)*g^2``,
    ``w <- w - lr*m/(sqrt(s) + eps)``, no bias correction, ``s_0 = initial_accumulator``."""
    # an initial value, not a rate: a number fixed at construction, never a schedule
    s0 = number("initial_accumulator", initial_accumulator, NONNEGATIVE)
    return rule("yogi", YogiState, lambda w: (zeros_like(w), zeros_like(w) + s0), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE)})


INFO = RuleInfo(
    name="yogi", factory=yogi, family="C. Adam family",
    paper="Zaheer et al. (2018)", year=2018, hook="s_t grows cautiously (direction of gap)",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "s_t = s_{t-1} - (1-\\beta_2)\\, \\mathrm{sign}(s_{t-1} - g_t^2)\\, g_t^2\n"
              "w_t = w_{t-1} - \\eta \\frac{m_t}{\\sqrt{s_t} + \\epsilon}",
    buffers=2,
    checked_against={"optax.yogi": 1e-12, "pytorch_optimizer.Yogi": 1e-12},
)
