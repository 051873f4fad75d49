"""partition: the same numbers as torch's Muon (its flavor, NS in float64) on the matrices and
torch's AdamW on the rest, the same bits as running each rule on its own leaves, routing errors that name the leaf, and
the MLP demonstration.
"""

import numpy as np
import pytest
import torch

from analysis.runs import partition_demo
import refopt
from refopt import tree
from refopt.combine import PartitionState
from refopt.interop import Adapter

from .independent import Check, assert_agrees
from .test_muon import torch_muon

SHAPES = {"hidden": {"w": (6, 4), "b": (6,)}, "out": {"w": (3, 6), "b": (3,)}}
FLAT_SHAPES = {"w1": (6, 4), "b1": (6,), "w2": (3, 6), "b2": (3,)}  # independent.py takes flat dicts
LR_MUON, LR_ADAM, WD = 0.02, 0.01, 0.1


def by_ndim(path, w):
    return "matrix" if w.ndim == 2 else "other"


def torch_muon_and_adamw() -> Adapter:
    """torch's Muon over the 2-D leaves and torch's AdamW over the rest, routed here by hand (not
    by refopt.partition): Muon as its flavor with NS in float64 (tests/rules/test_muon.py says
    why), AdamW as torch.optim.AdamW itself."""
    muon = torch_muon(lr=LR_MUON, weight_decay=WD, eps=0.0)

    def init(params):
        spec = tree.structure(params)
        leaves = [np.array(w) for _, w in tree.leaves_with_paths(params)]
        matrices = {i: w for i, w in enumerate(leaves) if w.ndim == 2}
        others = [torch.nn.Parameter(torch.tensor(w)) for w in leaves if w.ndim != 2]
        return spec, matrices, muon.init(matrices), others, torch.optim.AdamW(others, lr=LR_ADAM, weight_decay=WD)

    def step(params, grads, state):
        spec, matrices, muon_state, others, adamw = state
        g = tree.leaves_like(spec, grads, "grads")
        matrices, muon_state = muon.step(matrices, {i: g[i] for i in matrices}, muon_state)
        rest = [np.array(x) for i, x in enumerate(g) if i not in matrices]
        for p, gi in zip(others, rest):
            p.grad = torch.tensor(gi)
        adamw.step()
        other = iter(p.detach().numpy().copy() for p in others)
        new = [matrices[i] if i in matrices else next(other) for i in range(len(g))]
        return tree.unflatten(spec, new), (spec, matrices, muon_state, others, adamw)

    return Adapter("torch.optim.Muon+torch.optim.AdamW", init, step)


def ours():
    # refopt.adamw's decay is scaled by the schedule multiplier, not lr: torch's wd = ours / lr
    return refopt.partition({"matrix": refopt.muon(lr=LR_MUON, weight_decay=WD, eps=0.0),
                             "other": refopt.adamw(lr=LR_ADAM, weight_decay=LR_ADAM * WD)}, by_ndim)


CHECKS = [
    Check("partition", "torch.optim.Muon (flavor, NS in float64)+torch.optim.AdamW", ours, torch_muon_and_adamw,
          rtol=1e-12, shapes=FLAT_SHAPES, why="2-D to Muon (NS in float64, eps=0), the rest to AdamW"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def problem(seed=0, steps=4):
    rng = np.random.default_rng(seed)

    def make():
        return {k: {n: rng.standard_normal(s) for n, s in v.items()} for k, v in SHAPES.items()}
    return make(), [make() for _ in range(steps)]


def test_each_rule_sees_only_its_own_leaves_keyed_by_path():
    params, grads = problem()
    muon, adamw = refopt.muon(), refopt.adamw()
    opt = refopt.partition({"matrix": muon, "other": adamw}, by_ndim)
    state = opt.init(params)
    assert type(state) is PartitionState and state.t == 0
    assert list(state.inner["matrix"].m) == ["['hidden']['w']", "['out']['w']"]
    assert list(state.inner["other"].m) == ["['hidden']['b']", "['out']['b']"]
    # the same bits as running each rule alone over its leaves
    p, s = params, state
    mats = {"h": params["hidden"]["w"], "o": params["out"]["w"]}
    vecs = {"h": params["hidden"]["b"], "o": params["out"]["b"]}
    sm, sv = muon.init(mats), adamw.init(vecs)
    for g in grads:
        p, s = opt.step(p, g, s)
        mats, sm = muon.step(mats, {"h": g["hidden"]["w"], "o": g["out"]["w"]}, sm)
        vecs, sv = adamw.step(vecs, {"h": g["hidden"]["b"], "o": g["out"]["b"]}, sv)
    for key, name in (("h", "hidden"), ("o", "out")):
        np.testing.assert_array_equal(p[name]["w"], mats[key])
        np.testing.assert_array_equal(p[name]["b"], vecs[key])
    assert s.t == len(grads) and s.inner["matrix"].t == len(grads)


def test_an_extra_keyword_reaches_only_the_rules_it_has_leaves_for():
    """MARS-M's exact variant takes prev_grad; AdamW takes no keyword. With None at the
    vectors, the partition passes prev_grad to MARS-M alone, which then matches MARS-M run
    by itself with the same prev_grad."""
    params, grads = problem()
    opt = refopt.partition({"matrix": refopt.mars_m(), "other": refopt.adamw()}, by_ndim)
    alone = refopt.mars_m()
    mats = {"h": params["hidden"]["w"], "o": params["out"]["w"]}
    p, s, sm = params, opt.init(params), alone.init(mats)
    for g in grads:
        prev = {"hidden": {"w": 0.5 * g["hidden"]["w"], "b": None}, "out": {"w": -g["out"]["w"], "b": None}}
        p, s = opt.step(p, g, s, prev_grad=prev)
        mats, sm = alone.step(mats, {"h": g["hidden"]["w"], "o": g["out"]["w"]}, sm,
                              prev_grad={"h": prev["hidden"]["w"], "o": prev["out"]["w"]})
    np.testing.assert_array_equal(p["hidden"]["w"], mats["h"])
    np.testing.assert_array_equal(p["out"]["w"], mats["o"])


def test_a_non_matrix_sent_to_muon_names_the_leaf():
    params, _ = problem()
    opt = refopt.partition({"all": refopt.muon()}, lambda path, w: "all")
    with pytest.raises(ValueError, match=r"\['hidden'\]\['b'\].*refopt.partition"):
        opt.init(params)


def test_an_unknown_label_names_the_leaf_and_the_labels():
    params, _ = problem()
    opt = refopt.partition({"matrix": refopt.muon(), "other": refopt.adamw()},
                           lambda path, w: "matrix" if w.ndim == 2 else "vector")
    with pytest.raises(ValueError, match=r"'vector' for leaf \['hidden'\]\['b'\].*\['matrix', 'other'\]"):
        opt.init(params)


def test_a_foreign_state_is_rejected():
    params, grads = problem()
    opt = refopt.partition({"matrix": refopt.muon(), "other": refopt.adamw()}, by_ndim)
    with pytest.raises(TypeError, match="PartitionState"):
        opt.step(params, grads[0], refopt.adamw().init(params))


@pytest.mark.parametrize("rules, match", [({}, "empty"), ({1: refopt.sgd()}, "strings"),
                                          ({"a": "sgd"}, "not an optimizer")])
def test_bad_rule_tables_are_rejected(rules, match):
    with pytest.raises(ValueError, match=match):
        refopt.partition(rules, by_ndim)


def test_demo_gradients_match_finite_differences():
    """The demo's hand-written backward pass, checked by central differences (error ~h^2)."""
    demo = partition_demo()
    x, y = demo.make_data(n=32)
    params = demo.init_params(hidden=5)
    _, grads = demo.loss_and_grads(params, x, y)
    h = 1e-6
    for (path, w), (_, g) in zip(tree.leaves_with_paths(params), tree.leaves_with_paths(grads)):
        for i in range(min(w.size, 4)):
            w.flat[i] += h
            up, _ = demo.loss_and_grads(params, x, y)
            w.flat[i] -= 2 * h
            down, _ = demo.loss_and_grads(params, x, y)
            w.flat[i] += h
            assert abs((up - down) / (2 * h) - g.flat[i]) < 1e-8, path


def test_demo_loss_decreases():
    losses = partition_demo().train(steps=40, verbose=False)
    assert losses[-1] < 0.5 * losses[0]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
