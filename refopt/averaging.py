r"""An exponential moving average of the params beside any optimizer (Polyak averaging).

``ema(opt, momentum)`` steps ``opt`` as usual and keeps, in its state, the average

.. math::

    \bar w_1 = w_1, \qquad \bar w_t = \mu_t \bar w_{t-1} + (1-\mu_t)\, w_t \quad (t \ge 2)

of the params *after* each step (``momentum`` :math:`\mu_t` may be a schedule). The params the
step returns are ``opt``'s, so training is unchanged; the average is ``state.average``, the
point to evaluate or to keep at the end. With ``overwrite_every = f`` the params are replaced
by the average after every f-th step (:math:`t \equiv 0 \bmod f`), and training continues from
it. Polyak & Juditsky (1992), "Acceleration of stochastic approximation by averaging", SIAM J.
Control Optim. 30(4) (the uniform average of the iterates); the exponential form is the one of
keras's ``use_ema`` (``ema_momentum``, ``ema_overwrite_frequency``, in
``keras/src/optimizers/base_optimizer.py``: the first step copies the params,
``not_first_step``, and the overwrite comes at ``(iterations + 1) % f == 0``, i.e. t % f == 0).

:math:`\mu = 0` makes the average the params themselves. optax's ``ema`` is the same recursion
over *updates* starting from 0 (with an optional debiasing), not over params from
:math:`w_1`: it is not this. The state is ``EmaState(t, inner, average)``; before the first
step the average is a copy of the initial params.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from . import tree
from .backend import array_namespace, as_array_like, check_leaf
from .core import UNIT_CLOSED, Optimizer, hyper, number
from .validate import check_state_type, inner_optimizer, positive_int, step_count

__all__ = ["ema", "EmaState"]


class EmaState(NamedTuple):
    t: int
    inner: Any    # the averaged optimizer's own state
    average: Any  # the moving average of the params, a tree like them


def _copy(w: Any) -> Any:
    return array_namespace(w).asarray(w, copy=True)


def ema(opt: Optimizer, momentum: float | Callable[[int], float] = 0.99,
        overwrite_every: int | None = None) -> Optimizer:
    """``opt`` with a moving average of its params in the state (module docstring)."""
    inner_optimizer("ema", opt)
    mu = hyper("momentum", momentum, UNIT_CLOSED)
    if overwrite_every is not None:
        positive_int("ema", "overwrite_every", overwrite_every, " or None")
    name = f"ema({opt.name})"

    def init(params: Any) -> EmaState:
        return EmaState(0, opt.init(params), tree.tree_map(_copy, params))

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, EmaState]:
        check_state_type(name, state, EmaState)
        t = step_count(name, state.t) + 1
        mu_t = number("momentum", mu(t), UNIT_CLOSED, f" (schedule at step {t})") if callable(mu) else mu
        spec = tree.structure(params)
        averages = tree.leaves_like(spec, state.average, "state.average")
        for (path, w), a in zip(tree.leaves_with_paths(params), averages):
            check_leaf(tree.fmt_path(path), w, a, what="state.average")
        new_params, inner = opt.step(params, grads, state.inner, **extra)
        if t == 1:  # keras's not_first_step: the average starts at w_1
            average = tree.tree_map(_copy, new_params)
        else:
            average = tree.tree_map(lambda a, w: as_array_like(w, mu_t * a + (1 - mu_t) * w),
                                    state.average, new_params)
        if overwrite_every is not None and t % overwrite_every == 0:
            new_params = tree.tree_map(_copy, average)
        return new_params, EmaState(t, inner, average)

    hyper_ = {**opt.hyperparams, "ema_momentum": mu, "ema_overwrite_every": overwrite_every}
    return Optimizer(name, init, step, hyper_, {**opt.bounds, "ema_momentum": UNIT_CLOSED})
