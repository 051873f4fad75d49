"""numba, or an ImportError that says which extra to install; the one kernel decorator.

A kernel is one flat ``prange`` loop over 1-D arrays, compiled twice from the one source:

* ``serial``: ``error_model="numpy"``, one thread (``prange`` runs as ``range``). Under numba's
  default Python error model every float division checks for a zero divisor (to raise
  ZeroDivisionError), and that branch keeps LLVM from vectorizing the loop: the assembly
  shows scalar ``vsqrtss``/``vdivss``. With NumPy's error model (x/0 is inf or NaN, as in the
  canonical rule) the same loop compiles to packed ``vsqrtps``/``vdivps``.
  (../shared/reference/sources_2.md §5 put the scalar code down to aliasing; it is the
  error model: tests/fast/test_in_place.py checks both.)
* ``parallel``: ``parallel=True``, the loop split over numba's threads (parfors use NumPy's
  error model too).

``Kernel.__call__`` runs the serial one when numba has one thread or the leaf is small (a
second thread costs more than the pass), else the parallel one. On one thread the serial
one is the faster: no thread-pool launch (about 3 us a call), and at 1e7 float32 Adam
parameters 9.8 ms against 10.8 ms (this 2-core machine, same process).
``fastmath=False`` in both: no reassociation and no fused multiply-add, so every operation
rounds as the canonical rule's NumPy operation does, and both compilations give the same
bits. ``cache=True`` keeps the compiled kernels on disk (``__pycache__``), one per dtype used.
"""
try:
    import numba
except ImportError as err:  # pragma: no cover - exercised in a subprocess without numba
    raise ImportError('refopt.fast needs numba: pip install "refopt[fast]"') from err

prange = numba.prange
SERIAL = {"fastmath": False, "error_model": "numpy", "cache": True}
PARALLEL = {"parallel": True, "fastmath": False, "cache": True}

# Leaves smaller than this run serially even when numba has more threads: waking a second
# one costs more than the pass (5 us to several ms on two threads of a loaded 2-core machine)
SERIAL_BELOW = 1 << 15


class Kernel:
    """One loop over 1-D arrays (the first argument's length), compiled serially and in
    parallel; calling it picks by numba's thread count and the length."""

    def __init__(self, py_func):
        self.py_func = py_func
        self.serial = numba.njit(**SERIAL)(py_func)
        self.parallel = numba.njit(**PARALLEL)(py_func)

    def __call__(self, w, *args):
        if w.shape[0] < SERIAL_BELOW or numba.get_num_threads() == 1:
            return self.serial(w, *args)
        return self.parallel(w, *args)


kernel = Kernel
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
