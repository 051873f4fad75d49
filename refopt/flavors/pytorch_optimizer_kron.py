r"""pytorch-optimizer's ``Kron`` (4.1.0, ``optimizer/psgd.py``) as a refopt optimizer: its argument
names and defaults over ``refopt.psgd_kron``.

What it sets on the rule: ``momentum`` is ``b1``; the RMS clip is :math:`\min(1, 1.1/(\mathrm{rms}
+ 10^{-6}))` (kron_torch: :math:`10^{-12}`); ``precondition_lr = 0.1`` and
``precondition_init_scale = 1.0`` (pytorch-optimizer reads them from the param group only; its
constructor swallows unknown keywords, this flavor refuses them). ``weight_decay`` touches leaves
of ndim >= 2 only: decoupled (``weight_decouple=True``) as the rule's :math:`w - \eta(u + \lambda
w)`, coupled as :math:`g + \lambda w` before the momentum. ``maximize`` negates the gradient first.

**When the preconditioner updates.** Not at random: a counter. At the call that makes step
:math:`t`, with :math:`p` = ``pre_conditioner_update_probability`` (a number, or a function of the
library's step count :math:`t-1`; None: its schedule :math:`\min(1, \max(0.03, e^{-0.001(t-1-500)}))`
computed in float32), the counter goes up by one, and the factors update when :math:`p > 0` and
counter :math:`\ge 1/p`, which resets it. The counter lives in this flavor's state.

**What it cannot draw as the library does.** The probe :math:`V` (``torch.randn_like`` on torch's
global generator, per leaf in order, at steps that update) and the balancing (``np.random.random()
< balance_prob`` on NumPy's global generator, at steps that update). ``step(..., probe=tree,
balance=bool)`` takes both from the caller (``probe`` may be a function returning the tree, called
only at steps that update, so a caller can replay a generator in the library's order), which is how
tests/rules/test_psgd_kron.py and tests/flavors/test_pytorch_optimizer_kron.py replay a seeded run;
without them they come from ``seed`` (``refopt.psgd_kron``), and balancing from a PCG64 draw of
``SeedSequence([seed, t, 1])`` below ``balance_prob``. Balancing leaves :math:`P` unchanged in
exact arithmetic.

**Precision.** The preconditioner is computed in the params' dtype: ``precondition_dtype`` must be
None or the params' dtype (the default ``torch.float32`` fits float32 params; for float64 params
pass ``torch.float64`` or None, else a ``ValueError`` says so rather than compute in another
precision than asked). pytorch-optimizer solves the triangular systems in float32 whatever the
dtype (``solve_triangular_right``), which the flavor does not model: with triangular factors the
float64 agreement is float32's (measured in the test module), with diagonal factors 1e-10.
``mu_dtype`` other than None is refused.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

import refopt

from .. import tree
from ..core import NONNEGATIVE, UNIT_CLOSED, number
from ..rules.muon import flag
from ..validate import check_state_type, step_count
from .pytorch_optimizer_rules import no_extras, refuse

__all__ = ["Kron"]


class TorchDtype:
    """A torch dtype named without importing torch (equal to it, e.g. to ``torch.float32``)."""

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other) -> bool:
        return str(other).removeprefix("torch.") == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class PytorchOptimizerKronState(NamedTuple):
    t: int
    counter: int  # calls since the preconditioner last updated (the library's update_counter)
    inner: object  # the rule's PsgdKronState


def library_schedule(n: int) -> float:
    """``precondition_update_prob_schedule()`` at the library's step ``n``, in float32 as there."""
    f = np.float32
    prob = f(1.0) * np.exp(f(-0.001) * (f(n) - f(500)))
    return float(min(f(1.0), max(f(0.03), prob)))


def Kron(lr=1e-3, momentum=0.9, weight_decay=0.0, weight_decouple=True,
         pre_conditioner_update_probability=None, max_size_triangular=8192, min_ndim_triangular=2,
         memory_save_mode=None, momentum_into_precondition_update=True, mu_dtype=None,
         precondition_dtype=TorchDtype("float32"), balance_prob=0.01, maximize=False, seed=0, **kwargs):
    """``pytorch_optimizer.Kron``: ``refopt.psgd_kron`` with its clip, counter and decay."""
    no_extras("Kron", kwargs)
    if mu_dtype is not None:
        refuse("Kron", f"mu_dtype={mu_dtype!r}", "a momentum stored in another dtype than the params'")
    decouple, maximize = flag("weight_decouple", weight_decouple), flag("maximize", maximize)
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    balance_p = number("balance_prob", balance_prob, UNIT_CLOSED)
    p_of = pre_conditioner_update_probability
    p_of = library_schedule if p_of is None else p_of
    rule = refopt.psgd_kron(lr=lr, b1=momentum, weight_decay=wd if decouple else 0.0,
                            max_size_triangular=max_size_triangular, min_ndim_triangular=min_ndim_triangular,
                            memory_save_mode=memory_save_mode,
                            momentum_into_precond_update=flag("momentum_into_precondition_update",
                                                              momentum_into_precondition_update),
                            precond_lr=0.1, precond_init_scale=1.0, rms_clip=1.1, rms_clip_eps=1e-6,
                            seed=seed)

    wanted = None if precondition_dtype is None else str(precondition_dtype).removeprefix("torch.")

    def check_dtype(params):
        for path, w in tree.leaves_with_paths(params):
            if wanted is not None and wanted != str(w.dtype).removeprefix("torch."):
                raise ValueError(f"pytorch_optimizer.Kron: precondition_dtype={precondition_dtype!r} but "
                                 f"params leaf {tree.fmt_path(path)} is {w.dtype}; this flavor computes the "
                                 f"preconditioner in the params' dtype: pass None or that dtype")

    def init(params):
        check_dtype(params)
        return PytorchOptimizerKronState(0, 0, rule.init(params))

    def grads_as_library(params, grads):
        flat_w = [w for _, w in tree.leaves_with_paths(params)]
        flat_g = tree.leaves_like(tree.structure(params), grads, "grads")
        out = [(-g if maximize else g) for g in flat_g]
        if not decouple and wd != 0:
            out = [g + wd * w if w.ndim >= 2 else g for g, w in zip(out, flat_w)]
        return tree.unflatten(tree.structure(params), out)

    def step(params, grads, state, *, probe=None, balance=None):
        check_state_type("pytorch_optimizer.Kron", state, PytorchOptimizerKronState)
        t = step_count("pytorch_optimizer.Kron", state.t) + 1
        check_dtype(params)
        p = float(p_of(t - 1)) if callable(p_of) else float(p_of)
        counter = state.counter + 1
        update = p > 0 and counter >= 1 / p
        if balance is None:
            u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t, 1]))).random()
            balance = bool(u < balance_p)
        if update and callable(probe):
            probe = probe()
        params, inner = rule.step(params, grads_as_library(params, grads), state.inner, update=update,
                                  probe=probe, balance=bool(balance) and update)
        return params, PytorchOptimizerKronState(t, 0 if update else counter, inner)

    hyper = {**rule.hyperparams, "weight_decay": wd, "weight_decouple": decouple, "maximize": maximize,
             "balance_prob": balance_p}
    return dataclasses.replace(rule, name="pytorch_optimizer.Kron", init=init, step=step, hyperparams=hyper)

