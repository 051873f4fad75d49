r"""ADOPT: normalise the gradient by the *previous* second moment, then take momentum of it.

.. math::

    v_0 &= g_0 \odot g_0 \\
    u_t &= \operatorname{clip}\bigl(g_t / \max(\sqrt{v_{t-1}}, \epsilon),\ c_t\bigr),
        \qquad c_t = t^{1/4} \\
    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, u_t \\
    w_t &= w_{t-1} - \eta\, m_t \\
    v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t \odot g_t

with :math:`m_0 = 0` and :math:`\operatorname{clip}(x, c) = \min(\max(x, -c), c)` elementwise.
Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa & Matsuo (2024),
"ADOPT: Modified Adam Can Converge with Any :math:`\beta_2` with the Optimal Rate", NeurIPS 2024,
arXiv 2411.02853, Algorithm 2 (without the clip) and its clipped form (§5, the version the authors
recommend and release). Two changes from Adam make it converge for every :math:`\beta_2`: the
current gradient is divided by :math:`v_{t-1}`, which does not contain it (so the step is not
correlated with its own denominator), and the normalisation comes *before* the momentum.

**The step count.** The paper's :math:`v_0` needs a gradient :math:`g_0` before the first
update, so the first call of ``step`` (refopt's ``t = 1``) only sets :math:`v = g \odot g` and
leaves the params as they are; call ``t`` is the paper's step :math:`t - 1` from then on, and
``clip(t_paper)`` gives :math:`c_{t}`. optax.contrib and pytorch-optimizer do the same.

=========  ================  ====================  ============================================
symbol     argument          default
=========  ================  ====================  ============================================
eta        ``lr``            1e-3
beta_1     ``beta1``         0.9
beta_2     ``beta2``         0.9999
epsilon    ``eps``           1e-6                  floor of :math:`\sqrt{v}`, not added to it
c_t        ``clip``          ``t -> t**0.25``      a function of the paper's t; ``None``: none
=========  ================  ====================  ============================================

Defaults: the paper's experiments and the authors' code (also optax's and pytorch-optimizer's).

**Frameworks.** optax.contrib ``adopt`` is this rule (``clip_value_fn`` is ``clip``; its
``nesterov`` is not in the paper). pytorch-optimizer ``ADOPT`` clips at ``clip_lambda(step)``
with its call count, i.e. :math:`(t+1)^{1/4}` in the paper's t: ``clip=lambda t: (t+1)**0.25``
(``refopt.flavors.pytorch_optimizer_more.ADOPT``).

**Where the formula is undefined.** Nowhere with ``eps > 0``: the floor keeps the division
finite. With ``eps = 0`` a coordinate whose :math:`g_0` was 0 divides by 0 at the next step
(0/0 = NaN if its gradient is 0 again, :math:`\pm\infty` otherwise, clipped to :math:`\pm c_t`
when clipping); the rule propagates it as the math does (DESIGN).
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule


class AdoptState(NamedTuple):
    t: int
    m: object  # momentum of the normalised (and clipped) gradients
    v: object  # running mean of squared gradients, started at g_0^2 by the first call


def _quarter_root(t: int) -> float:
    """The paper's clipping threshold c_t = t^(1/4)."""
    return t**0.25


def _update(w, g, m, v, *, t, lr, beta1, beta2, eps, clip):
    xp = array_namespace(w)
    if t == 1:                      # the paper's v_0 = g_0^2: no update yet
        return w, m, g * g
    root = xp.sqrt(v)
    u = g / xp.maximum(root, xp.full_like(root, eps))
    if clip is not None:
        c = number("clip", clip(t - 1), NONNEGATIVE, f" (clip at paper step {t - 1})")
        u = xp.minimum(xp.maximum(u, xp.full_like(u, -c)), xp.full_like(u, c))
    m = beta1 * m + (1 - beta1) * u
    w = w - lr * m
    v = beta2 * v + (1 - beta2) * g * g
    return w, m, v


def adopt(lr=1e-3, beta1=0.9, beta2=0.9999, eps=1e-6, clip=_quarter_root):
    """ADOPT (Taniguchi et al. 2024): the first call sets ``v = g*g``; then ``m`` averages
    ``clip(g / max(sqrt(v_prev), eps), clip(t))`` and ``w <- w - lr*m`` (``clip=None``: no clip)."""
    if clip is not None and not callable(clip):
        raise ValueError(f"clip must be a function t -> c_t of the paper's step, or None, got {clip!r}")
    return rule("adopt", AdoptState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "clip": (clip, None)})


INFO = RuleInfo(
    name="adopt", factory=adopt, family="C. Adam family",
    paper="Taniguchi et al. (2024)", year=2024, hook="Normalise by the previous s, then momentum",
    equations="v_0 = g_0 \\odot g_0\n"
              "m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\,\\mathrm{clip}(g_t / \\max(\\sqrt{v_{t-1}},"
              " \\epsilon),\\ t^{1/4})\n"
              "w_t = w_{t-1} - \\eta\\, m_t\n"
              "v_t = \\beta_2 v_{t-1} + (1-\\beta_2)\\, g_t \\odot g_t",
    buffers=2,
    checked_against={"optax.contrib.adopt": 1e-10, "pytorch_optimizer.ADOPT": 1e-10},
)
