"""refopt.flavors.pytorch_optimizer against the installed pytorch-optimizer (4.1.0), class by class.

Each flavor and the class it names, built with the same arguments, run 50 steps of
``refopt.oracle.mixed_gradients`` in float64 through ``refopt.interop.torch.torch_optimizer``
(torch's default dtype as the adapter leaves it); the update relative error of
``refopt.oracle.compare`` must stay within 1e-10. The Muon family (Newton-Schulz in bfloat16) is
compared in test_bfloat16_muon.py.
"""
import inspect
import subprocess
import sys

import numpy as np
import pytest
import pytorch_optimizer
import torch

from refopt import flavors
from refopt.flavors import pytorch_optimizer as P
from refopt.oracle import compare, mixed_gradients

from ..rules.shampoo_rounding import update_bounds

DEFAULT_SHAPES = {"w": (5, 4), "b": (4,)}


def run(attr, kwargs, seed=0, steps=50, candidate=None):
    """The report of flavor (reference) vs class (candidate) over ``steps`` mixed gradients."""
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in P.SHAPES.get(attr, DEFAULT_SHAPES).items()}
    grads = mixed_gradients(params, steps, seed=seed + 1)
    theirs = candidate or P.framework(attr, **kwargs)
    return compare(getattr(P, attr)(**kwargs), theirs, params, grads, rtol=1e-10)


# (class, arguments, why). Worst update relative error measured over these 50 steps (seed 0) is
# in the comment: all are rounding (different operation order: lerp vs b*m + (1-b)*g, SVD vs
# eigh, sqrt(s)/sqrt(c) vs sqrt(s/c)), so 1e-10 leaves >= 100x room yet fails on any real change.
CASES = [
    ("Lion", {}, "defaults"),                                                         # 0
    ("Lion", dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1), "betas, decoupled decay"),  # 0
    ("Lion", dict(lr=1e-3, weight_decay=0.1, weight_decouple=False, maximize=True), "coupled, max"),
    ("Lion", dict(lr=1e-3, weight_decay=0.01, fixed_decay=True), "fixed decay"),      # 0
    ("Adan", {}, "defaults"),                                                         # 3.4e-12
    ("Adan", dict(lr=1e-2, weight_decay=0.02), "proximal decay"),                     # 4.8e-13
    ("Adan", dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.02, weight_decouple=True),
     "betas, multiplied decay"),                                                      # 3.4e-12
    ("LARS", {}, "defaults"),                                                         # 1.7e-15
    ("LARS", dict(lr=0.5, trust_coefficient=0.01, weight_decay=0.01), "decay"),       # 9.5e-15
    ("LARS", dict(lr=0.1, momentum=0.0, weight_decay=0.1, maximize=True), "no momentum, max"),  # 3.9e-16
    ("Shampoo", dict(lr=0.1, matrix_eps=0.1, weight_decay=0.01), "coupled decay"),    # 9e-12
    ("Shampoo", dict(lr=0.1, matrix_eps=1.0, weight_decay=0.01, weight_decouple=True, fixed_decay=True),
     "fixed decoupled decay"),                                                        # 3.7e-13
    ("AdaBelief", {}, "defaults"),                                                    # 1.4e-14
    ("AdaBelief", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01), "eps, decay"),  # 2.6e-14
    ("AdaBelief", dict(lr=1e-2, weight_decay=0.01, weight_decouple=False, adam_debias=True, maximize=True),
     "coupled, AdamD, max"),                                                          # 3.1e-14
    ("Yogi", {}, "defaults"),                                                         # 3.6e-14
    ("Yogi", dict(lr=1e-2, betas=(0.5, 0.9), initial_accumulator=0.1, weight_decay=0.01), "betas, s0"),
    ("Yogi", dict(lr=1e-2, weight_decay=0.01, weight_decouple=False, adam_debias=True, eps=1e-6),
     "coupled, AdamD, eps"),                                                          # 2.1e-14
    # MARS-AdamW (mars_type="adamw", the class's default): refopt.mars on matrices, AdamW on vectors
    ("MARS", {}, "adamw defaults"),                                                   # 4.8e-13
    ("MARS", dict(lr=1e-2, weight_decay=0.1), "adamw, decoupled decay"),              # 4.8e-13
    ("MARS", dict(lr=1e-2, gamma=0.5, optimize_1d=True, weight_decay=0.1),
     "optimize_1d, gamma 0.5"),                                                       # 9.2e-14
    ("MARS", dict(lr=1e-2, weight_decay=0.01, weight_decay_1d=0.05, fixed_decay=True, maximize=True),
     "adamw, fixed decay, max"),                                                      # 1.1e-14
    ("MARS", dict(lr=1e-2, betas=(0.9, 0.999), betas_1d=(0.8, 0.99), lr_1d=1e-3, eps=1e-6),
     "adamw, betas, 1-D lr, eps"),                                                    # 1.6e-12
]


@pytest.mark.parametrize("attr, kwargs, why", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_agrees_in_float64(attr, kwargs, why):
    report = run(attr, kwargs)
    assert report.ok, str(report)


@pytest.mark.parametrize("matrix_eps, seed", [(1e-6, 0), (1e-6, 1), (1e-6, 2), (1.0, 2)])
def test_shampoo_is_as_far_as_its_conditioning_allows(matrix_eps, seed):
    """Inverse roots by SVD (theirs) and by eigh (ours) are each backward stable, so at every step
    they may differ by the bound ``shampoo_rounding.update_bounds`` derives from each statistic's
    condition number (docstring there), and no more. At matrix_eps = 1e-6, cond(eps I + g g^T)
    reaches ~1e10 on the stream's spikes of 100: measured gaps up to 7.9e-7 (seeds 0-7, 25 steps),
    at most 0.17 of that step's bound; at matrix_eps = 1, 3.9e-12, 0.10 of it. The gap is above 0
    (the two really compute differently) and the bound is checked step by step, so a convention
    error (an order of magnitude or more off the bound) fails."""
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in DEFAULT_SHAPES.items()}
    grads = mixed_gradients(params, 25, seed=seed + 1)
    report = run("Shampoo", dict(matrix_eps=matrix_eps), seed=seed, steps=25)
    bounds = update_bounds(1e-3, matrix_eps, params, grads)
    assert report.max_update_rel > 0.0
    for step, bound in zip(report.steps, bounds):
        assert step.update_rel <= bound, (step.step, step.update_rel, bound)


REFUSED = [
    ("Lion", dict(use_gc=True), "use_gc=True is not modelled"),
    ("Lion", dict(cautious=True), "cautious"),
    ("Adan", dict(max_grad_norm=1.0), "max_grad_norm=1.0 .*global norm"),
    ("Adan", dict(maximize=True), "maximize=True .*-2 g_1"),
    ("LARS", dict(nesterov=True), "nesterov=True"),
    ("LARS", dict(dampening=0.1), "dampening=0.1"),
    ("Shampoo", dict(momentum=0.9), "momentum=0.9"),
    ("Shampoo", dict(preconditioning_compute_steps=10), "preconditioning_compute_steps=10"),
    ("AdaBelief", dict(rectify=True), "rectify=True"),
    ("AdaBelief", dict(ams_bound=True), "ams_bound=True"),
    ("AdaBelief", dict(adanorm=True), "adanorm=True"),
    ("Muon", dict(ns_coeffs="cubic"), "ns_coeffs='cubic' is none of its presets"),
    ("Muon", dict(ns_method="gram_newton_schulz"), "ns_method"),
    ("NorMuon", dict(use_adjusted_lr=True), "use_adjusted_lr=True"),
    ("MARS", dict(mars_type="lion"), "mars_type='lion'"),
    ("MARS", dict(ams_bound=True), "ams_bound=True"),
    ("MARS", dict(cautious=True), "cautious=True"),
    ("MARS", dict(weight_decay=0.1, weight_decouple=False), "weight_decouple=False"),
    ("MARS", dict(mars_type="shampoo", optimize_1d=True), "optimize_1d=True"),
    ("MARS", dict(mars_type="shampoo", weight_decay=0.1, weight_decouple=False), "weight_decouple=False"),
]


@pytest.mark.parametrize("attr, kwargs, match", REFUSED, ids=[f"{r[0]}-{r[2][:20]}" for r in REFUSED])
def test_options_not_modelled_are_refused_by_name(attr, kwargs, match):
    with pytest.raises(ValueError, match=f"pytorch_optimizer.{attr}: {match}"):
        getattr(P, attr)(**kwargs)


def test_unknown_arguments_and_bad_values_name_themselves():
    with pytest.raises(TypeError, match="unexpected keyword argument 'betaz'"):
        P.Lion(betaz=(0.9, 0.99))
    with pytest.raises(ValueError, match="betas"):
        P.Adan(betas=(0.9, 0.9))
    with pytest.raises(ValueError, match="weight_decay"):
        P.Yogi(weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"leaf \['b'\]"):  # Muon on a vector: the leaf is named
        P.Muon().init({"b": np.zeros(3)})


@pytest.mark.parametrize("attr", P.__all__)
def test_arguments_and_defaults_are_the_classes(attr):
    """Every argument of the class's __init__ (but params, **kwargs) exists in the flavor with the
    same default, read from the installed package, not from this file."""
    theirs = inspect.signature(getattr(pytorch_optimizer, attr).__init__).parameters
    ours = inspect.signature(getattr(P, attr)).parameters
    for name, p in theirs.items():
        if name in ("self", "params") or p.kind is p.VAR_KEYWORD:
            continue
        assert name in ours, name
        if callable(p.default):  # a function default (ADOPT's clip_lambda): the same values
            assert callable(ours[name].default), name
            assert [ours[name].default(t) for t in (1, 2, 10, 1000)] == [p.default(t) for t in (1, 2, 10, 1000)]
            continue
        assert ours[name].default == p.default, (name, ours[name].default, p.default)


@pytest.mark.parametrize("attr, kwargs", [("Yogi", {}), ("Lion", dict(weight_decay=0.1)),
                                          ("LARS", {}), ("Shampoo", {}), ("AdaBelief", {}), ("Adan", {}),
                                          ("MARS", dict(mars_type="shampoo")), ("MARS", {})])
def test_torch_default_dtype_does_not_enter(attr, kwargs):
    """Run as users do, with torch's default dtype float32 and no adapter: the same bits as
    through the adapter (pytorch-optimizer keeps its step count as a Python int)."""
    assert torch.get_default_dtype() == torch.float32
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in P.SHAPES.get(attr, DEFAULT_SHAPES).items()}
    grads = mixed_gradients(params, 10, seed=1)
    adapter = P.framework(attr, **kwargs)
    state, via = adapter.init(params), params
    leaves = [torch.nn.Parameter(torch.tensor(w)) for w in params.values()]
    opt = getattr(pytorch_optimizer, attr)(leaves, **kwargs)
    for g in grads:
        via, state = adapter.step(via, g, state)
        for p, gk in zip(leaves, g.values()):
            p.grad = torch.tensor(gk)
        opt.step()
    for p, w in zip(leaves, via.values()):
        np.testing.assert_array_equal(p.detach().numpy(), w)


def test_flavor_modules_register_the_namespace():
    assert "pytorch_optimizer" in flavors.MODULES
    assert set(P.EXAMPLES) == {f"pytorch_optimizer.{name}" for name in P.__all__}
    assert flavors.flavor("pytorch_optimizer.Lion") is P.Lion
    with pytest.raises(ValueError, match="no refopt flavor"):
        P.framework("Ranger")


def test_oracle_cli_accepts_pytorch_optimizer_lion():
    # the CLI's argument parsing is being rewritten: only the exit status and AGREE are asserted
    out = subprocess.run([sys.executable, "-m", "refopt.oracle", "pytorch_optimizer.Lion", "--lr", "1e-3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "AGREE" in out.stdout
