"""Newton-Schulz presets (refopt.rules.ns_presets): each preset's numbers against its source, and
``newton_schulz`` with per-iteration coefficients against the libraries' own orthogonalization.

Sources read at test time: optax.contrib's ``_NS_COEFFS_PRESET_DICT`` and pytorch-optimizer's
``NS_COEFFICIENTS`` (their installed constants, compared exactly). Polar Express's Algorithm 1 is not
shipped by either: its table is checked through what the paper says of it (the last polynomial is the
degree-5 Newton-Schulz (15x - 10x^3 + 3x^5)/8, the others are rescaled by 1.01, 1.01^3, 1.01^5, and
the composition approximates sign on [1e-3, 1]). The orthogonalizations are compared in float64 on
the libraries' side too (optax under x64, pytorch-optimizer with ``dtype=torch.float64``): the same
matmuls in another order, so agreement to 1e-13 absolute on entries of size <= 1.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from optax.contrib import _muon as optax_muon
from pytorch_optimizer.optimizer.utils import matrix as po_matrix

import refopt
from refopt.rules import ns_presets
from refopt.rules.muon import newton_schulz

# the libraries' preset names and ours (pytorch-optimizer's 'polar_express' is not the paper's)
OPTAX_NAMES = ns_presets.LIBRARY_NAMES["optax.contrib"]
PYTORCH_OPTIMIZER_NAMES = ns_presets.LIBRARY_NAMES["pytorch_optimizer"]


def matrix(rows=24, cols=16, kappa=10.0, seed=0):
    """A random (rows, cols) matrix with singular values spread geometrically over [1/kappa, 1]."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    k = min(rows, cols)
    return (u[:, :k] * np.geomspace(1.0, 1.0 / kappa, k)) @ v[:, :k].T


def test_the_libraries_preset_names_are_all_known_and_their_numbers_are_ours():
    assert set(optax_muon._NS_COEFFS_PRESET_DICT) == set(OPTAX_NAMES)
    assert set(po_matrix.NS_COEFFICIENTS) == set(PYTORCH_OPTIMIZER_NAMES)
    for theirs, ours in OPTAX_NAMES.items():
        shipped = np.atleast_2d(np.asarray(optax_muon._NS_COEFFS_PRESET_DICT[theirs], dtype=np.float64))
        assert np.array_equal(shipped, np.asarray(ns_presets.preset(ours).coefficients)), theirs
        assert ns_presets.preset(ours).safety == 1.0
    for theirs, ours in PYTORCH_OPTIMIZER_NAMES.items():
        shipped = [tuple(x) for x in po_matrix.NS_COEFFICIENTS[theirs]]
        assert shipped == list(ns_presets.preset(ours).coefficients), theirs
        assert ns_presets.preset(ours).safety == 1.0  # theirs: safety_factor=1.0 unless passed


def test_aliases_resolve_to_their_preset():
    assert ns_presets.preset("standard") == ns_presets.preset("original") == ns_presets.PRESETS["jordan"]
    assert ns_presets.preset("quintic") == ns_presets.PRESETS["dion"]
    assert ns_presets.PRESETS["jordan"].coefficients == ((3.4445, -4.7750, 2.0315),)


def test_polar_express_is_algorithm_1_of_the_paper():
    raw, pe = ns_presets.POLAR_EXPRESS_RAW, ns_presets.PRESETS["polar_express"]
    assert len(pe.coefficients) == 8 and pe.safety == 1.01
    assert raw[-1] == (15 / 8, -10 / 8, 3 / 8) == pe.coefficients[-1]  # degree-5 Newton-Schulz, unscaled
    for (a, b, c), (a2, b2, c2) in zip(raw[:-1], pe.coefficients[:-1]):
        assert (a2, b2, c2) == (a / 1.01, b / 1.01**3, c / 1.01**5)
    # the composition of the raw polynomials maps [1e-3, 1] onto 1 (what they were optimized for);
    # measured: within 2.2e-16 of 1 over all of [1e-3, 1]
    x = np.geomspace(1e-3, 1.0, 2001)
    for a, b, c in raw:
        x = a * x + b * x**3 + c * x**5
    assert np.max(np.abs(x - 1)) < 1e-14


def optax_orthogonalize(G, coefficients, eps):
    import jax
    import jax.numpy as jnp
    with jax.enable_x64(True):
        out = optax_muon.orthogonalize_via_newton_schulz(jnp.asarray(G), jnp.asarray(coefficients),
                                                         len(coefficients), eps=eps)
        return np.asarray(out)


@pytest.mark.parametrize("name", ["jordan", "dion", "polar_express_l1e-3_s1e-2"])
@pytest.mark.parametrize("shape", [(24, 16), (16, 24), (12, 12)])
def test_newton_schulz_equals_optax_orthogonalization_in_float64(name, shape):
    """optax runs exactly the triples it is given (2-D ``ns_coeffs``): as many steps as triples."""
    triples = ns_presets.preset(name).coefficients
    steps = 5 if len(triples) == 1 else len(triples)
    G = matrix(*shape, seed=1)
    ours = newton_schulz(G, steps, name, eps=1e-8)
    theirs = optax_orthogonalize(G, np.asarray(triples * (steps if len(triples) == 1 else 1)), 1e-8)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-13)


@pytest.mark.parametrize("theirs", sorted(PYTORCH_OPTIMIZER_NAMES))
@pytest.mark.parametrize("steps", [3, 5, 10])  # fewer triples than steps: the last is repeated
@pytest.mark.parametrize("shape", [(24, 16), (16, 24)])
def test_newton_schulz_equals_pytorch_optimizers_for_each_of_its_presets(theirs, steps, shape):
    G = matrix(*shape, seed=2)
    expected = po_matrix.zero_power_via_newton_schulz_5(torch.tensor(G), num_steps=steps, weights=theirs,
                                                        dtype=torch.float64).numpy()
    ours = newton_schulz(G, steps, PYTORCH_OPTIMIZER_NAMES[theirs], eps=0.0)  # theirs: max(norm, 1e-7)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("steps", [5, 8, 10])
def test_polar_express_with_its_safety_equals_pytorch_optimizer_given_the_same(steps):
    """The paper's norm safety (X / (1.01 ||X||_F + eps)) is pytorch-optimizer's ``safety_factor``."""
    G = matrix(seed=3)
    pe = ns_presets.PRESETS["polar_express"]
    expected = po_matrix.zero_power_via_newton_schulz_5(torch.tensor(G), num_steps=steps,
                                                        weights=list(pe.coefficients),
                                                        safety_factor=pe.safety, dtype=torch.float64).numpy()
    ours = newton_schulz(G, steps, "polar_express", eps=0.0)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0])
def test_polar_express_drives_singular_values_closer_to_1_than_jordan_in_5_steps(kappa):
    """The paper (Sec. 1.2-1.3): Jordan's iteration plateaus (error ~0.3), Polar Express is optimal
    at every step. Measured on (64, 32), max |sigma - 1| after 5 steps: Jordan 0.318 / 0.313 / 0.318,
    Polar Express 0.123 / 0.124 / 0.130 for kappa 2 / 10 / 100; after 8 steps Polar Express is
    within 6.7e-16 of 1 for all three."""
    G = matrix(64, 32, kappa, seed=0)
    err = {name: np.max(np.abs(np.linalg.svd(newton_schulz(G, 5, name, eps=0.0), compute_uv=False) - 1))
           for name in ("jordan", "polar_express")}
    assert err["polar_express"] < 0.14 and err["jordan"] > 0.3, err
    sv8 = np.linalg.svd(newton_schulz(G, 8, "polar_express", eps=0.0), compute_uv=False)
    assert np.max(np.abs(sv8 - 1)) < 1e-12


@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_a_sequence_of_one_repeated_triple_is_that_triple(k, seed):
    G = matrix(8, 5, 5.0, seed=seed % 1000)
    triple = (3.4445, -4.7750, 2.0315)
    assert np.array_equal(newton_schulz(G, 5, [triple] * k), newton_schulz(G, 5, triple))


def test_a_schedule_longer_than_the_steps_is_cut_and_a_shorter_one_repeats_its_last():
    G = matrix(seed=4)
    pe = ns_presets.PRESETS["polar_express_l1e-3_s1e-2"].coefficients
    assert np.array_equal(newton_schulz(G, 3, pe), newton_schulz(G, 3, pe[:3]))
    assert np.array_equal(newton_schulz(G, 10, pe), newton_schulz(G, 10, pe + (pe[-1], pe[-1])))
    assert not np.array_equal(newton_schulz(G, 10, pe), newton_schulz(G, 10, pe + (pe[0], pe[0])))


@pytest.mark.parametrize("factory", [refopt.muon, refopt.moonlight, refopt.normuon, refopt.mars_m])
def test_every_rule_sharing_newton_schulz_takes_a_preset_name_or_triples(factory):
    w, g = matrix(seed=5), matrix(seed=6)
    by_name = factory(ns_coefficients="dion")
    by_value = factory(ns_coefficients=ns_presets.DION)
    jordan = factory()
    w1, _ = by_name.step(w, g, by_name.init(w))
    w2, _ = by_value.step(w, g, by_value.init(w))
    w3, _ = jordan.step(w, g, jordan.init(w))
    assert np.array_equal(w1, w2) and not np.allclose(w1, w3, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad", ["polar", "", [], [(1.0, 2.0)], [(1.0, 2.0, math.nan)], 3.0, [(1, 2, 3), 4],
                                 (True, 1.0, 2.0)])
@pytest.mark.parametrize("factory", [refopt.muon, refopt.moonlight, refopt.normuon, refopt.mars_m])
def test_bad_coefficients_are_a_value_error_naming_the_parameter(factory, bad):
    with pytest.raises(ValueError, match="ns_coefficients") as info:
        factory(ns_coefficients=bad)
    if isinstance(bad, str):
        for name in ("'jordan'", "'polar_express'", "'dion'", "'standard'", "'quintic'"):
            assert name in str(info.value)
