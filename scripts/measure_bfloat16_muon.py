"""How close the bfloat16 Newton-Schulz emulation (refopt.flavors.bfloat16) comes to torch's Muon and
pytorch-optimizer's Muon, NorMuon and MARS as shipped, and how far both are from the float64 formula.

    .venv/bin/python scripts/measure_bfloat16_muon.py [--steps 50] [--seeds 3]

For every (optimizer, settings, shapes, seed): the worst relative update error over ``--steps`` steps of
``refopt.oracle.mixed_gradients`` (``refopt.oracle.compare``) of (1) the framework vs the flavor with
``newton_schulz_dtype="bfloat16"``, (2) the framework vs the flavor in float64, (3) the two flavors.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from refopt.flavors import pytorch_optimizer as P
from refopt.flavors import torch as T
from refopt.oracle import compare, mixed_gradients

SHAPES = [{"w": (5, 4), "v": (3, 6)}, {"sq": (16, 16)}, {"tall": (64, 32)}, {"wide": (32, 64)}]
CASES = [
    (T, "Muon", {"lr": 0.02}), (T, "Muon", {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw", "nesterov": False}),
    (P, "Muon", {"lr": 0.02, "weight_decay": 0.1}), (P, "NorMuon", {"lr": 0.01, "weight_decay": 0.1}),
    (P, "NorMuon", {"lr": 0.01, "update_scale": "match_rms", "nesterov": False}),
    (P, "MARS", {"lr": 0.01, "mars_type": "shampoo", "weight_decay": 0.1}),
]


def measure(module, name, kwargs, shapes, seed, steps):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = mixed_gradients(params, steps, seed=seed + 1)
    theirs = module.framework(name, **kwargs)
    bf16 = getattr(module, name)(**kwargs)
    f64 = getattr(module, name)(newton_schulz_dtype="float64", **kwargs)
    emulated = compare(bf16, theirs, params, grads, rtol=0.0)
    exact = sum(s.update_abs == 0 for s in emulated.steps)
    return (emulated.max_update_rel, exact, compare(f64, theirs, params, grads).max_update_rel,
            compare(f64, bf16, params, grads).max_update_rel)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    worst = {}
    print(f"{'optimizer':<28} {'shapes':<22} seed  emul-vs-fw  bit-equal  f64-vs-fw  f64-vs-emul   time")
    for module, name, kwargs in CASES:
        for shapes in SHAPES:
            for seed in range(args.seeds):
                t0 = time.time()
                e, exact, f, d = measure(module, name, kwargs, shapes, seed, args.steps)
                key = f"{module.__name__.split('.')[-1]}.{name}"
                w = worst.setdefault(key, [0.0, 0, 0, np.inf, 0.0])
                w[0], w[1], w[2] = max(w[0], e), w[1] + exact, w[2] + args.steps
                w[3], w[4] = min(w[3], f), max(w[4], f)
                print(f"{key + str(sorted(kwargs))[:0]:<28} {str(list(shapes.values())):<22} {seed:>4}  {e:10.2e}"
                      f"  {exact:>4}/{args.steps:<4}  {f:9.2e}  {d:11.2e}  {time.time() - t0:5.1f}s", flush=True)
    print("\nper optimizer: worst emulation error, bit-equal steps, float64 flavor vs framework (min..max)")
    for key, (e, exact, n, lo, hi) in worst.items():
        print(f"{key:<28} {e:.2e}  {exact}/{n}  {lo:.2e}..{hi:.2e}")


if __name__ == "__main__":
    main()
