r"""optax's ``noisy_sgd``, ``optimistic_gradient_descent``, ``optimistic_adam``,
``optimistic_adam_v2``, ``polyak_sgd`` and ``sm3`` as refopt optimizers, with optax's names and
defaults (optax 0.2.8, ``optax/_src/alias.py``).

Each is the canonical rule with optax's knobs set, and where optax differs, a thin wrapper:

* ``noisy_sgd`` draws the noise as optax does (``jax.random`` from ``key``: each step splits the
  carried key into (next key, sample key), the sample key into one key per leaf in jax's tree
  order, one ``normal`` per leaf in the leaf's dtype) and gives it to ``refopt.noisy_sgd`` as
  ``noise=``; the rule scales it by :math:`\sqrt{\eta/t^\gamma}`.
* ``optimistic_adam`` (deprecated in optax) puts the learning rate inside the optimistic
  combination: ``refopt.optimistic_adam(lr=1, alpha=learning_rate, optimism=optimism)``.
* ``polyak_sgd`` is ``refopt.polyak_sgd`` at ``c = 1`` when ``scaling`` is 1. optax scales the
  gradient by ``scaling`` :math:`s` *before* its Polyak step, so the step is
  :math:`\min(\text{gap}/(s^2\lVert g\rVert^2+\epsilon), \gamma_{max})\, s\, g` (not
  :math:`s` times the Polyak step): the rule at :math:`c = s^2` with gap and cap times :math:`s`.
  optax's guard (no step where :math:`s^2\lVert g\rVert^2 + \epsilon` is at most float64's
  machine epsilon) and its ``'sps+'`` variant (the gap's positive part) are modelled;
  ``step(..., loss=f)`` as the rule's (optax's ``value=``).
* ``sm3`` is ``refopt.sm3`` with ``beta1=momentum`` and optax's ``eps = 1e-8``.

``learning_rate`` may be an optax schedule where optax allows one (``optax_schedules.scheduled``:
refopt's step t uses ``learning_rate(t - 1)``). Checked against optax to 1e-10 relative in float64
by ``tests/flavors/test_optax_catalogue_b.py``.
"""
from __future__ import annotations

import numpy as np

import refopt

from .. import tree
from ..core import Optimizer
from ..rules.polyak_sgd import squared_norm
from .optax_schedules import count_schedule, scheduled

__all__ = ["noisy_sgd", "optimistic_gradient_descent", "optimistic_adam", "optimistic_adam_v2",
           "polyak_sgd", "sm3"]

FLOAT64_EPS = float(np.finfo(np.float64).eps)  # optax: jnp.finfo(float).eps, float64 under x64


class OptaxNoise:
    """optax ``add_noise``'s standard normals for step t, from ``key`` (module docstring)."""

    def __init__(self, key):
        self.key = 0 if key is None else key

    def __call__(self, t, params):
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            key = _canonical_key(self.key)
            for _ in range(t):  # step s: (key_s, sample_s) = split(key_{s-1})
                key, sample = jax.random.split(key)
            leaves, treedef = jax.tree.flatten(params)
            keys = jax.random.split(sample, len(leaves))
            draws = [np.asarray(jax.random.normal(k, np.shape(w), jnp.dtype(np.asarray(w).dtype)))
                     for k, w in zip(keys, leaves)]
        return jax.tree.unflatten(treedef, draws)


def _canonical_key(key):
    import jax
    return jax.random.key(key) if isinstance(key, (int, np.integer)) else key


@scheduled
def noisy_sgd(learning_rate, eta=0.01, gamma=0.55, key=None):
    """``optax.noisy_sgd``: ``refopt.noisy_sgd`` fed optax's own noise from ``key`` (0 if None)."""
    opt, noise = refopt.noisy_sgd(lr=learning_rate, eta=eta, gamma=gamma), OptaxNoise(key)

    def step(params, grads, state, **extra):
        return opt.step(params, grads, state, noise=noise(state.t + 1, params), **extra)

    return Optimizer(opt.name, opt.init, step, {**opt.hyperparams, "key": key}, opt.bounds)


@scheduled
def optimistic_gradient_descent(learning_rate, alpha=1.0, beta=1.0):
    """``optax.optimistic_gradient_descent``: ``refopt.optimistic_gd``."""
    return refopt.optimistic_gd(lr=learning_rate, alpha=alpha, optimism=beta)


def optimistic_adam(learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0,
                    mu_dtype=None, *, nesterov=True):
    """``optax.optimistic_adam`` (deprecated): the learning rate is the optimistic ``alpha``."""
    if callable(learning_rate):
        raise ValueError("learning_rate: optax.optimistic_adam takes no schedule "
                         "(optimistic_adam_v2 does)")
    _float64_only(mu_dtype)
    optimism = learning_rate if optimism is None else optimism
    return refopt.optimistic_adam(lr=1.0, alpha=learning_rate, optimism=optimism, beta1=b1, beta2=b2,
                                  eps=eps, eps_root=eps_root, nesterov=nesterov)


@scheduled
def optimistic_adam_v2(learning_rate, *, alpha=1.0, beta=1.0, b1=0.9, b2=0.999, eps=1e-8,
                       eps_root=0.0, mu_dtype=None, nesterov=True):
    """``optax.optimistic_adam_v2``: ``refopt.optimistic_adam`` with optax's Nesterov default."""
    _float64_only(mu_dtype)
    return refopt.optimistic_adam(lr=learning_rate, alpha=alpha, optimism=beta, beta1=b1, beta2=b2,
                                  eps=eps, eps_root=eps_root, nesterov=nesterov)


def _float64_only(mu_dtype):
    if mu_dtype is not None and np.dtype(mu_dtype) != np.float64:
        raise ValueError(f"mu_dtype: only None or float64 is modelled here, got {mu_dtype!r}")


def polyak_sgd(max_learning_rate=1.0, scaling=1.0, f_min=0.0, eps=0.0, variant="sps"):
    """``optax.polyak_sgd``; ``step(params, grads, state, loss=f)`` (optax's ``value``)."""
    if variant not in ("sps", "sps+"):
        raise ValueError(f"variant must be 'sps' or 'sps+', got {variant!r}")
    scaling = count_schedule("scaling", scaling)
    base = refopt.polyak_sgd(max_lr=max_learning_rate, c=1.0, f_min=f_min, eps=eps)
    max_lr, f_min, eps = (base.hyperparams[k] for k in ("max_lr", "f_min", "eps"))

    def step(params, grads, state, loss=None, **extra):
        if loss is None:
            raise TypeError("polyak_sgd.step needs loss=, the loss at params (optax's value=)")
        s = scaling(state.t + 1) if callable(scaling) else scaling
        gap = float(loss) - f_min
        gap = max(gap, 0.0) if variant == "sps+" else gap
        # optax scales g by s first (sgd(scaling)), then takes the Polyak step of the scaled
        # gradient: min(gap/(s^2 ||g||^2 + eps), max) * s g = the rule at c = s^2, gap and cap * s
        sq = squared_norm(tree.leaves_like(tree.structure(params), grads, "grads"))
        if s * s * sq + eps <= FLOAT64_EPS:
            gap = 0.0  # optax's guard against dividing by (almost) zero: no step
        inner = refopt.polyak_sgd(max_lr=s * max_lr, c=s * s, f_min=0.0, eps=eps)
        return inner.step(params, grads, state, loss=s * gap, **extra)

    return Optimizer("polyak_sgd", base.init, step,
                     {**base.hyperparams, "scaling": scaling, "variant": variant}, base.bounds)


def sm3(learning_rate, momentum=0.9):
    """``optax.sm3``: ``refopt.sm3(lr=learning_rate, beta1=momentum, eps=1e-8)``."""
    return refopt.sm3(lr=learning_rate, beta1=momentum, eps=1e-8)
