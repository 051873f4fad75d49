"""One size of scripts/bench.py, in a process of its own: every implementation of every rule,
timed side by side, with the streaming roofline and the peak extra memory of one step.

    python scripts/bench_impls.py SIZE OUT.json [--rules sgd,momentum,adam,adamw]

Implementations (each keeps its own params and state and steps them as its users do):
refopt canonical (``opt.step``, pure), refopt.fast (``step_``, in place), torch.optim with
``foreach=True`` and with ``fused=True``, optax under ``jax.jit`` with params and state
donated, and the roofline: a numba kernel that moves the rule's bytes per parameter (Adam
reads w, g, m, s and writes w, m, s: 28 B per float32 parameter) and does nothing else.
Threads: refopt.fast and the roofline via ``numba.set_num_threads``, torch via
``torch.set_num_threads``; NumPy's elementwise ufuncs use one thread; XLA uses its defaults.
Timings: three rounds over all implementations, each a block of at least 7 steps, so that a
change of load on a shared machine reaches every implementation alike; the median of all
(>= 21) steps after 3 warm-up steps.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from functools import partial

import numba
import numpy as np
from numba import njit, prange

import refopt
import refopt.fast

# rule -> refopt kwargs, torch.optim class and kwargs, optax alias and kwargs, bytes/param
RULES = {
    "sgd": ({"lr": 1e-3}, ("SGD", {"lr": 1e-3}), ("sgd", {"learning_rate": 1e-3}), 12),
    "momentum": ({"lr": 1e-3, "beta1": 0.9}, ("SGD", {"lr": 1e-3, "momentum": 0.9}),
                 ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}), 20),
    "adam": ({"lr": 1e-3}, ("Adam", {"lr": 1e-3}), ("adam", {"learning_rate": 1e-3}), 28),
    # torch's and optax's weight_decay is refopt's divided by lr
    "adamw": ({"lr": 1e-3, "weight_decay": 1e-5}, ("AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
              ("adamw", {"learning_rate": 1e-3, "weight_decay": 1e-2}), 28),
}
LAYOUTS = {"flat": 1, "100 tensors": 100}


def tree_of(size: int, pieces: int, rng) -> dict:
    return {f"w{i}": rng.standard_normal(size // pieces).astype(np.float32) for i in range(pieces)}


# --------------------------------------------------------------------------- implementations

def canonical(rule, kw, params, grads):
    opt = getattr(refopt, rule)(**kw)
    state = [params, opt.init(params)]

    def step():
        state[0], state[1] = opt.step(state[0], grads, state[1])
    return step


def fast(rule, kw, params, grads):
    opt = refopt.fast.FAST[rule](**kw)
    params = {k: w.copy() for k, w in params.items()}
    state = [opt.init(params)]

    def step(threads):
        numba.set_num_threads(threads)
        state[0] = opt.step_(params, grads, state[0])
    return step


def torch_optim(cls_name, kw, params, grads, mode):
    import torch
    ps = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in params.values()]
    for p, g in zip(ps, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    opt = getattr(torch.optim, cls_name)(ps, **kw, **{mode: True})

    def step(threads):
        torch.set_num_threads(threads)
        opt.step()
    return step


def optax_jit(name, kw, params, grads):
    import jax
    import optax
    tx = getattr(optax, name)(**kw)
    p = jax.tree.map(jax.numpy.asarray, params)
    g = jax.tree.map(jax.numpy.asarray, grads)
    state = [p, tx.init(p)]

    @partial(jax.jit, donate_argnums=(0, 2))
    def update(p, g, s):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def step():
        state[0], state[1] = update(state[0], g, state[1])
        jax.block_until_ready(state[0])
    return step


@njit(parallel=True, fastmath=False)
def _stream12(w, g):  # read w, g; write w
    for i in prange(w.shape[0]):
        w[i] = w[i] - g[i]


@njit(parallel=True, fastmath=False)
def _stream20(w, g, m):  # read w, g, m; write w, m
    for i in prange(w.shape[0]):
        x = g[i] - m[i]
        m[i] = x
        w[i] = w[i] - x


@njit(parallel=True, fastmath=False)
def _stream28(w, g, m, s):  # read w, g, m, s; write w, m, s
    for i in prange(w.shape[0]):
        x = g[i] - m[i]
        y = g[i] - s[i]
        m[i] = x
        s[i] = y
        w[i] = w[i] - x


def roofline(nbytes, params, grads):
    """A kernel that reads and writes what the rule does, with one subtraction per array."""
    w, g = params["w0"].copy(), grads["w0"]
    m, s = np.zeros_like(w), np.zeros_like(w)
    kernel, args = {12: (_stream12, (w, g)), 20: (_stream20, (w, g, m)),
                    28: (_stream28, (w, g, m, s))}[nbytes]

    def step(threads):
        numba.set_num_threads(threads)
        kernel(*args)
    return step


def implementations(rule, size, layout, rng):
    """(label, threads, step) for every implementation of ``rule`` on one layout."""
    ours, (tname, tkw), (oname, okw), nbytes = RULES[rule]
    params, grads = tree_of(size, LAYOUTS[layout], rng), tree_of(size, LAYOUTS[layout], rng)
    out = [("refopt", 1, canonical(rule, ours, params, grads))]
    f = fast(rule, ours, params, grads)
    out += [("refopt.fast", t, partial(f, t)) for t in (1, 2)]
    for mode in ("foreach", "fused"):
        s = torch_optim(tname, tkw, params, grads, mode)
        out += [(f"torch {mode}", t, partial(s, t)) for t in (1, 2)]
    out.append(("optax jit", 0, optax_jit(oname, okw, params, grads)))  # 0: XLA's own threads
    if layout == "flat":
        r = roofline(nbytes, params, grads)
        out += [("roofline", t, partial(r, t)) for t in (1, 2)]
    return out


# --------------------------------------------------------------------------- measurements

def timed(step, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def peak_memory(step) -> tuple[int, int]:
    """(traced, RSS) peak extra bytes of one step: tracemalloc sees NumPy's allocations;
    the resident-set high-water mark (reset through /proc/self/clear_refs) sees every
    library's, but only memory the allocator had to get from the system."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        rss0 = _rss("VmRSS:")
    except OSError:
        rss0 = None
    tracemalloc.start()
    tracemalloc.reset_peak()
    step()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = max(0, _rss("VmHWM:") - rss0) if rss0 is not None else -1
    return traced, rss


def bench_rule(rule, size, layout, rng, rounds=3, block_seconds=0.25):
    impls = implementations(rule, size, layout, rng)
    for _, _, step in impls:
        timed(step, 3)  # warm-up: jit, numba compile, torch's first-step state
    est = {i: np.median(timed(step, 3)) for i, (_, _, step) in enumerate(impls)}
    samples = {i: [] for i in est}
    for _ in range(rounds):
        for i, (_, _, step) in enumerate(impls):
            samples[i] += timed(step, int(np.clip(block_seconds / max(est[i], 1e-7), 7, 400)))
    rows = []
    for i, (label, threads, step) in enumerate(impls):
        traced, rss = peak_memory(step)
        rows.append({"rule": rule, "size": size, "layout": layout, "impl": label,
                     "threads": threads, "median_s": float(np.median(samples[i])),
                     "steps": len(samples[i]), "traced_peak_bytes": traced, "rss_peak_bytes": rss,
                     "bytes_per_param": RULES[rule][3]})
    del impls
    gc.collect()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int)
    parser.add_argument("out")
    parser.add_argument("--rules", default=",".join(RULES))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    jobs = [(r, lay) for r in args.rules.split(",") for lay in LAYOUTS]
    for k, (rule, layout) in enumerate(jobs):
        print(f"\r  size {args.size:.0e}: {rule:<9} {layout:<12} [{'#' * k}{'.' * (len(jobs) - k)}]",
              end="", flush=True, file=sys.stderr)
        rows += bench_rule(rule, args.size, layout, rng)
    print(file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
