r"""keras 3's ``ScheduleFreeAdamW`` (keras 3.15.1, ``keras/src/optimizers/schedule_free_adamw.py``)
as a refopt optimizer: keras's names, defaults and conventions, on ``keras_base`` (the floatx lr,
schedules, the base options) as the other keras flavors are.

keras keeps y in the variable and z in its ``momentum`` slot, and rebuilds
:math:`x = (y - (1-\beta_1) z)/\beta_1` inside each step; it has no eval switch, so a keras user
who wants x computes it from those two (``eval_params(state)`` here). Against Algorithm 1:

- the average is uniform, :math:`c_{t+1} = 1/t` (no :math:`\gamma_t^2` weights, no ``r``):
  ``weight_lr_power=0``;
- the moment is bias-corrected with eps outside the root: ``bias_correction="moment"``;
- warmup :math:`\min(1, t/T)` as the paper's.

Refused: ``weight_decay`` (keras's base optimizer shrinks the variable, y, before the step,
:math:`y \leftarrow y(1-\lambda\eta)`, so the decay reaches x through keras's rebuilt x, not z
as the paper's :math:`-\gamma_t\lambda y_t` does; the rule keeps x and z and cannot follow that).
"""
from __future__ import annotations

from ..rules.schedule_free_adamw import schedule_free_adamw
from .keras_base import learning_rate_of, options, wrap
from .schedulefree import _beta_inside

PREFIX = "keras.optimizers."
__all__ = ["ScheduleFreeAdamW"]


def ScheduleFreeAdamW(learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                      weight_decay=None, **base):
    """``keras.optimizers.ScheduleFreeAdamW``: ``refopt.schedule_free_adamw(bias_correction="moment",
    weight_lr_power=0)`` (uniform average), lr in floatx, keras's base options around it."""
    if weight_decay:
        raise ValueError("keras.optimizers.ScheduleFreeAdamW: weight_decay is not modelled by refopt "
                         "(keras decays y before the step, not z)")
    _beta_inside("beta_1", beta_1)
    opts = options(base)
    lr = learning_rate_of(learning_rate, opts)
    return wrap(schedule_free_adamw(lr=lr, beta1=beta_1, beta2=beta_2, eps=epsilon, warmup_steps=warmup_steps,
                                    weight_lr_power=0.0, bias_correction="moment"), opts)
