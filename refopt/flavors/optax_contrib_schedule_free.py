r"""optax.contrib's ``schedule_free_sgd`` and ``schedule_free_adamw`` (optax 0.2.8,
``contrib/_schedule_free.py``) as refopt optimizers, with optax's names and defaults.

optax's params are y (the gradient point); ``optax.contrib.schedule_free_eval_params(state,
params)`` rebuilds :math:`x = (y - (1-b_1) z)/b_1`, which is ``eval_params(state)`` here. optax
weights the average by ``max_lr ** weight_lr_power`` with no :math:`t^r` (``r = 0``).

- ``schedule_free_sgd``: ``refopt.schedule_free_sgd(beta=b1)``; ``weight_decay`` is
  ``add_decayed_weights`` before ``sgd``: L2 at y, times the lr, as the authors' SGD.
- ``schedule_free_adamw``: ``refopt.schedule_free_adamw(bias_correction="moment")``
  (``scale_by_rms(eps_in_sqrt=False, bias_correction=True)``: the corrected moment, eps outside,
  the weights from the uncorrected lr), decay at y.

Refused: ``warmup_steps``. optax builds ``warmup_constant_schedule(0, lr, warmup_steps)`` and uses
it twice with two counts: the averaging weight reads it at its own step count (1 at the first
step: :math:`\gamma_t = \gamma\, t/T`) but the base optimizer's ``scale_by_learning_rate`` at
its count from 0 (:math:`\gamma\,(t-1)/T`): z does not move at step 1 and every warmup step of
z lags the paper's by one. No single :math:`\gamma_t` gives that (measured in
tests/flavors/test_schedule_free_flavors.py). ``state_dtype`` other than None is refused too.
``optax.contrib.schedule_free(base, learning_rate, b1, weight_lr_power)`` over an arbitrary
base transformation is not modelled: z accumulates whatever the base returns, so it is a
combinator over rules, not one rule; the two aliases above are its documented uses.
"""
from __future__ import annotations

from ..rules.schedule_free_adamw import schedule_free_adamw as _adamw
from ..rules.schedule_free_sgd import schedule_free_sgd as _sgd
from .schedulefree import _beta_inside

PREFIX = "optax.contrib."
__all__ = ["schedule_free_sgd", "schedule_free_adamw"]


def _refused(name: str, warmup_steps, state_dtype) -> None:
    if warmup_steps is not None:
        raise ValueError(f"optax.contrib.{name}: warmup_steps is not modelled by refopt (optax's z step "
                         "reads the warmup at count t-1, its averaging weight at t)")
    if state_dtype is not None:
        raise ValueError(f"optax.contrib.{name}: state_dtype is not modelled by refopt")


def schedule_free_sgd(learning_rate=1.0, warmup_steps=None, b1=0.9, weight_decay=None, weight_lr_power=2.0,
                      state_dtype=None):
    """``optax.contrib.schedule_free_sgd``: ``refopt.schedule_free_sgd(beta=b1)``, no warmup."""
    _refused("schedule_free_sgd", warmup_steps, state_dtype)
    _beta_inside("b1", b1)
    return _sgd(lr=learning_rate, beta=b1, weight_decay=0.0 if weight_decay is None else weight_decay,
                weight_lr_power=weight_lr_power)


def schedule_free_adamw(learning_rate=0.0025, warmup_steps=None, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0,
                        weight_lr_power=2.0, state_dtype=None):
    """``optax.contrib.schedule_free_adamw``: ``schedule_free_adamw(bias_correction="moment")``."""
    _refused("schedule_free_adamw", warmup_steps, state_dtype)
    _beta_inside("b1", b1)
    return _adamw(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay,
                  weight_lr_power=weight_lr_power, bias_correction="moment")
