r"""pytorch-optimizer's ``ADOPT`` and ``AdEMAMix`` as refopt optimizers: its class names, arguments
and defaults (pytorch-optimizer 4.1.0, ``optimizer/adopt.py`` and ``optimizer/ademamix.py``).

- ``ADOPT`` is ``refopt.adopt``. Its first step only sets ``exp_avg_sq = g*g`` (the paper's
  :math:`v_0`), as the rule's; it then clips at ``clip_lambda(step)`` with its call count, one more
  than the paper's t: ``clip=lambda t: clip_lambda(t + 1)``, i.e. :math:`(t+1)^{1/4}` by default
  instead of the paper's :math:`t^{1/4}` (``clip_lambda=None``: no clipping). ``cautious=True`` is
  ``refopt.cautious`` of the rule (its mask compares the momentum with the normalised gradient,
  whose signs are the gradient's).
- ``AdEMAMix`` is ``refopt.ademamix`` with ``t_alpha = t_beta3 = t_alpha_beta3``; its
  ``cautious=True`` masks the fast EMA only, before the slow one is added (not the paper's mask of
  the whole update): refused.

Weight decay, ``maximize``, ``fixed_decay`` and ``foreach`` follow ``pytorch_optimizer_rules.finish``
(the default ``weight_decouple=False`` is coupled L2, including on ADOPT's first step, where it
enters :math:`v_0`). ``stable_adamw`` (an RMS division no refopt rule has) is refused.
"""
from __future__ import annotations

import math

import refopt

from ..cautious import cautious as cautious_of
from ..core import NONNEGATIVE, number
from ..rules.muon import flag
from .pytorch_optimizer_rules import finish, no_extras, refuse

PREFIX = "pytorch_optimizer."
__all__ = ["ADOPT", "AdEMAMix"]


def _betas(betas, n: int) -> tuple:
    if not isinstance(betas, (tuple, list)) or len(betas) != n:
        raise ValueError(f"betas must be a tuple of {n} numbers, got {betas!r}")
    return tuple(betas)


def _options(cls: str, kwargs: dict) -> bool:
    """``cautious`` as a flag; ``stable_adamw`` refused when set; anything else a ``TypeError``."""
    cautious = flag("cautious", kwargs.pop("cautious", False))
    if kwargs.pop("stable_adamw", False):
        refuse(cls, "stable_adamw=True", "StableAdamW's division by the update's RMS")
    no_extras(cls, kwargs)
    return cautious


def ADOPT(lr=1e-3, betas=(0.9, 0.9999), clip_lambda=lambda step: math.pow(step, 0.25), weight_decay=0.0,
          weight_decouple=False, fixed_decay=False, foreach=None, eps=1e-6, maximize=False, **kwargs):
    """``pytorch_optimizer.ADOPT``: ``refopt.adopt(clip=lambda t: clip_lambda(t + 1))``."""
    cautious = _options("ADOPT", kwargs)
    beta1, beta2 = _betas(betas, 2)
    if clip_lambda is not None and not callable(clip_lambda):
        raise ValueError(f"clip_lambda must be a function of the step, or None, got {clip_lambda!r}")
    clip = None if clip_lambda is None else (lambda t: clip_lambda(t + 1))
    lr = number("lr", lr, NONNEGATIVE)
    opt = refopt.adopt(lr=lr, beta1=beta1, beta2=beta2, eps=eps, clip=clip)
    opt = cautious_of(opt) if cautious else opt
    return finish(opt, lr, weight_decay, weight_decouple, fixed_decay, maximize)


def AdEMAMix(lr=1e-3, betas=(0.9, 0.999, 0.9999), weight_decay=0.0, weight_decouple=False, fixed_decay=False,
             alpha=5.0, t_alpha_beta3=None, eps=1e-8, maximize=False, foreach=None, **kwargs):
    """``pytorch_optimizer.AdEMAMix``: ``refopt.ademamix(t_alpha=t_beta3=t_alpha_beta3)``."""
    if _options("AdEMAMix", kwargs):
        refuse("AdEMAMix", "cautious=True", "it masks the fast EMA only, before alpha*m2 is added")
    beta1, beta2, beta3 = _betas(betas, 3)
    lr = number("lr", lr, NONNEGATIVE)
    opt = refopt.ademamix(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, t_alpha=t_alpha_beta3,
                          t_beta3=t_alpha_beta3, eps=eps)
    return finish(opt, lr, weight_decay, weight_decouple, fixed_decay, maximize)
