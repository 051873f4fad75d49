"""refopt.flavors.torchao against torchao 0.18.0 on CPU, after every one of 60 mixed steps.

Tolerance 0 throughout: the flavor models every float32 operation of torchao's compiled step
(lerp, float32 bias corrections, the tie rule of its code search), so codes, scales and params
agree bit for bit. A single code one apart would move that entry's stored moment by a map gap
times the block scale (largest gaps: 0.014 of the absmax for the signed 8-bit map, 0.225 for the
4-bit dynamic map, 1/16 for the linear one, 32/448 for FP8) and the param by lr times that over
the denominator, far above any float32 ulp: a tolerance would hide exactly what this checks.
"""
import numpy as np
import pytest
import torch

from refopt.flavors import torchao as T
from refopt.oracle import mixed_gradients

torchao_optim = pytest.importorskip("torchao.optim")

# one default and one non-default per class; betas below 1/2 take lerp's other branch, and
# block_size changes the blocks (8-bit 512: 10 blocks; 4-bit 64: 80 blocks)
CASES = [("AdamW8bit", {}),
         ("AdamW8bit", {"lr": 1e-2, "betas": (0.3, 0.4), "weight_decay": 0.1, "block_size": 512}),
         ("AdamW4bit", {}),
         ("AdamW4bit", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0, "block_size": 64}),
         ("AdamWFp8", {}), ("AdamWFp8", {"lr": 1e-2, "betas": (0.9, 0.6), "weight_decay": 0.1})]
KEYS = ("w", "v", "b")


def _params():
    rng = np.random.default_rng(0)
    # w: 5,120 entries, quantized; v: 4,196 >= 4096 but not a multiple of any block here, so
    # torchao keeps it float32 (it allows no partial block); b: under 4096, float32
    shapes = {"w": (64, 80), "v": (1049, 4), "b": (300,)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def _codes(buf):
    """torchao's stored codes as one flat uint8 array (FP8 codes are float8 bit patterns)."""
    codes = buf.codes if buf.codes.dtype == torch.uint8 else buf.codes.view(torch.uint8)
    return codes.reshape(-1).numpy()


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{'custom' if k else 'default'}" for n, k in CASES])
def test_codes_scales_and_params_follow_torchao(name, kwargs):
    params = _params()
    ours = getattr(T, name)(**kwargs)
    state, p = ours.init(params), params
    lib = {k: torch.nn.Parameter(torch.tensor(params[k])) for k in KEYS}
    opt = getattr(torchao_optim, name)(list(lib.values()), **kwargs)
    differing = {"codes": 0, "scales": 0, "params": 0, "float32 state": 0}
    for g in mixed_gradients(params, 60, seed=1):
        p, state = ours.step(p, g, state)
        for k in KEYS:
            lib[k].grad = torch.tensor(g[k])
        opt.step()
        for field, buf in (("m", "exp_avg"), ("s", "exp_avg_sq")):
            theirs = opt.state[lib["w"]][buf]
            assert hasattr(theirs, "scale"), "torchao should quantize w"
            codes, scale = getattr(state, field)["w"]
            differing["codes"] += np.count_nonzero(codes != _codes(theirs))
            differing["scales"] += np.count_nonzero(scale != theirs.scale.numpy())
            for k in ("v", "b"):  # kept float32 by both: plain arrays, compared exactly
                plain = opt.state[lib[k]][buf]
                assert type(plain) is torch.Tensor and isinstance(getattr(state, field)[k], np.ndarray)
                differing["float32 state"] += np.count_nonzero(getattr(state, field)[k] != plain.numpy())
        for k in KEYS:
            differing["params"] += np.count_nonzero(p[k] != lib[k].detach().numpy())
    assert differing == {"codes": 0, "scales": 0, "params": 0, "float32 state": 0}


def test_maps_are_torchao_maps():
    """The schemes' values against the qmaps torchao builds (an independent construction)."""
    from torchao.optim import subclass_4bit, subclass_8bit
    expected = {"AdamW8bit": (subclass_8bit.get_qmap_signed(), subclass_8bit.get_qmap_unsigned()),
                "AdamW4bit": (subclass_4bit.get_qmap_signed(), subclass_4bit.get_qmap_unsigned())}
    for name, qmaps in expected.items():
        for scheme, qmap in zip(T.MAPS[name], qmaps):
            np.testing.assert_array_equal(scheme.values, torch.tensor(qmap, dtype=torch.float32).numpy())
    # FP8: every non-NaN bit pattern read as float8_e4m3fn
    patterns = torch.tensor([b for b in range(256) if b & 127 != 127], dtype=torch.uint8)
    values = patterns.view(torch.float8_e4m3fn).float().numpy()
    np.testing.assert_array_equal(T.MAPS["AdamWFp8"][0].values[patterns.numpy()], values)


def _corner_blocks(table, block):
    """Blocks that the 60-step runs never produce: one with absmax 1 holding every code value
    and every midpoint of neighbouring codes that float32 holds exactly (a tie: torchao takes
    the upper code, FP8 the even one), one of zeros (scale clipped to 1e-12), one under 1e-12,
    one whose absmax is a negative entry, then random values over nine decades."""
    t = np.asarray(table, dtype=np.float64)
    mid = (t[:-1] + t[1:]) / 2
    ties = mid[mid.astype(np.float32) == mid]
    x = np.concatenate([[1.0], t / t.max(), ties / t.max()])
    if table[0] >= 0:  # unsigned map
        x = np.abs(x)
    rng = np.random.default_rng(3)
    n = -(-len(x) // block) * block
    first = np.concatenate([x, np.zeros(n - len(x))])
    signs = rng.choice([-1.0, 1.0] if table[0] < 0 else [1.0], 4 * block)
    rand = signs * 10.0 ** rng.uniform(-9, 0, 4 * block)
    negative = -np.abs(rand[:block]) if table[0] < 0 else rand[:block]
    blocks = [first, np.zeros(block), np.full(block, 3e-13), negative, rand]
    return np.concatenate(blocks).astype(np.float32)


@pytest.mark.parametrize("name", T.__all__)
def test_quantize_at_ties_zeros_and_tiny_blocks_as_torchao(name):
    from torchao.optim import quant_utils, subclass_4bit, subclass_8bit, subclass_fp8

    from refopt.storage import quantize
    block = {"AdamW4bit": 128}.get(name, 256)
    for i, scheme in enumerate(T.MAPS[name]):
        x = _corner_blocks(np.unique(np.abs(scheme.table)) if scheme.sign_bit else scheme.table, block)
        if scheme.sign_bit and i == 0:
            x = x * np.where(np.arange(x.size) % 2, -1, 1).astype(np.float32)  # FP8's m is signed
        codes, scale = quantize(x, scheme, block)
        xt = torch.tensor(x)
        if name == "AdamWFp8":
            c, s = subclass_fp8.quantize_fp8(xt, block)
            c = c.view(torch.uint8)
        else:
            mod = subclass_8bit if name == "AdamW8bit" else subclass_4bit
            qmap = torch.tensor((mod.get_qmap_signed, mod.get_qmap_unsigned)[i](), dtype=torch.float32)
            scaled, s = quant_utils.scale_tensor(xt, block)
            if name == "AdamW8bit":
                c = quant_utils.quantize_8bit_with_qmap(scaled, qmap)
            else:
                c = quant_utils.quantize_4bit_with_qmap(scaled, qmap)
                c = (c[::2] << 4) | c[1::2]
        np.testing.assert_array_equal(scale, s.numpy())
        np.testing.assert_array_equal(codes, c.numpy())


def test_torchao_fails_on_amsgrad_with_a_quantized_leaf():
    """Why amsgrad=True is refused: torchao 0.18.0 cannot take a step with it."""
    w = torch.nn.Parameter(torch.zeros(4096))
    opt = torchao_optim.AdamW8bit([w], amsgrad=True)
    w.grad = torch.ones(4096)
    with pytest.raises(Exception, match="maximum"):
        opt.step()


@pytest.mark.parametrize("name", T.__all__)
def test_unmodelled_arguments_are_refused_naming_them(name):
    make = getattr(T, name)
    for kwargs, arg in [({"amsgrad": True}, "amsgrad"),
                        ({"bf16_stochastic_round": True}, "bf16_stochastic_round"),
                        ({"weight_decay": -1.0}, "weight_decay"), ({"block_size": 0}, "block_size"),
                        ({"betas": (0.9, 1.0)}, "betas"), ({"eps": -1e-8}, "eps")]:
        with pytest.raises(ValueError, match=arg):
            make(**kwargs)
