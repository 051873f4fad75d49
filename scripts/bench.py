"""Time one optimizer step of refopt (NumPy), torch.optim (CPU) and optax (jit, CPU) in
the same process, and print refopt's time as a ratio of each.

    python scripts/bench.py [--sizes 1000,100000,1000000] [--repeat 50]

The model is a tree of 8 float32 leaves with the given total size. refopt's rules are
written to be read, not fused: the ratio says what the readability costs, per rule.
Timings are medians of ``--repeat`` steps after warm-up.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import refopt

# rule -> (refopt factory kwargs, torch.optim name and kwargs, optax name and kwargs)
CASES = {
    "sgd": ({"lr": 1e-3}, ("SGD", {"lr": 1e-3}), ("sgd", {"learning_rate": 1e-3})),
    "momentum": ({"lr": 1e-3, "beta1": 0.9}, ("SGD", {"lr": 1e-3, "momentum": 0.9}),
                 ("sgd", {"learning_rate": 1e-3, "momentum": 0.9})),
    "adam": ({"lr": 1e-3}, ("Adam", {"lr": 1e-3}), ("adam", {"learning_rate": 1e-3})),
}


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up (and jit compile)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def make_params(size: int, rng) -> dict:
    sizes = np.full(8, size // 8)
    return {f"w{i}": rng.standard_normal(int(n)).astype(np.float32) for i, n in enumerate(sizes)}


def bench_refopt(name, kwargs, params, grads, repeat):
    opt = getattr(refopt, name)(**kwargs)
    state = [opt.init(params)]

    def step():
        _, state[0] = opt.step(params, grads, state[0])

    return median_seconds(step, repeat)


def bench_torch(cls_name, kwargs, params, grads, repeat):
    import torch
    torch.set_num_threads(1)
    ps = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in params.values()]
    for p, g in zip(ps, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    opt = getattr(torch.optim, cls_name)(ps, **kwargs)
    return median_seconds(opt.step, repeat)


def bench_optax(fn_name, kwargs, params, grads, repeat):
    import jax
    import optax
    tx = getattr(optax, fn_name)(**kwargs)
    p = jax.tree.map(jax.numpy.asarray, params)
    g = jax.tree.map(jax.numpy.asarray, grads)
    state = [tx.init(p)]

    @jax.jit
    def update(p, g, s):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def step():
        new, state[0] = update(p, g, state[0])
        jax.block_until_ready(new)

    return median_seconds(step, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'rule':<10}{'params':>10}{'refopt us':>12}{'torch us':>11}{'optax us':>11}"
          f"{'refopt/torch':>14}{'refopt/optax':>14}")
    for size in (int(s) for s in args.sizes.split(",")):
        params, grads = make_params(size, rng), make_params(size, rng)
        for name, (ours, (tname, tkw), (oname, okw)) in CASES.items():
            r = bench_refopt(name, ours, params, grads, args.repeat)
            t = bench_torch(tname, tkw, params, grads, args.repeat)
            o = bench_optax(oname, okw, params, grads, args.repeat)
            print(f"{name:<10}{size:>10}{r * 1e6:>12.1f}{t * 1e6:>11.1f}{o * 1e6:>11.1f}"
                  f"{r / t:>14.2f}{r / o:>14.2f}")


if __name__ == "__main__":
    main()
