r"""pytorch-optimizer's Muon family as refopt optimizers: ``Muon`` and ``NorMuon`` over 2-D leaves in
one ``use_muon=True`` group, and the bfloat16 rule of ``MARS(mars_type="shampoo")`` (the constructor
is in ``pytorch_optimizer_mars``). ``ns_coeffs`` takes their preset names (``refopt.rules.ns_presets``).

pytorch-optimizer runs their Newton-Schulz in bfloat16 whatever the params' dtype, and so do
these constructors by default (``newton_schulz_dtype="bfloat16"``, through
``refopt.flavors.bfloat16``); ``"float64"`` runs it in the params' dtype: Muon through
``refopt.flavors.torch.Muon``, NorMuon through ``refopt.normuon``, MARS through ``refopt.mars_m``.
NorMuon and MARS in bfloat16 have their own rules below (``normuon_update``, ``mars_update``): the
lines of the float64 rules with the framework's Newton-Schulz, checked equal to those rules when
it is run in float64 (tests/flavors/test_bfloat16_muon.py). The conventions shared with the other
flavors are in ``refopt.flavors.pytorch_optimizer``, which re-exports these.
"""
from __future__ import annotations

import math

import refopt

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, number, rule
from ..rules.mars_m import MarsMState, clip_to_unit_norm
from ..rules.muon import NS_COEFFICIENTS, choice, flag, frobenius, matrix_check, ns_settings, shape_factor
from ..rules.normuon import NorMuonState, row_mean_square
from . import bfloat16, torch_muon
from .pytorch_optimizer_rules import finish, ns_coefficients, no_extras, refuse

__all__ = ["Muon", "NorMuon"]  # MARS: pytorch_optimizer_mars, with its "shampoo" rule below


# --- the Muon family (2-D leaves; every leaf in one use_muon=True group) ------------------------

def Muon(lr=2e-2, momentum=0.95, weight_decay=0.0, weight_decouple=True, nesterov=True, ns_steps=5,
         ns_coeffs="original", use_adjusted_lr=False, adamw_lr=3e-4, adamw_betas=(0.9, 0.95), adamw_wd=0.0,
         adamw_eps=1e-10, maximize=False, foreach=None, ns_method="newton_schulz", ns_reset_steps=(2,),
         newton_schulz_dtype="bfloat16", **kwargs):
    """``pytorch_optimizer.Muon`` over one ``use_muon=True`` group: ``refopt.flavors.torch.Muon``
    (NS input over ``max(norm, 1e-7)``, decay with the unadjusted lr), ``use_adjusted_lr`` is
    torch's ``adjust_lr_fn="match_rms_adamw"``, NS in ``newton_schulz_dtype`` (theirs: bfloat16). The
    ``adamw_*`` arguments configure ``use_muon=False`` groups, which are not built: no effect."""
    no_extras("Muon", kwargs, reads=("cautious",))
    if ns_method != "newton_schulz":
        refuse("Muon", f"ns_method={ns_method!r}", "Gram Newton-Schulz with restarts")
    lr = number("lr", lr, NONNEGATIVE)
    decouple = flag("weight_decouple", weight_decouple)
    opt = torch_muon.Muon(lr=lr, weight_decay=weight_decay if decouple else 0.0, momentum=momentum,
                            nesterov=nesterov, ns_coefficients=ns_coefficients("Muon", ns_coeffs), eps=1e-7,
                            ns_steps=ns_steps, newton_schulz_dtype=newton_schulz_dtype,
                            adjust_lr_fn="match_rms_adamw" if flag("use_adjusted_lr", use_adjusted_lr) else None)
    return finish(opt, lr, 0.0 if decouple else weight_decay, False, False, maximize)


def NorMuon(lr=2e-2, momentum=0.95, beta2=0.95, weight_decay=0.0, weight_decouple=True, nesterov=True,
            ns_steps=5, ns_coeffs="original", update_scale="preserve_norm", use_adjusted_lr=False,
            adamw_lr=3e-4, adamw_betas=(0.9, 0.95), adamw_wd=0.0, adamw_eps=1e-10, eps=1e-10, maximize=False,
            foreach=None, newton_schulz_dtype="bfloat16", **kwargs):
    """``pytorch_optimizer.NorMuon`` over one ``use_muon=True`` group. In bfloat16 (theirs)
    ``normuon_update``; in float64 ``refopt.normuon`` with ``ns_eps=0``, where theirs divides the NS
    input by ``max(norm, 1e-7)``: the same unless the momentum is (nearly) 0, where this gives 0/0."""
    no_extras("NorMuon", kwargs)
    if flag("use_adjusted_lr", use_adjusted_lr) and update_scale == "preserve_norm":
        refuse("NorMuon", "use_adjusted_lr=True with update_scale='preserve_norm'",
                "Moonlight's scale on a norm-preserving NorMuon step")
    lr = number("lr", lr, NONNEGATIVE)
    decouple = flag("weight_decouple", weight_decouple)
    if choice("newton_schulz_dtype", newton_schulz_dtype, bfloat16.DTYPES) == "bfloat16":
        opt = _normuon_bfloat16(lr, momentum, beta2, eps, nesterov, update_scale, ns_steps,
                                ns_coefficients("NorMuon", ns_coeffs))
        return finish(opt, lr, weight_decay, decouple, False, maximize)
    opt = refopt.normuon(lr=lr, beta1=momentum, beta2=beta2, weight_decay=weight_decay if decouple else 0.0,
                         eps=eps, ns_eps=0.0, nesterov=nesterov, update_scale=update_scale, ns_steps=ns_steps,
                         ns_coefficients=ns_coefficients("NorMuon", ns_coeffs))
    return finish(opt, lr, 0.0 if decouple else weight_decay, False, False, maximize)


# --- NorMuon and MARS with the framework's bfloat16 Newton-Schulz ----------------------------

def normuon_update(w, g, m, r, *, t, lr, beta1, beta2, eps, nesterov, update_scale, ns_steps,
                   ns_coefficients, newton_schulz_dtype):
    """``refopt.normuon``'s lines (decay outside, in ``finish``) with pytorch-optimizer's
    Newton-Schulz: ``max(norm, 1e-7)``, in ``newton_schulz_dtype``, the result back in w's dtype."""
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    u = (1 - beta1) * g + beta1 * m if nesterov else m
    o = torch_muon.orthogonalize(u, ns_steps, ns_coefficients, 1e-7, newton_schulz_dtype)
    r = beta2 * r + (1 - beta2) * row_mean_square(o)
    o_bar = o / (xp.sqrt(r) + eps)
    if update_scale == "match_rms":
        step = 0.2 * math.sqrt(w.shape[0] * w.shape[1]) / (frobenius(o_bar) + eps) * o_bar
    else:
        step = frobenius(o) / (frobenius(o_bar) + eps) * o_bar * shape_factor(w.shape)
    return w - lr * step, m, r


def _normuon_bfloat16(lr, beta1, beta2, eps, nesterov, update_scale, ns_steps, coefficients,
                      newton_schulz_dtype="bfloat16"):
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT), "eps": (eps, NONNEGATIVE),
             "nesterov": (flag("nesterov", nesterov), None),
             "update_scale": (choice("update_scale", update_scale, ("match_rms", "preserve_norm")), None),
             "ns_steps": (ns_steps, None), "ns_coefficients": (ns_settings(ns_steps, coefficients), None),
             "newton_schulz_dtype": (newton_schulz_dtype, None)}
    return rule("pytorch_optimizer.NorMuon", NorMuonState, lambda w: (zeros_like(w), zeros_like(w[:, :1])),
                normuon_update, hyper, check=matrix_check("pytorch_optimizer.NorMuon"))


def mars_update(w, g, m, g_prev, *, t, lr, beta1, gamma, eps, newton_schulz_dtype):
    """``refopt.mars_m``'s lines (``adjust_lr="original"``, decay outside) with pytorch-optimizer's
    Newton-Schulz of M / (1 - beta1) (``max(norm, eps)``) and its shape factor applied in bfloat16."""
    c = g + gamma * (beta1 / (1 - beta1)) * (g - g_prev)
    m = beta1 * m + (1 - beta1) * clip_to_unit_norm(c)
    o = torch_muon.orthogonalize(m / (1 - beta1), 5, NS_COEFFICIENTS, eps, newton_schulz_dtype)
    factor = shape_factor(w.shape)
    o = bfloat16.scaled(o, factor) if newton_schulz_dtype == "bfloat16" else o * factor
    return w - lr * o, m, array_namespace(g).asarray(g, copy=True)


def _mars_bfloat16(lr, beta1, gamma, eps, newton_schulz_dtype="bfloat16"):
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "gamma": (gamma, NONNEGATIVE),
             "eps": (eps, NONNEGATIVE), "newton_schulz_dtype": (newton_schulz_dtype, None)}
    return rule("pytorch_optimizer.MARS", MarsMState, lambda w: (zeros_like(w), zeros_like(w)), mars_update,
                hyper, check=matrix_check("pytorch_optimizer.MARS"))
