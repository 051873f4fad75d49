"""torch's Muon and pytorch-optimizer's Muon, NorMuon and MARS as shipped (Newton-Schulz in bfloat16)
against their flavors, whose Newton-Schulz is refopt.flavors.bfloat16's emulation.

First the experiments that fix each rounding point of the emulation (each has a wrong candidate that
the framework's output rules out), then Newton-Schulz alone against the frameworks' functions, then
the optimizers over mixed gradients, with the frameworks' own test configurations.

Bounds. Where torch's matmul is the kernel the emulation models (oneDNN on AVX512-BF16, used when
m*n*k > 4096) every Newton-Schulz output was bit-equal (9 shapes x 20 matrices) and the updates agree to
5.5e-14 (the float64 lines around NS, in another order); 1e-12 is asserted there. Elsewhere (a kernel
that sums in another order: small products, other CPUs) single outputs differ by one bfloat16 ulp and
NS carries that to a measured 5.0e-3 of the update (16x16); the flavors' RTOL, 1e-2, is asserted.
The float64 formula is 2.5e-2..1.3e-1 away over the same runs: the tests show it is farther.
"""
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import pytorch_optimizer
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_optimizer.optimizer.utils.matrix import zero_power_via_newton_schulz_5
from torch.optim._muon import _zeropower_via_newtonschulz

import refopt
from refopt.flavors import bfloat16 as bf16
from refopt.flavors import pytorch_optimizer as P
from refopt.flavors import pytorch_optimizer_muon as PM
from refopt.flavors import torch as T
from refopt.oracle import compare, mixed_gradients


def _avx512_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


EMULATED_KERNEL = _avx512_bf16()   # torch picks oneDNN's AVX512-BF16 gemm for m*n*k > 4096
EXACT = 1e-12                       # float64 lines in another order: measured worst 5.5e-14


def t2n(x):
    return x.double().numpy()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny bfloat16 matmuls on 2 busy cores: torch's spinning OpenMP threads made 25 steps take 3 s
    instead of 0.02 s. One thread for this module (the kernels split no sum across threads: the
    results are the same bits), then the user's setting back."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the rounding points ----------------------------------------------------------------------

def test_the_cast_rounds_through_float32():
    """1 + 2^-8 + 2^-30: one rounding to bfloat16 gives 1 + 2^-7, through float32 (2^-30 lost, then a
    tie to even) gives 1. torch gives 1; so does the emulation; ml_dtypes' direct cast does not."""
    x = np.array([1 + 2.0**-8 + 2.0**-30])
    assert torch.tensor(x).bfloat16().item() == 1.0
    assert bf16.from_float64(x)[0] == 1.0
    assert float(x.astype(ml_dtypes.bfloat16)[0]) == 1 + 2.0**-7


def test_scalar_times_bfloat16_uses_the_scalar_in_float32():
    rng = np.random.default_rng(0)
    x = bf16.bf(rng.standard_normal(20000).astype(np.float32))
    for s in (3.4445, -4.775, 2.0315):
        theirs = t2n(s * torch.from_numpy(x).bfloat16())
        np.testing.assert_array_equal(bf16.scaled(x, s), theirs)
        # the other candidate, the scalar rounded to bfloat16 first, misses hundreds of outputs (588 at 2.0315)
        assert (bf16.bf(bf16.bf(np.float32(s)) * x) != theirs).sum() > 100


def test_addmm_rounds_once_after_a_fused_multiply_add():
    """beta*C + alpha*(A B): torch rounds alpha*(AB) to float32, adds beta*C with one rounding, and
    rounds to bfloat16 once. A B with 2 terms of 4-bit entries is exact, so only the epilogue differs;
    rounding beta*C and the sum separately in float32 misses some outputs (measured 134 of 163,680)."""
    rng = np.random.default_rng(0)
    f32, wrong = np.float32, 0
    for m in (16, 32, 64):
        C = bf16.bf(rng.standard_normal((m, m)).astype(f32))
        A, B = (bf16.bf(rng.integers(-8, 8, s).astype(f32) / 8) for s in ((m, 2), (2, m)))
        theirs = t2n(torch.addmm(*(torch.from_numpy(x).bfloat16() for x in (C, A, B)), beta=0.3, alpha=0.7))
        np.testing.assert_array_equal(bf16.addmm(C, A, B, beta=0.3, alpha=0.7), theirs)
        wrong += (bf16.bf(f32(0.3) * C + f32(0.7) * (A @ B)) != theirs).sum()
    assert wrong > 0


def _probe(k, n):
    """Rows 1 (at p), 2^-8 (at q), 2^-26 elsewhere, times ones: the sum's bfloat16 rounding depends on
    whether 5 or more small terms were added before the 1 (then it rounds up, else it ties to 1)."""
    rows = []
    for p in range(k):
        for q in range(k):
            if p != q:
                row = np.full(k, 2.0**-26, dtype=np.float32)
                row[p], row[q] = 1.0, 2.0**-8
                rows.append(row)
    return np.array(rows), np.ones((k, n), dtype=np.float32)


@pytest.mark.parametrize("k, n", [(16, 16), (32, 3), (64, 1)])
def test_matmul_sums_the_terms_in_pairs_odd_first(k, n):
    a, b = _probe(k, n)
    assert a.shape[0] * n * k > 4096  # the oneDNN kernel
    theirs = t2n(torch.from_numpy(a).bfloat16() @ torch.from_numpy(b).bfloat16())
    ours = bf16.bf(bf16.matmul(a, b))
    in_order = bf16.bf(sum(np.multiply.outer(a[:, j], b[j]) for j in range(k)))  # float32, 0, 1, 2, ...
    assert (in_order != theirs).any()   # the probe tells orders apart
    if EMULATED_KERNEL:
        np.testing.assert_array_equal(ours, theirs)
    else:  # another kernel: the same float32 sum in another order, one bfloat16 ulp at most
        assert np.all(np.abs(ours - theirs) <= 2.0**-7 * np.abs(theirs))


# --- Newton-Schulz alone ----------------------------------------------------------------------

NS_SHAPES = [(5, 4), (4, 5), (3, 6), (64, 32), (32, 64), (100, 20)]


@pytest.mark.parametrize("shape", NS_SHAPES)
def test_newton_schulz_is_the_frameworks_bit_for_bit(shape):
    rng = np.random.default_rng(sum(shape))
    for scale in (1e-3, 1.0, 1e3):
        G = rng.standard_normal(shape) * scale
        ours = bf16.newton_schulz(G)
        torch_ns = t2n(_zeropower_via_newtonschulz(torch.tensor(G), (3.4445, -4.775, 2.0315), 5, 1e-7))
        kz_ns = t2n(zero_power_via_newton_schulz_5(torch.tensor(G)))
        formula = refopt.rules.muon.newton_schulz(G, eps=0.0)
        for theirs in (torch_ns, kz_ns):
            err = np.abs(ours - theirs).max() / np.abs(theirs).max()
            assert err == 0 if EMULATED_KERNEL else err <= 2e-2, (shape, scale, err)
        assert np.abs(formula - torch_ns).max() / np.abs(torch_ns).max() > 5e-3  # float64 is farther


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), cols=st.integers(1, 6),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_newton_schulz_keeps_inputs_dtype_and_is_deterministic(seed, rows, cols, dtype):
    G = np.random.default_rng(seed).standard_normal((rows, cols)).astype(dtype)
    before = G.copy()
    opt = T.Muon(lr=0.1)
    w1, _ = opt.step(G, G, opt.init(G))
    w2, _ = opt.step(G, G, opt.init(G))
    np.testing.assert_array_equal(G, before)
    assert w1.dtype == dtype
    np.testing.assert_array_equal(w1, w2)


def test_bfloat16_emulation_takes_numpy_and_names_the_knob():
    w = torch.zeros(3, 3, dtype=torch.float64)
    opt = T.Muon()
    with pytest.raises(TypeError, match="newton_schulz_dtype='float64'"):
        opt.step(w, w + 1, opt.init(w))
    with pytest.raises(ValueError, match="newton_schulz_dtype"):
        T.Muon(newton_schulz_dtype="float16")
    with pytest.raises(ValueError, match="newton_schulz_dtype"):
        P.NorMuon(newton_schulz_dtype="bf16")


# --- the optimizers, with the frameworks' own test configurations -----------------------------

# torch.testing._internal.common_optimizers, optim_inputs_func_muon (torch 2.13): its 7 inputs
TORCH_DB = [{}, {"lr": 0.01}, {"lr": torch.tensor(0.001)}, {"weight_decay": 0.2}, {"momentum": 0.8},
            {"ns_steps": 6}, {"ns_coefficients": (3.4, -4.7, 2.0)}]
# and the settings that torch's inputs leave at their defaults
TORCH_MORE = [{"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "nesterov": False, "eps": 1e-3}]
# pytorch-optimizer's tests/constants.py (github kozistr/pytorch_optimizer at 7a076d2f, the newest
# stored snapshot; it has no NorMuon): the Muon and MARS entries, read and restated here
KOZISTR_DB = [
    ("Muon", dict(lr=0.5, weight_decay=1e-3, adamw_lr=0.5, adamw_wd=1e-2, nesterov=True)),
    ("Muon", dict(lr=0.5, weight_decay=1e-3, use_adjusted_lr=True, adamw_lr=0.5, adamw_wd=1e-2)),
    ("Muon", dict(lr=0.5, weight_decay=1e-3, use_adjusted_lr=True, adamw_lr=0.5, adamw_betas=(0.9, 0.98),
                  adamw_wd=1e-2)),
    ("MARS", dict(lr=0.5, lr_1d=0.5, weight_decay=1e-3, mars_type="shampoo")),
]
KOZISTR_REFUSED = [  # two of the other MARS entries there: ValueError naming the option (the three
    # "adamw" entries without ams_bound run in tests/flavors/test_pytorch_optimizer_mars.py)
    (dict(lr=0.1, weight_decay=1e-3, mars_type="lion", optimize_1d=True), "mars_type='lion'"),
    (dict(lr=0.5, lr_1d=0.5, weight_decay=1e-3, mars_type="adamw", ams_bound=True), "ams_bound=True"),
]
# and refopt's own, over the knobs those leave alone (NorMuon has no configuration there)
KOZISTR_MORE = [
    ("NorMuon", {}), ("NorMuon", dict(lr=0.01, weight_decay=0.1)),
    ("NorMuon", dict(lr=0.01, update_scale="match_rms", nesterov=False, beta2=0.9, weight_decay=0.1,
                     weight_decouple=False)),
    ("MARS", dict(lr=0.01, mars_type="shampoo", gamma=0.5, betas=(0.9, 0.99), betas_1d=(0.8, 0.9),
                  fixed_decay=True, weight_decay=0.01)),
]
CASES = ([(T, "Muon", k) for k in TORCH_DB + TORCH_MORE]
         + [(P, name, k) for name, k in KOZISTR_DB + KOZISTR_MORE])


def _run(module, name, kwargs, dtype="bfloat16", shapes=None, steps=10, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in (shapes or module.SHAPES[name]).items()}
    grads = mixed_gradients(params, steps, seed=seed + 1)
    ours = getattr(module, name)(newton_schulz_dtype=dtype, **kwargs)
    return compare(ours, module.framework(name, **kwargs), params, grads, rtol=module.RTOL[name])


def _bound(shapes):
    """1e-12 where every matmul is the emulated kernel, else the flavors' RTOL (module docstring)."""
    small = any(min(s) * min(s) * max(s) <= 4096 for s in shapes.values() if len(s) == 2)
    return EXACT if EMULATED_KERNEL and not small else 1e-2


@pytest.mark.parametrize("module, name, kwargs", CASES, ids=[f"{n}-{sorted(k)}" for _, n, k in CASES])
def test_flavor_in_bfloat16_is_the_framework_as_shipped(module, name, kwargs):
    report = _run(module, name, kwargs)
    assert report.ok, str(report)              # to the module's RTOL (1e-2)
    if EMULATED_KERNEL:                         # (5, 4) and (3, 6): k <= 6 terms, measured 1e-14
        assert report.max_update_rel <= EXACT, str(report)


@pytest.mark.parametrize("module, name, kwargs", [(T, "Muon", {"lr": 0.02}), (P, "NorMuon", {}),
                                                  (P, "MARS", {"mars_type": "shampoo"})])
@pytest.mark.parametrize("shapes", [{"tall": (64, 32)}, {"square": (16, 16)}], ids=["64x32", "16x16"])
def test_bigger_matrices_and_the_float64_formula_is_farther(module, name, kwargs, shapes):
    steps = 5
    emulated = _run(module, name, kwargs, shapes=shapes, steps=steps).max_update_rel
    formula = _run(module, name, kwargs, dtype="float64", shapes=shapes, steps=steps).max_update_rel
    assert emulated <= _bound(shapes)
    assert formula > max(1e-2, 3 * emulated)   # measured 2.0e-2 and above for the formula


@pytest.mark.parametrize("kwargs, match", KOZISTR_REFUSED, ids=[m for _, m in KOZISTR_REFUSED])
def test_configurations_not_modelled_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=f"pytorch_optimizer.MARS: {match}"):
        P.MARS(**kwargs)


# --- the bfloat16 rules' own lines are the float64 rules' ---------------------------------------

@pytest.mark.parametrize("update_scale, nesterov", [("preserve_norm", True), ("match_rms", False)])
def test_normuon_update_in_float64_is_refopt_normuon(update_scale, nesterov):
    rng = np.random.default_rng(5)
    params = {k: rng.standard_normal(s) for k, s in P.SHAPES["NorMuon"].items()}
    grads = mixed_gradients(params, 20, seed=6)
    own = PM._normuon_bfloat16(0.01, 0.95, 0.9, 1e-10, nesterov, update_scale, 5, refopt.rules.muon.NS_COEFFICIENTS,
                               newton_schulz_dtype="float64")
    rule = refopt.normuon(lr=0.01, beta1=0.95, beta2=0.9, eps=1e-10, ns_eps=0.0, nesterov=nesterov,
                          update_scale=update_scale)
    assert compare(rule, own, params, grads, rtol=1e-12).ok


def test_mars_update_in_float64_is_refopt_mars_m():
    rng = np.random.default_rng(7)
    params = {k: rng.standard_normal(s) for k, s in P.SHAPES["Muon"].items()}
    grads = mixed_gradients(params, 20, seed=8)
    own = PM._mars_bfloat16(0.01, 0.9, 0.1, 0.0, newton_schulz_dtype="float64")
    rule = refopt.mars_m(lr=0.01, beta1=0.9, gamma=0.1, weight_decay=0.0, eps=0.0, adjust_lr="original")
    assert compare(rule, own, params, grads, rtol=1e-12).ok


def test_the_knob_is_not_a_framework_argument():
    """The frameworks have no newton_schulz_dtype: the flavors' other arguments are theirs."""
    import inspect
    assert "newton_schulz_dtype" not in inspect.signature(torch.optim.Muon).parameters
    for name in ("Muon", "NorMuon", "MARS"):
        assert "newton_schulz_dtype" not in inspect.signature(getattr(pytorch_optimizer, name)).parameters
