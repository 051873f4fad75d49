"""Code maps and block quantization against bitsandbytes, torchao and ml_dtypes, value for value."""
import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from refopt.storage import SCHEMES, dequantize, maps, quantize
from refopt.storage.blockwise import n_blocks

F32 = np.float32


def bnb():
    import bitsandbytes.functional as F
    return F


@pytest.mark.parametrize("signed", [True, False])
def test_dynamic_map_equals_bitsandbytes_and_torchao_as_float32(signed):
    from torchao.optim.quant_utils import create_dynamic_map
    ours = maps.dynamic_map(signed)
    assert ours.dtype == F32 and ours.shape == (256,)
    assert np.array_equal(ours, bnb().create_dynamic_map(signed).numpy())  # bit for bit
    assert np.array_equal(ours, np.array(create_dynamic_map(signed), dtype=F32))
    # the definition's shape: 0 and 1 present, sorted, decades 1e-6 .. 1 (signed: symmetric but for 1)
    assert ours[-1] == 1 and 0 in ours and np.all(np.diff(ours) > 0)
    smallest = 0.55e-6 if signed else 0.325e-6  # 1e-6 x the first midpoint of [0.1, 1] in 2 (4) parts
    assert np.isclose(np.min(np.abs(ours[ours != 0])), smallest, rtol=1e-6)


def test_four_bit_maps_equal_torchao():
    from torchao.optim.quant_utils import create_dynamic_map
    assert np.array_equal(maps.dynamic_map(True, 3, 4), np.array(create_dynamic_map(True, 3, 4), dtype=F32))
    linear = np.array(torch.linspace(0, 1, 17)[1:].tolist(), dtype=F32)  # torchao's get_qmap_unsigned
    assert np.array_equal(maps.linear_map(4), linear) and 0 not in maps.linear_map(4)


def test_e4m3_magnitudes_are_ml_dtypes_float8_e4m3fn():
    patterns = np.arange(127, dtype=np.uint8)
    assert np.array_equal(maps.e4m3_magnitudes(), patterns.view(ml_dtypes.float8_e4m3fn).astype(F32))
    assert maps.e4m3_magnitudes()[-1] == maps.E4M3_MAX == float(ml_dtypes.finfo(ml_dtypes.float8_e4m3fn).max)


def test_a_bad_map_request_is_refused():
    with pytest.raises(ValueError, match="exponent_bits"):
        maps.dynamic_map(True, 8, 8)


def _spread(rng, n, signed=True):
    """Values over nine decades, both signs, one all-zero block and a partial last block."""
    x = (rng.standard_normal(n) * 10 ** rng.uniform(-9, 0, n)).astype(F32)
    x[256:512] = 0
    return x if signed else np.abs(x)


@pytest.mark.parametrize("name, signed", [("dynamic8", True), ("udynamic8", False)])
def test_bitsandbytes_cpu_quantize_blockwise_is_the_65536_point_lookup(name, signed):
    # 204,800 values: codes and absmax bit for bit, and the dequantized arrays too
    F = bnb()
    x = _spread(np.random.default_rng(3), 256 * 800 + 77, signed)
    q, qs = F.quantize_blockwise(torch.tensor(x), code=F.create_dynamic_map(signed), blocksize=256)
    scheme = SCHEMES[name].with_(lut_bins=65536)
    codes, scale = quantize(x, scheme, 256)
    assert np.array_equal(codes, q.numpy()) and np.array_equal(scale, qs.absmax.numpy())
    assert np.array_equal(dequantize(codes, scale, scheme, 256, x), F.dequantize_blockwise(q, qs).numpy())
    # and it is not the nearest code: below ~1e-4 of the absmax the lookup grid is coarser than the map
    nearest, _ = quantize(x, SCHEMES[name], 256)
    assert np.count_nonzero(nearest != codes) > 1000


@pytest.mark.parametrize("name, bits", [("dynamic8", 8), ("udynamic8", 8), ("dynamic4", 4), ("linear4", 4)])
def test_torchao_quantization_is_the_nearest_code_ties_up(name, bits):
    from torchao.optim.quant_utils import quantize_4bit_with_qmap, quantize_8bit_with_qmap, scale_tensor
    block = 256 if bits == 8 else 128
    x = _spread(np.random.default_rng(4), block * 400, signed=SCHEMES[name].table[0] < 0)
    scaled, scale = scale_tensor(torch.tensor(x), block)
    qmap = torch.tensor(np.asarray(SCHEMES[name].table, dtype=F32))
    q = (quantize_8bit_with_qmap if bits == 8 else quantize_4bit_with_qmap)(scaled, qmap)
    if bits == 4:
        q = (q[::2] << 4) | q[1::2]
    codes, ours = quantize(x, SCHEMES[name].with_(ties="up", floor=1e-12), block)
    assert np.array_equal(codes, q.numpy()) and np.array_equal(ours, scale.numpy())


def test_fp8_is_torchaos_quantize_fp8_and_ml_dtypes_rounding():
    from torchao.optim.subclass_fp8 import quantize_fp8
    x = _spread(np.random.default_rng(5), 256 * 400)
    q, scale = quantize_fp8(torch.tensor(x), 256)
    codes, ours = quantize(x, SCHEMES["e4m3"].with_(floor=1e-12), 256)
    assert np.array_equal(codes, q.view(torch.uint8).numpy()) and np.array_equal(ours, scale.numpy())
    # every midpoint between neighbouring E4M3 values: round to nearest even, as ml_dtypes casts
    t = maps.e4m3_magnitudes().astype(np.float64)
    y = np.concatenate([[448.0], (t[:-1] + t[1:]) / 2, -(t[:-1] + t[1:]) / 2]).astype(F32)
    codes, scale = quantize(y, SCHEMES["e4m3"], y.size)
    assert scale[0] == 1.0
    assert np.array_equal(codes, y.astype(ml_dtypes.float8_e4m3fn).view(np.uint8))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(SCHEMES)),
       block=st.sampled_from([3, 64, 256]), decades=st.integers(0, 8), n=st.integers(1, 700))
def test_error_is_at_most_half_the_gap_times_the_scale(seed, name, block, decades, n):
    # the law of nearest rounding: |x~ - x| <= gap(interval of x/N_b)/2 * N_b (+ float32 rounding
    # of x/N_b and of the product, 2 ulps of |x|); codes shape, dtypes, inputs untouched
    scheme = SCHEMES[name]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-decades, 0, n)).astype(F32)
    if scheme.table[0] >= 0 and not scheme.sign_bit:
        x = np.abs(x)
    kept = x.copy()
    codes, scale = quantize(x, scheme, block)
    assert np.array_equal(x, kept) and codes.dtype == np.uint8 and scale.dtype == F32
    assert codes.shape == (-(-n * scheme.bits // 8),) and scale.shape == (n_blocks(n, block),)
    back = dequantize(codes, scale, scheme, block, x)
    assert back.dtype == x.dtype and back.shape == x.shape
    table = np.asarray(scheme.table, dtype=np.float64)
    per = np.repeat(scale.astype(np.float64), block)[:n]
    y = np.abs(x) / np.where(per > 0, per, 1) if scheme.sign_bit else x / np.where(per > 0, per, 1)
    j = np.clip(np.searchsorted(table, y, side="right") - 1, 0, table.size - 2)
    gap = np.where(y > table[-1], y - table[-1], table[j + 1] - table[j])
    gap = np.where(y < table[0], table[0] - y + (table[1] - table[0]), gap)
    bound = gap / 2 * per + 2 * np.spacing(np.abs(x))
    assert np.all(np.abs(back.astype(np.float64) - x) <= bound)
