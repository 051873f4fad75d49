"""Muon family on edge input (issue 9, sections 4 and 6): empty matrices, all-zero gradients,
and the size of the difference between C- and Fortran-ordered inputs."""
import numpy as np
import pytest

import refopt

MUON_FAMILY = ("muon", "moonlight", "normuon", "reg", "mars_m")
ORDER_SHAPES = [(4, 3), (3, 5), (16, 16), (64, 32), (17, 128), (128, 96)]


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (0, 0)])
@pytest.mark.parametrize("name", MUON_FAMILY)
def test_empty_matrix_is_refused_naming_the_leaf(name, shape):
    """Before: ZeroDivisionError from the shape factor."""
    opt = refopt.RULES[name].factory()
    with pytest.raises(ValueError, match=r"\['layer'\]\['w'\] is an empty matrix"):
        opt.init({"layer": {"w": np.zeros(shape)}})
    with pytest.raises(ValueError, match=r"\['layer'\]\['w'\] is an empty matrix"):
        opt.step({"layer": {"w": np.zeros(shape)}}, {"layer": {"w": np.zeros(shape)}},
                 opt.init({"layer": {"w": np.ones((2, 2))}}))


@pytest.mark.parametrize("name", MUON_FAMILY)
def test_all_zero_gradient_gives_the_decay_only(name):
    """NS(0) = 0 / (0 + eps) = 0 for eps > 0 (the docstrings; reference code X.norm() + 1e-7),
    and RACS(0) = 0 for reg: w_1 = w_0 - lr wd w_0, the decay alone, to rounding (1 ulp)."""
    info = refopt.RULES[name]
    lr, wd = 0.01, 0.1
    opt = info.factory(lr=lr, weight_decay=wd)
    w0 = np.arange(1.0, 7.0).reshape(2, 3)
    w1, _ = opt.step(w0, np.zeros_like(w0), opt.init(w0))
    np.testing.assert_allclose(w1, w0 * (1 - lr * wd), rtol=2.3e-16, atol=0)


def fortran(x):
    return np.asfortranarray(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_newton_schulz_memory_order_difference_stays_below_the_stated_bound(dtype):
    """The muon docstring states up to 13 ulps (float64) / 16 ulps (float32) of max|O| between
    C- and Fortran-ordered inputs; pinned at 32 ulps."""
    from refopt.rules.muon import newton_schulz
    ulp = np.finfo(dtype).eps
    for shape in ORDER_SHAPES:
        G = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        assert fortran(G).flags.f_contiguous and not fortran(G).flags.c_contiguous
        c, f = newton_schulz(G), newton_schulz(fortran(G))
        assert np.max(np.abs(c - f)) <= 32 * ulp * np.max(np.abs(c))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MUON_FAMILY)
def test_params_memory_order_difference_stays_below_the_stated_bound(name, dtype):
    """After three steps C- and Fortran-ordered runs differ by <= 0.5 ulp of max|w|
    (docstring); pinned at 2 ulps."""
    ulp = np.finfo(dtype).eps
    opt = refopt.RULES[name].factory()
    for shape in ORDER_SHAPES[:4]:
        rng = np.random.default_rng(1)
        w = rng.standard_normal(shape).astype(dtype)
        grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
        a, sa = w, opt.init(w)
        b, sb = fortran(w), opt.init(fortran(w))
        for g in grads:
            a, sa = opt.step(a, g, sa)
            b, sb = opt.step(b, fortran(g), sb)
        assert np.max(np.abs(a - b)) <= 2 * ulp * np.max(np.abs(a))
