"""``refopt.flavors.torch_schedules`` against torch's own schedulers.

Each case runs a real ``torch.optim.SGD(lr=BASE)`` with the scheduler for 1,000 steps in the
documented order (``optimizer.step(); scheduler.step()``), reads
``optimizer.param_groups[0]["lr"]`` at each ``optimizer.step()``, and requires the schedule at the
same t to agree to 1e-12 relative, and then bit for bit: both evaluate the same recursion in
Python floats with the same ``math`` functions, so a faithful port has no rounding of its own
(measured worst: 0.0, all 22 cases x 1,000 steps identical). An off-by-one in the epoch <-> t
map shows at 1e-3 or more; a closed form in place of torch's recursion only in the last bits
(CosineAnnealingLR: 1.3e-15 over 1,000 steps), which is why equality is required as well.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.optim import lr_scheduler

from refopt.flavors import torch as flavor
from refopt.flavors import torch_schedules as S
from refopt.oracle import compare, mixed_gradients
from refopt.interop import Adapter

BASE, STEPS, RTOL = 0.1, 1000, 1e-12
OWN_LR = ("CyclicLR", "OneCycleLR")  # these set the lr themselves: no optimizer lr argument


def torch_lrs(build, steps=STEPS, **sgd):
    """The lr torch's optimizer holds at each of its ``steps`` steps."""
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=BASE, **sgd)
    scheduler = build(lambda name, **k: getattr(lr_scheduler, name)(opt, **k), opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        w.grad = torch.ones_like(w)
        opt.step()
        scheduler.step()
    return np.array(lrs)


def our_lrs(build, steps=STEPS):
    def make(name, **k):
        return getattr(S, name)(**k) if name in OWN_LR else getattr(S, name)(BASE, **k)

    schedule = build(make, None)
    return np.array([schedule(t) for t in range(1, steps + 1)])


def _seq(mk, opt, schedules, milestones):
    return (lr_scheduler.SequentialLR(opt, schedules, milestones) if opt is not None
            else S.SequentialLR(schedules, milestones))


def _chain(mk, opt, schedules):
    if opt is None:
        return S.ChainedScheduler(schedules)
    return lr_scheduler.ChainedScheduler(schedules, optimizer=opt)


CASES = {
    "Lambda": lambda mk, o: mk("LambdaLR", lr_lambda=lambda e: 1 / (1 + 0.01 * e) + 0.1 * math.sin(e)),
    "Step": lambda mk, o: mk("StepLR", step_size=70, gamma=0.7),
    "Step-1": lambda mk, o: mk("StepLR", step_size=1, gamma=0.999),
    "MultiStep": lambda mk, o: mk("MultiStepLR", milestones=[10, 300, 300, 999], gamma=0.5),
    "Exponential": lambda mk, o: mk("ExponentialLR", gamma=0.995),
    "Constant": lambda mk, o: mk("ConstantLR", factor=0.3, total_iters=123),
    "Linear-warmup": lambda mk, o: mk("LinearLR", start_factor=0.01, end_factor=1.0, total_iters=250),
    "Linear-decay": lambda mk, o: mk("LinearLR", start_factor=1.0, end_factor=0.05, total_iters=900),
    "Polynomial": lambda mk, o: mk("PolynomialLR", total_iters=800, power=2.5),
    "Polynomial-sqrt": lambda mk, o: mk("PolynomialLR", total_iters=1200, power=0.5),
    "Cosine": lambda mk, o: mk("CosineAnnealingLR", T_max=1000, eta_min=1e-4),
    "Cosine-past-T": lambda mk, o: mk("CosineAnnealingLR", T_max=97, eta_min=0.01),
    "WarmRestarts": lambda mk, o: mk("CosineAnnealingWarmRestarts", T_0=50, T_mult=1, eta_min=1e-3),
    "WarmRestarts-x2": lambda mk, o: mk("CosineAnnealingWarmRestarts", T_0=10, T_mult=2, eta_min=0.0),
    "Cyclic-triangular": lambda mk, o: mk("CyclicLR", base_lr=1e-3, max_lr=0.1, step_size_up=70,
                                         step_size_down=30),
    "Cyclic-triangular2": lambda mk, o: mk("CyclicLR", base_lr=1e-3, max_lr=0.1, step_size_up=45,
                                          mode="triangular2"),
    "Cyclic-exp_range": lambda mk, o: mk("CyclicLR", base_lr=1e-3, max_lr=0.1, step_size_up=60,
                                        mode="exp_range", gamma=0.997),
    "OneCycle": lambda mk, o: mk("OneCycleLR", max_lr=0.5, total_steps=1000),
    "OneCycle-3-linear": lambda mk, o: mk("OneCycleLR", max_lr=0.5, total_steps=1000, pct_start=0.2,
                                         anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                                         three_phase=True),
    "Sequential-warmup-cosine": lambda mk, o: _seq(mk, o, [mk("LinearLR", start_factor=0.1, total_iters=100),
                                                          mk("CosineAnnealingLR", T_max=900, eta_min=1e-4)],
                                                   [100]),
    "Sequential-3": lambda mk, o: _seq(mk, o, [mk("ConstantLR", factor=0.5, total_iters=50),
                                              mk("ExponentialLR", gamma=0.99),
                                              mk("StepLR", step_size=100, gamma=0.5)], [200, 600]),
    "Chained": lambda mk, o: _chain(mk, o, [mk("ConstantLR", factor=0.2, total_iters=40),
                                            mk("ExponentialLR", gamma=0.998),
                                            mk("CosineAnnealingLR", T_max=300)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schedule_matches_torch_over_1000_steps(case):
    theirs, ours = torch_lrs(CASES[case], momentum=0.9), our_lrs(CASES[case])
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    np.testing.assert_array_equal(ours, theirs)  # the same float operations: no ulp to give
    assert len(np.unique(theirs)) > 1  # the case really schedules something


factors = st.floats(0.05, 1.0)
SETTINGS = st.one_of(
    st.builds(lambda s, g: ("StepLR", {"step_size": s, "gamma": g}), st.integers(1, 60), factors),
    st.builds(lambda m, g: ("MultiStepLR", {"milestones": m, "gamma": g}),
              st.lists(st.integers(0, 250), max_size=6), factors),
    st.builds(lambda a, b, n: ("LinearLR", {"start_factor": a, "end_factor": b, "total_iters": n}),
              factors, st.floats(0.0, 1.0), st.integers(1, 300)),
    st.builds(lambda n, p: ("PolynomialLR", {"total_iters": n, "power": p}), st.integers(1, 300),
              st.floats(0.1, 4.0)),
    st.builds(lambda n, m: ("CosineAnnealingLR", {"T_max": n, "eta_min": m}), st.integers(1, 300),
              st.floats(0.0, 0.05)),
    st.builds(lambda n, k, m: ("CosineAnnealingWarmRestarts", {"T_0": n, "T_mult": k, "eta_min": m}),
              st.integers(1, 80), st.integers(1, 3), st.floats(0.0, 0.05)),
    st.builds(lambda u, d, mode, g: ("CyclicLR", {"base_lr": 1e-3, "max_lr": 0.2, "step_size_up": u,
                                                  "step_size_down": d, "mode": mode, "gamma": g}),
              st.integers(1, 100), st.integers(1, 100),
              st.sampled_from(["triangular", "triangular2", "exp_range"]), st.floats(0.9, 1.0)))


@given(SETTINGS)
def test_any_setting_is_torchs_bit_for_bit(setting):
    # the law: for every setting, the schedule is the lr torch's optimizer holds, exactly
    # (250 steps: past every milestone, period and cycle these draws can make)
    name, kwargs = setting
    build = lambda mk, o: mk(name, **kwargs)  # noqa: E731
    np.testing.assert_array_equal(our_lrs(build, 250), torch_lrs(build, 250, momentum=0.9))


def test_cosine_is_torchs_recursion_not_the_closed_form():
    # the closed form eta_min + (base - eta_min)(1 + cos(pi e / T))/2 is a few ulps away from what
    # torch computes over 1,000 steps; the schedule follows torch, so the test above can tell them apart
    theirs = torch_lrs(CASES["Cosine"])
    e = np.arange(STEPS)
    closed = 1e-4 + (BASE - 1e-4) * (1 + np.cos(np.pi * e / 1000)) / 2
    assert np.max(np.abs(closed / theirs - 1)) > 1e-15
    np.testing.assert_array_equal(our_lrs(CASES["Cosine"]), theirs)


def test_epoch_maps_to_t_minus_one():
    # by hand: StepLR(step_size=2, gamma=0.5) has epochs 0,1 at 0.1, 2,3 at 0.05: t = 1..4
    schedule = S.StepLR(0.1, step_size=2, gamma=0.5)
    assert [schedule(t) for t in (1, 2, 3, 4, 5)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_bad_arguments_name_themselves():
    for call, match in ((lambda: S.StepLR(0.1, step_size=0), "step_size"), (lambda: S.StepLR(-1.0, 2), "lr"),
                        (lambda: S.CyclicLR(1e-3, 0.1, mode="sine"), "mode"),
                        (lambda: S.OneCycleLR(0.1, total_steps=10, pct_start=2.0), "pct_start"),
                        (lambda: S.LinearLR(0.1, start_factor=0.0), "start_factor"),
                        (lambda: S.SequentialLR([S.ExponentialLR(0.1, 0.9)], [5]), "milestones"),
                        (lambda: S.ChainedScheduler([S.ExponentialLR(0.1, 0.9), S.StepLR(0.2, 3)]),
                         "one optimizer lr"),
                        (lambda: S.ExponentialLR(0.1, 0.9)(0), "t must be")):
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(0.1, total_steps=10)(12)  # torch refuses the 12th epoch too


def test_adam_with_cosine_annealing_matches_torch_end_to_end():
    """refopt's Adam flavor with ``CosineAnnealingLR`` as its lr against ``torch.optim.Adam``
    stepped with the scheduler by hand, 100 mixed float64 steps to 1e-10 (the flavor test's bound)."""
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 100, seed=1)
    adapter = flavor.framework("Adam", lr=1e-2, weight_decay=0.01)

    def init(p):
        inner = adapter.init(p)
        return inner, lr_scheduler.CosineAnnealingLR(inner[2], T_max=60, eta_min=1e-4)

    def step(p, g, state):
        p, inner = adapter.step(p, g, state[0])
        state[1].step()
        return p, (inner, state[1])

    ours = flavor.Adam(lr=S.CosineAnnealingLR(1e-2, T_max=60, eta_min=1e-4), weight_decay=0.01)
    theirs = Adapter("torch Adam+cosine", init, step)
    report = compare(ours, theirs, params, grads, rtol=1e-10)
    assert report.ok, str(report)  # measured 3.2e-14
    # the schedule matters: the constant base lr is far off (measured 0.99 relative in the update)
    assert not compare(flavor.Adam(lr=1e-2, weight_decay=0.01), theirs, params, grads, rtol=1e-3).ok


def _losses(n=STEPS):
    # falls in stages with noise, flat stretches in between: improvements and plateaus both occur
    k = np.arange(n)
    return 1.0 / (1 + np.floor(k / 150)) + 0.02 * np.random.default_rng(5).standard_normal(n)


PLATEAU = [{}, {"factor": 0.5, "patience": 3, "threshold": 0.01, "cooldown": 5, "min_lr": 0.02},
           {"mode": "max", "factor": 0.7, "patience": 5, "threshold_mode": "abs", "threshold": 0.005},
           {"factor": 0.9, "patience": 0, "threshold": 0.0, "eps": 1e-3, "min_lr": 1e-3}]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=lambda k: str(sorted(k)))
def test_reduce_on_plateau_matches_torch(kwargs):
    losses = _losses() * (-1 if kwargs.get("mode") == "max" else 1)
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=BASE)
    theirs, torch_side = [], lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ours = S.ReduceLROnPlateau(BASE, **kwargs)
    mine = []
    for t, loss in enumerate(losses, start=1):
        theirs.append(opt.param_groups[0]["lr"])
        mine.append(ours(t))
        w.grad = torch.ones_like(w)
        opt.step()
        torch_side.step(loss)
        ours.step(loss)
    np.testing.assert_array_equal(mine, theirs)
    assert len(set(theirs)) > 2  # it did reduce, more than once


def test_reduce_on_plateau_needs_the_losses():
    schedule = S.ReduceLROnPlateau(0.1)
    assert schedule(1) == 0.1
    with pytest.raises(ValueError, match="needs the losses"):
        schedule(2)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(0.1, factor=1.0)
