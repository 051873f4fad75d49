r"""Fromage: a step of fixed size relative to each layer, then a shrink that keeps its norm.

For each parameter array (a layer) :math:`W`:

.. math::

    W_t = \frac{1}{\sqrt{1+\eta^2}}\left(W_{t-1}
          - \eta\,\frac{\lVert W_{t-1}\rVert}{\lVert g_t\rVert}\, g_t\right)

with the ratio :math:`\lVert W\rVert/\lVert g\rVert` set to 1 where either norm is 0. Bernstein,
Vahdat, Yue & Liu (2020), "On the distance between two neural networks and the stability of
learning", NeurIPS 2020 (arXiv 2002.03432), Algorithm 1 ("Frobenius matched gradient descent").
Norms are Frobenius norms of the whole array.

**Why this form.** The paper's "deep relative trust" bounds how much a network's function
changes by the *relative* change of each layer, so the step in the bracket has size exactly
:math:`\eta\lVert W\rVert` whatever the gradient's scale: relative change :math:`\eta`. Where the
gradient is orthogonal to :math:`W` (as it nearly is in high dimension) that step alone would
grow the norm to :math:`\lVert W\rVert\sqrt{1+\eta^2}` (Pythagoras), so the factor
:math:`1/\sqrt{1+\eta^2}` brings it back: the norm is then kept exactly, and the gradient's part
of the step is :math:`\eta/\sqrt{1+\eta^2}` of :math:`\lVert W\rVert`.

=========  ============  =======
symbol     argument      default
=========  ============  =======
eta        ``lr``        0.01
(knob)     ``min_norm``  0.0
=========  ============  =======

:math:`\eta = 0.01` is the paper's recommended default (and pytorch-optimizer's). ``min_norm``
is optax's convention, not the paper's: both norms are clipped from below,
:math:`\max(\lVert W\rVert, \mu)/\max(\lVert g\rVert, \mu)`; 0 (the default) is the paper's
ratio. optax's ``fromage`` defaults to :math:`\mu = 10^{-6}`, which changes the step of any layer
whose weights or gradient have norm below :math:`10^{-6}` (a zero-initialised bias: optax gives
it the ratio :math:`10^{-6}/\lVert g\rVert`, where the paper's ratio is 0 and the zero-norm rule
1) and of nothing else.

**Notes and frameworks.** optax ``fromage`` chains ``scale_by_trust_ratio(min_norm)``, the lr
times :math:`1/\sqrt{1+\eta^2}` and ``add_decayed_weights`` with :math:`1/\sqrt{1+\eta^2} - 1`:
this rule with ``min_norm``. pytorch-optimizer ``Fromage`` (``p_bound=None``) is this rule at
``min_norm=0``; its ``p_bound`` (a cap on each layer's norm relative to its initial norm, from
the paper's experiments) is not part of Algorithm 1 and not here.

**Where the formula is undefined.** The ratio is 0/0 for :math:`W = 0` with :math:`g = 0`, and
:math:`\lVert W\rVert/0` for :math:`g = 0`; the paper does not say. As optax and
pytorch-optimizer, the ratio is then 1, so the bracket is :math:`W - \eta g`: a zero gradient
still shrinks :math:`W` by :math:`1/\sqrt{1+\eta^2}` (the rule's decay is unconditional), and
:math:`W = 0` takes the plain step :math:`-\eta g/\sqrt{1+\eta^2}`.
(tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves the norms, the ratio and
the bracket are computed in float32 and :math:`W_t` rounded once (``accumulator`` /
``rounded``, norms by ``refopt.rules.lars.layer_norm``, finite where :math:`W\odot W`
overflows): the ratio of two float16 norms can leave float16's range.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded
from ..core import NONNEGATIVE, RuleInfo, rule
from .lars import layer_norm, trust_ratio


class FromageState(NamedTuple):
    t: int


def clipped_norm(x, min_norm):
    """``max(||x||, min_norm)``, the Frobenius norm of the whole array (optax's ``safe_norm``)."""
    xp = array_namespace(x)
    norm = layer_norm(x)
    return xp.where(norm < min_norm, xp.full_like(norm, min_norm), norm) if min_norm else norm


def _update(w, g, *, t, lr, min_norm):
    ratio = trust_ratio(clipped_norm(w, min_norm), clipped_norm(g, min_norm))
    w32, g32 = accumulator(w), accumulator(g)  # float32 for half leaves, see Precision
    w = rounded((w32 - lr * ratio * g32) / math.sqrt(1 + lr * lr), w)
    return (w,)


def fromage(lr=0.01, min_norm=0.0):
    """Fromage (Bernstein et al. 2020, Algorithm 1): ``(w - lr*||w||/||g|| g) / sqrt(1 + lr^2)``."""
    return rule("fromage", FromageState, lambda w: (), _update,
                {"lr": (lr, NONNEGATIVE), "min_norm": (min_norm, NONNEGATIVE)})


INFO = RuleInfo(
    name="fromage", factory=fromage, family="D. Layer-wise scaling",
    paper="Bernstein et al. (2020)", year=2020, hook="Relative step, norm-keeping shrink",
    equations="W_t = \\frac{1}{\\sqrt{1+\\eta^2}}\\Bigl(W_{t-1} - \\eta\\,"
              "\\frac{\\|W_{t-1}\\|}{\\|g_t\\|}\\, g_t\\Bigr)",
    buffers=0,
    checked_against={"optax.fromage": 1e-12, "pytorch_optimizer.Fromage": 1e-12},
)
