"""Newton-Schulz presets through the flavors, against the libraries that ship them: optax.contrib.muon
with its presets and an (n, 3) schedule (float64 under x64, 1e-12), pytorch-optimizer's Muon and
NorMuon with each of its ``ns_coeffs`` names (bfloat16 Newton-Schulz as shipped, emulated: the
module's RTOL, and 1e-12 where the matmul kernel is the emulated one, as test_bfloat16_muon.py).
"""
import numpy as np
import pytest

from refopt.flavors import optax as O
from refopt.flavors import pytorch_optimizer as P
from refopt.flavors import torch as T
from refopt.oracle import compare, mixed_gradients
from refopt.rules import ns_presets

from ..rules.test_muon import optax_muon
from .test_bfloat16_muon import EMULATED_KERNEL, EXACT, _run

MATRICES = {"w": (5, 4), "v": (3, 6)}
DION = [list(x) for x in ns_presets.DION]


def _optax_report(**kwargs):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in MATRICES.items()}
    grads = mixed_gradients(params, 50, seed=1)
    return compare(O.contrib.muon(0.02, **kwargs), optax_muon(learning_rate=0.02, **kwargs), params, grads,
                   rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(ns_coeffs="dion"), dict(ns_coeffs="standard"),
                                    dict(ns_coeffs=DION, ns_steps=7), dict(ns_coeffs=DION[:3], ns_steps=3)],
                         ids=["dion", "standard", "5 triples, ns_steps 7", "3 triples"])
def test_optax_muon_with_its_presets_and_schedules(kwargs):
    """optax runs a 2-D schedule's n triples and ignores a larger ns_steps: so does the flavor."""
    r = _optax_report(**kwargs)
    assert r.ok, str(r)


def test_optax_refusals_are_the_flavors():
    with pytest.raises(ValueError, match="ns_coeffs='polar_express': unknown preset"):
        O.contrib.muon(0.02, ns_coeffs="polar_express")
    with pytest.raises(ValueError, match="5 triples for ns_steps=4"):
        O.contrib.muon(0.02, ns_coeffs=DION, ns_steps=4)


@pytest.mark.parametrize("name", sorted(ns_presets.LIBRARY_NAMES["pytorch_optimizer"]))
@pytest.mark.parametrize("cls", ["Muon", "NorMuon"])
def test_pytorch_optimizer_with_each_ns_coeffs_name(cls, name):
    report = _run(P, cls, {"ns_coeffs": name})
    assert report.ok, str(report)
    if EMULATED_KERNEL:
        assert report.max_update_rel <= EXACT, str(report)


def test_a_preset_that_scales_the_norm_is_refused_where_the_framework_cannot():
    with pytest.raises(ValueError, match="divides by 1.01"):
        T.Muon(ns_coefficients="polar_express")
    with pytest.raises(ValueError, match="none of its presets"):
        P.NorMuon(ns_coeffs="Polar")
