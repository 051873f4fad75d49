r"""pytorch-optimizer's optimizers as refopt optimizers: its class names, arguments and defaults.

``refopt.flavors.pytorch_optimizer.Lion(lr=1e-4, betas=(0.9, 0.99), ...)`` gives the numbers of
``pytorch_optimizer.Lion`` with the same arguments (checked against pytorch-optimizer 4.1.0 to
1e-10 relative in float64 by ``tests/flavors/test_pytorch_optimizer.py``). Each constructor is
the canonical rule with its knobs set: Lion, Adan (``debias=True, eps_inside=False``), LARS
(the paper form on arrays of ndim >= 2, momentum SGD on the others, by ``refopt.partition``),
Shampoo, AdaBelief (its ``eps`` both added to the stored :math:`s` and outside the root), NorMuon,
MARS (``pytorch_optimizer_mars``: ``mars_type="adamw"``, its default, is ``refopt.mars`` with its
eps placement on matrices; ``"shampoo"`` is MARS-M with Muon's shape factor; AdamW on the rest),
Muon (``refopt.flavors.torch.Muon``: the same algorithm as ``torch.optim.Muon``), Yogi
(``refopt.yogi(bias_correction="moments")``, both moments started at ``initial_accumulator``) and
SOAP (``pytorch_optimizer_soap``: refopt.soap's algorithm in the library's order, its QR in float32).
``Kron`` (``pytorch_optimizer_kron``) is ``refopt.psgd_kron`` with the library's update counter and
clip; its random probes are replayed from a seeded run, and with triangular factors it agrees to
1e-5 only, since the library solves those in float32 (tests/flavors/test_pytorch_optimizer_kron.py).

Conventions shared by all: ``maximize=True`` negates the gradient first; then ``weight_decay``
is decoupled, :math:`w \leftarrow w(1 - \eta\lambda)` (``fixed_decay``: :math:`w(1-\lambda)`),
where ``weight_decouple=True`` and coupled, :math:`g \leftarrow g + \lambda w`, otherwise.
``foreach`` chooses a code path, not numbers: accepted and not taken. An option that changes the
numbers in a way no refopt rule reproduces (gradient centralization, AdaNorm, cautious masks,
rectification, AMSBound, global norm clipping, ...) raises ``ValueError`` naming it and why.

Precision: pytorch-optimizer keeps its step count as a Python int, so torch's default dtype does
not enter; its Muon, NorMuon and MARS (``"shampoo"``) always run Newton-Schulz in bfloat16, and
so do their flavors (``pytorch_optimizer_muon``, ``newton_schulz_dtype="bfloat16"``, emulated in
``bfloat16``); ``newton_schulz_dtype="float64"`` gives the formula instead.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import refopt

from ..core import NONNEGATIVE, UNIT, number
from ..rules.muon import flag
from .pytorch_optimizer_dadapt import DAdaptAdaGrad, DAdaptAdam, DAdaptSGD, Prodigy
from .pytorch_optimizer_kron import Kron
from .pytorch_optimizer_more import ADOPT, AdEMAMix
from .pytorch_optimizer_schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .pytorch_optimizer_mars import MARS
from .pytorch_optimizer_muon import Muon, NorMuon
from .pytorch_optimizer_soap import SOAP
from .pytorch_optimizer_rules import by_ndim, debiased_lr, finish, no_extras, refuse
from .torch import _betas, negated

PREFIX = "pytorch_optimizer."
__all__ = ["Lion", "Adan", "LARS", "Shampoo", "AdaBelief", "Yogi", "Muon", "NorMuon", "MARS", "ADOPT",
           "AdEMAMix", "Prodigy", "DAdaptAdam", "DAdaptSGD", "DAdaptAdaGrad",
           "ScheduleFreeSGD", "ScheduleFreeAdamW", "SOAP", "Kron"]

CLI_REFUSES = {"Kron": "pytorch_optimizer.Kron draws its probe vectors from torch's global generator and its "
                       "balancing from NumPy's, which the oracle's adapter cannot hand to the flavor; "
                       "tests/flavors/test_pytorch_optimizer_kron.py replays them from a seeded run"}


# --- sign, Nesterov-type and layer-wise rules ------------------------------------------------

def Lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
         foreach=None, maximize=False, **kwargs):
    """``pytorch_optimizer.Lion``: ``refopt.lion`` (its decay, ``w(1 - lr wd)`` before the sign
    step, is the rule's ``lr*wd*w`` term, applied here by ``finish`` for all three decay modes)."""
    no_extras("Lion", kwargs, reads=("use_gc", "adanorm", "adanorm_r", "cautious"))
    beta1, beta2 = _betas(betas)
    lr = number("lr", lr, NONNEGATIVE)
    return finish(refopt.lion(lr=lr, beta1=beta1, beta2=beta2), lr, weight_decay, weight_decouple,
                   fixed_decay, maximize)


def Adan(lr=1e-3, betas=(0.98, 0.92, 0.99), weight_decay=0.0, weight_decouple=False, max_grad_norm=0.0,
         eps=1e-8, maximize=False, foreach=None, **kwargs):
    """``pytorch_optimizer.Adan``: ``refopt.adan(debias=True, eps_inside=False)``, the official
    code's form; ``weight_decouple=False`` is the proximal decay ``w / (1 + lr wd)`` (the rule's
    ``proximal=True``), ``True`` the multiplied ``w (1 - lr wd)``."""
    no_extras("Adan", kwargs, reads=("use_gc", "adanorm", "adanorm_r"))
    if flag("maximize", maximize):
        refuse("Adan", "maximize=True", "pytorch-optimizer 4.1.0 stores its first previous gradient before "
               "negating the gradient, so its first difference is -2 g_1, not 0")
    if number("max_grad_norm", max_grad_norm, NONNEGATIVE):
        refuse("Adan", f"max_grad_norm={max_grad_norm!r}", "clipping by the global norm of all leaves")
    if not isinstance(betas, (tuple, list)) or len(betas) != 3:
        raise ValueError(f"betas must be a triple (beta1, beta2, beta3), got {betas!r}")
    b1, b2, b3 = (number(f"betas[{i}]", b, UNIT) for i, b in enumerate(betas))
    return refopt.adan(lr=lr, beta1=b1, beta2=b2, beta3=b3, eps=eps, weight_decay=weight_decay,
                       debias=True, eps_inside=False, proximal=not flag("weight_decouple", weight_decouple))


def LARS(lr=1e-3, weight_decay=0.0, momentum=0.9, dampening=0.0, trust_coefficient=1e-3, nesterov=False,
         maximize=False, foreach=None, **kwargs):
    r"""``pytorch_optimizer.LARS``: ``refopt.lars`` (the paper's ratio
    :math:`\eta_{tc}\lVert w\rVert/(\lVert g\rVert + \lambda\lVert w\rVert)`, no eps) on leaves of
    ndim >= 2; on the others pytorch-optimizer skips ratio and decay: ``refopt.momentum``."""
    no_extras("LARS", kwargs)
    if number("dampening", dampening, NONNEGATIVE):
        refuse("LARS", f"dampening={dampening!r}", "the paper's LARS has undamped momentum")
    if flag("nesterov", nesterov):
        refuse("LARS", "nesterov=True", "the paper's LARS has heavy-ball momentum")
    mu = number("momentum", momentum, UNIT)
    opt = by_ndim(refopt.lars(lr=lr, beta1=mu, trust_coefficient=trust_coefficient,
                               weight_decay=weight_decay), refopt.momentum(lr=lr, beta1=mu))
    return negated(opt) if flag("maximize", maximize) else opt


def Shampoo(lr=1e-3, momentum=0.0, weight_decay=0.0, weight_decouple=False, fixed_decay=False,
            preconditioning_compute_steps=1, matrix_eps=1e-6, maximize=False, foreach=None, **kwargs):
    """``pytorch_optimizer.Shampoo``: ``refopt.shampoo(eps=matrix_eps)`` (statistics start at
    ``matrix_eps * I``; inverse roots by SVD there, by eigh here: equal up to conditioning).
    ``foreach`` is accepted and not taken, as there (it has no batched path)."""
    no_extras("Shampoo", kwargs)
    if number("momentum", momentum, UNIT):
        refuse("Shampoo", f"momentum={momentum!r}",
                "pytorch-optimizer mixes its previous preconditioned step into the next gradient")
    if preconditioning_compute_steps != 1:
        refuse("Shampoo", f"preconditioning_compute_steps={preconditioning_compute_steps!r}",
                "stale inverse roots between recomputations")
    lr = number("lr", lr, NONNEGATIVE)
    return finish(refopt.shampoo(lr=lr, eps=matrix_eps), lr, weight_decay, weight_decouple, fixed_decay,
                   maximize)


# --- Adam-type rules -------------------------------------------------------------------------

def AdaBelief(lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
              rectify=False, n_sma_threshold=5, degenerated_to_sgd=True, ams_bound=False, foreach=None,
              eps=1e-16, maximize=False, adam_debias=False, **kwargs):
    r"""``pytorch_optimizer.AdaBelief``: ``refopt.adabelief(eps=eps, eps_root=eps)``: it adds
    ``eps`` to the stored :math:`s_t` each step and again outside :math:`\sqrt{\hat s_t}`
    (in 4.1.0 its denominator takes no further 1e-15). ``n_sma_threshold`` and
    ``degenerated_to_sgd`` act only with ``rectify``."""
    no_extras("AdaBelief", kwargs, reads=("adanorm", "adanorm_r"))
    if flag("rectify", rectify):
        refuse("AdaBelief", "rectify=True", "RAdam's rectification of AdaBelief")
    if flag("ams_bound", ams_bound):
        refuse("AdaBelief", "ams_bound=True", "the running max of the belief")
    beta1, beta2 = _betas(betas)
    lr = number("lr", lr, NONNEGATIVE)
    opt = refopt.adabelief(lr=debiased_lr(lr, beta1, adam_debias), beta1=beta1, beta2=beta2, eps=eps,
                           eps_root=eps)
    return finish(opt, lr, weight_decay, weight_decouple, fixed_decay, maximize)


def Yogi(lr=1e-2, betas=(0.9, 0.999), initial_accumulator=1e-6, weight_decay=0.0, weight_decouple=True,
         fixed_decay=False, eps=1e-3, maximize=False, foreach=None, adam_debias=False, **kwargs):
    r"""``pytorch_optimizer.Yogi``: ``refopt.yogi(bias_correction="moments")`` with both moments
    started at ``initial_accumulator``: Adam's :math:`\hat m_t / (\sqrt{\hat s_t} + \epsilon)`
    instead of the authors' corrections in the step size (``refopt.yogi``'s default)."""
    no_extras("Yogi", kwargs)
    beta1, beta2 = _betas(betas)
    lr = number("lr", lr, NONNEGATIVE)
    c = number("initial_accumulator", initial_accumulator, NONNEGATIVE)
    opt = refopt.yogi(lr=debiased_lr(lr, beta1, adam_debias), beta1=beta1, beta2=beta2, eps=eps,
                      initial_accumulator=c, initial_momentum=c, bias_correction="moments")
    return finish(opt, lr, weight_decay, weight_decouple, fixed_decay, maximize)


# --- the framework side, examples, precision -------------------------------------------------

def framework(attr: str, **kwargs: Any) -> Any:
    """``pytorch_optimizer.<attr>(params, **kwargs)`` as an adapter over NumPy params; the Muon
    family gets all params as one ``use_muon=True`` group, as these flavors treat them."""
    import pytorch_optimizer

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"pytorch_optimizer.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    cls = getattr(pytorch_optimizer, attr)
    if attr not in ("Muon", "NorMuon"):
        return torch_optimizer(cls, **kwargs)

    def build(params: Any, **kw: Any) -> Any:
        return cls([{"params": params, "use_muon": True}], **kw)
    build.__module__, build.__name__ = "pytorch_optimizer", attr
    return torch_optimizer(build, **kwargs)


_MATRICES = {"w": (5, 4), "v": (3, 6)}
SHAPES = {"Muon": _MATRICES, "NorMuon": _MATRICES, "MARS": {**_MATRICES, "b": (4,)},
          "LARS": {"w": (5, 4), "conv": (3, 2, 2), "b": (4,)}}

# pytorch-optimizer runs Newton-Schulz in bfloat16 and so do these flavors (refopt.flavors.bfloat16):
# worst update error 5.5e-14 where the matmul kernel is the emulated one, 5.0e-3 where it sums in
# another order (16x16); the float64 formula is 2.5e-2..1.0e-1 away (scripts/measure_bfloat16_muon.py).
# Shampoo is float64 on both sides, but at its default matrix_eps = 1e-6 a statistic eps*I + g g^T
# with |g| ~ 100 has condition ~1e10, so any float64 inverse root (theirs by SVD, ours by eigh)
# is only good to ~cond * 1e-16: measured worst 4.6e-7 over seeds 0-7; with matrix_eps >= 0.1,
# 9e-12.
# SOAP's refreshes are float32 QRs on both sides; on NumPy arrays (the oracle's) that is another
# LAPACK's float32 QR (OpenBLAS vs torch's MKL, 1e-7 apart): measured 1.5e-5..1.1e-4 from the first
# refresh on, seeds 0-1 (tests/flavors/test_pytorch_optimizer_soap.py; on torch arrays 9.5e-14).
RTOL = {"Muon": 1e-2, "NorMuon": 1e-2, "MARS": 1e-2, "Shampoo": 1e-5, "SOAP": 1e-3}


def precision(attr: str) -> tuple[str, dict | None] | None:
    """The Muon family's bfloat16 Newton-Schulz, as these flavors model it by default, and the
    arguments that give the float64 formula instead; None where pytorch-optimizer computes in the
    params' dtype."""
    if attr in ("Muon", "NorMuon", "MARS"):
        return "Newton-Schulz in bfloat16, as pytorch-optimizer computes it", {"newton_schulz_dtype": "float64"}
    if attr == "SOAP":
        return "the refreshes' QR in float32, as pytorch-optimizer computes it", {"qr_dtype": "float64"}
    return None


def _example(name, **kwargs):
    return partial(globals()[name], **kwargs)


EXAMPLES = {
    "pytorch_optimizer.Lion": _example("Lion", lr=1e-3, weight_decay=0.1),
    "pytorch_optimizer.Adan": _example("Adan", lr=1e-2, weight_decay=0.02),
    "pytorch_optimizer.LARS": _example("LARS", lr=0.5, trust_coefficient=0.01, weight_decay=0.01),
    "pytorch_optimizer.Shampoo": _example("Shampoo", lr=0.1, matrix_eps=1.0),
    "pytorch_optimizer.AdaBelief": _example("AdaBelief", lr=1e-2, weight_decay=0.01),
    "pytorch_optimizer.Yogi": _example("Yogi", lr=1e-2),
    "pytorch_optimizer.Muon": _example("Muon", lr=0.02, weight_decay=0.1),
    "pytorch_optimizer.NorMuon": _example("NorMuon", lr=0.01, weight_decay=0.1),
    "pytorch_optimizer.MARS": _example("MARS", lr=0.01, mars_type="shampoo", weight_decay=0.1),
    "pytorch_optimizer.ADOPT": _example("ADOPT", lr=1e-3, weight_decay=0.01),
    "pytorch_optimizer.AdEMAMix": _example("AdEMAMix", lr=1e-3, weight_decay=0.01),
    "pytorch_optimizer.ScheduleFreeSGD": _example("ScheduleFreeSGD", lr=0.1, weight_decay=0.01, warmup_steps=3),
    "pytorch_optimizer.ScheduleFreeAdamW": _example("ScheduleFreeAdamW", lr=1e-2, weight_decay=0.01,
                                                    warmup_steps=3),
    "pytorch_optimizer.Prodigy": _example("Prodigy", weight_decay=0.01),
    "pytorch_optimizer.DAdaptAdam": _example("DAdaptAdam", weight_decay=0.01),
    "pytorch_optimizer.DAdaptSGD": _example("DAdaptSGD", weight_decay=0.01),
    "pytorch_optimizer.DAdaptAdaGrad": _example("DAdaptAdaGrad", momentum=0.9),
    "pytorch_optimizer.SOAP": _example("SOAP", precondition_frequency=3),
    # precondition_dtype=None: the vectors' params are float64 (the flavor computes in their dtype)
    "pytorch_optimizer.Kron": _example("Kron", lr=1e-2, weight_decay=0.1, precondition_dtype=None),
}
