r"""ASGD: SGD with a slowly decaying step size, and the running average of its iterates, which
is the estimate (the iterates themselves keep the noise of the last steps; their mean does not).

.. math::

    \eta_t &= \eta \,/\, (1 + \lambda \eta\, (t-1))^{\alpha} \\
    w_t &= (1 - \lambda \eta_t)\, w_{t-1} - \eta_t\, g_t \\
    \mu_t &= 1 / \max(1,\ t - t_0) \\
    \bar w_t &= \bar w_{t-1} + \mu_t\, (w_t - \bar w_{t-1})
        \qquad (\bar w_t = w_t \text{ where } \mu_t = 1)

so for an integer :math:`t_0` and :math:`t > t_0`, :math:`\bar w_t` is the plain mean of the
iterates :math:`w_{t_0+1}, \dots, w_t`, and before that :math:`\bar w_t = w_t`. Polyak &
Juditsky (1992), "Acceleration of stochastic approximation by averaging", SIAM J. Control and
Optimization 30(4), 838-855: the average of iterates of a step size decaying slower than
:math:`1/t` (for example :math:`\gamma_t \propto t^{-\alpha}`, :math:`0 < \alpha < 1`) reaches
the optimal asymptotic rate (their Theorem 2). The step size
:math:`\eta_0 (1 + \lambda\eta_0 t)^{-\alpha}` and the factor :math:`1 - \lambda\eta_t` (SGD on
:math:`f + \tfrac{\lambda}{2}\lVert w\rVert^2`) are the form of Bottou (2012), "Stochastic
gradient descent tricks", Neural Networks: Tricks of the Trade, for averaged SGD
(:math:`\alpha = 3/4` there), which is what ``torch.optim.ASGD`` computes. :math:`\bar w_t` is
``state.w_avg`` (torch's ``ax``): read it as the answer.

======================  ==============  =======
symbol                  argument        default
======================  ==============  =======
eta                     ``lr``          1e-2
lambda                  ``lambd``       1e-4
alpha                   ``alpha``       0.75
t_0                     ``t0``          1e6
======================  ==============  =======

The defaults are torch's (the paper has none). ``lambd = 0`` makes the iterates plain SGD at
step size ``lr`` (whatever ``alpha``) and :math:`\bar w_t` their mean after ``t0``.
torch's ``t0`` is one less than this one: its :math:`\mu_t = 1/\max(1, t - 1 - t_0)`, so it
averages the iterates after :math:`t_0 + 1` (``refopt.flavors.torch_catalogue.ASGD`` passes
``t0 + 1``, and rounds :math:`\eta_t, \mu_t` to torch's scalar dtype as torch stores them).
``t0`` is a step count, compared with ``t`` in Python: it never meets an array, so it is not
checked against the params' dtype (1e6 is no float16 number, and need not be).

**Where the formula is undefined.** Nowhere: :math:`1 + \lambda\eta(t-1) \ge 1`, so
:math:`\eta_t` is finite and positive for every ``t``. A coordinate whose gradients are all 0
still moves for ``lambd > 0``: it shrinks by :math:`1 - \lambda\eta_t` each step (the decay).

A NaN or infinite gradient propagates into :math:`w_t` and, from then on, into :math:`\bar w_t`,
as the arithmetic does.
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace
from ..core import NONNEGATIVE, RuleInfo, number, rule


class ASGDState(NamedTuple):
    t: int
    w_avg: object  # the running average of the iterates after t0 (torch's ax)


def step_size(t, lr, lambd, alpha):
    """eta_t = lr / (1 + lambd lr (t-1))^alpha: lr at step 1, then Bottou's decay."""
    return lr / (1 + lambd * lr * (t - 1)) ** alpha


def averaging_weight(t, t0):
    """mu_t = 1/max(1, t - t0): 1 until t0 (w_avg follows w), then 1/2, 1/3, ... (a mean)."""
    return 1 / max(1, t - t0)


def averaged_step(w, g, w_avg, *, eta, mu, lambd):
    """One step of the decayed SGD, then the average moved by mu towards the new iterate."""
    xp = array_namespace(w)
    w = w * (1 - lambd * eta) - eta * g
    # mu = 1 copies w: w_avg + 1 (w - w_avg) would round, the mean of one iterate is that iterate
    w_avg = xp.asarray(w, copy=True) if mu == 1 else w_avg + mu * (w - w_avg)
    return w, w_avg


def _update(w, g, w_avg, *, t, lr, lambd, alpha, t0):
    return averaged_step(w, g, w_avg, eta=step_size(t, lr, lambd, alpha), mu=averaging_weight(t, t0),
                         lambd=lambd)


def asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6):
    """Averaged SGD (Polyak & Juditsky 1992) with Bottou's decaying step size; the average of the
    iterates after step ``t0`` is ``state.w_avg``."""
    return rule("asgd", ASGDState, lambda w: (array_namespace(w).zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "lambd": (lambd, NONNEGATIVE), "alpha": (alpha, NONNEGATIVE),
                 # a count compared in Python, never an array's number (module docstring)
                 "t0": (number("t0", t0, NONNEGATIVE), None)})


INFO = RuleInfo(
    name="asgd", factory=asgd, family="A. Baselines",
    paper="Polyak & Juditsky (1992)", year=1992, hook="Average of the iterates is the answer",
    equations="\\eta_t = \\eta / (1 + \\lambda \\eta (t-1))^{\\alpha}\n"
              "w_t = (1 - \\lambda \\eta_t)\\, w_{t-1} - \\eta_t\\, g_t\n"
              "\\bar w_t = \\bar w_{t-1} + (w_t - \\bar w_{t-1}) / \\max(1, t - t_0)",
    buffers=1,
    checked_against={"torch.optim.ASGD": 1e-12},
)
