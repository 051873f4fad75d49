r"""Optimistic Adam: Adam's step, extrapolated by the change of that step since the last one.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    r_t &= \frac{\hat m_t}{\sqrt{\hat s_t + \epsilon_{root}} + \epsilon}, \qquad
        \hat s_t = s_t / (1-\beta_2^t) \\
    w_t &= w_{t-1} - \eta_t\,\bigl((\alpha+\beta)\, r_t - \beta\, r_{t-1}\bigr)

with :math:`m_0 = s_0 = 0`, :math:`r_0 = r_1`, and :math:`\hat m_t = m_t/(1-\beta_1^t)`, or with
``nesterov=True`` Dozat's look-ahead :math:`\hat m_t = \beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1)
g_t/(1-\beta_1^t)`. Daskalakis, Ilyas, Syrgkanis & Zeng (2018), "Training GANs with Optimism",
ICLR, arXiv 1711.00141, Algorithm 1 ("Optimistic ADAM"): there :math:`w_t = w_{t-1} - 2\eta r_t
+ \eta r_{t-1}`, i.e. :math:`\alpha = \beta = 1` (the defaults here) and ``nesterov=False``.
Algorithm 1 has no epsilon (:math:`\epsilon` is Adam's, for the division).

=============  ==============  =======
symbol         argument        default
=============  ==============  =======
eta            ``lr``          1e-3
alpha, beta    ``alpha``,      1.0, 1.0
               ``optimism``
                               (beta)
beta_1         ``beta1``       0.9
beta_2         ``beta2``       0.999
epsilon        ``eps``         1e-8
epsilon_root   ``eps_root``    0.0
(flag)         ``nesterov``    False
=============  ==============  =======

**Frameworks.** optax has two interfaces of one algorithm (``scale_by_adam`` then
``scale_by_optimistic_gradient``), both ``nesterov=True`` by default:
``optimistic_adam_v2(learning_rate, alpha, beta)`` is this rule; the deprecated
``optimistic_adam(learning_rate, optimism)`` puts the learning rate *inside* the optimistic
combination, :math:`-(\eta + o)\, r_t + o\, r_{t-1}`: this rule with ``lr=1``, ``alpha=eta``,
``beta=o`` (``optimism`` defaults to ``learning_rate``, which is the paper's
:math:`2\eta r_t - \eta r_{t-1}`). One rule covers both (refopt.flavors.optax_catalogue_b).

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been 0 makes :math:`r_t` 0/0: NaN there from step 1, as Adam. With the default
``eps`` the step there is exactly 0. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .optimistic_gd import REAL


class OptimisticAdamState(NamedTuple):
    t: int
    m: object       # running mean of gradients
    s: object       # running mean of squared gradients
    r_prev: object  # the previous Adam direction r_{t-1}


def _update(w, g, m, s, r_prev, *, t, lr, alpha, optimism, beta1, beta2, eps, eps_root, nesterov):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    if nesterov:
        m_hat = beta1 * (m / (1 - beta1 ** (t + 1))) + (1 - beta1) * (g / (1 - beta1**t))
    else:
        m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    r = m_hat / (xp.sqrt(s_hat + eps_root) + eps)
    if t == 1:
        r_prev = r  # no r_0: the first step is Adam's, times alpha
    w = w - lr * ((alpha + optimism) * r - optimism * r_prev)
    return w, m, s, r


def optimistic_adam(lr=1e-3, alpha=1.0, optimism=1.0, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=0.0,
                    nesterov=False):
    """Optimistic Adam (Daskalakis et al. 2018, Algorithm 1 at alpha = beta = 1)."""
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
    return rule("optimistic_adam", OptimisticAdamState,
                lambda w: (zeros_like(w), zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "alpha": (alpha, REAL), "optimism": (optimism, REAL),
                 "beta1": (beta1, UNIT), "beta2": (beta2, UNIT), "eps": (eps, NONNEGATIVE),
                 "eps_root": (eps_root, NONNEGATIVE), "nesterov": (nesterov, None)})


INFO = RuleInfo(
    name="optimistic_adam", factory=optimistic_adam, family="C. Adam family",
    paper="Daskalakis et al. (2018)", year=2018, hook="Adam step extrapolated by its last change",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\, g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2)\\, g_t \\odot g_t\n"
              "r_t = \\hat m_t / (\\sqrt{\\hat s_t} + \\epsilon)\n"
              "w_t = w_{t-1} - \\eta\\,((\\alpha+\\beta) r_t - \\beta r_{t-1})",
    buffers=3,
    checked_against={"optax.optimistic_adam_v2": 1e-12, "optax.optimistic_adam": 1e-12},
)
