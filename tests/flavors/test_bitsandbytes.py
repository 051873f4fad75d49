r"""refopt.flavors.bitsandbytes against bitsandbytes 0.50.2 on CPU, one step at a time over 60 mixed steps.

Each step starts both sides from the library's state (its codes, absmax, float32 buffers, step
count and params, loaded into ours), so a difference is that step's own, not an earlier one carried
along. Tolerances, per entry, and why:

- codes: equal, or one apart. Both sides requantize the same float32 value computed in another
  order of operations (torch's fused ``a + alpha*b`` against the rule's lines); an entry next to a
  point of the 65536-point lookup grid takes the neighbouring code. Counted: measured 1 flip per run
  for Adam8bit and AdamW8bit (of 251,760 codes per buffer), 0 for the others;
- the stored moment read back, :math:`Q[q]\,N`: within the map's gap at the library's code times
  its absmax, ``gaps(Q)[q'] N'`` (``refopt.storage.maps.gaps``), plus 2 ulps of ``N'``: a neighbouring
  code moves the stored value by one gap of the map at that value, no more;
- absmax: the largest |entry| of the unrounded state of each block, 2 float32 ulps (measured 1);
- params: bitsandbytes writes them with the *unrounded* new state, so a flipped code reaches the
  params only at the next step, through the stored moment above, which resyncing hands back from
  the library. Within a step, float32 rounding only: 4 ulps of :math:`|w_{t-1}| + |w_t - w_{t-1}|`
  (the two terms of the final subtraction; measured at most 3.2);
- the float32 state of the small leaf ``b`` (under ``min_8bit_size``): 2 ulps of
  :math:`|b_{t-1}| + |g|^k`, k = 2 for a second moment (measured 1).
"""
import numpy as np
import pytest
import torch

from refopt.flavors import bitsandbytes as B
from refopt.oracle import mixed_gradients
from refopt.storage.maps import gaps

# field -> (bitsandbytes' state key, index in a stacked buffer or None, our scheme)
M_S = {"m": ("state1", None, B.SIGNED), "s": ("state2", None, B.UNSIGNED)}
CASES = [("Adam8bit", {}, M_S), ("AdamW8bit", {"lr": 1e-2, "weight_decay": 0.1}, M_S),
         ("Lion8bit", {"lr": 1e-3, "weight_decay": 0.1}, {"m": M_S["m"]}),
         ("SGD8bit", {"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-3}, {"m": M_S["m"]}),
         # RMSprop's s >= 0 on the signed map: bitsandbytes' Optimizer1State
         ("RMSprop8bit", {"lr": 1e-3, "weight_decay": 1e-3}, {"s": ("state1", None, B.SIGNED)})]
KEYS = ("w", "b")


def _params():
    """w: 4,196 entries, 16 full blocks of 256 and a partial one; b (300) keeps float32 state."""
    rng = np.random.default_rng(0)
    return {"w": rng.standard_normal((1049, 4)).astype(np.float32), "b": rng.standard_normal(300).astype(np.float32)}


def _theirs(lib_state, key, index, absmax=False):
    x = lib_state[key.replace("state", "absmax") if absmax else key].numpy()
    return (x if index is None else x[index]).copy()


def _from_library(state, opt, lib, layout):
    """Our state holding exactly the library's buffers and step count."""
    new = {"t": opt.state[lib["w"]]["step"]}
    for f, (key, index, _) in layout.items():
        sw, sb = opt.state[lib["w"]], opt.state[lib["b"]]
        codes = _theirs(sw, key, index).reshape(-1)
        new[f] = {"w": (codes, _theirs(sw, key, index, absmax=True)), "b": _theirs(sb, key, index)}
    return state._replace(**new)


def _within(x, ref, ulps, of):
    bad = np.abs(x - ref) > ulps * np.spacing(np.asarray(of, dtype=np.float32))
    assert not bad.any(), f"{np.count_nonzero(bad)} entries beyond {ulps} ulps, worst {np.max(np.abs(x - ref))}"


def flips_over_steps(ours, cls, kwargs, layout, steps=60):
    """Step ``ours`` and ``cls(params, **kwargs)`` (bitsandbytes) ``steps`` times, each step from the
    library's state, check every buffer to the tolerances of the module docstring, and return how
    many codes differed by one."""
    params = _params()
    state, flipped = ours.init(params), 0
    lib = {k: torch.nn.Parameter(torch.tensor(params[k])) for k in KEYS}
    opt = cls(list(lib.values()), **kwargs)
    for t, g in enumerate(mixed_gradients(params, steps, seed=1)):
        w = {k: lib[k].detach().numpy().copy() for k in KEYS}
        if t > 0:
            state = _from_library(state, opt, lib, layout)
        before = state
        new_w, state = ours.step(w, g, state)
        for k in KEYS:
            lib[k].grad = torch.tensor(g[k])
        opt.step()
        sw, sb = opt.state[lib["w"]], opt.state[lib["b"]]
        for f, (key, index, scheme) in layout.items():
            (q, n), (q_lib, n_lib) = getattr(state, f)["w"], (_theirs(sw, key, index).reshape(-1),
                                                               _theirs(sw, key, index, absmax=True))
            table = np.asarray(scheme.table, dtype=np.float32)
            d = q.astype(int) - q_lib.astype(int)
            assert np.all(np.abs(d) <= 1), f"{f}: codes more than one apart"
            flipped += np.count_nonzero(d)
            _within(n, n_lib, 2, n_lib)
            block = np.repeat(np.arange(n_lib.size), 256)[:q.size]
            read, read_lib = table[q] * n[block], table[q_lib] * n_lib[block]
            gap = np.where(d != 0, gaps(table)[q_lib] * n_lib[block], 0)
            assert np.all(np.abs(read - read_lib) <= gap + 2 * np.spacing(n_lib[block])), f"{f}: stored moment"
            power = 2 if f == "s" else 1
            _within(getattr(state, f)["b"], _theirs(sb, key, index), 2,
                    np.abs(getattr(before, f)["b"]) + np.abs(g["b"]) ** power)
        for k in KEYS:
            theirs = lib[k].detach().numpy()
            _within(new_w[k], theirs, 4, np.abs(w[k]) + np.abs(theirs - w[k]))
    return flipped


@pytest.mark.parametrize("name, kwargs, layout", CASES, ids=[c[0] for c in CASES])
def test_codes_absmax_and_params_follow_bitsandbytes(name, kwargs, layout):
    import bitsandbytes.optim
    flipped = flips_over_steps(getattr(B, name)(**kwargs), getattr(bitsandbytes.optim, name), kwargs, layout)
    assert flipped <= 10   # measured: Adam8bit 1, AdamW8bit 1, others 0, of 251,760 codes per buffer


def test_unmodelled_arguments_are_refused_naming_them():
    for make, arg in [(lambda: B.Adam8bit(amsgrad=True), "amsgrad"), (lambda: B.Adam8bit(args=object()), "args"),
                      (lambda: B.SGD8bit(lr=0.1, momentum=0.9, nesterov=True), "nesterov"),
                      (lambda: B.RMSprop8bit(momentum=0.9), "momentum")]:
        with pytest.raises(ValueError, match=arg):
            make()
