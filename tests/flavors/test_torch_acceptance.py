"""The acceptance set: torch's own optimizer test configurations against the torch flavors.

For every optimizer of ``torch.testing._internal.common_optimizers.optim_db`` (Muon aside: its
bfloat16 Newton-Schulz has its own tests), every configuration ``torch_acceptance_cases.cases()``
makes of it (torch's inputs with each CPU code path, over two parameter groups, with its
scheduler inputs) runs torch over float64 params as users run it and the flavor built from the
same arguments for 20 steps of mixed gradients, twice: torch's default dtype as it is (float32)
and set to float64. Each must match to 1e-10 relative in the update (``refopt.oracle.compare``;
the flavors agree at 1e-14 to 1e-12 where nothing is float32, so 1e-10 catches any float32
rounding left unmodelled, which shows at 1e-8 or above), or be refused with a ValueError naming
the option. SparseAdam takes sparse COO gradients (the flavor the values and their mask); LBFGS
runs on a function (``run_lbfgs``), and torch itself refuses its two-group inputs. The one stated
exception: differentiable Adam/AdamW in float32 (``torch_acceptance_cases.RTOL_FLOAT32_SQRT``).
"""
from collections import Counter

import pytest

from . import torch_acceptance_cases as C

OPTIMIZERS = sorted({case.optimizer for case in C.cases()})


@pytest.fixture(params=["as is", "float64"])
def default_dtype(request):
    """torch's default dtype for the test: left as it is, or float64; restored after."""
    with C.default_dtype(request.param) as dtype:
        yield dtype


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_torch_configurations_match_or_are_refused(optimizer, default_dtype, record_property):
    counts, bad = Counter(), []
    for case in C.cases():
        if case.optimizer != optimizer:
            continue
        outcome = C.run(case)
        status = outcome.status
        if status == "unsupported":  # the reason class: the option the ValueError names
            status = f"unsupported ({outcome.detail.split(':')[0]})"
        counts["tried"] += 1
        counts[status] += 1
        if outcome.status in ("mismatched", "crashed"):
            bad.append(f"{case.kind} {case.desc} {case.kwargs}: {outcome}")
    record_property("counts", dict(counts))
    print(f"\n{optimizer} (default dtype {default_dtype}): {dict(counts)}")
    assert counts["tried"] > 0
    assert not bad, "\n".join(bad)
    assert counts["matched"] > 0
    if optimizer == "LBFGS":   # torch: "LBFGS doesn't support per-parameter options"
        assert counts["refused by torch"] == sum(case.kind == "groups" for case in C.cases()
                                                 if case.optimizer == "LBFGS")


def test_the_acceptance_set_is_torchs():
    """The configurations come from torch's table: every optimizer torch lists is there, and the
    code paths and groups of each base input."""
    from torch.testing._internal.common_optimizers import optim_db
    assert set(OPTIMIZERS) == {info.optim_cls.__name__ for info in optim_db} - set(C.NOT_HERE)
    kinds = Counter((case.optimizer, case.kind) for case in C.cases())
    assert kinds[("Adam", "config")] == 20  # 5 inputs x (none, foreach, differentiable, fused)
    assert kinds[("Adam", "scheduler")] == 7 and kinds[("SGD", "groups")] == 9
