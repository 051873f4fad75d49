"""refopt.fast: each elementwise rule as one fused, in-place numba pass over memory.

    opt = refopt.fast.adam(lr=1e-3)          # refopt.adam's arguments, validated by it
    state = opt.init(params)                 # refopt.adam's AdamState
    state = opt.step_(params, grads, state)  # params and state arrays overwritten in place
    params, state = opt.step(params, grads, state)   # pure, as every rule

Same numbers as the canonical rule in refopt/rules/ (same order of operations, scalars
rounded as NumPy rounds them; checked element by element in tests/fast/). NumPy float32
and float64 arrays only: another library, or another dtype, gets a TypeError naming the
canonical rule to use. Needs numba: ``pip install "refopt[fast]"``.
"""
from ._fused import FastOptimizer
from .adam_family import adam, adamax, adamw, amsgrad, nadam, radam
from .adaptive import adadelta, adagrad, rmsprop
from .baselines import momentum, nesterov_reformulated, sgd
from .lion_adan import adan, lion

FAST = {f.__name__: f for f in (sgd, momentum, nesterov_reformulated, adagrad, rmsprop, adadelta,
                                adam, adamw, amsgrad, adamax, nadam, radam, lion, adan)}

__all__ = ["FAST", "FastOptimizer", *FAST]
