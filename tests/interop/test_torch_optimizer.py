"""refopt.interop.torch.Optimizer: a refopt rule training a real torch model, against torch.optim
stepping the same model, and its state_dict round trip."""
import io

import numpy as np
import pytest
import torch

import refopt
from refopt.flavors import torch as T
from refopt.interop.torch import Optimizer

STEPS = 100


def mlp(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).to(dtype)


def data(dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g, dtype=dtype)
    return x, (x[:, :3] * 2 - x[:, 3:6]).sin()


def groups(model, decay):
    """torch's usual two groups: weight decay on the matrices, none on the biases."""
    matrices = [p for p in model.parameters() if p.ndim == 2]
    biases = [p for p in model.parameters() if p.ndim != 2]
    return [{"params": matrices, **decay(0.1)}, {"params": biases, **decay(0.0)}]


def train(model, opt, steps, x, y):
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def both(dtype, steps=STEPS):
    x, y = data(dtype)
    ref_model, our_model = mlp(dtype), mlp(dtype)
    theirs = torch.optim.AdamW(groups(ref_model, lambda wd: {"weight_decay": wd}), lr=1e-2)
    ours = Optimizer(groups(our_model, lambda wd: {"rule": T.AdamW(lr=1e-2, weight_decay=wd)}),
                     T.AdamW(lr=1e-2))
    return train(ref_model, theirs, steps, x, y), train(our_model, ours, steps, x, y)


def rel(a, b):
    return max(float((x - y).abs().max() / y.abs().max()) for x, y in zip(a, b))


def test_adamw_flavor_trains_a_torch_mlp_as_torch_adamw_does_in_float64():
    theirs, ours = both(torch.float64)
    # the same float64 operations in another order: measured 6.7e-15 over 100 steps
    assert rel(ours, theirs) <= 1e-12


def test_and_in_float32_to_float32_rounding():
    theirs, ours = both(torch.float32)
    # float32 (2^-24 = 6e-8 a rounding), 100 steps through a nonlinear model that feeds each rounding
    # back into the next gradient: measured 1.8e-6; 1e-5 is 170 roundings' worth, a formula error
    # (say eps inside the root) is 1e-3 and more
    assert rel(ours, theirs) <= 1e-5


def test_state_dict_saves_with_torch_save_and_continues_identically():
    assert_round_trip(torch.device("cpu"))


def assert_round_trip(device):
    """10 steps, save model and optimizer with torch.save, 10 more; a new model and optimizer loaded
    from the save take the same 10 steps bit for bit (on ``device``: tests/interop/test_torch_cuda.py)."""
    x, y = (t.to(device) for t in data(torch.float64))
    model = mlp(torch.float64).to(device)
    opt = Optimizer(model.parameters(), refopt.adam(lr=1e-2))
    train(model, opt, 10, x, y)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    uninterrupted = train(model, opt, 10, x, y)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)   # tensors and numbers only, no pickled code
    model2 = mlp(torch.float64, seed=5).to(device)
    model2.load_state_dict(saved["model"])
    opt2 = Optimizer(model2.parameters(), refopt.adam(lr=1e-2))
    opt2.load_state_dict(saved["opt"])
    resumed = train(model2, opt2, 10, x, y)
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_a_quantized_state_keeps_its_uint8_codes_through_load_state_dict():
    from refopt.storage import quantized
    w = torch.nn.Parameter(torch.randn(8192))
    opt = Optimizer([w], quantized(refopt.adam(lr=1e-3)))
    w.grad = torch.randn(8192)
    opt.step()
    codes, scale = opt.state[w]["m"]
    assert codes.dtype == torch.uint8 and scale.dtype == torch.float32
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = Optimizer([w2], quantized(refopt.adam(lr=1e-3)))
    opt2.load_state_dict(opt.state_dict())   # torch alone would cast both to w's float32
    codes2, scale2 = opt2.state[w2]["m"]
    assert codes2.dtype == torch.uint8 and torch.equal(codes2, codes) and torch.equal(scale2, scale)
    w.grad = w2.grad = torch.randn(8192)
    opt.step(), opt2.step()
    assert torch.equal(w, w2)


def test_a_parameter_without_gradient_is_skipped_as_torch_skips_it():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = Optimizer([a, b], refopt.sgd(lr=0.5))
    a.grad = torch.full((3,), 2.0)
    opt.step()
    assert torch.equal(a.detach(), torch.zeros(3)) and torch.equal(b.detach(), torch.ones(3))
    assert opt.state[a]["step"] == 1 and b not in opt.state


def test_closure_and_no_grad():
    w = torch.nn.Parameter(torch.tensor([3.0]))
    opt = Optimizer([w], refopt.sgd(lr=0.25))

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure).detach()) == 9.0
    assert float(w.detach()) == 3.0 - 0.25 * 6.0 and w.grad_fn is None


@pytest.mark.parametrize("bad", [None, 0.1, torch.optim.SGD])
def test_a_rule_that_is_not_one_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError, match="rule must be a refopt optimizer"):
        Optimizer([torch.nn.Parameter(torch.ones(2))], bad)
    with pytest.raises(TypeError, match="param group 1's rule"):
        Optimizer([{"params": [torch.nn.Parameter(torch.ones(2))]},
                   {"params": [torch.nn.Parameter(torch.ones(2))], "rule": bad}], refopt.sgd(lr=0.1))


def test_float64_result_matches_numpy_rule():
    """The same rule on NumPy arrays and through the torch optimizer: the same bits."""
    rng = np.random.default_rng(0)
    w0, gs = rng.standard_normal(5), rng.standard_normal((4, 5))
    rule = refopt.nadam(lr=1e-2)
    w, state = w0, rule.init(w0)
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = Optimizer([p], rule)
    for g in gs:
        w, state = rule.step(w, g, state)
        p.grad = torch.tensor(g)
        opt.step()
    assert np.array_equal(p.detach().numpy(), w)
