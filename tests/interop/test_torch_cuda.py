"""The drop-in optimizer and the shadow on CUDA tensors: the same checks as on the CPU
(tests/interop/test_torch_optimizer.py, tests/oracle/test_shadow_classes.py), with the model, its data
and the optimizer state on the GPU. Skipped where torch sees no CUDA device (CI has none)."""
import pytest
import torch

from refopt.flavors import torch as T
from refopt.interop.torch import Optimizer
from refopt.oracle import shadow
from tests.interop.test_torch_optimizer import assert_round_trip, data, groups, mlp, rel, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = torch.device("cuda")


def on_gpu(dtype, seed=0):
    x, y = data(dtype)
    return mlp(dtype, seed).to(CUDA), x.to(CUDA), y.to(CUDA)


def test_the_adamw_flavor_trains_on_cuda_as_torch_adamw_does():
    ref_model, x, y = on_gpu(torch.float64)
    our_model = on_gpu(torch.float64)[0]
    theirs = torch.optim.AdamW(groups(ref_model, lambda wd: {"weight_decay": wd}), lr=1e-2)
    ours = Optimizer(groups(our_model, lambda wd: {"rule": T.AdamW(lr=1e-2, weight_decay=wd)}),
                     T.AdamW(lr=1e-2))
    a, b = train(ref_model, theirs, 100, x, y), train(our_model, ours, 100, x, y)
    assert all(p.device.type == "cuda" for p in b)
    assert all(v.device.type == "cuda" for s in ours.state.values() for v in s.values() if torch.is_tensor(v))
    # float64 in another order, as on the CPU (6.7e-15 there); the GPU's kernels sum in their own order
    assert rel(b, a) <= 1e-12


def test_a_cuda_state_dict_loads_back_and_continues_identically():
    assert_round_trip(CUDA)


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_a_cuda_run_is_shadowed_on_the_host(dtype, rtol):
    model, x, y = on_gpu(dtype)
    watch = shadow(torch.optim.AdamW(model.parameters(), lr=1e-2), model.named_parameters())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(watch, T_max=50)
    for _ in range(50):
        watch.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        watch.step()
        schedule.step()
    report = watch.report()
    assert len(report.rows) == 50 * 4
    # the shadow's default rtol (rounding of the distance moved: refopt/oracle/shadow.py)
    assert report.rtol == rtol and report.first("framework_vs_flavor", rtol) is None, str(report)
