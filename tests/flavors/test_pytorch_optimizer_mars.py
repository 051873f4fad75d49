"""refopt.flavors.pytorch_optimizer.MARS(mars_type="adamw") against pytorch-optimizer 4.1.0's MARS:
the "adamw" entries of pytorch-optimizer's own test table, the flavor's parts, and what its eps
placement is worth.

Compared as in test_pytorch_optimizer.py: 50 steps of ``refopt.oracle.mixed_gradients`` in float64,
update relative error within 1e-10 (all measured differences are rounding, 1e-14 to 2e-12).
"""
import math

import numpy as np
import pytest

import refopt
from refopt.flavors import pytorch_optimizer as P
from refopt.oracle import compare, mixed_gradients

SHAPES = P.SHAPES["MARS"]  # two matrices and a vector

# pytorch-optimizer's tests/constants.py (kozistr/pytorch_optimizer at 7a076d2f): its MARS entries
# with mars_type "adamw" (the default) and no ams_bound, read and restated here
KOZISTR_ADAMW = [
    dict(lr=0.5, lr_1d=0.5, weight_decay=1e-3, mars_type="adamw"),
    dict(lr=0.5, lr_1d=0.5, weight_decay=1e-3),
    dict(lr=0.5, lr_1d=0.5, weight_decay=1e-3, optimize_1d=True),
]


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


def report(ours, kwargs, seed=0, steps=50):
    params = _params(seed)
    return compare(ours, P.framework("MARS", **kwargs), params, mixed_gradients(params, steps, seed=seed + 1),
                   rtol=1e-10)


@pytest.mark.parametrize("kwargs", KOZISTR_ADAMW, ids=lambda k: str(sorted(k)))
@pytest.mark.parametrize("seed", [0, 1])
def test_pytorch_optimizers_own_adamw_entries(kwargs, seed):
    r = report(P.MARS(**kwargs), kwargs, seed)
    assert r.ok, str(r)


def test_optimize_1d_is_the_rule_on_every_leaf():
    """The same numbers as refopt.mars with the eps moved (the flavor adds only the decay and eps)."""
    eps, b2 = 1e-8, 0.99
    rule = refopt.mars(lr=3e-3, weight_decay=0.02, eps=lambda t: eps / math.sqrt(1 - b2**t),
                       eps_root=lambda t: 1e-15 / (1 - b2**t))
    r = report(rule, dict(optimize_1d=True, weight_decay=0.02))
    assert r.ok, str(r)


@pytest.mark.parametrize("beta2, place, root", [(0.99, 8.2e-6, 4.1e-10), (0.999, 2.8e-5, 4.1e-9)])
def test_each_half_of_its_eps_placement_is_needed(beta2, place, root):
    """The rule with one of pytorch-optimizer's two eps conventions left out parts from it at step 1
    (largest update difference where |c_1| is smallest): eps before the bias correction is worth
    8.2e-6 at the defaults (beta2 0.99, eps 1e-8; 8.2e-4 at eps 1e-6), the 1e-15 inside the root
    4.1e-10 (4.1e-9 at beta2 0.999). Measured, seed 0."""
    kwargs = dict(optimize_1d=True, betas=(0.95, beta2))
    only_root = refopt.mars(beta2=beta2, eps_root=lambda t: 1e-15 / (1 - beta2**t))
    only_eps = refopt.mars(beta2=beta2, eps=lambda t: 1e-8 / math.sqrt(1 - beta2**t))
    for ours, size in ((only_root, place), (only_eps, root)):
        r = report(ours, kwargs)
        assert not r.ok and r.first_parting.step == 1
        assert r.max_update_rel == pytest.approx(size, rel=0.05), r.max_update_rel


def test_vectors_get_adamw_with_the_1d_settings():
    """With ``optimize_1d=False`` the vector leaf takes AdamW (lr_1d, betas_1d, weight_decay_1d): the
    same vector alone through refopt.mars would part at step 1."""
    kwargs = dict(lr=1e-2, lr_1d=2e-3, betas_1d=(0.8, 0.9), weight_decay_1d=0.3)
    assert report(P.MARS(**kwargs), kwargs).ok
    params = {"b": _params()["b"]}
    grads = mixed_gradients(params, 5, seed=1)
    r = compare(P.MARS(optimize_1d=True, **kwargs), P.framework("MARS", **kwargs), params, grads, rtol=1e-10)
    assert not r.ok and r.first_parting.step == 1


@pytest.mark.parametrize("kwargs, match", [(dict(mars_type="lion"), "mars_type='lion'"),
                                           (dict(mars_type="shampoo", optimize_1d=True), "optimize_1d=True"),
                                           (dict(ams_bound=True), "ams_bound=True"),
                                           (dict(cautious=True), "cautious=True")])
def test_what_is_not_modelled_is_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=f"pytorch_optimizer.MARS: {match}"):
        P.MARS(**kwargs)


def test_bad_values_name_themselves():
    with pytest.raises(ValueError, match="mars_type"):
        P.MARS(mars_type="sgd")
    with pytest.raises(ValueError, match="betas"):
        P.MARS(betas=(1.0, 0.99))
    with pytest.raises(ValueError, match="gamma"):
        P.MARS(gamma=-0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        P.MARS(beta=0.9)
