r"""optax's sign and layer-wise aliases as refopt optimizers: ``sign_sgd``, ``signum``, ``fromage``
and ``novograd``, with optax's names and defaults (optax 0.2.8, ``optax/_src/alias.py``).

Each is the canonical rule with optax's knobs set: optax's algorithm is the paper's in all four,
only defaults (and Fromage's ``min_norm``) differ. ``learning_rate`` may be an optax schedule
(a function of optax's ``count``), read as ``optax_schedules.scheduled`` reads it: refopt's step
t uses ``learning_rate(t - 1)``. Checked against optax to 1e-10 relative in float64 by
``tests/flavors/test_optax_catalogue.py``.
"""
from __future__ import annotations

import refopt

from ..core import NONNEGATIVE, number, rule
from ..rules.fromage import FromageState, clipped_norm
from ..rules.lars import trust_ratio
from .optax_precision import storage_dtype, stored_in
from .optax_schedules import scheduled

__all__ = ["sign_sgd", "signum", "fromage", "novograd"]


@scheduled
def sign_sgd(learning_rate):
    """``optax.sign_sgd``: ``scale_by_sign`` then the learning rate, i.e. ``refopt.sign_sgd``."""
    return refopt.sign_sgd(lr=learning_rate)


@scheduled
def signum(learning_rate, beta=0.9, accumulator_dtype=None):
    """``optax.signum``: ``ema(beta, debias=False)``, sign, learning rate: ``refopt.signum``;
    the EMA stored in ``accumulator_dtype`` (``optax_precision.stored_in``)."""
    opt = refopt.signum(lr=learning_rate, beta=beta)
    return stored_in(opt, "m", beta, storage_dtype("accumulator_dtype", accumulator_dtype),
                     "accumulator_dtype")


@scheduled
def fromage(learning_rate, min_norm=1e-6):
    r"""``optax.fromage``: ``refopt.fromage`` with optax's ``min_norm`` (1e-6), the floor on both
    norms of the ratio :math:`\max(\lVert w\rVert,\mu)/\max(\lVert g\rVert,\mu)`. optax writes
    the paper's :math:`(w - \eta r g)/\sqrt{1+\eta^2}` as the update
    :math:`-\eta\mu_t\, r g + (\mu_t - 1)\, w` with :math:`\mu_t = 1/\sqrt{1+\eta_t^2}`: the same
    number to a rounding for a constant lr. With a schedule optax computes :math:`\eta_t\mu_t`
    and :math:`\mu_t - 1` in jax from the schedule's value, in *its* dtype: float32 for optax's own
    schedules at an int32 count, 1e-7 off the float64 factor. ``_fromage_scheduled`` models that."""
    if callable(learning_rate):
        return _fromage_scheduled(learning_rate, min_norm)
    return refopt.fromage(lr=learning_rate, min_norm=min_norm)


class _FromageScalars:
    """``t -> (lr_t * mu_t, mu_t - 1)`` computed as optax's ``fromage`` computes them: in jax,
    jit-compiled (optax's update is), from the schedule's value at count ``t - 1`` in its dtype."""

    def __init__(self, schedule):
        self.schedule, self._compiled = schedule, None

    def _scalars(self, count):
        lr = self.schedule(count)
        mult = 1 / (1 + lr**2) ** 0.5
        return mult * lr, mult - 1

    def __call__(self, t):
        import jax
        import jax.numpy as jnp

        if self._compiled is None:
            self._compiled = jax.jit(self._scalars)
        scale, decay = self._compiled(jnp.asarray(t - 1, dtype=jnp.int32))
        return float(scale), float(decay)


def _fromage_update(w, g, *, t, lr, min_norm, scalars):
    scale, decay = scalars(t)  # lr (validated by rule()) is the schedule's value; see fromage
    ratio = trust_ratio(clipped_norm(w, min_norm), clipped_norm(g, min_norm))
    update = -scale * (ratio * g) + decay * w   # optax's chain: trust ratio, lr, decayed weights
    return (w + update,)


def _fromage_scheduled(learning_rate, min_norm):
    scalars = _FromageScalars(learning_rate.fn)   # scheduled() made it a CountSchedule
    return rule("optax.fromage", FromageState, lambda w: (), _fromage_update,
                {"lr": (learning_rate, NONNEGATIVE), "min_norm": (min_norm, NONNEGATIVE),
                 "scalars": (scalars, None)})


@scheduled
def novograd(learning_rate, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0):
    """``optax.novograd``: ``refopt.novograd`` with optax's defaults (b2 = 0.25, eps = 1e-6).
    optax 0.2.8 types ``weight_decay`` as a scalar or schedule but multiplies the params by it
    directly, so a schedule fails there: a number is required here too."""
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    return refopt.novograd(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root,
                           weight_decay=wd)
