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

# rule -> refopt kwargs, torch.optim class and kwargs (None: torch has no such class), optax
# alias and kwargs (None: optax has none), bytes moved per float32 parameter (4 per array read,
# 4 per array written). The same hyperparameters where the libraries let them be set alike; where
# a class computes a variant (torch's NAdam decays its momentum, optax's adan debiases) the step
# costs about the same, and the timing compares the cost of a step, not its numbers.
RULES = {
    "sgd": ({"lr": 1e-3}, ("SGD", {"lr": 1e-3}), ("sgd", {"learning_rate": 1e-3}), 12),
    "momentum": ({"lr": 1e-3, "beta1": 0.9}, ("SGD", {"lr": 1e-3, "momentum": 0.9}),
                 ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}), 20),
    "nesterov_reformulated": ({"lr": 1e-3, "beta1": 0.9}, ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
                              ("sgd", {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True}), 20),
    "adagrad": ({"lr": 1e-2}, ("Adagrad", {"lr": 1e-2}), ("adagrad", {"learning_rate": 1e-2}), 20),
    "rmsprop": ({"lr": 1e-3, "beta2": 0.99}, ("RMSprop", {"lr": 1e-3, "alpha": 0.99}),
                ("rmsprop", {"learning_rate": 1e-3, "decay": 0.99}), 20),
    "adadelta": ({"lr": 1.0, "beta2": 0.9}, ("Adadelta", {"lr": 1.0, "rho": 0.9}),
                 ("adadelta", {"learning_rate": 1.0, "rho": 0.9}), 28),
    "adam": ({"lr": 1e-3}, ("Adam", {"lr": 1e-3}), ("adam", {"learning_rate": 1e-3}), 28),
    # torch's and optax's weight_decay is refopt's divided by lr
    "adamw": ({"lr": 1e-3, "weight_decay": 1e-5}, ("AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
              ("adamw", {"learning_rate": 1e-3, "weight_decay": 1e-2}), 28),
    "amsgrad": ({"lr": 1e-3}, ("Adam", {"lr": 1e-3, "amsgrad": True}), ("amsgrad", {"learning_rate": 1e-3}), 36),
    "adamax": ({"lr": 2e-3}, ("Adamax", {"lr": 2e-3}), ("adamax", {"learning_rate": 2e-3}), 28),
    "nadam": ({"lr": 2e-3}, ("NAdam", {"lr": 2e-3}), ("nadam", {"learning_rate": 2e-3}), 28),
    "radam": ({"lr": 1e-3}, ("RAdam", {"lr": 1e-3}), ("radam", {"learning_rate": 1e-3}), 28),
    "lion": ({"lr": 1e-4}, None, ("lion", {"learning_rate": 1e-4}), 20),
    "adan": ({"lr": 1e-3}, None, ("adan", {"learning_rate": 1e-3}), 44),  # m, v, n and g_prev
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


# Streaming kernels: read w, g and k state arrays, write w and the k arrays, one subtraction
# each: the rule's memory traffic, (2k + 3) * 4 bytes per float32 parameter, and nothing else.
@njit(parallel=True, fastmath=False)
def _stream0(w, g):
    for i in prange(w.shape[0]):
        w[i] = w[i] - g[i]


@njit(parallel=True, fastmath=False)
def _stream1(w, g, a):
    for i in prange(w.shape[0]):
        x = g[i] - a[i]
        a[i] = x
        w[i] = w[i] - x


@njit(parallel=True, fastmath=False)
def _stream2(w, g, a, b):
    for i in prange(w.shape[0]):
        x, y = g[i] - a[i], g[i] - b[i]
        a[i], b[i] = x, y
        w[i] = w[i] - x


@njit(parallel=True, fastmath=False)
def _stream3(w, g, a, b, c):
    for i in prange(w.shape[0]):
        x, y, z = g[i] - a[i], g[i] - b[i], g[i] - c[i]
        a[i], b[i], c[i] = x, y, z
        w[i] = w[i] - x


@njit(parallel=True, fastmath=False)
def _stream4(w, g, a, b, c, d):
    for i in prange(w.shape[0]):
        x, y, z, u = g[i] - a[i], g[i] - b[i], g[i] - c[i], g[i] - d[i]
        a[i], b[i], c[i], d[i] = x, y, z, u
        w[i] = w[i] - x


STREAMS = {12: _stream0, 20: _stream1, 28: _stream2, 36: _stream3, 44: _stream4}


def roofline(nbytes, params, grads):
    """The streaming kernel that moves ``nbytes`` per parameter, and nothing else."""
    w, g = params["w0"].copy(), grads["w0"]
    state = [np.zeros_like(w) for _ in range((nbytes // 4 - 3) // 2)]
    kernel = STREAMS[nbytes]

    def step(threads):
        numba.set_num_threads(threads)
        kernel(w, g, *state)
    return step


def torch_modes(cls_name, kw):
    """The torch.optim implementations a class offers on CPU: foreach always, fused for some."""
    import torch
    p = torch.nn.Parameter(torch.zeros(4))
    try:
        getattr(torch.optim, cls_name)([p], **kw, fused=True)
        return ("foreach", "fused")
    except TypeError:  # "unexpected keyword argument 'fused'"
        return ("foreach",)


def implementations(rule, size, layout, rng):
    """(label, threads, step) for every implementation of ``rule`` on one layout."""
    ours, torch_cls, optax_alias, nbytes = RULES[rule]
    params, grads = tree_of(size, LAYOUTS[layout], rng), tree_of(size, LAYOUTS[layout], rng)
    out = [("refopt", 1, canonical(rule, ours, params, grads))]
    f = fast(rule, ours, params, grads)
    out += [("refopt.fast", t, partial(f, t)) for t in (1, 2)]
    if torch_cls is not None:
        for mode in torch_modes(*torch_cls):
            s = torch_optim(*torch_cls, params, grads, mode)
            out += [(f"torch {mode}", t, partial(s, t)) for t in (1, 2)]
    if optax_alias is not None:
        out.append(("optax jit", 0, optax_jit(*optax_alias, params, grads)))  # 0: XLA's own threads
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
