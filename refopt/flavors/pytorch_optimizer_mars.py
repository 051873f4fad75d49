r"""pytorch-optimizer's ``MARS`` as a refopt optimizer, both of its modelled types:
``mars_type="adamw"`` (its default: ``refopt.mars``) and ``mars_type="shampoo"`` (``refopt.mars_m``
with Muon's shape factor; its bfloat16 Newton-Schulz rule is in ``pytorch_optimizer_muon``).

What pytorch-optimizer 4.1.0 computes for ``"adamw"`` (``MARS.optimize_mixed`` and its foreach
path, the same numbers), against ``refopt.mars`` (Yuan et al. 2024, Algorithm 2):

* its denominator is :math:`(\sqrt{s_t + 10^{-15}} + \epsilon)/\sqrt{1-\beta_2^t}`, eps added
  before the bias correction: the flavor passes :math:`\epsilon_t = \epsilon/\sqrt{1-\beta_2^t}`
  and ``eps_root`` :math:`10^{-15}/(1-\beta_2^t)`. Leaving out either parts from it at step 1: the
  eps placement by 8.2e-6 relative at its defaults, the :math:`10^{-15}` by 4.1e-10 (4.1e-9 at
  :math:`\beta_2 = 0.999`) (tests/flavors/test_pytorch_optimizer_mars.py);
* the clip is per tensor (``torch.norm`` of one parameter's :math:`c_t`), as the rule's per leaf;
* leaves of ndim < 2 get plain AdamW with ``lr_1d``, ``betas_1d``, ``weight_decay_1d`` (no
  correction, no clip) unless ``optimize_1d=True``, which gives every leaf the MARS rule;
* decay :math:`w(1-\eta\lambda)` before the step (``fixed_decay``: :math:`w(1-\lambda)`).
"""
from __future__ import annotations

import math

import refopt

from ..core import NONNEGATIVE, number
from ..rules.muon import choice, flag
from . import bfloat16
from .pytorch_optimizer_muon import _mars_bfloat16
from .pytorch_optimizer_rules import by_ndim, no_extras, refuse
from .torch import _betas, decoupled, negated

__all__ = ["MARS"]

_S_EPS = 1e-15  # pytorch-optimizer's exp_avg_sq_eps, added to s inside the root


def MARS(lr=3e-3, betas=(0.95, 0.99), gamma=0.025, mars_type="adamw", optimize_1d=False, lr_1d=3e-3,
         betas_1d=(0.9, 0.95), weight_decay=0.0, weight_decay_1d=1e-1, weight_decouple=True,
         fixed_decay=False, ams_bound=False, cautious=False, eps=1e-8, maximize=False, foreach=None,
         newton_schulz_dtype="bfloat16", **kwargs):
    r"""``pytorch_optimizer.MARS``. ``"adamw"``: ``refopt.mars`` with eps
    :math:`\epsilon/\sqrt{1-\beta_2^t}` on leaves of ndim >= 2 (every leaf with ``optimize_1d``).
    ``"shampoo"``: on 2-D leaves ``refopt.mars_m`` with Muon's shape factor (``adjust_lr="original"``)
    and NS eps 0 (theirs: ``max(norm, eps)`` of :math:`M/(1-\beta_1)`, the same unless that is below
    eps), NS in bfloat16 as theirs (``newton_schulz_dtype``) or in float64; only ``betas[0]`` enters.
    Other leaves: ``refopt.adamw`` with ``lr_1d``, ``betas_1d``, ``weight_decay_1d`` and eps
    :math:`\epsilon/\sqrt{1-\beta_2^t}`. ``newton_schulz_dtype`` is not theirs and only for "shampoo"."""
    no_extras("MARS", kwargs)
    choice("mars_type", mars_type, ("adamw", "lion", "shampoo"))
    if mars_type == "lion":
        refuse("MARS", "mars_type='lion'", "MARS-Lion has no refopt rule: pass 'adamw' or 'shampoo'")
    one_d = flag("optimize_1d", optimize_1d)
    if one_d and mars_type == "shampoo":
        refuse("MARS", "optimize_1d=True", "MARS-AdamW on leaves of ndim < 2 beside MARS-M on matrices")
    for name, value, why in (("ams_bound", ams_bound, "the running max of the second moment"),
                             ("cautious", cautious, "the cautious update mask")):
        if flag(name, value):
            refuse("MARS", f"{name}=True", why)
    lr, lr_1d = number("lr", lr, NONNEGATIVE), number("lr_1d", lr_1d, NONNEGATIVE)
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    wd_1d = number("weight_decay_1d", weight_decay_1d, NONNEGATIVE)
    if (wd or wd_1d) and not flag("weight_decouple", weight_decouple):
        refuse("MARS", "weight_decouple=False", "pytorch-optimizer adds the decay to the gradient after "
               "the step is computed, so it only enters the stored last gradient")
    b1, b2 = _betas(betas)
    b1d, b2d = _betas(betas_1d)
    eps = number("eps", eps, NONNEGATIVE)
    fixed = flag("fixed_decay", fixed_decay)
    dtype = choice("newton_schulz_dtype", newton_schulz_dtype, bfloat16.DTYPES)
    if mars_type == "adamw":
        matrices = refopt.mars(lr=lr, beta1=b1, beta2=b2, gamma=gamma,
                               eps=lambda t: eps / math.sqrt(1 - b2**t),
                               eps_root=lambda t: _S_EPS / (1 - b2**t))
    elif dtype == "bfloat16":
        matrices = _mars_bfloat16(lr, b1, gamma, eps)
    else:
        matrices = refopt.mars_m(lr=lr, beta1=b1, gamma=gamma, weight_decay=0.0, eps=0.0,
                                 adjust_lr="original")
    matrices = decoupled(matrices, 1.0 if fixed else lr, wd)
    if one_d:
        return negated(matrices) if flag("maximize", maximize) else matrices
    others = refopt.adamw(lr=lr_1d, beta1=b1d, beta2=b2d, eps=lambda t: eps / math.sqrt(1 - b2d**t),
                          weight_decay=wd_1d if fixed else lr_1d * wd_1d)
    opt = by_ndim(matrices, others)
    return negated(opt) if flag("maximize", maximize) else opt
