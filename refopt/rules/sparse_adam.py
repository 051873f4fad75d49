r"""Sparse (lazy) Adam: Adam's step on the coordinates a sparse gradient holds, nothing elsewhere.

For the set :math:`P_t` of coordinates present in the gradient at step :math:`t`:

.. math::

    m_{t,i} &= \beta_1 m_{t-1,i} + (1-\beta_1)\, g_{t,i} \\
    s_{t,i} &= \beta_2 s_{t-1,i} + (1-\beta_2)\, g_{t,i}^2 \\
    w_{t,i} &= w_{t-1,i} - \eta_t\, \frac{m_{t,i}/(1-\beta_1^t)}{\sqrt{s_{t,i}/(1-\beta_2^t)} + \epsilon}
    \qquad (i \in P_t)

and :math:`m, s, w` unchanged for :math:`i \notin P_t`. Kingma & Ba (2015), "Adam: A Method for
Stochastic Optimization", ICLR, arXiv 1412.6980, Algorithm 1, restricted to :math:`P_t`: the
"lazy" Adam of embedding tables, where a step reads and writes only the rows a batch used.
It is not Adam on a gradient with zeros: there an absent coordinate's moments decay and its
parameter still moves. :math:`t` counts the steps of the whole array (every step, present or
not), as torch's ``SparseAdam`` counts, so the bias correction of a row seen rarely is that of
the step, not of its own visits.

**How a sparse gradient is given.** A pure rule takes dense arrays, so a sparse gradient is a
pair: ``grads`` dense, and a ``mask`` tree beside it, boolean, ``True`` where a coordinate is
present::

    params, state = opt.step(params, grads, state, mask=mask)

Presence, not value: a present coordinate whose value is exactly 0 is updated (its moments
decay), as a stored zero of a sparse tensor is. Values of ``grads`` where ``mask`` is False are
never read (they may be anything, NaN included). Without ``mask`` every coordinate is present
and the rule is ``refopt.adam``. ``refopt.flavors.torch_catalogue.sparse_gradient`` turns a torch
sparse COO gradient (``nn.Embedding(sparse=True)``) into this pair, summing duplicate indices as
torch's ``coalesce`` does (a row given twice is present once, with the sum of its values).

======================  ==============  =======
symbol                  argument        default
======================  ==============  =======
eta (paper alpha)       ``lr``          1e-3
beta_1                  ``beta1``       0.9
beta_2                  ``beta2``       0.999
epsilon                 ``eps``         1e-8
======================  ==============  =======

The defaults are the paper's. ``eps`` must be positive (as torch requires): the absent
coordinates are computed and then discarded, and ``eps > 0`` keeps that arithmetic finite.
torch's ``SparseAdam`` puts eps beside :math:`\sqrt{s_t}` before the correction, which is this
rule with the schedule ``eps=lambda t: eps / sqrt(1 - beta2**t)``.

**Where the formula is undefined.** Nowhere, with ``eps > 0``: the denominator is at least eps.
An all-False mask is a step that changes nothing but ``t``.

A NaN or infinite value where the mask is True propagates into that coordinate, as in Adam;
where it is False it is never read.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from .. import tree
from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule
from .adam import _update as adam_update


class SparseAdamState(NamedTuple):
    t: int
    m: object  # first moment, changed only where a gradient was present
    s: object  # second moment, likewise


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, present):
    if present is None:  # no mask: every coordinate is present
        return adam_update(w, g, m, s, t=t, lr=lr, beta1=beta1, beta2=beta2, eps=eps, eps_root=0.0)
    xp = array_namespace(w)
    here = present != 0
    g = xp.where(here, g, xp.zeros_like(g))  # an absent value is never read
    w_new, m_new, s_new = adam_update(w, g, m, s, t=t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                      eps_root=0.0)
    return xp.where(here, w_new, w), xp.where(here, m_new, m), xp.where(here, s_new, s)


def _as_presence(params: Any, mask: Any) -> Any:
    """The boolean ``mask`` tree as 1/0 arrays of each params leaf's dtype (the form the core
    passes beside a leaf), each leaf checked: an array of the same library, bool, same shape."""
    spec = tree.structure(params)
    out = []
    for (path, w), m in zip(tree.leaves_with_paths(params), tree.leaves_like(spec, mask, "mask")):
        where = tree.fmt_path(path)
        if not hasattr(m, "dtype") or not hasattr(m, "shape"):
            raise TypeError(f"mask leaf {where} is {type(m).__name__}, not a boolean array")
        try:
            xp = array_namespace(w, m)
        except TypeError as err:
            raise TypeError(f"mask leaf {where} is from another library than its params: {err}") from None
        if m.dtype != xp.bool:
            raise TypeError(f"mask leaf {where} has dtype {m.dtype}; a boolean array is needed")
        if tuple(m.shape) != tuple(w.shape):
            raise ValueError(f"mask leaf {where} has shape {tuple(m.shape)}, params have "
                             f"{tuple(w.shape)} (no broadcasting)")
        out.append(xp.astype(m, w.dtype))
    return tree.unflatten(spec, out)


def sparse_adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam on the coordinates present in a sparse gradient: ``step(params, grads, state,
    mask=...)`` with ``mask`` True where a coordinate is present (all, if omitted)."""
    opt = rule("sparse_adam", SparseAdamState, lambda w: (zeros_like(w), zeros_like(w)), _update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, POSITIVE)}, aux=("present",))

    def step(params: Any, grads: Any, state: Any, mask: Any = None) -> tuple[Any, Any]:
        present = None if mask is None else _as_presence(params, mask)
        return opt.step(params, grads, state, present=present)

    return replace(opt, step=step)


INFO = RuleInfo(
    name="sparse_adam", factory=sparse_adam, family="C. Adam family",
    paper="Kingma & Ba (2015)", year=2015, hook="Adam on the rows a batch touched",
    equations="m_{t,i} = \\beta_1 m_{t-1,i} + (1-\\beta_1)\\, g_{t,i} \\quad (i \\in P_t)\n"
              "s_{t,i} = \\beta_2 s_{t-1,i} + (1-\\beta_2)\\, g_{t,i}^2 \\quad (i \\in P_t)\n"
              "w_{t,i} = w_{t-1,i} - \\eta\\, \\frac{\\hat m_{t,i}}{\\sqrt{\\hat s_{t,i}} + \\epsilon}"
              " \\quad (i \\in P_t)",
    buffers=2,
    checked_against={"torch.optim.SparseAdam": 1e-12},
)
