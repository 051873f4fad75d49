"""keras's own update rules, where its algorithm is not a canonical rule with knobs set: AdaMax
with eps after the max, and the velocity keras keeps for momentum (the lr inside it), which
differs from the rules' form once the lr changes. Used by ``refopt.flavors.keras``."""
from __future__ import annotations

from typing import Any, NamedTuple

from .. import tree
from ..backend import array_namespace, zeros_like
from ..core import Optimizer

__all__ = ["AdamaxState", "adamax_update", "velocity"]


class AdamaxState(NamedTuple):
    t: int
    m: object  # first moment
    u: object  # exponentially weighted infinity norm, max(beta2*u, |g|)


def adamax_update(w, g, m, u, *, t, lr, beta1, beta2, eps):
    r"""Keras's AdaMax, eps after the max:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad u_t = \max(\beta_2 u_{t-1}, |g_t|),\quad
        w_t = w_{t-1} - \frac{\eta\, m_t}{(1-\beta_1^t)(u_t + \epsilon)}
    """
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    u = xp.maximum(beta2 * u, xp.abs(g))
    w = w - lr * m / ((1 - beta1**t) * (u + eps))
    return w, m, u


def velocity(opt: Optimizer, momentum: float, nesterov: bool = False) -> Optimizer:
    r"""Keras's velocity over ``opt``'s momentum-free step :math:`d_t` (the lr inside):
    :math:`u_t = \mu u_{t-1} + d_t`, :math:`w_t = w_{t-1} - u_t` (Nesterov:
    :math:`w_{t-1} - (\mu u_t + d_t)`); Keras's velocity is :math:`-u_t`. Used for a scheduled
    lr, where it differs from the rules' :math:`\eta_t b_t`."""
    def init(params: Any) -> Any:
        return opt.init(params), tree.tree_map(zeros_like, params)

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        inner, u = state
        moved, inner = opt.step(params, grads, inner)
        d = tree.tree_map(lambda w, x: w - x, params, moved)
        u = tree.tree_map(lambda a, b: momentum * a + b, u, d)
        step_ = tree.tree_map(lambda a, b: momentum * a + b, u, d) if nesterov else u
        return tree.tree_map(lambda w, x: w - x, params, step_), (inner, u)

    return Optimizer(f"{opt.name}+keras-velocity", init, step, {**opt.hyperparams, "momentum": momentum},
                     opt.bounds)
