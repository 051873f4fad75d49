"""The storage claims (analysis/storage.py, storage_runs.py), checked against closed forms recomputed here."""
import math

import numpy as np
import pytest

from analysis import gallery, storage, storage_runs
from refopt.storage import SCHEMES, dequantize, quantize

BITS = {"8-bit": (8, 8), "4-bit": (4, 4), "fp8": (8, 8)}  # bits of the m code, of the s code


def bytes_by_hand(n: int, kind: str, block: int) -> int:
    """Codes packed to whole bytes, one float32 absmax per (possibly partial) block, per buffer."""
    return sum(math.ceil(n * b / 8) + 4 * math.ceil(n / block) for b in BITS[kind])


def test_bytes_verdict_and_figures():
    v = storage.storage_bytes(quick=True)
    assert v.verdict == "holds"
    assert v.figures["bytes_per_param_float32"] == 2 * 4  # two float32 buffers
    for kind in BITS:
        for block in storage.BLOCKS:
            # exact in binary: 8/256 and 8/2048 are powers of two
            assert v.figures[f"bytes_per_param_{kind}_block{block}"] == bytes_by_hand(2**16, kind, block) / 2**16
    assert v.figures["bytes_per_param_8-bit_block256"] == 2.03125


@pytest.mark.parametrize("kind", list(BITS))
def test_bytes_of_a_partial_block_leaf(kind):
    # 5000 = 19 * 256 + 136: the last block is partial; 4-bit codes pack two to a byte
    n, block = 5000, 256
    opt = storage.q_adam(storage.KINDS[kind], block)
    w = np.zeros(n, dtype=np.float32)
    _, state = opt.step(w, np.ones(n, dtype=np.float32), opt.init(w))
    assert storage.state_bytes(state) == bytes_by_hand(n, kind, block)


def test_rounding_bound_by_hand():
    lin = SCHEMES["linear4"]  # codes k/16, k = 1..16; no zero
    x = np.array([1.0, 0.5 + 1 / 64, 0.0, 0.75], dtype=np.float32)  # absmax 1: N = 1
    b = storage.rounding_bound(x, lin, block=4)
    slack = 2.0**-23 * np.abs(x.astype(np.float64))
    # 1 is a code (gap 1/16 to 15/16); 0.515625 lies in [8/16, 9/16]; 0 is below the smallest
    # code 1/16, so the error is the distance to it; 0.75 = 12/16 in [12/16, 13/16]
    np.testing.assert_allclose(b - slack, [1 / 32, 1 / 32, 1 / 16, 1 / 32], rtol=0, atol=1e-15)
    # FP8: N = absmax/448, and 448 = 1.75 * 2^8 is a code whose lower neighbour is 1.625 * 2^8
    e = SCHEMES["e4m3"]
    b = storage.rounding_bound(np.array([2.0, -2.0], dtype=np.float32), e, block=2)
    assert np.isclose(b[0] - 2.0**-22, 0.5 * (448 - 416) * (2.0 / 448), rtol=1e-12)


def test_error_bound_verdict_and_figures():
    v = storage.storage_error_bound(quick=True)
    assert v.verdict == "holds"
    assert v.figures["max_error_over_bound"] <= 1.0
    # nearly attained: with 4096 entries over 60 steps some entry falls near a midpoint
    assert v.figures["max_error_over_bound"] > 0.9
    assert v.figures["max_param_diff_vs_unrounded_step"] == 0.0
    # the lookup grid: y is moved to a grid point (spacing 2/65535) before the nearest code is
    # read, so it can exceed the bound, by less than one spacing
    for key in ("lut_excess_over_absmax_dynamic8", "lut_excess_over_absmax_dynamic8_below_1e-4"):
        assert 0 < v.figures[key] < 2 / 65535


def test_lookup_grid_stores_zero_off_the_bound():
    # an exact 0 next to a 1: the nearest code is 0, the lookup grid's is not (blockwise.py)
    x = np.array([0.0, 1.0], dtype=np.float32)
    lut = SCHEMES["dynamic8"].with_(name="lut", lut_bins=65536)
    got = dequantize(*quantize(x, lut, 2), lut, 2, like=x)
    near = dequantize(*quantize(x, SCHEMES["dynamic8"], 2), SCHEMES["dynamic8"], 2, like=x)
    assert near[0] == 0.0 and got[0] != 0.0
    assert abs(got[0]) > storage.rounding_bound(x, SCHEMES["dynamic8"], 2)[0]


def test_batched_gallery_gradients_match_pointwise():
    for fn in gallery.FUNCTIONS:
        w0, loss_grad, _, _ = storage_runs.problems(quick=True)[fn.name]
        W = w0[:5]
        loss, g = loss_grad(W)
        want = np.array([fn.grad(p.astype(np.float64)) for p in W])
        np.testing.assert_allclose(g, want, rtol=1e-6)  # g is float32: 1e-6 is a few ulps
        assert np.isclose(loss, np.mean([fn.f(p.astype(np.float64)) for p in W]), rtol=1e-12)


def test_divergence_verdict_and_figures():
    v = storage_runs.storage_divergence(quick=True)
    f = v.figures
    assert v.verdict == "conditional"
    assert f["max_final_loss_dev_8-bit_mlp"] < storage_runs.TOL
    assert max(abs(f[f"final_loss_ratio_{p}_4-bit_b256"] - 1) for p in ("ravine", "mlp")) > storage_runs.TOL
    # float32 Adam's step is at most lr (1 - beta1)/sqrt(1 - beta2) = 3.16 lr (Kingma & Ba, §2.1)
    assert f["max_step_over_lr_float32"] <= 0.1 / math.sqrt(1e-3) + 1e-6
    for p in ("ravine", "rosenbrock", "saddle", "mlp"):
        for b in storage.BLOCKS:
            # every scheme rounds, so every run leaves the float32 path; the 4-bit maps are
            # 16 times coarser than the 8-bit ones, and leave it further
            d8, d4 = f[f"final_rel_divergence_{p}_8-bit_b{b}"], f[f"final_rel_divergence_{p}_4-bit_b{b}"]
            assert 0 < d8 < d4


def test_stall_factor_at_the_top_of_the_map():
    # the unsigned 8-bit map's top decade holds the midpoints of 129 points of [0.1, 1]
    # (spacing 0.9/128): the code below 1 is 1 - 0.9/256; an EMA step (1 - beta2)(g^2 - c)
    # from it reaches the midpoint to 1 only if g^2/c - 1 > (1 - c)/(2 c (1 - beta2))
    c = 1 - 0.9 / 256
    lo, median = storage_runs.stall_factors(0.999)
    # c is float32 in the map (off by <= 6e-8), and 1 - c = 0.0035 magnifies that to 2e-5
    assert np.isclose(lo, (1 - c) / (2 * c * 1e-3), rtol=1e-4)
    assert median > lo


def test_divergence_figure_is_written(tmp_path):
    storage_runs.storage_divergence_figure(True, tmp_path)
    png = tmp_path / "storage_divergence.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_buggy_map_by_hand():
    # in float64: per decade 10^(i-6), 2^(i+2) midpoints of [0.1, 1] and the midpoints of
    # (0.1, 0.55, 1); with 0 and 1 that is 524 values; the kernels read the lowest 256
    vals = [0.0, 1.0]
    for i in range(7):
        for k in (2 ** (i + 2), 2):
            edges = np.linspace(0.1, 1.0, k + 1)
            vals += list(10.0 ** (i - 6) * (edges[:-1] + edges[1:]) / 2)
    assert len(vals) == 524
    want = np.sort(vals)[:256]
    got = storage_runs.bnb041_map(signed=False)
    np.testing.assert_allclose(got, want, rtol=3e-7)  # float32 arithmetic: ~2 ulps
    # 0 and 5 decades of 2^(i+2) + 2 values: 135; the other 121 are the lowest of decade 10^-1,
    # 0.0325, 0.0775 and the midpoints 0.1 (0.1 + (k + 1/2) 0.9/128) for k = 0..118
    assert np.isclose(got[-1], 0.1 * (0.1 + 118.5 * 0.9 / 128), rtol=3e-7)


def test_map_bug_verdict_and_figures():
    v = storage_runs.storage_map_bug(quick=True)
    f = v.figures
    assert v.verdict == "false"
    assert f["correct_map_max"] == 1.0 and f["buggy_map_max"] < 0.1
    assert f["codes_differing"] > 200
    assert f["signed_map_differing"] == 0  # the signed map had no additional items
    for name in ("mlp", "mixed"):
        # step 1 moves the params with the unrounded s, so the runs agree until step 2
        assert f[f"first_step_over_rtol_{name}"] >= 2
        assert f[f"max_rel_param_diff_{name}"] > storage_runs.ORACLE_RTOL
        assert f[f"nonfinite_{name}"] == 0.0
