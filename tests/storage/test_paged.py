"""refopt.storage.paged: a rule stepped chunk by chunk over Zarr arrays equals its in-memory step.

The reference is the canonical rule's own step on whole NumPy arrays. Elementwise rules give
every entry from the same entry of the inputs and Python scalars, so the comparison is exact:
np.array_equal, no tolerance, on the params and on every state buffer.
"""
import collections
import dataclasses

import numpy as np
import pytest

import refopt
from refopt import tree

pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")
paged = pytest.importorskip("refopt.storage.paged")

# 1e6 float32 entries in two leaves; 50_000-entry chunks: 12 chunks of "a", 8 of 50 rows of "b"
SHAPES = {"a": (600_000,), "b": (400, 1000)}
CHUNK = 50_000
N_CHUNKS = 12 + 8
RULES = {"adam": lambda: refopt.adam(lr=1e-2),
         "lion": lambda: refopt.lion(lr=1e-3, weight_decay=0.1),
         "rmsprop": lambda: refopt.rmsprop(momentum=0.9, centered=True)}  # all three buffers
# entries per call of the rule inside a chunk: one call per chunk, or ragged blocks (7 rows of "b")
BLOCKS = {"adam": 2**18, "lion": 7_000, "rmsprop": 2**18}


def _tree(seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s, dtype=np.float32) for k, s in SHAPES.items()}


def _assert_equal(paged_state, params, state):
    got_params, got_state = paged_state.load()
    assert type(got_state) is type(state) and got_state.t == state.t
    pairs = [(got_params, params)] + [(getattr(got_state, f), getattr(state, f)) for f in state._fields[1:]]
    for got, want in pairs:
        got, want = list(tree.leaves_with_paths(got)), list(tree.leaves_with_paths(want))
        assert [p for p, _ in got] == [p for p, _ in want]
        for (path, a), (_, b) in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b), path


@pytest.mark.parametrize("name", RULES)
def test_several_steps_equal_numpy_bit_for_bit(name, tmp_path):
    opt = RULES[name]()
    params = _tree(0)
    ps = paged.create(tmp_path / "s0", opt, params, chunk_entries=CHUNK)
    assert ps.group["params/1"].chunks == (50, 1000)
    want_params, want_state = params, opt.init(params)
    _assert_equal(ps, want_params, want_state)
    for t in range(1, 4):
        grads = _tree(t)
        want_params, want_state = opt.step(want_params, grads, want_state)
        # steps 1 and 3 in place, step 2 into a new store (the old one is left whole)
        ps = paged.step(opt, ps, grads, out=None if t != 2 else tmp_path / "s2", block_entries=BLOCKS[name])
    _assert_equal(ps, want_params, want_state)
    assert not np.array_equal(want_params["a"], params["a"])  # the steps moved the params
    assert paged.open_paged(tmp_path / "s0").t == 1  # the store left at step 1 by out=


def test_odd_leaves_and_coupled_decay(tmp_path):
    """A 0-d leaf, an empty one and a 3-D one (chunks of 3 rows, blocks of 2 rows: ragged), under a
    wrapped rule (coupled decay adds lam * w to g, elementwise too)."""
    opt = refopt.coupled_weight_decay(refopt.momentum(lr=0.1, beta1=0.9), 0.01)
    rng = np.random.default_rng(5)
    shapes = [(), (0, 3), (7, 2, 5)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ps = paged.create(tmp_path / "s", opt, params, chunk_entries=30)
    want_params, want_state = params, opt.init(params)
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        want_params, want_state = opt.step(want_params, grads, want_state)
        ps = paged.step(opt, ps, grads, block_entries=20)
    _assert_equal(ps, want_params, want_state)


class CountingStore(zarr.storage.WrapperStore):
    """Counts chunk reads and writes (keys with a ``/c/`` part) at the store level, under any
    task fusion dask does."""

    def __init__(self, store):
        super().__init__(store)
        self.reads, self.writes = collections.Counter(), collections.Counter()

    async def get(self, key, prototype, byte_range=None):
        if "/c" in key:
            self.reads[key] += 1
        return await super().get(key, prototype, byte_range)

    async def get_partial_values(self, prototype, key_ranges):
        key_ranges = list(key_ranges)
        self.reads.update(k for k, _ in key_ranges if "/c" in k)
        return await super().get_partial_values(prototype, key_ranges)

    async def set(self, key, value):
        if "/c" in key:
            self.writes[key] += 1
        return await super().set(key, value)


def _chunk_keys(group_path):
    return {str(p.relative_to(group_path)).replace("\\", "/")
            for p in group_path.rglob("*") if p.is_file() and "c" in p.relative_to(group_path).parts}


def test_one_step_reads_each_chunk_once(tmp_path):
    base = refopt.adam(lr=1e-2)
    calls = collections.Counter()

    def counted_step(w, g, state, **extra):  # the rule's step, counted per chunk
        calls[w.shape] += 1
        return base.step(w, g, state, **extra)

    opt = dataclasses.replace(base, step=counted_step)  # same name: still adam to paged
    paged.create(tmp_path / "s", base, _tree(0), chunk_entries=CHUNK)
    store = CountingStore(zarr.storage.LocalStore(tmp_path / "s"))
    ps = paged.open_paged(store)
    gstore = CountingStore(zarr.storage.LocalStore(tmp_path / "g"))
    grads = paged.write_like(gstore, ps, _tree(1))
    gstore.reads.clear()
    paged.step(opt, ps, grads)
    state_chunks = _chunk_keys(tmp_path / "s")
    assert len(state_chunks) == 3 * N_CHUNKS  # params, m, s
    assert store.reads == {k: 1 for k in state_chunks}
    assert store.writes == {k: 1 for k in state_chunks}
    assert gstore.reads == {k: 1 for k in _chunk_keys(tmp_path / "g")} and len(gstore.reads) == N_CHUNKS
    assert sum(calls.values()) == N_CHUNKS  # the step ran once per chunk, not once per output


def test_distributed_cluster_equals_numpy(tmp_path):
    distributed = pytest.importorskip("distributed")
    opt = refopt.adam(lr=1e-2)
    params = _tree(0)
    want_params, want_state = params, opt.init(params)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ps = paged.create(tmp_path / "s", opt, params, chunk_entries=CHUNK, client=client)
        for t, where in ((1, client), (2, cluster.scheduler_address)):  # a Client, then an address
            grads = _tree(t)
            want_params, want_state = opt.step(want_params, grads, want_state)
            ps = paged.step(opt, ps, grads, client=where)
    _assert_equal(ps, want_params, want_state)


@pytest.mark.parametrize("name, need", [("lamb", "norms"), ("lars", "norms"), ("muon", "orthogonalisation"),
                                        ("shampoo", "eigh"), ("adafactor", "row and column")])
def test_layerwise_and_matrix_rules_are_refused(name, need, tmp_path):
    opt = refopt.registry.RULES[name].make_example()
    with pytest.raises(ValueError, match=f"{name} is not elementwise.*{need}"):
        paged.create(tmp_path / "s", opt, {"w": np.ones((4, 4), np.float32)}, chunk_entries=4)


def test_bad_input(tmp_path):
    opt = refopt.adam()
    params = {"w": np.ones((40, 5), np.float32)}
    with pytest.raises(ValueError, match="chunk_entries"):
        paged.create(tmp_path / "s", opt, params, chunk_entries=0)
    ps = paged.create(tmp_path / "s", opt, params, chunk_entries=50)
    with pytest.raises(ValueError, match="written for adam, not lion"):
        paged.step(refopt.lion(), ps, params)
    import dask.array as da
    with pytest.raises(ValueError, match=r"grads\['w'\] must be .* chunked like the params"):
        paged.step(opt, ps, {"w": da.ones((40, 5), dtype=np.float32, chunks=(7, 5))})
    with pytest.raises(ValueError, match=r"grads\['w'\]: shape"):
        paged.step(opt, ps, {"w": np.ones((40, 5), np.float64)})
    with pytest.raises(ValueError, match="own store"):
        paged.step(opt, ps, params, out=str(tmp_path / "s"))
    assert paged.open_paged(tmp_path / "s").t == 0  # refused before anything was written
    paged.step(opt, ps, params)
    with pytest.raises(ValueError, match="reopen"):  # ps is at t = 0, its store at t = 1
        paged.step(opt, ps, params)
    ps.group.attrs["in_progress"] = 1  # what an interrupted in-place step leaves behind
    with pytest.raises(ValueError, match="interrupted"):
        paged.open_paged(tmp_path / "s")


def test_the_stores_attributes_are_data(tmp_path):
    """A state type named in the group's attributes is looked up among refopt's states, never imported."""
    ps = paged.create(tmp_path / "s", refopt.adam(), {"w": np.ones(10, np.float32)}, chunk_entries=5)
    ps.group.attrs["state"] = "os:system"
    with pytest.raises(ValueError, match="'os:system' is not a refopt state"):
        paged.open_paged(tmp_path / "s").load()
    with pytest.raises(ValueError, match="not a refopt-paged v1 group"):
        zarr.open_group(tmp_path / "other", mode="w").attrs.update({"format": "x"})
        paged.open_paged(tmp_path / "other")
