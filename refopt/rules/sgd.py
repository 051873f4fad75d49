r"""Stochastic gradient descent.

.. math::

    w_t = w_{t-1} - \eta_t \, g_t

Robbins & Monro (1951), "A Stochastic Approximation Method", Ann. Math. Statist. 22(3);
the cheat sheet cites Nesterov's *Introductory Lectures on Convex Optimization* (2004).

======  ==========  ============
symbol  argument    default
======  ==========  ============
eta     ``lr``      1e-3 (torch)
======  ==========  ============

**Where the formula is undefined.** Nowhere: there is no division, and a coordinate whose
gradients have all been 0 keeps its value exactly. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..core import NONNEGATIVE, RuleInfo, rule


class SGDState(NamedTuple):
    t: int


def _update(w, g, *, t, lr):
    w = w - lr * g
    return (w,)


def sgd(lr=1e-3):
    """SGD: ``w <- w - lr * g``. ``lr`` may be a schedule ``t -> float``."""
    return rule("sgd", SGDState, lambda w: (), _update, {"lr": (lr, NONNEGATIVE)})


INFO = RuleInfo(
    name="sgd", factory=sgd, family="A. Baselines",
    paper="Robbins & Monro (1951)", year=1951, hook="Step = -LR x gradient",
    equations=r"w_t = w_{t-1} - \eta\, g_t", buffers=0,
    checked_against={"torch.optim.SGD": 1e-12, "optax.sgd": 1e-12},
)
