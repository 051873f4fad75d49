"""refopt.oracle.shadow on a real torch training run: an MLP with torch.optim.AdamW, a cosine
schedule and two param groups (decay on the matrices, none on the biases), as users write it."""
import warnings

import numpy as np
import pytest
import torch

import refopt
from refopt.oracle import shadow
from refopt.oracle.shadow import Shadow
from tests.interop.test_torch_optimizer import data, mlp

STEPS = 200


def adamw(model):
    matrices = [p for p in model.parameters() if p.ndim == 2]
    biases = [p for p in model.parameters() if p.ndim != 2]
    groups = [{"params": matrices, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-2)


def run(dtype, steps=STEPS, grads=None, **options):
    """``grads``: a list that receives each step's gradients (float64 copies, parameter order)."""
    x, y = data(dtype)
    model = mlp(dtype)
    opt = adamw(model)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    watch = shadow(opt, model.named_parameters(), **options)
    for _ in range(steps):
        watch.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        if grads is not None:
            grads.append([p.grad.detach().double().clone() for p in model.parameters()])
        watch.step()
        schedule.step()
    return watch, opt, model


GRADS: list = []   # the float32 run's gradients, for the float64 replay below


@pytest.fixture(scope="module")
def float32_run():
    GRADS.clear()
    return run(torch.float32, grads=GRADS)


def test_torch_is_its_flavor_to_float32_rounding_and_the_dtype_effect_is_sized(float32_run):
    watch = float32_run[0]
    report = watch.report()
    assert len(report.rows) == STEPS * 4   # every step, every parameter (2 matrices, 2 biases)
    assert {r.param for r in report.rows} == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # measured 2.9e-6 of the distance moved over 200 float32 steps: a few float32 roundings (6e-8
    # each) accumulated; a convention error (decay not times lr, eps placement) is 1e-3 and more
    assert report.worst("framework_vs_flavor") < 1e-4
    assert report.first("framework_vs_flavor", report.rtol) is None
    # float32 against the float64 flavor: the params' dtype moves the run, by float32's order
    assert 1e-9 < report.worst("flavor_vs_float64") < 1e-3
    assert "within rtol" in str(report)


def test_the_papers_adamw_with_torchs_number_parts_at_step_one_naming_the_convention(float32_run):
    report = float32_run[0].report()
    first = report.first("belief_vs_float64", 1e-10)
    assert first.step == 1 and first.param == "0.weight"   # the first decayed parameter
    assert "multiplies weight_decay by lr" in str(report) and "parts at step 1, 0.weight" in str(report)


def test_the_right_belief_agrees_and_float64_is_rounding():
    # the paper's lambda is torch's lr * weight_decay (per step: the cosine schedule's lr)
    watch, *_ = run(torch.float64, steps=50,
                   belief=lambda o: refopt.adamw(lr=o["lr"], beta1=o["betas"][0], beta2=o["betas"][1],
                                                 eps=o["eps"], weight_decay=o["lr"] * o["weight_decay"]))
    report = watch.report()
    assert report.worst("framework_vs_flavor") <= 1e-10          # measured 5e-15
    assert report.worst("belief_vs_float64") <= 1e-10
    assert "agrees with torch's flavor in float64" in str(report)


def test_it_behaves_as_the_optimizer(float32_run):
    watch, opt, _ = float32_run
    assert watch.param_groups is opt.param_groups and watch.state is opt.state
    assert watch.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    assert opt.param_groups[0]["lr"] < 1e-6   # the cosine schedule reached its end through it


def test_every_k_restarts_from_torchs_params_and_state_and_says_so():
    watch, *_ = run(torch.float64, steps=30, every=10)
    report = watch.report()
    assert sorted({r.step for r in report.rows}) == [1, 11, 21]
    # restarted at step 11 from torch's (t, m, s): the flavor's one step equals torch's
    assert report.worst("framework_vs_flavor") <= 1e-10
    assert "every 10th, each restarted from torch's params and state" in str(report)


def test_unhooked_it_records_nothing_more():
    watch, opt, _ = run(torch.float64, steps=3)
    watch.remove()
    n = len(watch.report().rows)
    opt.step()
    assert len(watch.report().rows) == n


def test_refusals_name_what_is_wrong():
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match="torch.optim.LBFGS is not shadowed: its step.closure. evaluates"):
        shadow(torch.optim.LBFGS([p]))
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        shadow(torch.optim.Adam([p]), every=0)
    with pytest.raises(ValueError, match="read for Adam, AdamW, SGD, Adagrad and RMSprop only, not NAdam"):
        shadow(torch.optim.NAdam([p]), every=2)
    with pytest.raises(ValueError, match="float16"):
        shadow(torch.optim.Adam([torch.nn.Parameter(torch.ones(3, dtype=torch.float16))]))


def test_a_parameter_without_gradient_is_not_a_row():
    a = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9)
    watch = shadow(opt, [("a", a), ("b", b)])
    for _ in range(3):
        a.grad = torch.full((3,), 0.5, dtype=torch.float64)
        opt.step()
    assert [r.param for r in watch.report().rows] == ["a"] * 3
    worst = watch.report().worst("framework_vs_flavor")
    assert np.isfinite(worst) and worst <= 1e-12


def test_torch_against_float64_is_the_dtypes_effect(float32_run):
    """The new column, against torch itself in float64: torch.optim.AdamW replayed on float64 copies
    of the same start, the same (float32 run's) gradients and the same cosine schedule."""
    watch, _, model = float32_run
    replay = mlp(torch.float64)   # the float32 run's starting params, cast exactly
    w0 = {n: p.detach().clone() for n, p in replay.named_parameters()}
    opt = adamw(replay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)
    for grads in GRADS:
        for p, g in zip(replay.parameters(), grads):
            p.grad = g
        opt.step()
        schedule.step()
    last = {r.param: r for r in watch.report().rows if r.step == STEPS}
    for (name, p32), p64 in zip(model.named_parameters(), replay.parameters()):
        moved = (p64 - w0[name]).abs().max().item()
        ours = (p32.detach().double() - p64.detach()).abs().max().item() / moved
        # the shadow's float64 flavor is torch's float64 AdamW to 5e-14 of the distance moved (the
        # float64 test below): the column must be our figure to that, and it is not zero
        assert abs(last[name].framework_vs_float64 - ours) <= 1e-10 and ours > 1e-9
    report = watch.report()
    for r in report.rows:
        # the max-norm triangle inequality (the denominators, the float32 and float64 flavors' distance
        # moved, agree to 1e-5): torch and its flavor are as far from float64, to their own distance
        assert abs(r.framework_vs_float64 - r.flavor_vs_float64) <= 1.001 * r.framework_vs_flavor + 1e-15
    # the dtype's effect is of one order for both (measured 200 steps: both ~1e-5)
    assert 0.2 < report.worst("framework_vs_float64") / report.worst("flavor_vs_float64") < 5
    assert "torch in float32 vs the float64 flavor (the dtype's effect): worst" in str(report)


def test_in_float64_torch_against_float64_is_torch_against_its_flavor():
    report = run(torch.float64, steps=20)[0].report()
    assert all(r.framework_vs_float64 == r.framework_vs_flavor <= 1e-12 for r in report.rows)


@pytest.mark.parametrize("attach", ["to the shadow", "to the optimizer, before", "to the optimizer, after"])
def test_it_is_a_torch_optimizer_and_a_scheduler_attached_either_way_drives_both(attach):
    x, y = data(torch.float64)
    model = mlp(torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.8) if attach.endswith("before") else None
    watch = shadow(opt, model.named_parameters())
    assert isinstance(watch, torch.optim.Optimizer) and isinstance(watch, torch.optim.Adam)
    assert isinstance(watch, Shadow) and not isinstance(opt, Shadow) and watch.__dict__ is opt.__dict__
    target = watch if attach == "to the shadow" else opt
    schedule = before or torch.optim.lr_scheduler.StepLR(target, 1, gamma=0.8)
    with warnings.catch_warnings():
        # torch warns where the scheduler steps before an optimizer step it did not see
        warnings.simplefilter("error")
        for k in range(10):
            watch.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            (opt if k % 2 else watch).step()   # one object: either steps it, hooks and scheduler included
            schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.8**10, rel=1e-12)
    report = watch.report()
    assert len(report.rows) == 10 * 4
    # the flavor followed the decaying lr step by step (one left at lr 1e-2: measured 0.1 off at step 2)
    assert report.worst("framework_vs_flavor") <= 1e-12
    saved = watch.state_dict()
    watch.load_state_dict(saved)   # torch's own load: the shared __dict__ stays shared
    assert watch.param_groups is opt.param_groups and watch.state_dict()["state"][0]["step"] == 10


def test_a_shadow_is_not_shadowed_twice():
    watch = shadow(torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1))
    with pytest.raises(ValueError, match="already a shadow"):
        shadow(watch)
