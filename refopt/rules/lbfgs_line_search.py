r"""A strong-Wolfe line search for L-BFGS: bracketing, then zoom, with cubic interpolation.

Along a direction :math:`d` the search looks at :math:`\phi(\alpha) = f(x + \alpha d)`, with
:math:`\phi'(\alpha) = \nabla f(x + \alpha d)^\top d`, for a step length satisfying the strong
Wolfe conditions

.. math::

    \phi(\alpha) &\le \phi(0) + c_1\,\alpha\,\phi'(0) \\
    |\phi'(\alpha)| &\le c_2\,|\phi'(0)| = -c_2\,\phi'(0)

Nocedal & Wright (2006), *Numerical Optimization*, 2nd ed., Springer: Algorithm 3.5 (bracket
an interval that holds such a step) and Algorithm 3.6 (``zoom``: shrink it), trial points from
the minimizer of the cubic through two points' values and slopes, eq. (3.59):

.. math::

    d_1 = \phi'_{a} + \phi'_{b} - 3\,\frac{\phi_a - \phi_b}{a - b}, \quad
    d_2 = \sqrt{d_1^2 - \phi'_a\phi'_b}, \quad
    \alpha = b - (b - a)\,\frac{\phi'_b + d_2 - d_1}{\phi'_b - \phi'_a + 2 d_2}

with :math:`b` the larger of the two step lengths. This is the search of torch.optim.LBFGS
(ported there from minFunc / torch7's ``lswolfe.lua``), whose choices are kept so the two agree:
extrapolated trials are clamped to :math:`[\alpha + 0.01(\alpha - \alpha_{prev}), 10\alpha]`; a
zoom trial within 10% of the bracket's ends twice in a row (or outside it) is moved to 10% inside;
the zoom stops when the bracket times :math:`\max|d|` falls below ``tolerance_change``; at most
``max_ls`` evaluations after the first; the point returned is the bracket's lowest.

**Where the formula is undefined.** Where :math:`d_1^2 < \phi'_a\phi'_b` the cubic has no
minimizer: the midpoint of the allowed interval is taken instead.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

__all__ = ["Point", "cubic_minimizer", "strong_wolfe"]


class Point(NamedTuple):
    """One evaluation along the line: step length, value, flat gradient, slope phi'."""
    alpha: float
    f: float
    g: Any
    slope: float


def cubic_minimizer(a: Point, b: Point, lo: float | None = None, hi: float | None = None) -> float:
    """The minimizer of the cubic through ``a`` and ``b`` (N&W eq. 3.59), clamped to [lo, hi]
    (by default the interval between the two points)."""
    if lo is None:
        lo, hi = min(a.alpha, b.alpha), max(a.alpha, b.alpha)
    d1 = a.slope + b.slope - 3 * (a.f - b.f) / (a.alpha - b.alpha)
    d2_square = d1 * d1 - a.slope * b.slope
    if not d2_square >= 0:  # written so that NaN takes the midpoint too
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    near, far = (a, b) if a.alpha <= b.alpha else (b, a)  # eq. 3.59 is written from the far end
    alpha = far.alpha - (far.alpha - near.alpha) * (
        (far.slope + d2 - d1) / (far.slope - near.slope + 2 * d2))
    return min(max(alpha, lo), hi)


def _too_high(start: Point, p: Point, c1: float) -> bool:
    """Sufficient decrease (the first Wolfe condition) fails; NaN counts as not too high, as in torch."""
    return p.f > start.f + c1 * p.alpha * start.slope


def _curvature(start: Point, p: Point, c2: float) -> bool:
    return abs(p.slope) <= -c2 * start.slope


def _bracket(evaluate, start, alpha, c1, c2, max_ls):
    """Algorithm 3.5: returns (bracket, done, trials). ``bracket`` is [p] when ``p`` already
    satisfies both conditions (done), else two points around an acceptable step."""
    prev, new = start, evaluate(alpha)
    trials = 0
    while trials < max_ls:
        if _too_high(start, new, c1) or (trials > 1 and new.f >= prev.f):
            return [prev, new], False, trials
        if _curvature(start, new, c2):
            return [new], True, trials
        if new.slope >= 0:  # the slope turned: a minimizer lies between prev and new
            return [prev, new], False, trials
        lo, hi = new.alpha + 0.01 * (new.alpha - prev.alpha), new.alpha * 10
        prev, new = new, evaluate(cubic_minimizer(prev, new, lo, hi))
        trials += 1
    return [start, new], False, trials  # out of evaluations: keep the better of the two ends


def _safeguarded(alpha: float, bracket: list[Point], stalled: bool) -> tuple[float, bool]:
    """Move a trial that hugs an end of the bracket 10% inside (torch / minFunc's rule)."""
    lo = min(p.alpha for p in bracket)
    hi = max(p.alpha for p in bracket)
    margin = 0.1 * (hi - lo)
    if min(hi - alpha, alpha - lo) >= margin:
        return alpha, False
    if not (stalled or alpha >= hi or alpha <= lo):
        return alpha, True
    return (hi - margin if abs(alpha - hi) < abs(alpha - lo) else lo + margin), False


def strong_wolfe(evaluate: Callable[[float], Point], start: Point, alpha: float, d_max: float, *,
                 c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[Point, int]:
    """Search ``evaluate(alpha) -> Point`` from ``start`` (alpha 0), first trial ``alpha``.

    ``d_max`` is :math:`\\max|d|` (the zoom stops when the bracket moves x by less than
    ``tolerance_change``). Returns the accepted point and the number of evaluations made.
    """
    counted = []

    def count(a: float) -> Point:
        counted.append(a)
        return evaluate(a)

    bracket, done, trials = _bracket(count, start, alpha, c1, c2, max_ls)
    low = 0 if bracket[0].f <= bracket[-1].f else 1
    stalled = False
    while not done and trials < max_ls:  # Algorithm 3.6, zoom
        if abs(bracket[1].alpha - bracket[0].alpha) * d_max < tolerance_change:
            break
        alpha, stalled = _safeguarded(cubic_minimizer(bracket[0], bracket[1]), bracket, stalled)
        new = count(alpha)
        trials += 1
        high = 1 - low
        if _too_high(start, new, c1) or new.f >= bracket[low].f:
            bracket[high] = new
            low = 0 if bracket[0].f <= bracket[1].f else 1
            continue
        if _curvature(start, new, c2):
            done = True
        elif new.slope * (bracket[high].alpha - bracket[low].alpha) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
    return bracket[low], len(counted)
