"""refopt.oracle.shadow over every torch class it shadows (``SHADOWED``): 30 steps of a small MLP with
a StepLR, in float32 and float64, torch against its flavor to rounding (Muon on a bias-free MLP, to its
bfloat16 tolerance; SparseAdam on a sparse embedding); and the paper-belief messages of NAdam, RAdam,
Adamax and Adadelta, each checked where the convention tables say the rules part."""
import numpy as np
import pytest
import torch

from refopt.oracle import shadow
from refopt.oracle.shadow import BELIEFS, SHADOWED
from tests.interop.test_torch_optimizer import data, mlp

STEPS = 30
# each class with a weight decay (its own convention: coupled, decoupled or Adafactor's); SGD with momentum
OPTIONS = {name: {"weight_decay": 1e-2} for name in SHADOWED}
OPTIONS["SGD"] = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2}
OPTIONS["Rprop"] = {"lr": 1e-3}   # no weight decay in torch's Rprop; lr read once (the first step size)
OPTIONS["ASGD"] = {"lr": 0.05, "lambd": 1e-2, "t0": 5, "weight_decay": 1e-2}   # eta decays, averaging from 6
DENSE = [name for name in SHADOWED if name not in ("Muon", "SparseAdam")]   # each has its own model below


def train(name, dtype, steps=STEPS, model=None, loss=None, **options):
    """``steps`` of torch.optim.<name> under shadow, StepLR halving lr every 10 steps; returns the watch
    and torch's params after each step (float64 copies, by parameter name). The model is the MLP on
    ``data`` unless ``model`` and its ``loss`` (model -> scalar) are given."""
    if model is None:
        x, y = data(dtype)
        model = mlp(dtype)

        def loss(m):
            return torch.nn.functional.mse_loss(m(x), y)
    opt = getattr(torch.optim, name)(model.parameters(), **options)
    watch = shadow(opt, model.named_parameters())
    schedule = torch.optim.lr_scheduler.StepLR(watch, 10, gamma=0.5)
    path = [{n: p.detach().double().clone() for n, p in model.named_parameters()}]
    for _ in range(steps):
        watch.zero_grad()
        loss(model).backward()
        watch.step()
        schedule.step()
        path.append({n: p.detach().double().clone() for n, p in model.named_parameters()})
    return watch, path


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", DENSE)
def test_torch_is_its_flavor_to_rounding_with_a_scheduler(name, dtype):
    probe = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **OPTIONS[name])
    lr0 = probe.param_groups[0]["lr"]
    watch, path = train(name, dtype, **OPTIONS[name])
    assert watch.param_groups[0]["lr"] == pytest.approx(lr0 * 0.5**3, rel=1e-12)   # the schedule ran
    rows = watch.report().rows
    assert len(rows) == STEPS * 4
    within_rounding(rows, path, dtype)


def within_rounding(rows, path, dtype):
    eps = float(np.finfo(np.float32 if dtype == torch.float32 else np.float64).eps)
    for r in rows:
        # Tolerance, derived: each step both sides round the new w once (within ulp(w)/2 <= eps*|w|/2
        # each) and round the step u a few times (eps*|u|, |u| << |w| here); the gradients are the same
        # (torch's), so the differences add up, at most t*eps*W by step t, W = max|w| so far. In units of
        # the distance moved D_t: t*eps*W/D_t; twice that for margin. Measured: at most 0.77 of t*eps*W/D_t
        # (float32: 3e-7..3e-5 of D_t; float64: 5e-16..6e-14); a convention error is 1e-3 and more.
        w0, wt = path[0][r.param], path[r.step][r.param]
        W = max(float(p[r.param].abs().max()) for p in path[:r.step + 1])
        moved = float((wt - w0).abs().max())
        assert r.framework_vs_flavor <= 2 * r.step * eps * W / moved, (r, 2 * r.step * eps * W / moved)


def bias_free_mlp(dtype):
    """Muon's model: 2-D parameters only (torch's Muon refuses others). The first layer's Newton-Schulz
    matmuls (32 x 32 x 64) take the kernel the emulation models; the second's (3 x 3 x 64), below
    oneDNN's size threshold, one that sums in another order (tests/flavors/test_bfloat16_muon.py)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64, bias=False), torch.nn.Tanh(),
                                torch.nn.Linear(64, 3, bias=False)).to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 32, generator=g, dtype=dtype)
    y = (x[:, :3] * 2 - x[:, 3:6]).sin()
    return model, lambda m: torch.nn.functional.mse_loss(m(x), y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_muon_is_its_bfloat16_flavor_and_the_float64_formula_is_farther(dtype):
    model, loss = bias_free_mlp(dtype)
    watch, _ = train("Muon", dtype, model=model, loss=loss, lr=0.02)
    report = watch.report()
    # rtol is the flavor's (refopt.flavors.torch.RTOL["Muon"]): one bfloat16 ulp of an NS matmul summed
    # in another order than the emulation's, carried through 5 iterations (tests/flavors/test_bfloat16_muon)
    assert report.rtol == 1e-2 and report.first("framework_vs_flavor", report.rtol) is None, str(report)
    # the float64 run is the formula (float64 Newton-Schulz): bfloat16's effect is what it shows
    assert report.worst("framework_vs_float64") > 3 * report.worst("framework_vs_flavor"), str(report)


def sparse_embedding(dtype):
    """SparseAdam's model: an embedding with sparse gradients, 32 rows drawn (with repeats) per step."""
    torch.manual_seed(0)
    model = torch.nn.Embedding(50, 4, sparse=True).to(dtype)
    g = torch.Generator().manual_seed(1)
    target = torch.randn(50, 4, generator=g, dtype=dtype)

    def loss(m):
        rows = torch.randint(0, 50, (32,), generator=g)
        return ((m(rows) - target[rows]) ** 2).sum()
    return model, loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_sparse_adam_is_its_flavor_to_rounding_on_sparse_gradients(dtype):
    model, loss = sparse_embedding(dtype)
    watch, path = train("SparseAdam", dtype, model=model, loss=loss, lr=0.05)
    rows = watch.report().rows
    assert len(rows) == STEPS
    within_rounding(rows, path, dtype)   # without the mask the flavor steps absent rows: this fails


def parts(name, **options):
    """The first step at which the paper's rule (``BELIEFS``) leaves torch's flavor, and the report."""
    report = train(name, torch.float64, steps=10, **options)[0].report()
    first = report.first("belief_vs_float64", 1e-10)
    return (first.step if first else None), str(report)


def test_nadam_parts_at_step_one_by_its_momentum_schedule():
    # refopt.conventions (adam_family): torch's mu_t = beta1 (1 - 0.5 0.96^(0.004 t)), about beta1/2
    step, text = parts("NAdam")
    assert step == 1 and "schedules the momentum coefficient" in text


def test_radam_parts_at_step_five_by_its_threshold():
    # the table's note: rho_t first exceeds 4 at t = 5 and 5 at t = 6 (beta2 = 0.999); eps enters later
    step, text = parts("RAdam")
    assert step == 5 and "rectifies only while rho_t > 5" in text


def test_adamax_parts_by_eps_inside_the_max_and_agrees_without_it():
    step, text = parts("Adamax")
    assert step == 1 and "adds eps inside the max" in text
    assert parts("Adamax", eps=0.0)[0] is None   # eps is the whole difference


@pytest.mark.parametrize("options, first", [({}, None), ({"lr": 0.5}, 1), ({"weight_decay": 1e-2}, 1)])
def test_adadelta_is_the_paper_at_lr_one_without_decay(options, first):
    step, text = parts("Adadelta", **options)
    assert step == first
    if first:
        assert "multiplies the step by lr" in text and "coupled L2" in text


def test_every_belief_names_a_shadowed_class():
    assert set(BELIEFS) <= set(SHADOWED) and {"NAdam", "RAdam", "Adamax", "Adadelta"} <= set(BELIEFS)
