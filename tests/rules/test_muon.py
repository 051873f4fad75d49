"""Muon: agreement with torch.optim.Muon, optax.contrib.muon and pytorch-optimizer's Muon in
float64, and the Newton-Schulz iteration against its closed form on the singular values.

How the frameworks are compared in float64, as shipped. optax.contrib.muon computes in the params'
dtype: it runs as is, under x64. torch's ``_zeropower_via_newtonschulz`` always casts to bfloat16,
and pytorch-optimizer's Muon calls its NS with ``dtype=torch.bfloat16``: 8 significant bits, so each
of the 5 NS steps adds a relative error near 2^-8 and no float64 comparison with them can be tighter
than ~1e-2. Their flavors (``refopt.flavors.torch.Muon``, ``refopt.flavors.pytorch_optimizer.Muon``)
reproduce them as shipped, bfloat16 NS included, bit for bit where the matmul kernel is the emulated
one (tests/flavors/test_bfloat16_muon.py); ``newton_schulz_dtype="float64"`` changes that one line
and nothing else. So the chain is: framework == flavor in bfloat16 (that test), and the flavor with
float64 NS == this rule to 1e-12 (here); the ids say "flavor, NS in float64". ``eps=0`` on both sides:
torch and pytorch-optimizer divide by ``max(norm, eps)``, refopt (as Keller Jordan's reference and
optax) by ``norm + eps``; the two agree exactly at eps = 0 and differ by eps/norm (~1e-6 here) otherwise.
"""
import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.flavors import pytorch_optimizer as P
from refopt.flavors import torch as T
from refopt.interop import Adapter
from refopt.interop.optax import optax_transformation
from refopt.rules.muon import NS_COEFFICIENTS, newton_schulz

from .independent import Check, assert_agrees

SHAPES = {"wide": (3, 6), "tall": (6, 4), "square": (4, 4)}  # tall: the shape factor is sqrt(1.5)
LR, WD = 0.05, 0.1


def optax_muon(**kwargs) -> Adapter:
    """optax.contrib.muon with its update jitted: eagerly, its lax loops are traced again at
    every call (~4 s a step); compiled once, 50 steps take well under a second."""
    import jax
    tx = optax.contrib.muon(**kwargs)
    return optax_transformation(optax.GradientTransformation(tx.init, jax.jit(tx.update)),
                                "optax.contrib.muon")


# the framework side of the float64 checks: its flavor with float64 NS (module docstring)
TORCH_MUON = "torch.optim.Muon (flavor, NS in float64)"


def kz(name: str) -> str:
    return f"pytorch_optimizer.{name} (flavor, NS in float64)"


def torch_muon(**kwargs):
    return T.Muon(**kwargs, newton_schulz_dtype="float64")


def kozistr(name: str, **kwargs):
    """A pytorch-optimizer Muon-family class's flavor, NS in float64."""
    return getattr(P, name)(**kwargs, newton_schulz_dtype="float64")


# Keller Jordan's quintic (Muon, 2024), written here rather than taken from refopt, so the
# closed form below does not inherit a typo in the rule's constant
JORDAN_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def ns_closed_form(G, steps=5, coefficients=JORDAN_COEFFICIENTS):
    """NS_k(G) = U p^k(S / ||G||_F) V^T, p(s) = a s + b s^3 + c s^5: each NS step maps X = U S V^T
    to a X + (b XX^T + c (XX^T)^2) X = U p(S) V^T, so the iteration acts on singular values alone."""
    a, b, c = coefficients
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    x = s / np.linalg.norm(G)
    for _ in range(steps):
        x = a * x + b * x**3 + c * x**5
    return U @ np.diag(x) @ Vt, x


CHECKS = [
    Check("muon", TORCH_MUON, lambda: refopt.muon(lr=LR, weight_decay=WD, eps=0.0),
          lambda: torch_muon(lr=LR, weight_decay=WD, eps=0.0), rtol=1e-12, shapes=SHAPES,
          why="NS in float64, eps=0"),
    Check("muon", TORCH_MUON, lambda: refopt.muon(lr=LR, beta1=0.9, nesterov=False, eps=0.0),
          lambda: torch_muon(lr=LR, momentum=0.9, nesterov=False, weight_decay=0.0, eps=0.0),
          rtol=1e-12, shapes=SHAPES, why="nesterov=False, NS in float64, eps=0"),
    Check("muon", "optax.contrib.muon",
          lambda: refopt.muon(lr=LR, weight_decay=WD, eps=1e-8, bias_correction=True, layout="in_out"),
          lambda: optax_muon(learning_rate=LR, weight_decay=WD), rtol=1e-12, shapes=SHAPES,
          why="bias_correction, (in, out) layout, eps=1e-8"),
    Check("muon", "optax.contrib.muon",
          lambda: refopt.muon(lr=LR, eps=1e-8, nesterov=False, bias_correction=True, layout="in_out"),
          lambda: optax_muon(learning_rate=LR, nesterov=False), rtol=1e-12, shapes=SHAPES,
          why="nesterov=False, bias_correction, (in, out) layout"),
    Check("muon", "optax.contrib.muon",
          lambda: refopt.muon(lr=LR, weight_decay=WD, eps=1e-8, bias_correction=True, layout="in_out",
                              rms=0.2),
          lambda: optax_muon(learning_rate=LR, weight_decay=WD, consistent_rms=0.2), rtol=1e-12,
          shapes=SHAPES,
          why="consistent_rms=0.2 is rms=0.2, bias_correction, (in, out) layout"),
    Check("muon", TORCH_MUON, lambda: refopt.muon(lr=LR, weight_decay=WD, eps=0.0, rms=0.2),
          lambda: torch_muon(lr=LR, weight_decay=WD, eps=0.0, adjust_lr_fn="match_rms_adamw"), rtol=1e-12,
          shapes=SHAPES, why="match_rms_adamw is rms=0.2, NS in float64, eps=0"),
    Check("muon", kz("Muon"), lambda: refopt.muon(lr=LR, weight_decay=WD, eps=0.0),
          lambda: kozistr("Muon", lr=LR, weight_decay=WD, foreach=False),
          rtol=1e-12, shapes=SHAPES, why="NS in float64, eps=0"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_torch_in_bfloat16_agrees_to_what_bfloat16_explains():
    """Unpatched torch (NS in bfloat16) vs refopt in float64, one step from zero momentum.
    bfloat16 rounds to u = 2^-9 relative. One NS step sums a X, b A X and c A^2 X, terms up to
    |a| + |b| + |c| = 10.25 times larger than the O(1) result, so it adds up to ~10.25 u = 2e-2
    relative error; the quintic does not contract errors in its band (its values oscillate
    there), so 5 steps stay within 5 * 10.25 u = 0.1. Measured on 5 seeds: 1.2e-2 to 3.6e-2."""
    rng = np.random.default_rng(3)
    w, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    ours, _ = refopt.muon(lr=1.0, eps=0.0).step(w, g, refopt.muon(lr=1.0, eps=0.0).init(w))
    p = torch.nn.Parameter(torch.tensor(w))
    opt = torch.optim.Muon([p], lr=1.0, weight_decay=0.0, eps=0.0)
    p.grad = torch.tensor(g)
    opt.step()
    d_ours, d_torch = w - ours, w - p.detach().numpy()
    err = np.abs(d_ours - d_torch).max() / np.abs(d_ours).max()
    assert 1e-4 < err < 0.1  # not float64-exact (so the cast is real), yet within bfloat16's reach


def test_ns_coefficients_are_jordans_and_the_frameworks_defaults():
    import inspect
    torch_default = inspect.signature(torch.optim.Muon).parameters["ns_coefficients"].default
    optax_default = inspect.signature(optax.contrib.muon).parameters["ns_coeffs"].default
    assert tuple(NS_COEFFICIENTS) == JORDAN_COEFFICIENTS == tuple(torch_default) == tuple(optax_default)


def test_muon_first_step_by_hand():
    """t = 1, B_0 = 0: B_1 = (1-b)G, U_1 = (1-b)G + b(1-b)G = (1-b^2)G, and NS ignores the
    positive factor, so W_1 = W_0 - lr*wd*W_0 - lr*sqrt(max(1, rows/cols)) * NS(G)."""
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    opt = refopt.muon(lr=0.1, beta1=0.9, weight_decay=0.5, eps=0.0)
    w1, s = opt.step(w, g, opt.init(w))
    ns, _ = ns_closed_form(g)
    np.testing.assert_allclose(w1, w - 0.1 * 0.5 * w - 0.1 * np.sqrt(6 / 4) * ns, rtol=0, atol=1e-13)
    np.testing.assert_allclose(s.m, 0.1 * g, rtol=0, atol=1e-16)


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 8), cols=st.integers(1, 8),
       kappa=st.floats(1.0, 10.0))
def test_newton_schulz_is_the_polynomial_on_singular_values(seed, rows, cols, kappa):
    """For any full-rank G (built as U diag(s) V^T with s in [1, kappa]) NS_5(G) equals the
    closed form U p^5(s/||G||_F) V^T. Tolerance 1e-11: the SVD is accurate to ~1e-15 and
    p^5 amplifies by at most a^5 ~ 490 near 0."""
    rng = np.random.default_rng(seed)
    r = min(rows, cols)
    U, _ = np.linalg.qr(rng.standard_normal((rows, r)))
    V, _ = np.linalg.qr(rng.standard_normal((cols, r)))
    s = np.sort(rng.uniform(1.0, kappa, r))[::-1]
    G = U @ np.diag(s) @ V.T
    expected, _ = ns_closed_form(G)
    np.testing.assert_allclose(newton_schulz(G, eps=0.0), expected, rtol=0, atol=1e-11)


# Measured from the scalar map p^5 on a grid of 2e6 points: for x = sigma/||G||_F in [0.01, 1],
# p^5(x) lies in [0.681831, 1.134357]; over all of (0, 1] it peaks at 1.2024 (x = 0.0041), and
# below x = 0.002 it falls under 0.68 (p^5(0.001) = 0.47): the coefficients are tuned so that
# five steps lift every singular value above ~1/500 of the norm into a band around 1.
BAND = (0.68183, 1.13436)


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 12), cols=st.integers(1, 12),
       spread=st.floats(0.0, 1.0))
def test_newton_schulz_singular_values_lie_in_the_band(seed, rows, cols, spread):
    """Precondition: every singular value is at least 1% of the Frobenius norm. Singular values
    drawn in [1, kappa] with kappa sqrt(r) <= 100 guarantee it (||G||_F <= kappa sqrt(r) and
    sigma_min >= 1); kappa runs from 1 to its largest allowed value, up to 100 for vectors.
    Then every singular value of NS_5(G) is in BAND."""
    rng = np.random.default_rng(seed)
    r = min(rows, cols)
    kappa = 1.0 + spread * (100.0 / np.sqrt(r) - 1.0)
    U, _ = np.linalg.qr(rng.standard_normal((rows, r)))
    V, _ = np.linalg.qr(rng.standard_normal((cols, r)))
    s = rng.uniform(1.0, kappa, r)
    G = U @ np.diag(s) @ V.T
    assert s.min() / np.linalg.norm(G) >= 0.01 - 1e-15
    sv = np.linalg.svd(newton_schulz(G, eps=0.0), compute_uv=False)
    assert BAND[0] - 1e-9 <= sv.min() and sv.max() <= BAND[1] + 1e-9, (sv.min(), sv.max())


def test_newton_schulz_band_is_left_below_its_precondition():
    """The precondition matters: a singular value at 1e-3 of the norm comes out near 0.47."""
    G = np.diag([1.0, 1e-3])
    sv = np.linalg.svd(newton_schulz(G, eps=0.0), compute_uv=False)
    assert sv.min() < 0.5
    # G is diagonal, so NS_5(G) is the diagonal p^5(s/||G||_F) exactly (ns_closed_form);
    # 1e-13: the quintic amplifies rounding near 0 by at most a^5 ~ 490
    _, x = ns_closed_form(G)
    np.testing.assert_allclose(newton_schulz(G, eps=0.0), np.diag(x), rtol=0, atol=1e-13)
    assert 0.47 < x[1] < 0.471


def test_newton_schulz_transposes_tall_matrices_and_keeps_the_dtype():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((7, 3))
    np.testing.assert_allclose(newton_schulz(G), newton_schulz(G.T).T, rtol=0, atol=1e-15)
    assert newton_schulz(G.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", ["muon", "moonlight", "normuon", "reg", "mars_m"])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_matrix_only_rules_reject_other_shapes_naming_the_leaf(name, shape):
    opt = refopt.RULES[name].factory()
    params = {"layer": {"w": np.zeros((3, 3)), "b": np.zeros(shape)}}
    with pytest.raises(ValueError, match=r"\['layer'\]\['b'\].*refopt.partition"):
        opt.init(params)


@pytest.mark.parametrize("kw, what", [({"ns_steps": 0}, "ns_steps"), ({"ns_steps": 2.0}, "ns_steps"),
                                      ({"ns_coefficients": (1.0, 2.0)}, "ns_coefficients"),
                                      ({"ns_coefficients": 3.0}, "ns_coefficients"),
                                      ({"nesterov": 1}, "nesterov"), ({"layout": "io"}, "layout"),
                                      ({"bias_correction": None}, "bias_correction"), ({"rms": -0.2}, "rms")])
def test_bad_settings_name_themselves(kw, what):
    with pytest.raises(ValueError, match=what):
        refopt.muon(**kw)
