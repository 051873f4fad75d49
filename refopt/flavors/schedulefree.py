r"""The authors' ``schedulefree`` package (1.4.1) as refopt optimizers: its class names, arguments
and defaults. Each returns a Schedule-Free rule whose params are the package's ``p`` in train mode
(y, the gradient point) and whose ``eval_params(state)`` is ``p`` after ``optimizer.eval()`` (x).

- ``SGDScheduleFree`` and ``SGDScheduleFreeReference``: ``refopt.schedule_free_sgd`` with
  ``beta=momentum`` (decay as L2 at y). The fast class keeps only y (in p) and z and rebuilds
  ``x = lerp(y, z, 1 - 1/momentum)`` in ``eval()``: the same numbers up to that division's rounding.
- ``AdamWScheduleFree`` and ``AdamWScheduleFreeReference``: ``refopt.schedule_free_adamw`` with
  ``bias_correction="moment"``: the step is ``lr*g/(sqrt(s/(1-beta2^t)) + eps)`` and the
  averaging weights use the uncorrected ``lr``, where Algorithm 1 folds :math:`\sqrt{1-\beta_2^t}`
  into :math:`\gamma_t` (so into eps's scale, the weights and the decay). The Reference's
  ``decay_at_z=True`` (decay at z instead of y) is not modelled and refused.
- ``AdamWScheduleFreePaper``: the canonical rule, Algorithm 1 (``bias_correction="lr"``).

``foreach`` changes no number and is accepted; ``lr`` must be a number (the package reads it as
``group['lr']``, which a torch scheduler would drive: give refopt a schedule instead).
"""
from __future__ import annotations

from ..rules.schedule_free_adamw import schedule_free_adamw
from ..rules.schedule_free_sgd import schedule_free_sgd

PREFIX = "schedulefree."
__all__ = ["SGDScheduleFree", "SGDScheduleFreeReference", "AdamWScheduleFree",
           "AdamWScheduleFreeReference", "AdamWScheduleFreePaper"]


def _betas(betas) -> tuple:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a tuple of 2 numbers, got {betas!r}")
    return tuple(betas)


def _beta_inside(name: str, value) -> None:
    """The package divides by this beta to rebuild x (and the SGD class refuses 0 and 1)."""
    if isinstance(value, (int, float)) and not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1) for schedulefree (x = (y - (1-b) z)/b), got {value!r}")


def SGDScheduleFree(lr=1.0, momentum=0.9, weight_decay=0, warmup_steps=0, r=0.0, weight_lr_power=2,
                    foreach=None):
    """``schedulefree.SGDScheduleFree``: ``refopt.schedule_free_sgd(beta=momentum, ...)``."""
    _beta_inside("momentum", momentum)
    return schedule_free_sgd(lr=lr, beta=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps,
                             r=r, weight_lr_power=weight_lr_power)


SGDScheduleFreeReference = SGDScheduleFree


def AdamWScheduleFree(lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, warmup_steps=0, r=0.0,
                      weight_lr_power=2.0, foreach=None):
    """``schedulefree.AdamWScheduleFree``: ``refopt.schedule_free_adamw(bias_correction="moment")``."""
    beta1, beta2 = _betas(betas)
    _beta_inside("betas[0]", beta1)
    return schedule_free_adamw(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                               bias_correction="moment")


def AdamWScheduleFreeReference(lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, warmup_steps=0,
                               r=0, weight_lr_power=2, decay_at_z=False, foreach=False):
    """``schedulefree.AdamWScheduleFreeReference`` (keeps x, y, z): as ``AdamWScheduleFree``."""
    if decay_at_z:
        raise ValueError("decay_at_z=True (decay taken at z, not y) is not modelled by refopt")
    beta1, beta2 = _betas(betas)
    return schedule_free_adamw(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                               bias_correction="moment")


def AdamWScheduleFreePaper(lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, warmup_steps=0,
                           r=0.0, weight_lr_power=2.0, foreach=None):
    """``schedulefree.AdamWScheduleFreePaper``: Algorithm 1, the canonical ``schedule_free_adamw``."""
    beta1, beta2 = _betas(betas)
    _beta_inside("betas[0]", beta1)
    return schedule_free_adamw(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power)


def framework(attr: str, **kwargs):
    """``schedulefree.<attr>(params, **kwargs)`` on CPU tensors, as an adapter over NumPy params:
    its params in train mode, y (the oracle compares the gradient points)."""
    import schedulefree

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"schedulefree.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    cls = getattr(schedulefree, attr)

    def in_train_mode(params, **kw):  # the package refuses to step before .train(), as its docs say
        opt = cls(params, **kw)
        if hasattr(opt, "train"):
            opt.train()
        return opt
    in_train_mode.__module__, in_train_mode.__name__ = cls.__module__, cls.__name__
    return torch_optimizer(in_train_mode, **kwargs)


# No test vectors recorded for these yet (the CLI accepts every name in __all__).
EXAMPLES: dict = {}
