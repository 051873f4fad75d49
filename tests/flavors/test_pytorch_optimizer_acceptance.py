"""The acceptance set: pytorch-optimizer's own test configurations for the classes refopt's flavors
name (Lion, Adan, LARS, Shampoo, AdaBelief, Yogi; the Muon family is test_bfloat16_muon.py's).

The configurations are read from kozistr/pytorch_optimizer's tests (the stored snapshot, commit
7a076d2f, 2026-02-12; the installed classes are 4.1.0): ``tests/constants.py`` lists
``OPTIMIZERS`` (run by ``test_optimizers.py::test_f32_optimizers`` once with ``foreach=False`` and,
for the classes in ``FOREACH_OPTIMIZERS``, once with ``foreach=True``), ``ADANORM_SUPPORTED_OPTIMIZERS``
(``adanorm=True``), ``ADAMD_SUPPORTED_OPTIMIZERS`` (``adam_debias=True``) and
``COPT_SUPPORTED_OPTIMIZERS`` (``cautious=True``), all in ``test_optimizer_variants.py``, which
also runs ``maximize=True, foreach=True`` for ``FOREACH_OPTIMIZERS`` at the defaults;
``test_optimizers.py::test_rectified_optimizer`` builds AdaBelief with ``n_sma_threshold=1000,
degenerated_to_sgd=False``. The table below is ours: the class, the arguments, where they come from.

Each configuration runs 25 steps of ``refopt.oracle.mixed_gradients`` on a small float64 tree
through the flavor and through the class as users run it (torch's default dtype as it is): the
update must agree to 1e-10 relative (the flavor module's tests say why that leaves room for
rounding only). Or the flavor refuses it with a ValueError that names the option and says why;
the table records which. Nothing may crash and nothing may disagree.
"""
from collections import Counter

import numpy as np
import pytest

from refopt.flavors import pytorch_optimizer as P
from refopt.oracle import compare, mixed_gradients

STEPS = 25
SHAPES = {"w": (5, 4), "b": (4,)}
FOREACH = {"AdaBelief", "Adan", "LARS", "Lion"}  # FOREACH_OPTIMIZERS, for our six classes

# OPTIMIZERS (tests/constants.py), in its order: class, arguments
OPTIMIZERS = [
    ("AdaBelief", dict(lr=5e-1, weight_decay=1e-3)),
    ("AdaBelief", dict(lr=5e-1, weight_decay=1e-3, ams_bound=True)),
    ("AdaBelief", dict(lr=5e-1, weight_decay=1e-3, weight_decouple=False)),
    ("AdaBelief", dict(lr=5e-1, weight_decay=1e-3, fixed_decay=True)),
    ("AdaBelief", dict(lr=5e-1, weight_decay=1e-3, rectify=True)),
    ("LARS", dict(lr=5e-1, weight_decay=1e-3)),
    ("LARS", dict(lr=5e-1, nesterov=True)),
    ("Shampoo", dict(lr=5e-1, weight_decay=1e-3, momentum=0.1)),
    ("Adan", dict(lr=5e-1)),
    ("Adan", dict(lr=5e-1, max_grad_norm=1.0)),
    ("Adan", dict(lr=5e-1, weight_decay=1e-3, use_gc=True)),
    ("Adan", dict(lr=5e-1, weight_decay=1e-3, weight_decouple=True)),
    ("Lion", dict(lr=5e-1, weight_decay=1e-3)),
    ("Lion", dict(lr=5e-1, weight_decay=1e-3, weight_decouple=False)),
    ("Lion", dict(lr=5e-1, weight_decay=1e-3, use_gc=True)),
    ("Yogi", dict(lr=5e-1, weight_decay=1e-3)),
]
VARIANTS = [  # (source, class, arguments)
    ("ADANORM", "AdaBelief", dict(lr=5e-1, weight_decay=1e-3, adanorm=True)),
    ("ADANORM", "Adan", dict(lr=5e-1, weight_decay=1e-3, adanorm=True)),
    ("ADANORM", "Lion", dict(lr=5e-1, weight_decay=1e-3, adanorm=True)),
    ("ADAMD", "AdaBelief", dict(lr=1e1, weight_decay=1e-3, adam_debias=True)),
    ("ADAMD", "Yogi", dict(lr=1e0, weight_decay=1e-3, adam_debias=True)),
    ("COPT", "Lion", dict(lr=5e-1, weight_decay=1e-3, cautious=True)),
    ("rectified", "AdaBelief", dict(n_sma_threshold=1000, degenerated_to_sgd=False)),
    *[("foreach_maximize", name, dict(maximize=True, foreach=True)) for name in sorted(FOREACH)],
]
CONFIGS = ([("OPTIMIZERS", name, {**kw, "foreach": False}) for name, kw in OPTIMIZERS]
           + [("OPTIMIZERS", name, {**kw, "foreach": True}) for name, kw in OPTIMIZERS if name in FOREACH]
           + VARIANTS)

# The configurations refused, by the option named in the ValueError, and the reason class
# (the flavor's message says the details).
UNSUPPORTED = {
    "ams_bound=True": "AdaBelief variant without a refopt rule (AMSBound)",
    "rectify=True": "AdaBelief variant without a refopt rule (RAdam rectification)",
    "nesterov=True": "LARS variant not in the paper (Nesterov)",
    "momentum=0.1": "Shampoo variant not in the paper (momentum of preconditioned steps)",
    "max_grad_norm=1.0": "global-norm clipping computed as pytorch-optimizer does (float32 norm + eps)",
    "use_gc=True": "gradient centralization",
    "adanorm=True": "AdaNorm gradient rescaling",
    "cautious=True": "cautious update mask",
    "maximize=True": "a pytorch-optimizer quirk (Adan's first difference under maximize)",
}


def ident(config):
    source, name, kw = config
    return f"{source}-{name}-" + ",".join(f"{k}={v}" for k, v in kw.items())


def outcome(config):
    """("match", worst update error) or ("unsupported", option) or ("mismatch", report)."""
    _, name, kw = config
    try:
        ours = getattr(P, name)(**kw)
    except ValueError as err:
        named = [option for option in UNSUPPORTED if f": {option} is not modelled" in str(err)]
        assert named, f"refused without naming a known option: {err}"
        return "unsupported", named[0]
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in P.SHAPES.get(name, SHAPES).items()}
    grads = mixed_gradients(params, STEPS, seed=1)
    report = compare(ours, P.framework(name, **kw), params, grads, rtol=1e-10)
    return ("match", report.max_update_rel) if report.ok else ("mismatch", str(report))


RESULTS = {}


@pytest.mark.parametrize("config", CONFIGS, ids=[ident(c) for c in CONFIGS])
def test_configuration_matches_or_is_refused_by_name(config):
    kind, detail = RESULTS[ident(config)] = outcome(config)
    assert kind != "mismatch", detail


def test_counts():
    """The closing tally (issue 10): every configuration tried, none mismatched or crashed."""
    results = {ident(c): RESULTS.get(ident(c)) or outcome(c) for c in CONFIGS}
    kinds = Counter(kind for kind, _ in results.values())
    reasons = Counter(UNSUPPORTED[detail] for kind, detail in results.values() if kind == "unsupported")
    print(f"\npytorch-optimizer acceptance: tried {len(CONFIGS)}, matched {kinds['match']}, "
          f"unsupported {kinds['unsupported']} {dict(reasons)}, mismatched {kinds['mismatch']}")
    assert len(CONFIGS) == 41 and kinds["mismatch"] == 0
    assert kinds["match"] + kinds["unsupported"] == len(CONFIGS)
