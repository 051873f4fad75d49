"""refopt.flavors.pytorch_optimizer.SOAP against pytorch-optimizer 4.1.0's SOAP.

50 steps of ``refopt.oracle.mixed_gradients`` in float64, update relative error within 1e-10
(``refopt.oracle.compare``), at the default precondition frequency (10: refreshes after calls 11, 21,
31, 41) and at 1 and 3. The flavor runs on torch arrays here: the library computes the first basis by
``eigh`` and every refresh by a float32 QR, and only the same kernels give the same bases, because

* the float32 QR of two LAPACKs (OpenBLAS ``sgeqrf`` for NumPy, MKL for torch) differs by ~1e-7, so
  on NumPy arrays the runs part at the first refresh: measured 1.5e-5 to 1.1e-4 (update, relative)
  from call 12 (f = 10) or 5 (f = 3), seeds 0-1, after agreeing to <= 5e-14 before it;
* a factor of rank below its size has a repeated eigenvalue 0 whose eigenvectors are any basis of
  the null space, and each ``eigh`` picks its own: a (3, 6) leaf (R of rank 3 after the first call)
  parts at call 2 by 0.29-0.68 on NumPy arrays. The (3, 6) leaf is in the torch runs below.

Worst measured on torch arrays (seeds 0-1): 9.5e-14 (f = 10), 2.5e-14 (f = 1), 3.2e-13 (f = 3 with
decay 0.1): rounding, so 1e-10 leaves >= 300x room.
"""
import numpy as np
import pytest

from refopt import tree
from refopt.core import Optimizer
from refopt.flavors import pytorch_optimizer as P
from refopt.oracle import compare, mixed_gradients

SHAPES = {"w": (5, 4), "b": (4,), "c": (3, 6)}
NON_DEGENERATE = {"w": (5, 4), "b": (4,)}


def on_torch(opt):
    """``opt`` stepped on torch tensors (its eigh and QR are then torch's), params back as NumPy."""
    import array_api_compat.torch as xp
    to = lambda x: tree.tree_map(xp.asarray, x)  # noqa: E731

    def step(params, grads, state):
        new, state = opt.step(to(params), to(grads), state)
        return tree.tree_map(lambda a: a.numpy(), new), state
    return Optimizer(f"{opt.name} (torch arrays)", lambda params: opt.init(to(params)), step)


def run(kwargs, seed=0, shapes=SHAPES, torch_arrays=True, flavor_kwargs=None):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = mixed_gradients(params, 50, seed=seed + 1)
    mine = P.SOAP(**{**kwargs, **(flavor_kwargs or {})})
    return compare(on_torch(mine) if torch_arrays else mine, P.framework("SOAP", **kwargs), params, grads,
                   rtol=1e-10)


CASES = [{}, dict(precondition_frequency=1), dict(precondition_frequency=3, weight_decay=0.1),
         dict(precondition_frequency=3, shampoo_beta=0.5, betas=(0.9, 0.99), eps=1e-6),
         dict(precondition_frequency=2, precondition_1d=True, max_precondition_dim=5),
         dict(precondition_frequency=3, normalize_gradient=True, maximize=True)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kwargs", CASES, ids=str)
def test_agrees_in_float64_on_the_same_kernels(kwargs, seed):
    report = run(kwargs, seed)
    assert report.ok, str(report)


def test_the_float32_qr_is_what_the_library_computes():
    # the same run with the QR in float64 is 1e-5 away: the tolerance above can tell the two apart
    report = run(dict(precondition_frequency=3), flavor_kwargs=dict(qr_dtype="float64"))
    assert not report.ok and 1e-7 < report.max_update_rel < 1e-3, str(report)


def test_on_numpy_arrays_the_runs_part_at_the_first_refresh_only():
    report = run({}, shapes=NON_DEGENERATE, torch_arrays=False)
    assert report.first_parting.step == 12  # the first QR (float32, another LAPACK) follows call 11
    assert max(s.update_rel for s in report.steps[:11]) < 1e-12
    assert report.max_update_rel < 1e-3


def test_options_not_modelled_are_refused():
    with pytest.raises(ValueError, match="merge_dims"):
        P.SOAP(merge_dims=True)
    with pytest.raises(ValueError, match="correct_bias"):
        P.SOAP(correct_bias=False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        P.SOAP(precondition_freq=3)
