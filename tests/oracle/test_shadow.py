"""refopt.oracle.shadow on a real torch training run: an MLP with torch.optim.AdamW, a cosine
schedule and two param groups (decay on the matrices, none on the biases), as users write it."""
import numpy as np
import pytest
import torch

import refopt
from refopt.oracle import shadow
from tests.interop.test_torch_optimizer import data, mlp

STEPS = 200


def run(dtype, steps=STEPS, **options):
    x, y = data(dtype)
    model = mlp(dtype)
    matrices = [p for p in model.parameters() if p.ndim == 2]
    biases = [p for p in model.parameters() if p.ndim != 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0.0}],
                            lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    watch = shadow(opt, model.named_parameters(), **options)
    for _ in range(steps):
        watch.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        watch.step()
        schedule.step()
    return watch, opt


@pytest.fixture(scope="module")
def float32_run():
    return run(torch.float32)


def test_torch_is_its_flavor_to_float32_rounding_and_the_dtype_effect_is_sized(float32_run):
    watch, _ = float32_run
    report = watch.report()
    assert len(report.rows) == STEPS * 4   # every step, every parameter (2 matrices, 2 biases)
    assert {r.param for r in report.rows} == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # measured 2.9e-6 of the distance moved over 200 float32 steps: a few float32 roundings (6e-8
    # each) accumulated; a convention error (decay not times lr, eps placement) is 1e-3 and more
    assert report.worst("framework_vs_flavor") < 1e-4 and report.first("framework_vs_flavor", report.rtol) is None
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
    watch, _ = run(torch.float64, steps=50,
                   belief=lambda o: refopt.adamw(lr=o["lr"], beta1=o["betas"][0], beta2=o["betas"][1], eps=o["eps"],
                                                 weight_decay=o["lr"] * o["weight_decay"]))
    report = watch.report()
    assert report.worst("framework_vs_flavor") <= 1e-10          # measured 5e-15
    assert report.worst("belief_vs_float64") <= 1e-10
    assert "agrees with torch's flavor in float64" in str(report)


def test_it_behaves_as_the_optimizer(float32_run):
    watch, opt = float32_run
    assert watch.param_groups is opt.param_groups and watch.state is opt.state
    assert watch.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    assert opt.param_groups[0]["lr"] < 1e-6   # the cosine schedule reached its end through it


def test_every_k_restarts_from_torchs_params_and_state_and_says_so():
    watch, _ = run(torch.float64, steps=30, every=10)
    report = watch.report()
    assert sorted({r.step for r in report.rows}) == [1, 11, 21]
    # restarted at step 11 from torch's (t, m, s): the flavor's one step equals torch's
    assert report.worst("framework_vs_flavor") <= 1e-10
    assert "every 10th, each restarted from torch's params and state" in str(report)


def test_unhooked_it_records_nothing_more():
    watch, opt = run(torch.float64, steps=3)
    watch.remove()
    n = len(watch.report().rows)
    opt.step()
    assert len(watch.report().rows) == n


def test_refusals_name_what_is_wrong():
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match="torch.optim.LBFGS"):
        shadow(torch.optim.LBFGS([p]))
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        shadow(torch.optim.Adam([p]), every=0)
    with pytest.raises(ValueError, match="read for Adam, AdamW, SGD, Adagrad and RMSprop only, not NAdam"):
        shadow(torch.optim.NAdam([p]), every=2)
    with pytest.raises(ValueError, match="float16"):
        shadow(torch.optim.Adam([torch.nn.Parameter(torch.ones(3, dtype=torch.float16))]))


def test_a_parameter_without_gradient_is_not_a_row():
    a, b = torch.nn.Parameter(torch.ones(3, dtype=torch.float64)), torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9)
    watch = shadow(opt, [("a", a), ("b", b)])
    for _ in range(3):
        a.grad = torch.full((3,), 0.5, dtype=torch.float64)
        opt.step()
    assert [r.param for r in watch.report().rows] == ["a"] * 3
    assert np.isfinite(watch.report().worst("framework_vs_flavor")) and watch.report().worst("framework_vs_flavor") <= 1e-12
