"""refopt.flavors.bitsandbytes_more.AdEMAMix8bit against bitsandbytes 0.50.2's AdEMAMix8bit on CPU, after
every one of 60 mixed steps: m1 and m2 codes (bitsandbytes' stacked state1[0], state1[1]), s codes
(state2), their absmax (absmax1 (2, blocks), absmax2) and the params."""
import bitsandbytes.optim as bnb_optim
import numpy as np
import pytest

from refopt.flavors import bitsandbytes_more as M

from .test_bitsandbytes import in_lockstep

# defaults (the kernel's fall-through path), and the warm-up path (alpha_t, beta3_t computed per step)
CASES = [{}, {"lr": 1e-2, "weight_decay": 0.1, "t_alpha": 30, "t_beta3": 40}]


@pytest.mark.parametrize("kwargs", CASES, ids=["defaults", "warmups"])
def test_codes_absmax_and_params_follow_bitsandbytes(kwargs):
    flipped = 0
    for p, state, opt, lib in in_lockstep(M.AdEMAMix8bit(**kwargs), bnb_optim.AdEMAMix8bit, kwargs):
        theirs, mine = opt.state[lib[0]], M.bitsandbytes_layout(state, "w")
        assert tuple(theirs["state1"].shape) == (2, 1049, 4) and tuple(theirs["absmax1"].shape) == (2, 17)
        for key in ("state1", "state2"):
            d = mine[key].astype(int) - theirs[key].numpy().reshape(mine[key].shape).astype(int)
            # float32 operation order moves a state entry by an ulp; one next to a lookup point of
            # the CPU kernel's 65536-point grid takes the neighbouring code: at most one code apart
            assert np.all(np.abs(d) <= 1)
            flipped += np.count_nonzero(d)
        for key in ("absmax1", "absmax2"):
            # the absmax of the unrounded state, computed in another float32 order: a few ulps
            np.testing.assert_allclose(mine[key], theirs[key].numpy(), rtol=1e-5)
        for t, k in zip(lib, ("w", "b")):
            # params: float32 roundings (a few ulps per step), plus the effect of a flipped code;
            # measured worst 8.1e-6 (defaults), 1.5e-5 (warm-ups, lr 1e-2)
            np.testing.assert_allclose(p[k], t.detach().numpy(), rtol=1e-4, atol=1e-4)
    assert flipped <= 10   # measured: 2 of 755,280 codes (3 buffers x 4,196 x 60) in each case


def test_state_layout_and_defaults():
    w = {"w": np.zeros(5000, dtype=np.float32)}
    ours = M.AdEMAMix8bit()
    assert ours.hyperparams["weight_decay"] == 1e-2 and ours.hyperparams["alpha"] == 5.0
    assert ours.hyperparams["maps"] == {"m1": "bnb-cpu-dynamic8", "m2": "bnb-cpu-dynamic8", "s": "bnb-cpu-udynamic8"}
    layout = M.bitsandbytes_layout(ours.init(w), "w")
    assert layout["state1"].shape == (2, 5000) and layout["absmax1"].shape == (2, 20)   # 19 blocks + a partial
    assert layout["state2"].dtype == np.uint8 and layout["absmax2"].dtype == np.float32
    with pytest.raises(ValueError, match="betas"):
        M.AdEMAMix8bit(betas=(0.9, 0.999))
