"""``torch.optim.LBFGS`` as a refopt optimizer: torch's argument names and defaults.

torch's LBFGS is the canonical rule of ``refopt.rules.lbfgs`` (two-loop recursion, pairs kept
when y.s > 1e-10, first trial step ``lr*min(1, 1/|g|_1)``, torch's strong-Wolfe search) with
torch's defaults: ``history_size=100`` and no line search. The step takes a function, not a
gradient: ``params, state = opt.step(params, loss_and_grad, state)``, where torch's ``step``
takes a closure; ``state.loss`` is what torch's ``step`` returns. torch fixes the Wolfe constants
(c1 = 1e-4, c2 = 0.9) and gives the search the evaluations left (``max_eval`` minus those made).
"""
from __future__ import annotations

from ..rules.lbfgs import lbfgs

__all__ = ["LBFGS"]


def LBFGS(lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
          history_size=100, line_search_fn=None):
    """``torch.optim.LBFGS(params, lr, max_iter, max_eval, tolerance_grad, tolerance_change,
    history_size, line_search_fn)`` without ``params``: refopt's ``lbfgs`` with torch's knobs."""
    if line_search_fn not in (None, "strong_wolfe"):  # torch raises only at step time
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
    return lbfgs(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                 tolerance_change=tolerance_change, history_size=history_size,
                 line_search=line_search_fn, c1=1e-4, c2=0.9)
