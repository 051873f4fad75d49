"""Flavors of issue 16 (part a): optax.contrib adopt/ademamix, pytorch-optimizer ADOPT/AdEMAMix and
bitsandbytes AdEMAMix (32-bit), each under the framework's own names against the framework itself,
50 mixed steps in float64. Tolerance 1e-10 relative (the flavor tests' budget; measured worst 7.5e-14)
except bitsandbytes, which computes in float32 as its flavor does: 1e-4 at lr 1e-2 (measured worst 2.9e-5)."""
import optax
import pytest
import pytorch_optimizer as po

from refopt.flavors import bitsandbytes_more as BB
from refopt.flavors import optax_contrib_more as OX
from refopt.flavors import pytorch_optimizer_more as PO
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from ..rules.independent import Check, assert_agrees


def _bnb(**kw):
    import bitsandbytes.optim
    return torch_optimizer(bitsandbytes.optim.AdEMAMix, **kw)


def _optax(name, *args, **kw):
    return lambda: optax_transformation(getattr(optax.contrib, name)(*args, **kw))


def _torch(cls, **kw):
    return lambda: torch_optimizer(cls, **kw)


CASES = [
    Check("adopt", "optax.contrib.adopt", lambda: OX.adopt(1e-2, b1=0.8, b2=0.99, eps=1e-4),
          _optax("adopt", 1e-2, b1=0.8, b2=0.99, eps=1e-4), 1e-10, why="clipped"),
    Check("adopt", "optax.contrib.adopt", lambda: OX.adopt(1e-2, use_clipping=False, clip_value_fn=None),
          _optax("adopt", 1e-2, use_clipping=False), 1e-10, why="unclipped"),
    Check("adopt", "pytorch_optimizer.ADOPT", lambda: PO.ADOPT(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1),
          _torch(po.ADOPT, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1), 1e-10, why="coupled decay"),
    Check("adopt", "pytorch_optimizer.ADOPT",
          lambda: PO.ADOPT(lr=1e-2, weight_decay=0.1, weight_decouple=True, clip_lambda=None, maximize=True),
          _torch(po.ADOPT, lr=1e-2, weight_decay=0.1, weight_decouple=True, clip_lambda=None, maximize=True),
          1e-10, why="decoupled, unclipped, maximize"),
    Check("adopt", "pytorch_optimizer.ADOPT", lambda: PO.ADOPT(lr=1e-2, cautious=True),
          _torch(po.ADOPT, lr=1e-2, cautious=True), 1e-10, why="cautious"),
    Check("ademamix", "optax.contrib.ademamix",
          lambda: OX.ademamix(1e-2, b3=0.99, alpha=3.0, weight_decay=0.1),
          _optax("ademamix", 1e-2, b3=0.99, alpha=3.0, weight_decay=0.1), 1e-10, why="decay"),
    Check("ademamix", "pytorch_optimizer.AdEMAMix",
          lambda: PO.AdEMAMix(lr=1e-2, betas=(0.9, 0.99, 0.999), t_alpha_beta3=30, weight_decay=0.1),
          _torch(po.AdEMAMix, lr=1e-2, betas=(0.9, 0.99, 0.999), t_alpha_beta3=30, weight_decay=0.1), 1e-10,
          why="warm-up, coupled decay"),
    Check("ademamix", "pytorch_optimizer.AdEMAMix",
          lambda: PO.AdEMAMix(lr=1e-2, alpha=8.0, weight_decay=0.1, weight_decouple=True),
          _torch(po.AdEMAMix, lr=1e-2, alpha=8.0, weight_decay=0.1, weight_decouple=True), 1e-10,
          why="decoupled decay"),
    Check("ademamix", "bitsandbytes.optim.AdEMAMix",
          lambda: BB.AdEMAMix(lr=1e-2, betas=(0.9, 0.99, 0.999), t_alpha=20, t_beta3=40, weight_decay=0.1),
          lambda: _bnb(lr=1e-2, betas=(0.9, 0.99, 0.999), t_alpha=20, t_beta3=40, weight_decay=0.1), 1e-4,
          why="warm-ups, float32"),
    # lr 1e-3: a float32 w ~ 1 resolves a step of 1e-3 to ~1e-4 of itself (measured 2.4e-4 at step 1)
    Check("ademamix", "bitsandbytes.optim.AdEMAMix", lambda: BB.AdEMAMix(), lambda: _bnb(), 1e-3,
          why="defaults, float32"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_flavor_matches_framework(case):
    for seed in (0, 1):
        assert_agrees(case, seed=seed)


@pytest.mark.parametrize("make, name", [
    (lambda: OX.adopt(1e-2, nesterov=True), "nesterov"),
    (lambda: OX.adopt(1e-2, mu_dtype="bfloat16"), "mu_dtype"),
    (lambda: OX.ademamix(1e-2, mask=lambda p: p), "mask"), (lambda: PO.AdEMAMix(cautious=True), "cautious"),
    (lambda: PO.ADOPT(stable_adamw=True), "stable_adamw"), (lambda: BB.AdEMAMix(optim_bits=8), "optim_bits"),
    (lambda: PO.AdEMAMix(betas=(0.9, 0.99)), "betas")])
def test_unmodelled_options_are_refused_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_misspelled_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="cautios"):
        PO.ADOPT(cautios=True)
