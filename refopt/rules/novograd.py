r"""NovoGrad: the gradient normalised by a per-layer running mean of its squared norm, in momentum.

For each parameter array (a layer) :math:`w`, with :math:`m_0 = 0`:

.. math::

    v_1 &= \lVert g_1\rVert^2, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, \lVert g_t\rVert^2 \quad (t > 1) \\
    m_t &= \beta_1 m_{t-1} + \Bigl(\frac{g_t}{\sqrt{v_t + \epsilon_{root}} + \epsilon}
           + \lambda\, w_{t-1}\Bigr) \\
    w_t &= w_{t-1} - \eta_t\, m_t

Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen (2019),
"Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep Networks",
arXiv 1905.11286, Algorithm 1. Norms are Frobenius norms of the whole array.

**What is layer-wise.** :math:`v` is one number per layer (Adam keeps one per weight): half
Adam's memory, and the normalised gradient :math:`g_t/\sqrt{v_t}` does not change when one
layer's gradients are all multiplied by :math:`c > 0` (both :math:`g` and :math:`\sqrt{v}` scale
by :math:`c`, up to :math:`\epsilon`). Starting :math:`v` at :math:`\lVert g_1\rVert^2` instead of
0 removes the bias that Adam corrects with :math:`1-\beta_2^t`; :math:`m` is not bias-corrected
and, as in the paper, does not take :math:`1-\beta_1` (the authors' code calls that variant
``grad_averaging``). The decay :math:`\lambda w` is added *after* the normalisation, inside the
momentum: decoupled from the gradient's scale as in AdamW, but carried by the momentum.

======================  ==================  =======
symbol                  argument            default
======================  ==================  =======
eta                     ``lr``              1e-3
beta_1                  ``beta1``           0.95
beta_2                  ``beta2``           0.98
epsilon                 ``eps``             1e-8
epsilon_root            ``eps_root``        0.0
lambda (paper d)        ``weight_decay``    0.0
======================  ==================  =======

:math:`\beta_1 = 0.95, \beta_2 = 0.98` and :math:`\epsilon = 10^{-8}` are the paper's experiments'
and the authors' code's (NVIDIA OpenSeq2Seq), as pytorch-optimizer's; the lr has no paper
default (it is schedule-driven there: pass a schedule). ``eps_root`` is optax's constant inside
the root (a convention knob, 0 in the paper). The paper's first moment :math:`m_1 =
g_1/\sqrt{v_1} + \lambda w_0` has no :math:`\epsilon`; here :math:`\epsilon` is in every step,
:math:`m_1 = g_1/(\lVert g_1\rVert + \epsilon) + \lambda w_0`, as in optax and pytorch-optimizer.

**Notes and frameworks.** optax ``novograd`` (``scale_by_novograd``) is this rule, with other
defaults (:math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.25`, :math:`\epsilon = 10^{-6}`).
pytorch-optimizer ``NovoGrad`` (``grad_averaging=False``, ``weight_decouple=False``, its
defaults) adds ``weight_decay * w`` to the normalised gradient: this rule.

**Where the formula is undefined.** With ``eps = eps_root = 0`` a layer whose gradients have all
been exactly 0 has :math:`v = 0` and the step 0/0: NaN for the whole layer (the formula is
undefined there and the rule propagates it; ``refopt.check_finite`` reports it). With the
default ``eps`` an all-zero first gradient gives :math:`m_1 = \lambda w_0`, and no step at
:math:`\lambda = 0`. The same holds where :math:`\lVert g\rVert^2` underflows to 0 (a layer
whose gradient norm is below about 1e-154 in float64, 1e-19 in float32): :math:`v` is then 0 although
:math:`g \ne 0`, and the step is :math:`g/\epsilon`, or inf at ``eps = 0``, as the formula in
that precision says. (tests/robustness/test_rules_edge.py)

**Precision.** Dtype in, dtype out; :math:`v` is one number per leaf, an array in the leaf's
dtype with its number of axes, each of length 1 (``(1, 1)`` for a matrix, 0-d for a 0-d leaf). For float16
and bfloat16 leaves the norm, :math:`v`, :math:`m` and the step are computed in float32 and
each stored number rounded once (``accumulator`` / ``rounded``; the norm by
``refopt.rules.lars.layer_norm``, finite where :math:`g \odot g` overflows): a float16 sum of
squares overflows for a norm above 256.
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule
from .lars import layer_norm


class NovoGradState(NamedTuple):
    t: int
    m: object  # momentum of normalised gradients (decay included), like w
    v: object  # EMA of the layer's squared gradient norm: one number, shape (1,)*w.ndim


def _one_per_layer(w):
    """The shape of v: w's number of axes, each of length 1 (a norm with keepdims)."""
    return (1,) * w.ndim


def _init(w):
    xp = array_namespace(w)
    return zeros_like(w), xp.zeros(_one_per_layer(w), dtype=w.dtype)


def _update(w, g, m, v, *, t, lr, beta1, beta2, eps, eps_root, weight_decay):
    xp = array_namespace(w)
    w32, g32 = accumulator(w), accumulator(g)  # float32 for half leaves, see Precision
    norm_sq = xp.reshape(layer_norm(g) ** 2, _one_per_layer(w))
    v32 = norm_sq if t == 1 else beta2 * accumulator(v) + (1 - beta2) * norm_sq
    m32 = beta1 * accumulator(m) + (g32 / (xp.sqrt(v32 + eps_root) + eps) + weight_decay * w32)
    w = rounded(w32 - lr * m32, w)
    return w, rounded(m32, w), rounded(v32, w)


def novograd(lr=1e-3, beta1=0.95, beta2=0.98, eps=1e-8, eps_root=0.0, weight_decay=0.0):
    """NovoGrad (Ginsburg et al. 2019, Algorithm 1): per-layer ``v`` of ``||g||^2``, ``v_1 = ||g_1||^2``."""
    return rule("novograd", NovoGradState, _init, _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE)})


INFO = RuleInfo(
    name="novograd", factory=novograd, family="D. Layer-wise scaling",
    paper="Ginsburg et al. (2019)", year=2019, hook="Layer-wise second moment, decay in momentum",
    equations="v_t = \\beta_2 v_{t-1} + (1-\\beta_2) \\|g_t\\|^2,\\quad v_1 = \\|g_1\\|^2\n"
              "m_t = \\beta_1 m_{t-1} + g_t / (\\sqrt{v_t} + \\epsilon) + \\lambda w_{t-1}\n"
              "w_t = w_{t-1} - \\eta\\, m_t",
    buffers="1 + 1 per layer",
    checked_against={"optax.novograd": 1e-12, "pytorch_optimizer.NovoGrad": 1e-12},
)
