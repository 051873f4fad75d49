r"""pytorch-optimizer's Muon family as refopt optimizers: ``Muon``, ``NorMuon`` and ``MARS``
(``mars_type="shampoo"``), over 2-D leaves in one ``use_muon=True`` group.

pytorch-optimizer runs their Newton-Schulz in bfloat16 whatever the params' dtype; these
constructors run it in the params' dtype (``refopt.flavors.pytorch_optimizer.RTOL`` gives the
measured gap). The conventions shared with the other flavors are in
``refopt.flavors.pytorch_optimizer``, which re-exports these.
"""
from __future__ import annotations

import math

import refopt

from ..core import NONNEGATIVE, number
from ..rules.muon import flag
from . import torch_muon
from .pytorch_optimizer_rules import by_ndim, finish, ns_coefficients, no_extras, refuse
from .torch import _betas, decoupled, negated

__all__ = ["Muon", "NorMuon", "MARS"]


# --- the Muon family (2-D leaves; every leaf in one use_muon=True group) ------------------------

def Muon(lr=2e-2, momentum=0.95, weight_decay=0.0, weight_decouple=True, nesterov=True, ns_steps=5,
         ns_coeffs="original", use_adjusted_lr=False, adamw_lr=3e-4, adamw_betas=(0.9, 0.95), adamw_wd=0.0,
         adamw_eps=1e-10, maximize=False, foreach=None, ns_method="newton_schulz", ns_reset_steps=(2,),
         **kwargs):
    """``pytorch_optimizer.Muon`` over one ``use_muon=True`` group: ``refopt.flavors.torch.Muon``
    (NS input over ``max(norm, 1e-7)``, decay with the unadjusted lr), ``use_adjusted_lr`` is
    torch's ``adjust_lr_fn="match_rms_adamw"``. NS in the params' dtype (theirs: bfloat16). The
    ``adamw_*`` arguments configure ``use_muon=False`` groups, which are not built: no effect."""
    no_extras("Muon", kwargs, reads=("cautious",))
    if ns_method != "newton_schulz":
        refuse("Muon", f"ns_method={ns_method!r}", "Gram Newton-Schulz with restarts")
    lr = number("lr", lr, NONNEGATIVE)
    decouple = flag("weight_decouple", weight_decouple)
    opt = torch_muon.Muon(lr=lr, weight_decay=weight_decay if decouple else 0.0, momentum=momentum,
                            nesterov=nesterov, ns_coefficients=ns_coefficients("Muon", ns_coeffs), eps=1e-7,
                            ns_steps=ns_steps,
                            adjust_lr_fn="match_rms_adamw" if flag("use_adjusted_lr", use_adjusted_lr) else None)
    return finish(opt, lr, 0.0 if decouple else weight_decay, False, False, maximize)


def NorMuon(lr=2e-2, momentum=0.95, beta2=0.95, weight_decay=0.0, weight_decouple=True, nesterov=True,
            ns_steps=5, ns_coeffs="original", update_scale="preserve_norm", use_adjusted_lr=False,
            adamw_lr=3e-4, adamw_betas=(0.9, 0.95), adamw_wd=0.0, adamw_eps=1e-10, eps=1e-10, maximize=False,
            foreach=None, **kwargs):
    """``pytorch_optimizer.NorMuon`` over one ``use_muon=True`` group: ``refopt.normuon`` with
    ``ns_eps=0``. Theirs divides the NS input by ``max(norm, 1e-7)``: the same unless the momentum
    is (nearly) 0, where this gives 0/0. NS in the params' dtype (theirs: bfloat16)."""
    no_extras("NorMuon", kwargs)
    if flag("use_adjusted_lr", use_adjusted_lr) and update_scale == "preserve_norm":
        refuse("NorMuon", "use_adjusted_lr=True with update_scale='preserve_norm'",
                "Moonlight's scale on a norm-preserving NorMuon step")
    lr = number("lr", lr, NONNEGATIVE)
    decouple = flag("weight_decouple", weight_decouple)
    opt = refopt.normuon(lr=lr, beta1=momentum, beta2=beta2, weight_decay=weight_decay if decouple else 0.0,
                         eps=eps, ns_eps=0.0, nesterov=nesterov, update_scale=update_scale, ns_steps=ns_steps,
                         ns_coefficients=ns_coefficients("NorMuon", ns_coeffs))
    return finish(opt, lr, 0.0 if decouple else weight_decay, False, False, maximize)


def MARS(lr=3e-3, betas=(0.95, 0.99), gamma=0.025, mars_type="adamw", optimize_1d=False, lr_1d=3e-3,
         betas_1d=(0.9, 0.95), weight_decay=0.0, weight_decay_1d=1e-1, weight_decouple=True, fixed_decay=False,
         ams_bound=False, cautious=False, eps=1e-8, maximize=False, foreach=None, **kwargs):
    r"""``pytorch_optimizer.MARS(mars_type="shampoo")``: on 2-D leaves ``refopt.mars_m`` with Muon's
    shape factor (``adjust_lr="original"``) and NS eps 0 (theirs: ``max(norm, eps)`` of
    :math:`M/(1-\beta_1)`, the same unless that is below eps); on leaves of ndim < 2
    ``refopt.adamw`` with ``lr_1d``, ``betas_1d``, ``weight_decay_1d`` and eps
    :math:`\epsilon/\sqrt{1-\beta_2^t}` (theirs is added before the correction). Only
    ``betas[0]`` enters the 2-D rule. NS in the params' dtype (theirs: bfloat16)."""
    no_extras("MARS", kwargs)
    if mars_type != "shampoo":
        refuse("MARS", f"mars_type={mars_type!r}", "refopt has MARS-M only: pass mars_type='shampoo'")
    for name, value, why in (("optimize_1d", optimize_1d, "MARS-AdamW on leaves of ndim < 2"),
                             ("ams_bound", ams_bound, "the running max of the second moment"),
                             ("cautious", cautious, "the cautious update mask")):
        if flag(name, value):
            refuse("MARS", f"{name}=True", why)
    lr, lr_1d = number("lr", lr, NONNEGATIVE), number("lr_1d", lr_1d, NONNEGATIVE)
    wd, wd_1d = number("weight_decay", weight_decay, NONNEGATIVE), number("weight_decay_1d", weight_decay_1d,
                                                                          NONNEGATIVE)
    if (wd or wd_1d) and not flag("weight_decouple", weight_decouple):
        refuse("MARS", "weight_decouple=False", "pytorch-optimizer adds the decay to the gradient after "
                "the step is computed, so it only enters the stored last gradient")
    b1 = _betas(betas)[0]
    b1d, b2d = _betas(betas_1d)
    eps = number("eps", eps, NONNEGATIVE)
    fixed = flag("fixed_decay", fixed_decay)
    matrices = decoupled(refopt.mars_m(lr=lr, beta1=b1, gamma=gamma, weight_decay=0.0, eps=0.0,
                                       adjust_lr="original"), 1.0 if fixed else lr, wd)
    others = refopt.adamw(lr=lr_1d, beta1=b1d, beta2=b2d, eps=lambda t: eps / math.sqrt(1 - b2d**t),
                          weight_decay=wd_1d if fixed else lr_1d * wd_1d)
    opt = by_ndim(matrices, others)
    return negated(opt) if flag("maximize", maximize) else opt
