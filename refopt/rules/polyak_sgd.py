r"""SPS_max: SGD with the stochastic Polyak step size, capped; it needs the loss value.

.. math::

    \gamma_t &= \min\Bigl(\frac{f_t(w_{t-1}) - f^\star}{c\, \lVert g_t\rVert^2},\ \gamma_b\Bigr) \\
    w_t &= w_{t-1} - \gamma_t\, g_t

where :math:`\lVert g_t\rVert^2` is taken over the whole tree (all leaves together: the gradient
of one function :math:`f_t`). Loizou, Vaswani, Laradji & Lacoste-Julien (2021), "Stochastic
Polyak Step-size for SGD: An Adaptive Learning Rate for Fast Convergence", AISTATS, arXiv
2002.10542, eq. (5) (SPS_max). :math:`f^\star` is the minimum of :math:`f_t` (0 for models
that interpolate the data); the paper's experiments use :math:`c = 0.2` (and :math:`c = 1/2`
in theory, Thm 3.1).

=============  ==========  =======
symbol         argument    default
=============  ==========  =======
gamma_b        ``max_lr``  1.0
c              ``c``       0.2
f*             ``f_min``   0.0
epsilon        ``eps``     0.0 (added to c||g||^2)
=============  ==========  =======

**The loss is an explicit input.** ``step(params, grads, state, loss=f)`` with ``f`` the loss at
``params`` (a real number: Python, NumPy or a 0-d array); a step without it is a ``TypeError``.
``RuleInfo.example`` (the conformance suite's instance) supplies the loss of the quadratic model
:math:`f = f^\star + \tfrac12\lVert g\rVert^2` when none is given; the factory's rule never
guesses.

**Frameworks.** optax ``polyak_sgd(max_learning_rate, scaling, f_min, eps, variant)`` is
:math:`s\,\min((f - f^\star)/(\lVert g\rVert^2 + \epsilon), \gamma_{max})`: this rule at
:math:`c = 1`, times ``scaling``, with a step of 0 when :math:`\lVert g\rVert^2 + \epsilon` is
at most float64's machine epsilon (refopt.flavors.optax_catalogue_b.polyak_sgd).

**Where the formula is undefined.** At :math:`g_t = 0` (all leaves) :math:`\gamma_t` is a
division by 0: the step :math:`\gamma_t g_t` is 0 in the limit, and the rule takes no step
there (params unchanged). A zero gradient in some coordinates only leaves them unchanged.

A NaN or infinite gradient entry makes :math:`\lVert g\rVert^2` NaN or inf and so :math:`\gamma_t`
NaN or 0 for every leaf (the norm is the whole tree's; an infinite entry times 0 is NaN).
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .. import tree
from ..backend import accumulator, array_namespace, as_array_like, c_order, check_leaf, no_grad
from ..core import NONNEGATIVE, POSITIVE, Interval, Optimizer, RuleInfo, hyper, number
from ..validate import check_state_type, step_count

LOSS = Interval(-math.inf, math.inf, hi_open=False)  # any number but NaN: an overflowed loss is inf
FINITE = Interval(-math.inf, lo_open=True)


class PolyakSGDState(NamedTuple):
    t: int


def squared_norm(leaves) -> float:
    """:math:`\\lVert g\\rVert^2` over all leaves, a Python float (float32 sums for 16-bit leaves)."""
    total = 0.0
    for g in leaves:
        xp, a = array_namespace(g), accumulator(c_order(g))
        total += float(xp.sum(a * a))
    return total


def polyak_step_size(loss, sq_norm, *, max_lr, c, f_min, eps):
    """gamma_t = min((f - f*) / (c ||g||^2 + eps), gamma_b); 0 where the denominator is 0."""
    denominator = c * sq_norm + eps
    if denominator == 0:
        return 0.0
    ratio = (loss - f_min) / denominator  # inf/inf (an overflowed loss and norm) is NaN
    return ratio if math.isnan(ratio) else min(ratio, max_lr)


def polyak_sgd(max_lr=1.0, c=0.2, f_min=0.0, eps=0.0):
    """SPS_max; ``step(params, grads, state, loss=f)``: the loss is required."""
    settings = {"max_lr": (max_lr, NONNEGATIVE), "c": (c, POSITIVE), "f_min": (f_min, FINITE),
                "eps": (eps, NONNEGATIVE)}
    values = {k: hyper(k, v, allowed) for k, (v, allowed) in settings.items()}
    if any(callable(v) for v in values.values()):
        raise ValueError("polyak_sgd: max_lr, c, f_min and eps must be numbers, not schedules")

    def init(params):
        leaves = list(tree.leaves_with_paths(params))
        for path, w in leaves:
            check_leaf(tree.fmt_path(path), w, w, what="params")
        return PolyakSGDState(0)

    def step(params, grads, state, loss=None, **extra):
        if extra:
            raise TypeError(f"polyak_sgd.step got unexpected keyword {sorted(extra)[0]!r}")
        check_state_type("polyak_sgd", state, PolyakSGDState)
        t = step_count("polyak_sgd", state.t) + 1
        if loss is None:
            raise TypeError("polyak_sgd.step needs loss=, the loss at params (a real number)")
        f = number("loss", loss, LOSS)
        spec = tree.structure(params)
        leaves = [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]
        g_leaves = tree.leaves_like(spec, grads, "grads")
        for (path, w), g in zip(leaves, g_leaves):
            check_leaf(path, w, g)
        gamma = polyak_step_size(f, squared_norm(g_leaves), **values)
        with no_grad([w for _, w in leaves]):
            new = [w if gamma == 0 else as_array_like(w, w - gamma * g)
                   for (_, w), g in zip(leaves, g_leaves)]
        return tree.unflatten(spec, new), PolyakSGDState(t)

    return Optimizer("polyak_sgd", init, step, values,
                     {k: allowed for k, (_, allowed) in settings.items()})


def _example():
    """The rule fed the loss of the quadratic model f = f* + ||g||^2 / 2 when no loss is given."""
    opt = polyak_sgd()

    def step(params, grads, state, loss=None, **extra):
        if loss is None:
            try:
                gap = squared_norm(tree.leaves_like(tree.structure(params), grads, "grads")) / 2
            except Exception:  # bad grads: opt.step below names the leaf
                gap = 0.0
            if gap != gap or gap == float("inf"):  # NaN/inf grads: let the rule show them
                gap = 1.0
            loss = opt.hyperparams["f_min"] + gap
        return opt.step(params, grads, state, loss=loss, **extra)

    return Optimizer(opt.name, opt.init, step, opt.hyperparams, opt.bounds)


INFO = RuleInfo(
    name="polyak_sgd", factory=polyak_sgd, family="A. Baselines",
    paper="Loizou et al. (2021)", year=2021, hook="Step size from the loss gap (needs f)",
    equations="\\gamma_t = \\min\\big((f_t - f^\\star) / (c\\, \\lVert g_t\\rVert^2),\\ \\gamma_b\\big)\n"
              "w_t = w_{t-1} - \\gamma_t\\, g_t",
    buffers=0, example=_example,
    checked_against={"optax.polyak_sgd": 1e-12},
)
