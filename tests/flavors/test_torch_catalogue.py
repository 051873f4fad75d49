"""The flavors of refopt.flavors.torch_catalogue against the installed framework: torch.optim's
Rprop, ASGD and SparseAdam (torch's default dtype left as it is, float32, so torch's scalar state
is float32 as users run it) and optax.rprop (float64 through the optax adapter).

Each case runs 50 steps of refopt.oracle.mixed_gradients in float64 and must agree to 1e-10
relative (tests/rules/independent.py's measure): measured worst 5.3e-14 (ASGD foreach, whose
float32 eta is modelled bit for bit), the others <= 7e-15 or exactly 0; a convention slip (torch's
t0 shift, eps placement, float32 eta, optax's stale step) shows at 3e-7 or far above.
"""
import numpy as np
import optax
import pytest
import torch

import refopt
from refopt.flavors import torch_catalogue as flavor
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer
from refopt.oracle import compare, mixed_gradients, trajectory
from tests.rules.independent import Check, assert_agrees, initial_params, relative_errors
from tests.rules.test_sparse_adam import masked, torch_sparse_adam

RTOL = 1e-10

TORCH_CASES = [
    ("Rprop", {}),
    ("Rprop", {"lr": 0.02, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.1)}),
    ("Rprop", {"lr": 0.5, "etas": (0.7, 1.1), "step_sizes": (1e-4, 0.2), "maximize": True}),
    ("Rprop", {"lr": 0.05, "foreach": True}),
    ("Rprop", {"lr": torch.tensor(0.05), "differentiable": False, "foreach": False}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 10, "weight_decay": 0.01}),
    ("ASGD", {"lr": 0.3, "lambd": 0.5, "alpha": 0.9, "t0": 3, "maximize": True}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 10, "foreach": True}),
    ("ASGD", {"lr": 0.3, "lambd": 0.5, "alpha": 0.9, "t0": 3, "foreach": True, "weight_decay": 0.1,
              "maximize": True}),
    ("ASGD", {"foreach": True}),
]


@pytest.mark.parametrize("name, kwargs", TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                           enumerate(TORCH_CASES)])
def test_torch_flavor_agrees_with_torch(name, kwargs):
    check = Check(name.lower(), f"torch.optim.{name}", lambda: getattr(flavor, name)(**kwargs),
                  lambda: torch_optimizer(getattr(torch.optim, name), **kwargs), rtol=RTOL)
    assert_agrees(check)


def test_asgd_needs_torchs_float32_scalars():
    """The float64 formula is 3e-7 away from torch at its default dtype: the rounding of eta and mu
    to float32 that the flavor models is what brings it to 1e-14."""
    assert torch.get_default_dtype() == torch.float32
    kwargs = {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 10}
    check = Check("asgd", "torch.optim.ASGD", lambda: flavor.ASGD(**kwargs, scalar_dtype="float64"),
                  lambda: torch_optimizer(torch.optim.ASGD, **kwargs), rtol=RTOL)
    with pytest.raises(AssertionError, match="relative error"):
        assert_agrees(check)


def test_asgd_float64_default_dtype():
    kwargs = {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 10}
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for extra in ({}, {"foreach": True}):
            assert_agrees(Check("asgd", "torch.optim.ASGD", lambda: flavor.ASGD(**kwargs, **extra),
                                lambda: torch_optimizer(torch.optim.ASGD, **kwargs, **extra), rtol=RTOL))
    finally:
        torch.set_default_dtype(old)


# --- SparseAdam: the row-sparse COO stream of tests/rules/test_sparse_adam.py, and nn.Embedding ---

SPARSE_CASES = [{}, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6}, {"lr": 0.1, "betas": (0.0, 0.5),
                                                                   "eps": 0.1, "maximize": True}]


@pytest.mark.parametrize("kwargs", SPARSE_CASES, ids=range(len(SPARSE_CASES)))
def test_sparse_adam_agrees_with_torch_on_coo_gradients(kwargs):
    assert_agrees(Check("sparse_adam", "torch.optim.SparseAdam", lambda: masked(flavor.SparseAdam(**kwargs)),
                        lambda: torch_sparse_adam(**kwargs), rtol=RTOL))


@pytest.mark.parametrize("kwargs", SPARSE_CASES, ids=range(len(SPARSE_CASES)))
def test_sparse_adam_on_an_embedding_with_repeated_indices(kwargs):
    """nn.Embedding(sparse=True) trained by torch's SparseAdam and by the flavor fed
    sparse_gradient(weight.grad) of the same autograd gradient. Batches repeat rows (torch
    coalesces: the row's summed gradient) and row 0 is looked up twice in every batch; from step 6
    with opposite upstream gradients, so it is present with a summed value of exactly 0: torch
    still updates it (its moments decay), and so must the flavor."""
    torch.manual_seed(0)
    emb = torch.nn.Embedding(8, 3, sparse=True, dtype=torch.float64)
    theirs = torch.optim.SparseAdam(emb.parameters(), **kwargs)
    ours = flavor.SparseAdam(**kwargs)
    w = emb.weight.detach().clone()
    state = ours.init(w)
    rng = np.random.default_rng(1)
    for step in range(30):
        idx = torch.tensor(np.concatenate([[0, 0], rng.integers(1, 8, size=5)]))
        upstream = torch.tensor(rng.standard_normal((7, 3)))
        if step >= 5:
            upstream[1] = -upstream[0]
        theirs.zero_grad()
        (emb(idx) * upstream).sum().backward()
        assert emb.weight.grad.is_sparse and not emb.weight.grad.is_coalesced()
        dense, mask = flavor.sparse_gradient(emb.weight.grad)
        assert bool(mask[0].all())
        if step >= 5:
            assert torch.equal(dense[0], torch.zeros(3, dtype=torch.float64))
        if step == 5:
            s0 = state.s[0].clone()
        theirs.step()
        w, state = ours.step(w, dense, state, mask=mask)
        moved = (emb.weight.detach() - w).abs().max() / (emb.weight.detach().abs().max())
        assert moved <= 1e-13, f"step {step + 1}: {float(moved):.3g}"
    assert bool((state.s[0] < s0).all())  # present with value 0: s decayed (an absent row's would not)


def test_sparse_gradient_refuses_dense():
    with pytest.raises(TypeError, match="grad"):
        flavor.sparse_gradient(torch.ones(3))


# --- optax.rprop ------------------------------------------------------------------------------

OPTAX_CASES = [
    {"learning_rate": 0.1},
    {"learning_rate": 0.02, "eta_minus": 0.3, "eta_plus": 1.5, "min_step_size": 1e-3, "max_step_size": 0.1},
    # lr above the upper bound: optax leaves it unclipped where g_{t-1} g_t = 0 (step 1)
    {"learning_rate": 0.5, "eta_minus": 0.7, "eta_plus": 1.1, "min_step_size": 1e-4, "max_step_size": 0.2},
]


@pytest.mark.parametrize("kwargs", OPTAX_CASES, ids=range(len(OPTAX_CASES)))
def test_optax_rprop_agrees_with_optax(kwargs):
    assert_agrees(Check("rprop", "optax.rprop", lambda: flavor.optax_rprop(**kwargs),
                        lambda: optax_transformation(optax.rprop(**kwargs)), rtol=RTOL))


def test_optax_rprop_is_one_step_behind_torch():
    """optax's step t is torch's step t-1 (where no sign flips now): its first step is 0, and the
    canonical rule (torch's) is far from it. Measured, so a fixed optax (PR #1725) fails here."""
    params = initial_params({"w": (5, 4)}, 0)
    grads = mixed_gradients(params, 20, seed=1)
    theirs = trajectory(optax_transformation(optax.rprop(0.1)), params, grads)
    np.testing.assert_array_equal(theirs[0]["w"], params["w"])
    canonical = trajectory(refopt.rprop(lr=0.1), params, grads)
    assert relative_errors(canonical, theirs, params).max() > 0.1


# --- arguments ----------------------------------------------------------------------------------

def test_code_path_options_and_bad_arguments():
    with pytest.raises(ValueError, match="capturable"):
        flavor.Rprop(capturable=True)
    with pytest.raises(ValueError, match="capturable"):
        flavor.ASGD(capturable=True)
    with pytest.raises(TypeError, match="fused"):
        flavor.Rprop(fused=True)
    bad = flavor.ASGD(lr=lambda t: -0.1)   # a schedule is checked where it is read, naming itself
    with pytest.raises(ValueError, match=r"^lr must be .*schedule at step 1"):
        bad.step(np.ones(3), np.ones(3), bad.init(np.ones(3)))
    with pytest.raises(ValueError, match="lr"):
        flavor.SparseAdam(lr=0.0)  # torch requires lr > 0
    with pytest.raises(ValueError, match="etas"):
        flavor.Rprop(etas=0.5)
    with pytest.raises(ValueError, match="eta_plus"):
        flavor.optax_rprop(0.1, eta_plus=0.9)
    for name in ("Rprop", "ASGD", "SparseAdam"):  # torch's own checks agree
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], lr=-1.0)
        with pytest.raises(ValueError, match="lr"):
            getattr(flavor, name)(lr=-1.0)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_asgd_average_is_torchs_ax(foreach):
    """torch's ``ax`` after each of 30 steps with t0 = 3 (so mu_t = 1, then 1/2, 1/3, ...), on both
    paths (foreach forms ax + mu (w - ax) also at mu = 1, where the single-tensor path copies w; here
    the two give the same numbers: w - ax is exact for successive iterates). Tolerance 1e-13 relative:
    the same float64 operations (measured 0); a wrong t0 shift or mu is 1e-2 and more."""
    kwargs = {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 3, "foreach": foreach}
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal(40)
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.ASGD([p], **kwargs)
    ours = flavor.ASGD(**kwargs)
    w, state = w0.copy(), ours.init(w0)
    for g in rng.standard_normal((30, 40)):
        p.grad = torch.tensor(g)
        opt.step()
        w, state = ours.step(w, g, state)
        ax = opt.state[p]["ax"].numpy()
        assert np.max(np.abs(state.w_avg - ax)) <= 1e-13 * np.max(np.abs(ax))


def _lambda_lr(name, base, kwargs):
    from tests.flavors.test_torch import with_lambda_lr
    return with_lambda_lr(torch_optimizer(getattr(torch.optim, name), lr=base, **kwargs))


def _stream():
    """A (5, 4) and a (4,) leaf and 50 mixed float64 gradient steps."""
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    return params, mixed_gradients(params, 50, seed=4)


@pytest.mark.parametrize("kwargs", [{"lambd": 0.1, "alpha": 0.6, "t0": 10}, {"lambd": 0.1, "foreach": True}],
                         ids=["single", "foreach"])
def test_asgd_with_a_schedule_is_torch_under_lambda_lr(kwargs):
    """torch's ASGD computes eta_t at the end of step t-1 from that step's lr: the flavor reads the
    schedule a step late (``_lagged``). 50 mixed float64 steps to 1e-10; read at once, it fails."""
    from tests.flavors.test_torch import _factor
    params, grads = _stream()
    theirs = _lambda_lr("ASGD", 0.05, kwargs)
    ours = flavor.ASGD(lr=lambda t: 0.05 * _factor(t - 1), **kwargs)
    assert compare(ours, theirs, params, grads, rtol=RTOL).ok
    at_once = flavor.ASGD(lr=lambda t: 0.05 * _factor(t), **kwargs)   # eta_t from lr(t) itself
    assert not compare(at_once, theirs, params, grads, rtol=RTOL).ok


def test_rprop_reads_a_schedule_once_as_torch_reads_lr():
    """torch's Rprop sets each step size to the group's lr when it first sees the parameter; a
    scheduler's later values change nothing. The flavor takes the schedule's first value: torch
    under LambdaLR, the flavor with the schedule and with the constant lr(1) agree to 1e-10."""
    from tests.flavors.test_torch import _factor
    params, grads = _stream()
    theirs = _lambda_lr("Rprop", 0.05, {})
    scheduled = flavor.Rprop(lr=lambda t: 0.05 * _factor(t - 1))
    assert compare(scheduled, theirs, params, grads, rtol=RTOL).ok
    assert compare(flavor.Rprop(lr=0.05 * _factor(0)), theirs, params, grads, rtol=RTOL).ok
