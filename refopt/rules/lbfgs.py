r"""L-BFGS: a quasi-Newton step from the last m (s, y) pairs, by the two-loop recursion.

.. math::

    s_k &= x_{k+1} - x_k, \qquad y_k = g_{k+1} - g_k, \qquad \rho_k = 1 / (y_k^\top s_k) \\
    H_{k+1} &= (I - \rho_k s_k y_k^\top)\, H_k\, (I - \rho_k y_k s_k^\top) + \rho_k s_k s_k^\top \\
    H_k^0 &= \gamma_k I, \qquad \gamma_k = s_{k-1}^\top y_{k-1} / y_{k-1}^\top y_{k-1} \\
    d_k &= -H_k g_k, \qquad x_{k+1} = x_k + \alpha_k d_k

where :math:`H_k` applies the update above to :math:`H_k^0` with only the last :math:`m` pairs,
computed without forming a matrix by the two-loop recursion (:math:`q \leftarrow g`; newest to
oldest :math:`a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i`; :math:`r = \gamma q`; oldest to
newest :math:`b_i = \rho_i y_i^\top r,\ r \leftarrow r + (a_i - b_i) s_i`; then :math:`H_k g = r`).
Nocedal (1980), "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
773-782; Liu & Nocedal (1989), "On the limited memory BFGS method for large scale optimization",
Math. Prog. 45, 503-528 (H_0 scaling, section 6); Nocedal & Wright (2006), Algorithm 7.4/7.5.

**The contract.** L-BFGS evaluates the function inside a step, so its step takes a function,
not a gradient::

    opt = lbfgs(lr=1.0, line_search="strong_wolfe")
    state = opt.init(params)                          # params: array or pytree
    params, state = opt.step(params, loss_and_grad, state)

``loss_and_grad(params) -> (loss, grads)`` must be pure (same input, same output); ``grads``
has params' tree, shapes and dtype. The leaves are concatenated in tree order into one vector
:math:`x` (as torch concatenates its parameters). One ``step`` is torch's: evaluate at params,
then up to ``max_iter`` iterations, stopping early on the tolerances. ``state.loss`` is the loss
at the params the last step was given (what torch's ``step`` returns).

=======  ====================  ==============  ==========================================================
symbol   argument              default         meaning
=======  ====================  ==============  ==========================================================
alpha_0  ``lr``                1.0             first trial step length (the fixed step without a search)
         ``max_iter``          20              iterations per ``step``
         ``max_eval``          None            evaluations per step (None: ``max_iter*5//4``)
         ``tolerance_grad``    1e-7            stop when max|g| <= it
         ``tolerance_change``  1e-9            stop when g.d, max|alpha d| or the loss change is below it
m        ``history_size``      10              (s, y) pairs kept
         ``line_search``       "strong_wolfe"  or None: step alpha_0 along d
c_1      ``c1``                1e-4            sufficient decrease (N&W section 3.1)
c_2      ``c2``                0.9             curvature, c1 < c2 < 1
=======  ====================  ==============  ==========================================================

Defaults: m = 10 (Nocedal & Wright: "between 3 and 20"; Liu & Nocedal used 3-7), a strong-Wolfe
search with N&W's constants for quasi-Newton methods (refopt/rules/lbfgs_line_search.py).
The first iteration ever (no pairs yet, H = I) tries :math:`\alpha = \mathrm{lr}\cdot\min(1, 1/\|g\|_1)`
(minFunc's choice, also torch's); later ones try ``lr``. A pair is stored only when
:math:`y^\top s > 10^{-10}`, which keeps :math:`H` positive definite (torch's threshold).

**Notes and frameworks.** torch.optim.LBFGS is this algorithm with ``history_size=100`` and no
line search by default (``refopt.flavors.torch_lbfgs.LBFGS``). Scalars (dot products, step
lengths, rho, gamma) are Python floats here, 0-d tensors of the params' dtype in torch: the two
agree in float64; in float32 torch rounds those scalars to float32 and this rule does not.

**Where the formula is undefined.** :math:`\rho = 1/y^\top s` for :math:`y^\top s \le 0`: such a
pair is skipped (threshold 1e-10). :math:`\gamma = y^\top s / y^\top y` is only formed for a stored
pair (then :math:`y \ne 0`). A zero gradient stops the step before any division
(``tolerance_grad``); :math:`1/\|g\|_1` is only reached with :math:`g \ne 0`.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

from .. import tree
from ..backend import array_namespace, check_leaf
from ..core import NONNEGATIVE, Interval, number
from ..validate import check_state_type, step_count
from .lbfgs_line_search import Point, strong_wolfe

__all__ = ["lbfgs", "LBFGS", "LBFGSState", "two_loop"]

OPEN_UNIT = Interval(0.0, 1.0, lo_open=True)
CURVATURE_MIN = 1e-10  # y.s threshold for storing a pair (torch's)


class LBFGSState(NamedTuple):
    t: int              # calls of step
    n_iter: int         # iterations over all steps (torch's state["n_iter"])
    func_evals: int     # evaluations over all steps
    loss: float         # loss at the params the last step was given (nan before any)
    d: Any              # last direction (flat), None before any
    alpha: float        # last step length tried (torch's state["t"])
    s: tuple            # (s_i), oldest first, flat arrays
    y: tuple            # (y_i)
    rho: tuple          # 1 / y_i.s_i
    gamma: float        # H_0 = gamma I
    g_prev: Any         # flat gradient where d was computed
    f_prev: float       # loss there


@dataclass(frozen=True)
class LBFGS:
    """``init(params) -> state``; ``step(params, loss_and_grad, state) -> (params, state)``."""
    name: str
    init: Callable[..., Any]
    step: Callable[..., Any]
    hyperparams: Mapping[str, Any] = field(default_factory=dict)


def two_loop(g, s: tuple, y: tuple, rho: tuple, gamma: float):
    """:math:`H g` for the L-BFGS matrix of the pairs (oldest first) and :math:`H_0 = \\gamma I`."""
    xp = array_namespace(g)
    q, a = g, [0.0] * len(s)
    for i in reversed(range(len(s))):
        a[i] = float(xp.sum(s[i] * q)) * rho[i]
        q = q - a[i] * y[i]
    r = q * gamma
    for i in range(len(s)):
        b = float(xp.sum(y[i] * r)) * rho[i]
        r = r + (a[i] - b) * s[i]
    return r


def _count(name: str, x: Any, lo: int) -> int:
    try:
        if isinstance(x, bool):
            raise TypeError
        value = operator.index(x)
    except TypeError:
        raise ValueError(f"{name} must be an int >= {lo}, got {x!r}") from None
    if value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value}")
    return value


class _Flat:
    """params' tree <-> one flat vector, in tree order."""

    def __init__(self, params: Any):
        self.spec = tree.structure(params)
        self.leaves = list(tree.leaves_with_paths(params))
        for path, w in self.leaves:
            check_leaf(tree.fmt_path(path), w, w)
        self.xp = array_namespace(*[w for _, w in self.leaves])

    def flatten(self, leaves: list) -> Any:
        return self.xp.concat([self.xp.reshape(x, (-1,)) for x in leaves])

    def unflatten(self, x: Any) -> Any:
        out, at = [], 0
        for _, w in self.leaves:
            n = math.prod(w.shape)
            out.append(self.xp.reshape(x[at:at + n], tuple(w.shape)))
            at += n
        return tree.unflatten(self.spec, out)

    def grads(self, g: Any) -> Any:
        g_leaves = tree.leaves_like(self.spec, g, "grads")
        for (path, w), gl in zip(self.leaves, g_leaves):
            check_leaf(tree.fmt_path(path), w, gl)
        return self.flatten(g_leaves)


def _loss(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"loss_and_grad must return (loss, grads) with loss one real number, "
                        f"got {type(value).__name__}") from None


def lbfgs(lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
          history_size=10, line_search="strong_wolfe", c1=1e-4, c2=0.9):
    """L-BFGS with a function-evaluating step: ``step(params, loss_and_grad, state)``."""
    lr_value = lr if callable(lr) else number("lr", lr, NONNEGATIVE)
    max_iter = _count("max_iter", max_iter, 1)
    max_eval = max_iter * 5 // 4 if max_eval is None else _count("max_eval", max_eval, 1)
    tolerance_grad = number("tolerance_grad", tolerance_grad, NONNEGATIVE)
    tolerance_change = number("tolerance_change", tolerance_change, NONNEGATIVE)
    m = _count("history_size", history_size, 1)
    if line_search not in (None, "strong_wolfe"):
        raise ValueError(f"line_search must be None or 'strong_wolfe', got {line_search!r}")
    c1 = number("c1", c1, OPEN_UNIT)
    c2 = number("c2", c2, Interval(c1, 1.0, lo_open=True))

    def init(params: Any) -> LBFGSState:
        _Flat(params)  # validates the leaves
        return LBFGSState(0, 0, 0, math.nan, None, math.nan, (), (), (), 1.0, None, math.nan)

    def step(params: Any, loss_and_grad: Callable, state: LBFGSState) -> tuple[Any, LBFGSState]:
        if not callable(loss_and_grad):
            raise TypeError("lbfgs.step takes loss_and_grad, a function params -> (loss, grads), "
                            f"not {type(loss_and_grad).__name__}: L-BFGS evaluates inside a step")
        check_state_type("lbfgs", state, LBFGSState)
        t = step_count("lbfgs", state.t) + 1
        lr_t = number("lr", lr_value(t), NONNEGATIVE, f" (schedule at step {t})") \
            if callable(lr_value) else lr_value
        flat = _Flat(params)
        xp = flat.xp
        x = flat.flatten([w for _, w in flat.leaves])
        if state.d is not None and state.d.shape != x.shape:
            raise ValueError(f"lbfgs: state is for {state.d.shape[0]} parameters, params have "
                             f"{x.shape[0]}")

        def evaluate(at):
            loss, g = loss_and_grad(flat.unflatten(at))
            return _loss(loss), flat.grads(g)

        loss, g = evaluate(x)
        evals, total = 1, state.func_evals + 1
        s, y, rho, gamma = state.s, state.y, state.rho, state.gamma
        d, alpha, g_prev, f_prev, n_iter = state.d, state.alpha, state.g_prev, state.f_prev, state.n_iter
        start_loss = loss
        if float(xp.max(xp.abs(g))) <= tolerance_grad:
            return params, state._replace(t=t, func_evals=total, loss=loss)
        for k in range(1, max_iter + 1):
            n_iter += 1
            if n_iter == 1:
                d = -g
            else:
                s, y, rho, gamma = _remember(s, y, rho, gamma, alpha * d, g - g_prev, m)
                d = -two_loop(g, s, y, rho, gamma)
            g_prev, f_prev = g, loss
            alpha = lr_t * min(1.0, 1.0 / float(xp.sum(xp.abs(g)))) if n_iter == 1 else lr_t
            slope = float(xp.sum(g * d))
            if slope > -tolerance_change:  # not a descent direction any more
                break
            if line_search is not None:
                def along(a, x=x, d=d):
                    f_a, g_a = evaluate(x + a * d)
                    return Point(a, f_a, g_a, float(xp.sum(g_a * d)))
                end, used = strong_wolfe(along, Point(0.0, loss, g, slope), alpha,
                                         float(xp.max(xp.abs(d))), c1=c1, c2=c2,
                                         tolerance_change=tolerance_change, max_ls=max_eval - evals)
                alpha, loss, g = end.alpha, end.f, end.g
                x = x + alpha * d
            else:
                x, used = x + alpha * d, 0
                if k != max_iter:  # torch skips the evaluation after the last iteration
                    (loss, g), used = evaluate(x), 1
            evals, total = evals + used, total + used
            if (k == max_iter or evals >= max_eval or float(xp.max(xp.abs(g))) <= tolerance_grad
                    or float(xp.max(xp.abs(alpha * d))) <= tolerance_change
                    or abs(loss - f_prev) < tolerance_change):
                break
        new = LBFGSState(t, n_iter, total, start_loss, d, alpha, s, y, rho, gamma, g_prev, f_prev)
        return flat.unflatten(x), new

    return LBFGS("lbfgs", init, step, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                       "tolerance_grad": tolerance_grad,
                                       "tolerance_change": tolerance_change, "history_size": m,
                                       "line_search": line_search, "c1": c1, "c2": c2})


def _remember(s, y, rho, gamma, s_new, y_new, m):
    """Store (s, y) when y.s > 1e-10 (curvature condition), dropping the oldest past m pairs;
    gamma = y.s / y.y from the newest stored pair (Liu & Nocedal 1989, section 6)."""
    xp = array_namespace(s_new)
    ys = float(xp.sum(y_new * s_new))
    if not ys > CURVATURE_MIN:
        return s, y, rho, gamma
    s, y, rho = (s + (s_new,))[-m:], (y + (y_new,))[-m:], (rho + (1.0 / ys,))[-m:]
    return s, y, rho, ys / float(xp.sum(y_new * y_new))
