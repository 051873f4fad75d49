r"""Paged (out-of-core) optimizer state: params and buffers in chunked Zarr arrays, stepped by Dask.

bitsandbytes' paged optimizers keep state in CUDA unified memory and let the driver move pages
between GPU and host (Dettmers, Pagnoni, Holtzman & Zettlemoyer (2023), "QLoRA: Efficient
Finetuning of Quantized LLMs", arXiv 2305.14314, §3 "Paged Optimizers"). The CPU analogue here
keeps every params leaf and state buffer in a Zarr v3 array on disk, in chunks :math:`c` along
the first axis, and runs the rule's own ``step`` on one chunk at a time:

.. math::

    (w_t[c],\, b^1_t[c], \dots, b^k_t[c]) = \mathrm{step}\bigl(w_{t-1}[c],\, g_t[c],\,
    b^1_{t-1}[c], \dots, b^k_{t-1}[c];\ t\bigr) \qquad \text{for every chunk } c

This equals the whole-array step bit for bit when the rule is *elementwise*: every output entry
depends only on the same entry of the inputs and on Python scalars (``beta1**t``, schedules of
``t``), so a NumPy chunk computes the same bits as the whole array. Rules with whole-tensor
quantities (LARS/LAMB norms, Adafactor's row and column means, Shampoo's eigh, the Muon family's
orthogonalisation) are refused (``NEEDS``). Peak memory: the imports plus, per Dask thread, the
2 + k chunks of one task (params, gradient, k buffers), zarr's I/O buffer and the rule's
temporaries over one block (``block_entries``).

One step is ONE Dask computation with one task per chunk, which produces every output of its
chunk at once: it reads the params and buffer chunks (once each) and takes the gradient chunk as
its Dask input, runs ``opt.step`` on blocks of ``block_entries`` into the buffers it has just
read (it owns them), and writes params and every buffer. Zarr and Dask share one chunk grid, so
nothing is rechunked and every write is a whole zarr chunk.

``step(..., out=None)`` writes in place. That is safe because chunk :math:`c` of every array is
read and written only by the task of chunk :math:`c`, which reads it before it writes it. It is
not atomic: the group attribute ``in_progress`` is set before and cleared after, and ``Paged``
refuses a store whose step was interrupted. ``out=<store>`` writes a new store, the old one whole.

On a GPU the true paged variant is CuPy chunks, or CUDA managed memory that the driver pages as
bitsandbytes does; no GPU was at hand when this was written, so no GPU code ships here: the chunk
tasks are NumPy. The group's layout is ``refopt.storage.paged_layout``. dask, distributed and
zarr are imported inside the functions (``refopt.storage`` needs neither).
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .. import tree
from ..core import Optimizer
from . import paged_layout
from .paged_layout import Paged, open_paged

__all__ = ["NEEDS", "Paged", "create", "open_paged", "step", "write_like"]

_NORMS = "the norms of each whole leaf (||w|| and ||update||, the trust ratio)"
_MATRIX = "Newton-Schulz orthogonalisation (matrix products) of each whole matrix"
NEEDS = {  # rule -> what it computes over a whole tensor, which chunks cannot give
    "lars": _NORMS, "lamb": _NORMS,
    "adafactor": "row and column means of each whole matrix (the factored second moment)",
    "shampoo": "eigh of each mode's whole gradient statistics (inverse matrix roots)",
    "muon": _MATRIX, "moonlight": _MATRIX, "mars_m": _MATRIX,
    "normuon": _MATRIX + " and its per-row RMS",
    "reg": "row and column scaling (RACS) and the RMS of each whole matrix",
    "sophia": "a hess= tree beside the gradients, which this layer does not page",
    "partition": "each label's own rule; page the partition's elementwise rules one by one",
}


def _check_rule(opt: Optimizer) -> None:
    """A ValueError unless ``opt`` is a registry rule whose update is elementwise."""
    from ..registry import RULES
    if not isinstance(opt, Optimizer):
        raise TypeError(f"opt must be a refopt Optimizer, got {type(opt).__name__}")
    base = opt.name.removesuffix("+l2")  # coupled_weight_decay adds g + lam*w: elementwise
    if base in NEEDS:
        raise ValueError(f"paged: {opt.name} is not elementwise, it needs {NEEDS[base]}; "
                         f"a chunk at a time cannot compute that")
    if base not in RULES:
        ok = sorted(set(RULES) - set(NEEDS))
        raise ValueError(f"paged: cannot tell whether {opt.name!r} is elementwise; paged rules: "
                         f"{', '.join(ok)} (and their coupled_weight_decay)")


def _positive(name: str, x: Any, optional: bool = False) -> int | None:
    bad = not optional if x is None else isinstance(x, bool) or not isinstance(x, int) or x < 1
    if bad:
        raise ValueError(f"{name} must be a positive int{' or None' if optional else ''}, got {x!r}")
    return x


def _layout(opt: Optimizer, leaves: list) -> tuple[type, dict]:
    """The state class and, per field, which leaves keep an array (probed on one row)."""
    probes = [np.zeros((min(1, w.shape[0]),) + tuple(w.shape[1:]) if w.ndim else (), w.dtype)
              for _, w in leaves]
    state = opt.init(probes)
    present = {}
    for f in state._fields[1:]:
        present[f] = []
        for (path, _), p, b in zip(leaves, probes, getattr(state, f)):
            elementwise = hasattr(b, "shape") and b.shape == p.shape and b.dtype == p.dtype
            if not elementwise and not (isinstance(b, tuple) and b == ()):
                raise ValueError(f"paged: {opt.name}: state.{f} of leaf {path} is not an array like "
                                 f"its params leaf, so it cannot be chunked with it")
            present[f].append(elementwise)
    return type(state), present


def _where(block_info: dict) -> tuple:
    """The chunk a task works on, as slices of its leaf (``()`` for a 0-d leaf)."""
    return tuple(slice(lo, hi) for lo, hi in block_info[0]["array-location"])


def _init_chunk(w: np.ndarray, *, opt: Optimizer, targets: list, here: list, block_info=None) -> Any:
    """Write a params chunk and the rule's initial buffers for it."""
    where, state = _where(block_info), opt.init(w)
    for target, x in zip(targets, [w] + [getattr(state, f) for f in here]):
        target[where] = x
    return np.ones((1,) * w.ndim, np.int8)


def _step_chunk(g: np.ndarray, *, opt: Optimizer, State: type, t: int, fields: tuple, here: list,
                sources: list, targets: list, block: int, block_info=None) -> Any:
    """One chunk of one step: read the params and buffer chunks once, run the rule's own step on
    blocks of about ``block`` entries (whole rows) into those buffers, which this task owns, then
    write them all. The rule's temporaries (``m_hat``, ``s_hat``, ...) are a block each."""
    where = _where(block_info)
    xs = [np.asarray(a[where]) for a in sources]  # params, then the present buffers (0-d: arrays)
    rows = max(1, block // max(1, math.prod(g.shape[1:]))) if g.ndim else 1
    for r in range(0, g.shape[0], rows) if g.ndim else [None]:
        part = slice(r, r + rows) if g.ndim else ...
        it = iter(x[part] for x in xs[1:])
        state = State(t, *[next(it) if f in here else () for f in fields])
        w, new = opt.step(xs[0][part], g[part], state)
        for x, y in zip(xs, [w] + [getattr(new, f) for f in here]):
            x[part] = y  # the step made new arrays before this overwrites its inputs
    for target, x in zip(targets, xs):
        target[where] = x
    return np.ones((1,) * g.ndim, np.int8)


def _per_chunk(fn: Any, x: Any, **kw: Any) -> Any:
    """``fn`` once per chunk of the dask array ``x``; each task returns a 1-entry marker."""
    import dask.array as da
    return da.map_blocks(fn, x, dtype=np.int8, chunks=tuple((1,) * len(c) for c in x.chunks),
                         meta=np.empty((0,) * x.ndim, np.int8), **kw)


def _is_zarr(x: Any) -> bool:
    import zarr
    return isinstance(x, zarr.Array)  # not hasattr(x, "store"): a dask array has a store method


def _run(tasks: list, client: Any) -> None:
    """One Dask computation of every chunk task: locally, on a Client, or on a scheduler address."""
    import dask
    if isinstance(client, str):
        from distributed import Client
        with Client(client) as c:  # closing this client leaves the cluster running
            dask.compute(*tasks, scheduler=c.get)
    else:
        dask.compute(*tasks, scheduler=None if client is None else client.get)


def create(store: Any, opt: Optimizer, params: Any, *, chunk_entries: int | None = None,
           chunk_bytes: int | None = None, compressors: Any = None, client: Any = None) -> Paged:
    """Write ``params`` and ``opt.init(params)`` to a new Zarr group at ``store``.

    Leaves are NumPy, zarr or dask arrays. Chunks hold ``chunk_entries`` entries or
    ``chunk_bytes`` bytes (one of them; 16 MiB if neither), whole rows of a leaf's first axis.
    ``compressors=None`` stores raw bytes, as pages are (zarr's codecs may be given instead)."""
    import dask.array as da
    _check_rule(opt)
    entries = _positive("chunk_entries", chunk_entries, optional=True)
    nbytes = _positive("chunk_bytes", chunk_bytes, optional=True)
    if entries is not None and nbytes is not None:
        raise ValueError("give chunk_entries or chunk_bytes, not both")
    nbytes = 16 * 2**20 if entries is None and nbytes is None else nbytes
    leaves = [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]
    State, present = _layout(opt, leaves)
    group = paged_layout.new_group(store, {
        "format": paged_layout.FORMAT, "version": paged_layout.VERSION, "rule": opt.name, "t": 0, "in_progress": 0,
        "state": f"{State.__module__}:{State.__qualname__}", "fields": list(present),
        "tree": paged_layout.encode(tree.structure(params)), "paths": [p for p, _ in leaves], "buffers": present})
    tasks = []
    for i, (_, w) in enumerate(leaves):
        chunks = paged_layout.chunks(tuple(w.shape), np.dtype(w.dtype), entries, nbytes)
        arr = {"shape": w.shape, "dtype": w.dtype, "chunks": chunks, "compressors": compressors}
        if isinstance(w, (np.ndarray, np.generic)):
            dw = da.from_array(np.asarray(w), chunks=chunks)
        else:  # a zarr or dask array: put on this chunk grid (only here, never in step)
            dw = (da.from_zarr(w) if _is_zarr(w) else w).rechunk(chunks)
        here = [f for f in present if present[f][i]]
        targets = [group.create_array(n, **arr) for n in [f"params/{i}"] + [f"state/{f}/{i}" for f in here]]
        tasks.append(_per_chunk(_init_chunk, dw, opt=opt, targets=targets, here=here))
    _run(tasks, client)
    group.attrs["in_progress"] = None
    return Paged(group)


def write_like(store: Any, paged: Paged, leaves_tree: Any) -> Any:
    """Write a tree shaped like the params (gradients, say) to ``store``, chunked like the params;
    returns it as a tree of zarr arrays, which ``step`` reads chunk by chunk."""
    import dask.array as da
    group = paged_layout.new_group(store, {})
    out = []
    for i, (w, x) in enumerate(zip(paged.leaves(), tree.leaves_like(paged.spec, leaves_tree, "tree"))):
        target = group.create_array(str(i), shape=w.shape, dtype=x.dtype, chunks=w.chunks,
                                    compressors=w.compressors)
        src = da.from_array(x, chunks=w.chunks) if isinstance(x, np.ndarray) else da.asarray(x)
        da.store(src.rechunk(w.chunks), target, lock=False)
        out.append(target)
    return tree.unflatten(paged.spec, out)


def _grad(path: str, w: Any, g: Any) -> Any:
    """``g`` as a dask array on ``w``'s chunk grid, without rechunking."""
    import dask.array as da
    if tuple(g.shape) != tuple(w.shape) or np.dtype(g.dtype) != np.dtype(w.dtype):
        raise ValueError(f"grads{path}: shape {tuple(g.shape)} {g.dtype}, params {w.shape} {w.dtype}")
    if isinstance(g, np.ndarray):
        return da.from_array(g, chunks=w.chunks)
    dg = da.from_zarr(g) if _is_zarr(g) else g
    if not isinstance(dg, da.Array) or dg.chunks != da.core.normalize_chunks(w.chunks, w.shape):
        raise ValueError(f"grads{path} must be a NumPy array, or a zarr/dask array chunked like the "
                         f"params ({w.chunks}), e.g. from paged.write_like; got {type(g).__name__}")
    return dg


def _target(paged: Paged, out: Any) -> Any:
    """The group the step writes: ``paged``'s own (in place) or a new one at ``out``."""
    attrs = {**dict(paged.group.attrs), "in_progress": paged.t + 1}
    if out is None:
        paged.group.attrs.update(attrs)
        return paged.group
    if isinstance(out, (str, os.PathLike)) and os.path.abspath(out) == os.path.abspath(
            str(getattr(paged.group.store, "root", ""))):
        raise ValueError("out is the state's own store; pass out=None to step in place")
    return paged_layout.new_group(out, attrs)


def step(opt: Optimizer, paged: Paged, grads: Any, *, out: Any = None, client: Any = None,
         block_entries: int = 2**18) -> Paged:
    """One step of ``opt`` over a paged state; returns the state at ``t + 1``.

    ``out=None`` overwrites ``paged``'s arrays (see the module docstring); a store writes a new
    group there. ``client`` is a ``distributed.Client`` or a scheduler address (default: dask's
    local threads). Grads: NumPy arrays, or zarr/dask arrays on the params' chunk grid. Inside a
    chunk the rule runs on ``block_entries`` at a time (bounds its temporaries; same bits)."""
    _check_rule(opt)
    _positive("block_entries", block_entries)
    if opt.name != paged.rule:
        raise ValueError(f"paged: the state was written for {paged.rule}, not {opt.name}")
    if Paged(paged.group).t != paged.t:  # also refuses a store whose last step was interrupted
        raise ValueError(f"paged: this Paged is at t = {paged.t} but its store has moved on; reopen it")
    State, _ = _layout(opt, list(zip(paged.paths, paged.leaves())))
    g_leaves = tree.leaves_like(paged.spec, grads, "grads")
    dgs = [_grad(path, w, g) for path, w, g in zip(paged.paths, paged.leaves(), g_leaves)]
    target = _target(paged, out)  # everything above is checked before the first byte is written
    tasks = []
    for i, (w, dg) in enumerate(zip(paged.leaves(), dgs)):
        here = [f for f in paged.fields if paged.present[f][i]]
        names = [f"params/{i}"] + [f"state/{f}/{i}" for f in here]
        sources = [paged.group[n] for n in names]
        targets = sources if out is None else [target.create_array(
            n, shape=a.shape, dtype=a.dtype, chunks=a.chunks, compressors=a.compressors)
            for n, a in zip(names, sources)]
        tasks.append(_per_chunk(_step_chunk, dg, opt=opt, State=State, t=paged.t, fields=paged.fields,
                                here=here, sources=sources, targets=targets, block=block_entries))
    _run(tasks, client)
    target.attrs.update({"t": paged.t + 1, "in_progress": None})
    return Paged(target)
