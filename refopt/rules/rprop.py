r"""Rprop: a step size per coordinate that grows while the gradient keeps its sign and shrinks
when it flips; the step moves by that size against the gradient's sign, whatever its magnitude.

.. math::

    f_t &= \eta^+,\ \eta^-,\ 1 \quad\text{where } g_{t-1} g_t > 0,\ < 0,\ = 0 \\
    \Delta_t &= \mathrm{clip}(f_t\, \Delta_{t-1},\ \Delta_{\min},\ \Delta_{\max}) \\
    g_t &\leftarrow 0 \quad \text{where } g_{t-1} g_t < 0 \\
    w_t &= w_{t-1} - \mathrm{sign}(g_t)\, \Delta_t

with :math:`g_0 = 0` and :math:`\Delta_0` = ``lr`` for every coordinate; :math:`g_{t-1}` is the
stored gradient, 0 where its sign had flipped. Riedmiller & Braun (1993), "A direct adaptive
method for faster backpropagation learning: the RPROP algorithm", Proc. IEEE International
Conference on Neural Networks (ICNN), pp. 586-591: the update-values and their adaptation
(eq. 4), the step against the sign (eq. 5), and :math:`\partial E/\partial w \leftarrow 0` after a
sign change, so that the next step does not adapt again (their remedy for a "double punishment").

**Which Rprop.** The 1993 paper also *reverts* the previous weight step where the sign flips
(weight-backtracking, :math:`\Delta w_t = -\Delta w_{t-1}`): Rprop+ in the naming of Igel &
Hüsken (2000), "Improving the Rprop learning algorithm", Proc. NC 2000. This rule does not
backtrack but does zero the gradient: their **iRprop-**, which is what ``torch.optim.Rprop``
computes (torch 2.13, ``_single_tensor_rprop``). ``optax.rprop`` (optax 0.2.8) keeps the same
step sizes (iRprop-) but emits, at step t, the step it computed at step t-1 (0 at step 1): a
one-step-stale update, reported upstream (google-deepmind/optax PR #1725);
``refopt.flavors.torch_catalogue.optax_rprop`` reproduces it as a rule of its own.

The clip is torch's form: it is applied at every step, also where :math:`f_t = 1`, so an ``lr``
outside the bounds is clipped into them at step 1; once inside, it is the paper's
:math:`\min(\eta^+\Delta, \Delta_{\max})` and :math:`\max(\eta^-\Delta, \Delta_{\min})`.

======================  ==================  =======
symbol                  argument            default
======================  ==================  =======
Delta_0                 ``lr``              0.1
eta^-                   ``eta_minus``       0.5
eta^+                   ``eta_plus``        1.2
Delta_min               ``min_step_size``   1e-6
Delta_max               ``max_step_size``   50.0
======================  ==================  =======

The defaults are the paper's recommendations (:math:`\Delta_0 = 0.1`, :math:`\Delta_{\max} = 50`,
:math:`\eta^- = 0.5`, :math:`\eta^+ = 1.2`) and torch's :math:`\Delta_{\min} = 10^{-6}`. torch's
``Rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))`` differs only in :math:`\Delta_0`.
``lr`` is read once, by ``init`` (it fills ``state.step_size``): a number, not a schedule.

**Where the formula is undefined.** Nowhere for finite gradients: :math:`\mathrm{sign}(0) = 0`,
so a zero gradient takes no step and leaves :math:`\Delta` as it is.

An infinite gradient is a sign like any other; a NaN gradient makes that coordinate of ``w``
NaN (its sign is NaN), while its :math:`\Delta` is kept (a NaN product is neither > 0 nor < 0).
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, Interval, RuleInfo, number, rule

ETA_MINUS = Interval(0.0, 1.0, lo_open=True)   # (0, 1): a shrink
ETA_PLUS = Interval(1.0, lo_open=True)         # (1, inf): a growth


class RpropState(NamedTuple):
    t: int
    prev: object       # g_{t-1}: the last gradient, 0 where its sign had flipped
    step_size: object  # Delta_{t-1}, one per coordinate


def _update(w, g, prev, step_size, *, t, lr, eta_minus, eta_plus, min_step_size, max_step_size):
    del lr  # Delta_0: init put it in step_size
    xp = array_namespace(w)
    agreement = g * prev
    # full_like and minimum/maximum, not Python floats in where() or clip(): NumPy promotes an
    # ml_dtypes bfloat16 array to float32 there
    factor = xp.where(agreement > 0, xp.full_like(w, eta_plus),
                      xp.where(agreement < 0, xp.full_like(w, eta_minus), xp.ones_like(w)))
    step_size = xp.minimum(xp.maximum(step_size * factor, min_step_size), max_step_size)
    g = xp.where(agreement < 0, xp.zeros_like(g), g)  # a flip: no step now, no adaptation next
    w = w - xp.sign(g) * step_size
    return w, g, step_size


def rprop(lr=0.1, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0):
    """Rprop without weight-backtracking (Riedmiller & Braun 1993; Igel & Hüsken's iRprop-):
    ``lr`` is the initial step size Delta_0 of every coordinate."""
    delta0 = number("lr", lr, NONNEGATIVE)
    lo = number("min_step_size", min_step_size, NONNEGATIVE)
    hi = number("max_step_size", max_step_size, NONNEGATIVE)
    if lo > hi:
        raise ValueError(f"min_step_size must be <= max_step_size, got {lo:g} > {hi:g}")

    def init_leaf(w):
        return zeros_like(w), array_namespace(w).full_like(w, delta0)

    return rule("rprop", RpropState, init_leaf, _update,
                {"lr": (delta0, NONNEGATIVE), "eta_minus": (eta_minus, ETA_MINUS),
                 "eta_plus": (eta_plus, ETA_PLUS), "min_step_size": (lo, NONNEGATIVE),
                 "max_step_size": (hi, NONNEGATIVE)})


INFO = RuleInfo(
    name="rprop", factory=rprop, family="E. Sign-based",
    paper="Riedmiller & Braun (1993)", year=1993, hook="Step size from sign agreement only",
    equations="f_t = \\eta^+, \\eta^-, 1 \\text{ where } g_{t-1} g_t >, <, = 0\n"
              "\\Delta_t = \\mathrm{clip}(f_t \\Delta_{t-1}, \\Delta_{\\min}, \\Delta_{\\max})\n"
              "g_t \\leftarrow 0 \\text{ where } g_{t-1} g_t < 0\n"
              "w_t = w_{t-1} - \\mathrm{sign}(g_t)\\, \\Delta_t",
    buffers=2,
    checked_against={"torch.optim.Rprop": 1e-12},
)
