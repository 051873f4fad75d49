"""refopt.flavors.bitsandbytes_more.AdEMAMix8bit against bitsandbytes 0.50.2's AdEMAMix8bit on CPU, one
step at a time over 60 mixed steps: m1 and m2 codes (bitsandbytes' stacked state1[0], state1[1]), s codes
(state2), their absmax (absmax1 (2, blocks), absmax2) and the params."""
import bitsandbytes.optim as bnb_optim
import numpy as np
import pytest

from refopt.flavors import bitsandbytes as B
from refopt.flavors import bitsandbytes_more as M

from .test_bitsandbytes import flips_over_steps

# bitsandbytes stacks m1 and m2 in state1 (2, n) and absmax1 (2, blocks)
LAYOUT = {"m1": ("state1", 0, B.SIGNED), "m2": ("state1", 1, B.SIGNED), "s": ("state2", None, B.UNSIGNED)}

# defaults (the kernel's fall-through path), and the warm-up path (alpha_t, beta3_t computed per step)
CASES = [{}, {"lr": 1e-2, "weight_decay": 0.1, "t_alpha": 30, "t_beta3": 40}]


@pytest.mark.parametrize("kwargs", CASES, ids=["defaults", "warmups"])
def test_codes_absmax_and_params_follow_bitsandbytes(kwargs):
    # tolerances per entry, each step from the library's state: tests/flavors/test_bitsandbytes.py
    flipped = flips_over_steps(M.AdEMAMix8bit(**kwargs), bnb_optim.AdEMAMix8bit, kwargs, LAYOUT)
    assert flipped <= 10   # measured: 1 of 755,280 codes (3 buffers x 4,196 x 60) in each case


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
