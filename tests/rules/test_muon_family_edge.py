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


def layouts(x):
    """The same values C-ordered, Fortran-ordered, and as a strided view (every other column
    of a wider array)."""
    wide = np.repeat(x, 2, axis=1)
    strided = wide[:, ::2]
    assert np.array_equal(strided, x) and not strided.flags.c_contiguous
    return [np.asfortranarray(x), strided]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_newton_schulz_gives_the_same_bits_for_every_memory_layout(dtype):
    """Before c_order, Fortran-ordered inputs were up to 13 ulps (float64) / 16 ulps (float32)
    of max|O| away from C-ordered ones (BLAS's transposed path); now the bits agree."""
    from refopt.rules.muon import newton_schulz
    for shape in ORDER_SHAPES:
        G = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        for other in layouts(G):
            assert np.array_equal(newton_schulz(other), newton_schulz(G))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", MUON_FAMILY)
def test_every_memory_layout_steps_to_the_same_bits(name, dtype):
    """Three steps from Fortran-ordered or strided params and gradients give exactly the
    C-ordered run's params and state."""
    opt = refopt.RULES[name].factory()
    for shape in ORDER_SHAPES[:4]:
        rng = np.random.default_rng(1)
        w = rng.standard_normal(shape).astype(dtype)
        grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
        a, sa = w, opt.init(w)
        for g in grads:
            a, sa = opt.step(a, g, sa)
        for pick in range(2):
            b, sb = layouts(w)[pick], opt.init(layouts(w)[pick])
            for g in grads:
                b, sb = opt.step(b, layouts(g)[pick], sb)
            assert np.array_equal(a, b)
            for x, y in zip(sa[1:], sb[1:]):
                assert np.array_equal(x, y)


@pytest.mark.parametrize("name, no_eps", [("muon", "eps"), ("moonlight", "eps"), ("normuon", "ns_eps"),
                                          ("mars_m", "eps")])
def test_a_gradient_whose_square_overflows_still_steps(name, no_eps):
    """NS(c G) = NS(G) for c > 0 at eps = 0 (the Frobenius normalisation removes c). At
    c = 2^600 every entry squared overflows float64; the norm was inf and the step silently 0.
    Scaling by a power of 2 is exact, so the step must equal the c = 1 step bit for bit."""
    opt = refopt.RULES[name].factory(**{no_eps: 0.0})
    w = np.ones((3, 2))
    G = np.random.default_rng(0).standard_normal((3, 2))
    small, _ = opt.step(w, G, opt.init(w))
    with np.errstate(over="ignore"):
        huge, _ = opt.step(w, G * 2.0**600, opt.init(w))
    assert not np.array_equal(small, w)
    assert np.array_equal(huge, small)
