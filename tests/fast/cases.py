"""Hyperparameter strategies for every fast rule, and the ulp distance the tests measure.

Each strategy draws the canonical rule's own arguments: constants across their ranges
(0 included, where the canonical rule allows it, so 0/0 and NaN paths are compared too)
and schedules t -> value, which the core evaluates for both forms alike.
"""
import math

import numpy as np
from hypothesis import strategies as st

lrs = st.sampled_from([1e-3, 0.1, 1.0])
schedules = st.builds(lambda a: (lambda t: a / math.sqrt(t)), st.sampled_from([1e-3, 0.1]))
lr = lrs | schedules
beta = st.sampled_from([0.0, 0.5, 0.9, 0.999]) | st.floats(1e-3, 0.999)
warm_beta = st.builds(lambda b: (lambda t: b * (1 - 0.5**t)), st.sampled_from([0.9, 0.99]))
eps = st.sampled_from([0.0, 1e-8, 1e-3])
decay = st.sampled_from([0.0, 1e-4, 0.1])
flag = st.booleans()


def args(**kw):
    return st.fixed_dictionaries(kw)


HYPER = {
    "sgd": args(lr=lr),
    "momentum": args(lr=lr, beta1=beta | warm_beta),
    "nesterov_reformulated": args(lr=lr, beta1=beta | warm_beta),
    "adagrad": args(lr=lr, eps=eps, eps_root=eps, initial_accumulator=st.sampled_from([0.0, 0.1])),
    "rmsprop": args(lr=lr, beta2=beta, eps=eps, momentum=st.sampled_from([0.0, 0.9]) | warm_beta,
                    centered=flag, eps_root=eps, initial_accumulator=st.sampled_from([0.0, 0.1])),
    "adadelta": args(lr=lr, beta2=beta, eps=eps),
    "adam": args(lr=lr, beta1=beta | warm_beta, beta2=beta, eps=eps, eps_root=eps),
    "adamw": args(lr=lr, beta1=beta, beta2=beta, eps=eps, weight_decay=decay,
                  schedule_multiplier=st.sampled_from([1.0, 0.5]) | schedules, eps_root=eps),
    "amsgrad": args(lr=lr, beta1=beta, beta2=beta, eps=eps, eps_root=eps),
    "adamax": args(lr=lr, beta1=beta, beta2=beta, eps=eps),
    "nadam": args(lr=lr, beta1=beta, beta2=beta, eps=eps, eps_root=eps),
    "radam": args(lr=lr, beta1=beta, beta2=beta, eps=eps, eps_root=eps,
                  threshold=st.sampled_from([4.0, 5.0])),
    "lion": args(lr=lr, beta1=beta, beta2=beta, weight_decay=decay),
    "adan": args(lr=lr, beta1=beta, beta2=beta, beta3=beta, eps=eps, weight_decay=decay,
                 debias=flag, eps_inside=flag, proximal=flag),
}


def _ordered(x):
    """Float bits as integers ordered like the floats (-0.0 and +0.0 both 0)."""
    bits = x.view(np.int32 if x.dtype == np.float32 else np.int64).astype(np.int64)
    magnitude = bits & (0x7FFFFFFF if x.dtype == np.float32 else 0x7FFFFFFFFFFFFFFF)
    return np.where(bits < 0, -magnitude, magnitude)


def ulps(a, b):
    """Elementwise distance in units in the last place; 0 where both are NaN, inf where one is."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, f"{a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    ia, ib = _ordered(a), _ordered(b)
    same_sign = (ia >= 0) == (ib >= 0)
    with np.errstate(over="ignore"):
        # same sign: the int64 difference is exact; opposite signs: the sum of the magnitudes,
        # as floats (exact when both are small, and far above 4 when either is not)
        dist = np.where(same_sign, np.abs(ia - ib).astype(np.float64),
                        np.abs(ia.astype(np.float64)) + np.abs(ib.astype(np.float64)))
    na, nb = np.isnan(a), np.isnan(b)
    return np.where(na & nb, 0.0, np.where(na | nb, np.inf, dist))
