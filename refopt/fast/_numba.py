"""numba, or an ImportError that says which extra to install; the one kernel decorator.

A kernel is one flat ``prange`` loop over 1-D arrays (``parallel=True``): numba then knows
the iterations are independent and vectorizes the body (packed ``sqrtps``/``divps``); the
same loop over ``range`` is not vectorized, because numba cannot rule out that the arrays
alias (../shared/reference/sources_2.md §5). ``fastmath=False``: no reassociation and no
fused multiply-add, so every operation rounds as the canonical rule's NumPy operation does.
``cache=True`` keeps the compiled kernels on disk (``__pycache__``), one per dtype used.
"""
try:
    import numba
except ImportError as err:  # pragma: no cover - exercised in a subprocess without numba
    raise ImportError('refopt.fast needs numba: pip install "refopt[fast]"') from err

prange = numba.prange
kernel = numba.njit(parallel=True, fastmath=False, cache=True)
helper = numba.njit(inline="always", fastmath=False, cache=True)


@helper
def maximum(a, b):
    """np.maximum of two scalars: NaN if either is NaN, else the larger (b when equal)."""
    return a if (a > b or a != a) else b


@helper
def sign(x, one, zero):
    """np.sign of a scalar: 1, -1, 0 for either zero, NaN for NaN (``one``, ``zero`` typed)."""
    if x > zero:
        return one
    if x < zero:
        return -one
    return zero if x == zero else x
