r"""Noisy SGD: SGD on the gradient plus Gaussian noise whose variance anneals with the step.

.. math::

    \sigma_t^2 &= \eta_\sigma / t^{\gamma} \\
    w_t &= w_{t-1} - \eta_t\,\bigl(g_t + \sigma_t\, \xi_t\bigr), \qquad \xi_t \sim N(0, I)

Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens (2015), "Adding Gradient Noise
Improves Learning for Very Deep Networks", arXiv 1511.06807, eq. (1):
:math:`\sigma_t^2 = \eta/(1+t)^\gamma` with the paper's :math:`t` counting the steps already
taken (0 at the first), which is refopt's :math:`t - 1`; hence :math:`t^\gamma` above. The paper
tries :math:`\eta \in \{0.01, 0.3, 1.0\}` and fixes :math:`\gamma = 0.55`.

=============  ==========  =======
symbol         argument    default
=============  ==========  =======
eta_t          ``lr``      1e-2
eta_sigma      ``eta``     0.01
gamma          ``gamma``   0.55
(seed)         ``seed``    0
=============  ==========  =======

**Where the noise comes from.** The rule is pure and deterministic given ``seed``:

* by default :math:`\xi_t` for leaf :math:`k` (in tree order) is drawn by NumPy's PCG64 from
  ``SeedSequence([seed, t, k])`` in float64, then rounded to the leaf's dtype and moved to its
  library: no generator state is kept, so a saved state resumes the same noise;
* ``step(params, grads, state, noise=xi)`` takes :math:`\xi_t` from the caller instead, a tree
  like params of standard-normal draws; the rule scales it by :math:`\sigma_t`. This is how a
  framework's own noise is reproduced (refopt.flavors.optax_catalogue_b.noisy_sgd draws optax's
  with ``jax.random`` from optax's key).

**Frameworks.** optax ``noisy_sgd`` is this update (``add_noise`` then the learning rate; its
count is refopt's t), with jax.random noise from ``key``.

**Where the formula is undefined.** Nowhere: no division. A coordinate whose gradients have all
been 0 still moves (by the noise) unless ``eta = 0``. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .. import tree
from ..backend import array_namespace, check_leaf
from ..core import NONNEGATIVE, RuleInfo, rule
from ..validate import check_state_type, step_count


class NoisySGDState(NamedTuple):
    t: int


def standard_normal(seed: int, t: int, k: int, like):
    """xi for leaf ``k`` at step ``t``: float64 PCG64 draws from SeedSequence([seed, t, k]),
    rounded to ``like``'s dtype in ``like``'s library."""
    draws = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t, k])))
    xp = array_namespace(like)
    return xp.astype(xp.asarray(draws.standard_normal(tuple(like.shape))), like.dtype)


def _update(w, g, *, t, lr, eta, gamma, noise):
    sigma = (eta / t**gamma) ** 0.5
    w = w - lr * (g + sigma * noise)
    return (w,)


def noisy_sgd(lr=1e-2, eta=0.01, gamma=0.55, seed=0):
    """Noisy SGD; ``step(..., noise=xi)`` supplies the standard normals, else drawn from ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    seed = int(seed)
    inner = rule("noisy_sgd", NoisySGDState, lambda w: (), _update,
                 {"lr": (lr, NONNEGATIVE), "eta": (eta, NONNEGATIVE), "gamma": (gamma, NONNEGATIVE)},
                 aux=("noise",))

    def step(params, grads, state, **extra):
        if extra.get("noise") is None:  # draw xi_t from the seed, leaf k in tree order
            check_state_type("noisy_sgd", state, NoisySGDState)
            t = step_count("noisy_sgd", state.t) + 1
            leaves = list(tree.leaves_with_paths(params))
            for path, w in leaves:
                check_leaf(tree.fmt_path(path), w, w, what="params")
            extra["noise"] = tree.unflatten(tree.structure(params), [
                standard_normal(seed, t, k, w) for k, (_, w) in enumerate(leaves)])
        return inner.step(params, grads, state, **extra)

    return replace(inner, step=step, hyperparams={**inner.hyperparams, "seed": seed})


INFO = RuleInfo(
    name="noisy_sgd", factory=noisy_sgd, family="A. Baselines",
    paper="Neelakantan et al. (2015)", year=2015, hook="SGD plus annealed Gaussian noise",
    equations="\\sigma_t^2 = \\eta_\\sigma / t^{\\gamma}\n"
              "w_t = w_{t-1} - \\eta\\,(g_t + \\sigma_t \\xi_t),\\ \\xi_t \\sim N(0, I)",
    buffers=0,
    checked_against={"optax.noisy_sgd": 1e-12},
)
