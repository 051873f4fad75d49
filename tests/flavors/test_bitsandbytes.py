"""refopt.flavors.bitsandbytes against bitsandbytes 0.50.2 on CPU, after every one of 60 mixed steps."""
import numpy as np
import pytest
import torch

from refopt.flavors import bitsandbytes as B
from refopt.oracle import mixed_gradients

CASES = [("Adam8bit", {}, ("m", "s")), ("AdamW8bit", {"lr": 1e-2, "weight_decay": 0.1}, ("m", "s")),
         ("Lion8bit", {"lr": 1e-3, "weight_decay": 0.1}, ("m",)),
         ("SGD8bit", {"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-3}, ("m",)),
         ("RMSprop8bit", {"lr": 1e-3, "weight_decay": 1e-3}, ("s",))]


def in_lockstep(ours, cls, kwargs, steps=60):
    """``ours`` and ``cls(params, **kwargs)`` (bitsandbytes) on the same float32 params and mixed
    gradients; after each step yields (our params, our state, the library's optimizer, its params).
    w has 4,196 entries: 16 full blocks of 256 and a partial one; b (300) keeps float32 state."""
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((1049, 4)).astype(np.float32), "b": rng.standard_normal(300).astype(np.float32)}
    state, p = ours.init(params), params
    lib = [torch.nn.Parameter(torch.tensor(params[k])) for k in ("w", "b")]
    opt = cls(lib, **kwargs)
    for g in mixed_gradients(params, steps, seed=1):
        p, state = ours.step(p, g, state)
        for t, k in zip(lib, ("w", "b")):
            t.grad = torch.tensor(g[k])
        opt.step()
        yield p, state, opt, lib



@pytest.mark.parametrize("name, kwargs, fields", CASES, ids=[c[0] for c in CASES])
def test_codes_absmax_and_params_follow_bitsandbytes(name, kwargs, fields):
    import bitsandbytes.optim
    flipped = 0
    for p, state, opt, lib in in_lockstep(getattr(B, name)(**kwargs), getattr(bitsandbytes.optim, name), kwargs):
        s = opt.state[lib[0]]
        for i, f in enumerate(fields):
            codes, absmax = getattr(state, f)["w"]
            theirs = s[f"state{i + 1}"].numpy().reshape(-1).astype(int)
            d = codes.astype(int) - theirs
            # float32 operation order (torch's fused a + alpha*b) moves a state entry by an ulp;
            # one next to a lookup point takes the neighbouring code: at most one code apart
            assert np.all(np.abs(d) <= 1)
            flipped += np.count_nonzero(d)
            np.testing.assert_allclose(absmax, s[f"absmax{i + 1}"].numpy(), rtol=1e-4)
        for t, k in zip(lib, ("w", "b")):
            # params: float32 roundings (a few ulps per step), plus the effect of flipped codes
            np.testing.assert_allclose(p[k], t.detach().numpy(), rtol=1e-4, atol=1e-4)
    assert flipped <= 10   # measured: Adam8bit 2, AdamW8bit 2, others 0, of 251,760 codes per buffer


def test_unmodelled_arguments_are_refused_naming_them():
    for make, arg in [(lambda: B.Adam8bit(amsgrad=True), "amsgrad"), (lambda: B.Adam8bit(args=object()), "args"),
                      (lambda: B.SGD8bit(lr=0.1, momentum=0.9, nesterov=True), "nesterov"),
                      (lambda: B.RMSprop8bit(momentum=0.9), "momentum")]:
        with pytest.raises(ValueError, match=arg):
            make()
