r"""RMSProp: divide each step by a running root-mean-square of recent gradients.

.. math::

    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \bar g_t &= \beta_2 \bar g_{t-1} + (1-\beta_2)\, g_t
        \qquad\text{(centered only)} \\
    r_t &= \frac{g_t}{\sqrt{s_t - \bar g_t \odot \bar g_t + \epsilon_{root}} + \epsilon}
        \qquad (\bar g_t \equiv 0 \text{ unless centered}) \\
    b_t &= \mu\, b_{t-1} + r_t \qquad\text{(momentum only; otherwise } b_t = r_t) \\
    w_t &= w_{t-1} - \eta_t\, b_t

with :math:`s_0 = s_{init}` (0), :math:`\bar g_0 = 0`, :math:`b_0 = 0`. Plain form: Hinton
(with Tieleman), Coursera "Neural Networks for Machine Learning" (2012), lecture 6e "rmsprop:
divide the gradient by a running average of its recent magnitude": a running mean square
with decay 0.9, no :math:`\epsilon`, no bias correction (the cheat sheet's "slide 29" is
not checked). Centered form: Graves (2013), "Generating
Sequences With Recurrent Neural Networks", arXiv 1308.0850, eq. (38)-(41): the running mean
:math:`\bar g` is subtracted, so the root is of a variance estimate, and momentum
:math:`\Delta \leftarrow \beth\Delta - \gimel\, g/\sqrt{n - \bar g^2 + k}` is applied to the
*rescaled* gradient, with the step size inside the buffer (here outside: identical for a
constant :math:`\eta`, :math:`\Delta = -\eta b`). Graves's constant :math:`k` sits inside the
root (``eps_root=k, eps=0``); his values (decay 0.95, momentum 0.9, step and :math:`k`
1e-4) are as recalled in the project's formulas.md, not re-read.

This momentum form is what torch, keras and optax implement ("RMSProp with momentum" in
the notes' comparison with Adam): the rescaling happens before the momentum, unlike Adam,
which averages raw gradients and rescales the average.

In exact arithmetic :math:`s_t - \bar g_t^2 \ge 0` (Jensen's inequality with weights
:math:`(1-\beta_2)\beta_2^{t-i}` that sum to :math:`1-\beta_2^t \le 1`, and :math:`s_0 \ge 0`).
In floating point it can round below zero when the gradient has (almost) no variance, for
example a constant gradient for many steps; the square root is then NaN, as in torch.
Nothing is clamped: a near-zero variance makes the step :math:`\eta g/\epsilon` anyway.

======================  ========================  =======
symbol                  argument                  default
======================  ========================  =======
eta                     ``lr``                    1e-3
beta_2                  ``beta2``                 0.9 (Hinton; torch 0.99)
epsilon                 ``eps``                   1e-8
epsilon_root            ``eps_root``              0.0
mu                      ``momentum``              0.0
(flag)                  ``centered``              False
s_0                     ``initial_accumulator``   0.0
======================  ========================  =======

The lecture gives no step size and no :math:`\epsilon`; 1e-3 and 1e-8 (outside the root,
torch's placement) are choices. Convention knobs: ``eps_root`` (keras and optax put their
``eps`` inside the root and none outside), ``initial_accumulator`` (optax
``initial_scale``; "TF1 uses 1"). Not knobs: optax's ``bias_correction=True`` (dividing
:math:`s` and :math:`\bar g` by :math:`1-\beta_2^t` is another algorithm) and optax's
``nesterov`` momentum; torch's ``weight_decay`` is ``refopt.coupled_weight_decay``.

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`g_t/(\sqrt{s_t}+\epsilon)` 0/0: the step there is
NaN from step 1, every other coordinate stays finite. The formula is undefined there and the
rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the default ``eps``
(1e-8) the step there is exactly 0, and an all-zero gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule


class RMSPropState(NamedTuple):
    t: int
    s: object     # running mean of squared gradients
    gbar: object  # running mean of gradients (an empty tuple per leaf unless centered)
    b: object     # momentum buffer of rescaled gradients (an empty tuple per leaf without momentum)


def _update(w, g, s, gbar, b, *, t, lr, beta2, eps, eps_root, momentum, centered, heavy_ball):
    xp = array_namespace(w)
    s = beta2 * s + (1 - beta2) * g * g
    if centered:
        gbar = beta2 * gbar + (1 - beta2) * g
        r = g / (xp.sqrt(s - gbar * gbar + eps_root) + eps)
    else:
        r = g / (xp.sqrt(s + eps_root) + eps)
    if heavy_ball:
        b = momentum * b + r
        return w - lr * b, s, gbar, b
    return w - lr * r, s, gbar, b


def rmsprop(lr=1e-3, beta2=0.9, eps=1e-8, momentum=0.0, centered=False, eps_root=0.0,
            initial_accumulator=0.0):
    """RMSProp, optionally centered (Graves 2013) and with momentum on the rescaled gradient."""
    if not isinstance(centered, bool):
        raise ValueError(f"centered must be True or False, got {centered!r}")
    s0 = number("initial_accumulator", initial_accumulator, NONNEGATIVE)
    heavy_ball = callable(momentum) or momentum != 0.0  # a schedule may be nonzero later

    def init_leaf(w):
        xp = array_namespace(w)
        return (xp.full_like(w, s0), zeros_like(w) if centered else (),
                zeros_like(w) if heavy_ball else ())

    opt = rule("rmsprop", RMSPropState, init_leaf,
               partial(_update, centered=centered, heavy_ball=heavy_ball),
               {"lr": (lr, NONNEGATIVE), "beta2": (beta2, UNIT), "eps": (eps, NONNEGATIVE),
                "eps_root": (eps_root, NONNEGATIVE), "momentum": (momentum, UNIT)})
    # s_0 and the flag are used by init, so they are no schedules; listed with the others
    return replace(opt, hyperparams={**opt.hyperparams, "centered": centered,
                                     "initial_accumulator": s0},
                   bounds={**opt.bounds, "initial_accumulator": NONNEGATIVE})


INFO = RuleInfo(
    name="rmsprop", factory=rmsprop, family="B. Adaptive (diagonal)",
    paper="Hinton & Tieleman (2012); Graves (2013)", year=2012,
    hook="AdaGrad but forget the distant past",
    equations="s_t = \\beta_2 s_{t-1} + (1-\\beta_2)\\, g_t \\odot g_t\n"
              "w_t = w_{t-1} - \\eta\\, \\frac{g_t}{\\sqrt{s_t} + \\epsilon}",
    buffers="1-3",
    checked_against={"torch.optim.RMSprop": 1e-12, "optax.rmsprop": 1e-12},
    example=lambda: rmsprop(momentum=0.9, centered=True),
)
