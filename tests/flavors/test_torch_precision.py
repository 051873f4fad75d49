"""torch's code paths, tensor hyperparameters and parameter groups, against torch.

Each case runs torch and the flavor for 14 mixed float64 steps (``torch_acceptance_cases.run``:
torch as users run it, differentiable ones over non-leaf tensors) and compares the update with
``refopt.oracle.compare``. Where a modelled precision effect exists, the test also shows that
leaving it out fails: the model is what makes the numbers agree.
"""
import numpy as np
import pytest
import torch

from refopt import partition
from refopt.flavors import torch as T
from refopt.flavors.torch_groups import param_groups
from refopt.flavors.torch_scalars import step_coefficients, value
from refopt.oracle import compare, mixed_gradients

from . import torch_acceptance_cases as C


def _params():
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    return params, mixed_gradients(params, C.STEPS, seed=1)


def _against_torch(name, torch_kwargs, ours, rtol=C.RTOL):
    params, grads = _params()
    return compare(C.torch_side(C.Case(name, "config", "", torch_kwargs)), ours, params, grads, rtol=rtol)


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("AdamW", {"amsgrad": True}),
                                         ("Adam", {"weight_decay": 0.1, "maximize": True})])
def test_differentiable_adam_needs_its_float32_scalars(name, kwargs):
    """torch's differentiable Adam computes its bias corrections as float32 tensors (torch's
    default dtype): the float64 form is 1e-5 away from torch's update (measured 9.9e-6 to 1.1e-5),
    the float32 model within float32 sqrt's last bit (``C.RTOL_FLOAT32_SQRT``)."""
    kw = {**kwargs, "differentiable": True}
    modelled = _against_torch(name, kw, getattr(T, name)(**kw, scalar_dtype="float32"), C.RTOL_FLOAT32_SQRT)
    assert modelled.ok, str(modelled)
    float64 = _against_torch(name, kw, getattr(T, name)(**kw, scalar_dtype="float64"))
    assert 3e-6 < float64.max_update_rel < 3e-5, float64.max_update_rel


def test_differentiable_nadam_matches_torch_only_with_its_float32_coefficients():
    """NAdam's differentiable path divides by float32 ``1 - mu_product``: bit-level model, 1e-10;
    the plain path's numbers are 1e-7 away (measured 9.9e-8)."""
    kw = {"differentiable": True}
    assert _against_torch("NAdam", kw, T.NAdam(**kw, scalar_dtype="float32")).ok
    plain = _against_torch("NAdam", kw, T.NAdam(scalar_dtype="float32"))
    assert 1e-8 < plain.max_update_rel < 1e-6, plain.max_update_rel


def test_step_coefficients_in_float64_are_adams():
    # by hand: a = sqrt(1 - b2^t) * (-lr / (1 - b1^t)), e = eps / (-lr / (1 - b1^t))
    a, e = step_coefficients(3, 1e-3, 0.9, 0.999, 1e-8, "float64")
    step = -1e-3 / (1 - 0.9**3)
    assert a == pytest.approx(np.sqrt(1 - 0.999**3) * step, rel=1e-15)
    assert e == pytest.approx(1e-8 / step, rel=1e-15)


def test_float32_tensor_lr_is_read_as_float32():
    assert value("lr", torch.tensor(1e-3)) == float(np.float32(1e-3)) != 1e-3
    assert value("lr", torch.tensor([[1e-3]], dtype=torch.float64)) == 1e-3
    assert value("lr", 1e-3) == 1e-3


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"lr": torch.tensor(0.01), "momentum": 0.9}), ("Adagrad", {"lr": torch.tensor(0.05)}),
    ("RMSprop", {"lr": torch.tensor(0.01)}), ("Adam", {"lr": torch.tensor(0.01), "fused": True}),
    ("AdamW", {"betas": (torch.tensor(0.8), torch.tensor(0.99)), "fused": True}),
    ("RAdam", {"lr": torch.tensor(0.01)}), ("NAdam", {"lr": torch.tensor(0.01), "foreach": True}),
])
def test_tensor_hyperparameters_match_torch(name, kwargs):
    """Where torch turns a float32 tensor lr/betas back into a Python float, the flavor reads it
    in float32 and matches to 1e-10 (a float64 1e-2 would be 2e-10 to 2e-8 away)."""
    report = _against_torch(name, kwargs, getattr(T, name)(**kwargs))
    assert report.ok, str(report)


@pytest.mark.parametrize("which", ["as is", "float64"])
def test_float64_tensor_hyperparameters_match_torch_everywhere(which):
    """(NAdam refuses tensor betas with float32 scalar state: they change how torch rounds its
    mu_product, 1.1e-10 measured; it takes them with float64 scalar state.)"""
    kw = {"lr": torch.tensor(0.01, dtype=torch.float64),
          "betas": (torch.tensor(0.8, dtype=torch.float64), torch.tensor(0.99, dtype=torch.float64))}
    with C.default_dtype(which):
        for name in ("Adam", "AdamW", "Adamax") + (("NAdam",) if which == "float64" else ()):
            report = _against_torch(name, kw, getattr(T, name)(**kw))
            assert report.ok, (name, str(report))


@pytest.mark.parametrize("name,kwargs,option", [
    ("Adam", {"lr": torch.tensor(0.01)}, "lr"),
    ("AdamW", {"betas": (torch.tensor(0.9), 0.999)}, r"betas\[0\]"),
    ("Adamax", {"lr": torch.tensor(0.01)}, "lr"), ("Adafactor", {"lr": torch.tensor(0.01)}, "lr"),
    ("Adam", {"capturable": True}, "capturable"), ("NAdam", {"betas": (torch.tensor(0.9), 0.99)}, "betas"),
    ("SGD", {"fused": True, "foreach": True}, "fused and foreach"),
    ("Adam", {"fused": True, "differentiable": True}, "differentiable"),
    ("SGD", {"lr": torch.ones(2)}, "lr"), ("SGD", {"foreach": 1}, "foreach"),
])
def test_unsupported_torch_options_are_refused_by_name(name, kwargs, option):
    with pytest.raises(ValueError, match=option):
        getattr(T, name)(**kwargs)


def test_an_option_torch_does_not_take_is_a_type_error():
    with pytest.raises(TypeError, match="differentiable"):
        T.Adafactor(differentiable=True)
    with pytest.raises(TypeError, match="fused"):
        T.RMSprop(fused=True)


# --- parameter groups ----------------------------------------------------------------------

def _grouped_torch(name, groups, **kwargs):
    """torch over ``w`` and ``b`` with ``groups`` = [options of w's group, options of b's]."""
    from refopt.interop import Adapter
    params, _ = _params()
    cls = getattr(torch.optim, name)

    def init(p):
        w, b = (torch.tensor(np.array(p[k]), requires_grad=True) for k in ("w", "b"))
        return w, b, cls([{"params": [w], **groups[0]}, {"params": [b], **groups[1]}], **kwargs)

    def step(p, g, state):
        w, b, opt = state
        w.grad, b.grad = torch.tensor(g["w"]), torch.tensor(g["b"])
        opt.step()
        return {"w": w.detach().numpy().copy(), "b": b.detach().numpy().copy()}, state

    return Adapter(name, init, step)


def test_adagrad_groups_ignore_their_initial_accumulator_value():
    """torch fills state['sum'] from the constructor's value: a group's 0.5 is ignored. The
    flavor reproduces it; honouring the group's value instead parts from torch at step 1."""
    params, grads = _params()
    groups = [{}, {"lr": 0.05, "initial_accumulator_value": 0.5}]
    theirs = _grouped_torch("Adagrad", groups, initial_accumulator_value=0.1)
    ours = param_groups(T.Adagrad, [{"params": ["['w']"]}, {"params": ["['b']"], **groups[1]}],
                        initial_accumulator_value=0.1)
    assert compare(theirs, ours, params, grads).ok
    honoured = partition({"w": T.Adagrad(initial_accumulator_value=0.1),
                          "b": T.Adagrad(lr=0.05, initial_accumulator_value=0.5)},
                         lambda path, w: "w" if path == "['w']" else "b")
    report = compare(theirs, honoured, params, grads)
    assert not report.ok and report.first_parting.step == 1


def test_groups_by_predicate_match_torch():
    params, grads = _params()
    groups = [{"weight_decay": 0.1}, {"lr": 1e-2, "betas": (0.5, 0.9)}]
    theirs = _grouped_torch("AdamW", groups, lr=1e-3)
    ours = param_groups(T.AdamW, [{"params": lambda path, w: w.ndim == 2, **groups[0]},
                                  {"params": lambda path, w: w.ndim == 1, **groups[1]}], lr=1e-3)
    report = compare(theirs, ours, params, grads)
    assert report.ok, str(report)


def test_bad_groups_say_which():
    params, _ = _params()
    with pytest.raises(ValueError, match=r"leaf \['b'\] is in no group"):
        param_groups(T.SGD, [{"params": ["['w']"]}]).init(params)
    with pytest.raises(ValueError, match=r"leaf \['w'\] is in groups \[0, 1\]"):
        param_groups(T.SGD, [{"params": ["['w']", "['b']"]}, {"params": ["['w']"]}]).init(params)
    with pytest.raises(ValueError, match="'params'"):
        param_groups(T.SGD, [{"lr": 0.1}])
    with pytest.raises(ValueError, match="list of leaf paths"):
        param_groups(T.SGD, [{"params": "['w']"}])
    with pytest.raises(ValueError, match="momentum"):
        param_groups(T.SGD, [{"params": ["['w']", "['b']"], "momentum": -1}])
