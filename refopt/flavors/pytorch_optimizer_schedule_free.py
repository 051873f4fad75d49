r"""pytorch-optimizer's ``ScheduleFreeSGD`` and ``ScheduleFreeAdamW`` (4.1.0,
``optimizer/schedulefree.py``) as refopt optimizers, with its names and defaults.

Both are the authors' fast form: p holds y, the state holds z, and ``eval()`` rebuilds
``x = lerp(y, z, 1 - 1/beta)``. The params of the rules returned here are y; ``eval_params(state)``
is p after ``eval()``.

- ``ScheduleFreeSGD``: ``refopt.schedule_free_sgd(beta=momentum)``; decay is L2 at y
  (``weight_decouple=False``). ``eps`` is accepted and unused, as there.
- ``ScheduleFreeAdamW``: ``refopt.schedule_free_adamw(bias_correction="moment")`` (the moment is
  bias-corrected, eps outside the root, weights from the uncorrected lr; Algorithm 1 folds the
  correction into gamma_t). ``decoupling_c > 0`` (c scaled by ``(1-beta1) decoupling_c``),
  ``ams_bound=True`` and ``maximize=True`` are not modelled and refused.
"""
from __future__ import annotations

from ..rules.schedule_free_adamw import schedule_free_adamw
from ..rules.schedule_free_sgd import schedule_free_sgd
from .schedulefree import _beta_inside, _betas

PREFIX = "pytorch_optimizer."
__all__ = ["ScheduleFreeSGD", "ScheduleFreeAdamW"]


def _refuse(cls: str, what: str) -> None:
    raise ValueError(f"pytorch_optimizer.{cls}: {what} is not modelled by refopt")


def ScheduleFreeSGD(lr=1.0, momentum=0.9, weight_decay=0.0, r=0.0, weight_lr_power=2.0, warmup_steps=0,
                    eps=1e-8, maximize=False, foreach=None):
    """``pytorch_optimizer.ScheduleFreeSGD``: ``refopt.schedule_free_sgd(beta=momentum)``."""
    if maximize:
        _refuse("ScheduleFreeSGD", "maximize=True")
    _beta_inside("momentum", momentum)
    return schedule_free_sgd(lr=lr, beta=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps,
                             r=r, weight_lr_power=weight_lr_power)


def ScheduleFreeAdamW(lr=2.5e-3, betas=(0.9, 0.999), weight_decay=0.0, r=0.0, weight_lr_power=2.0,
                      warmup_steps=0, decoupling_c=0, ams_bound=False, eps=1e-8, maximize=False,
                      foreach=None):
    """``pytorch_optimizer.ScheduleFreeAdamW``: ``schedule_free_adamw(bias_correction="moment")``."""
    for bad, what in ((decoupling_c, "decoupling_c > 0"), (ams_bound, "ams_bound=True"),
                      (maximize, "maximize=True")):
        if bad:
            _refuse("ScheduleFreeAdamW", what)
    beta1, beta2 = _betas(betas)
    _beta_inside("betas[0]", beta1)
    return schedule_free_adamw(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                               bias_correction="moment")
