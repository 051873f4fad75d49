"""Edge cases inside the rules (issue 9, sections 3, 4 and 6): aliasing, 0/0, odd shapes.

Every test here runs over every rule in ``refopt.RULES`` unless it is about one family.
"""
import copy
import inspect
import math

import numpy as np
import pytest

import refopt
from refopt import tree

from ..conformance.checks import problem

RULES = list(refopt.RULES.values())
IDS = [info.name for info in RULES]

# The rules whose step takes a second tree beside the gradient (read off their signatures:
# sophia's step(..., hess=), mars_m's and mars's exact variant step(..., prev_grad=)).
EXTRA_TREE = {"sophia": "hess", "mars_m": "prev_grad", "mars": "prev_grad"}


def extras_for(info, grads, rng):
    """The extra input trees of ``info``'s step, fresh arrays each call."""
    name = EXTRA_TREE.get(info.name)
    if name is None:
        return {}
    return {name: tree.tree_map(lambda g: np.abs(rng.standard_normal(g.shape)), grads)}


def arrays(x):
    return [a for _, a in tree.leaves_with_paths(x) if isinstance(a, np.ndarray)]


def state_arrays(state):
    return [a for f in state._fields[1:] for a in arrays(getattr(state, f))]


# --------------------------------------------------------------------------- 1. no aliasing

@pytest.mark.parametrize("info", RULES, ids=IDS)
def test_state_never_shares_memory_with_an_input(info):
    """After 1 and 2 steps no state array shares memory with params, grads, extra inputs or
    the returned params (Adan and MARS-M kept ``g`` itself as ``g_prev``)."""
    opt = info.make_example()
    params, grads = problem(info, seed=1, steps=2)
    rng = np.random.default_rng(2)
    state = opt.init(params)
    inputs = [params]
    for g in grads:
        extra = extras_for(info, g, rng)
        inputs += [g, *extra.values()]
        params, state = opt.step(params, g, state, **extra)
        inputs.append(params)
        for buf in state_arrays(state):
            for x in inputs:
                for a in arrays(x):
                    assert not np.shares_memory(buf, a), f"{info.name}: a state array aliases an input"


@pytest.mark.parametrize("info", RULES, ids=IDS)
def test_zeroing_grads_in_place_after_step_changes_nothing(info):
    """A training loop zeroes its gradient buffers in place after each step; the next step
    must give the same bits as a run whose gradients were never touched."""
    opt = info.make_example()
    params, grads = problem(info, seed=3, steps=3)
    extras = [extras_for(info, g, np.random.default_rng(4 + i)) for i, g in enumerate(grads)]
    untouched = copy.deepcopy((grads, extras))

    def run(grads, extras, zero_after):
        p, s = params, opt.init(params)
        for g, e in zip(grads, extras):
            p, s = opt.step(p, g, s, **e)
            if zero_after:
                for a in arrays(g) + [x for t in e.values() for x in arrays(t)]:
                    a[...] = 0.0
        return p, s

    zeroed = run(grads, extras, zero_after=True)
    clean = run(*untouched, zero_after=False)
    for a, b in zip(arrays(zeroed[0]) + state_arrays(zeroed[1]), arrays(clean[0]) + state_arrays(clean[1])):
        assert np.array_equal(a, b), f"{info.name}: zeroing the grads after step changed the run"


# --------------------------------------------------------------------------- 2. 0/0 at eps = 0
#
# A (2, 3) gradient stream in which one entry, one row, one column or everything is always 0.
# The outcome each rule's docstring states ("Where the formula is undefined") is written here
# from the formula, not from a run: UNCHANGED (finite, the always-zero entries keep their
# value exactly), MOVES (finite, but an always-zero entry moves: Newton-Schulz and Shampoo's
# preconditioners mix entries), ("nan_at_zero", t) (finite and unchanged before step t, from t
# NaN exactly at the always-zero entries, finite elsewhere), ("all_nan", t) (the whole leaf).

EPS_LIKE = ("eps", "eps_root", "eps1", "eps2", "ns_eps")
MASKS = {"entry": [[1, 0, 1], [1, 1, 1]], "row": [[0, 0, 0], [1, 1, 1]],
         "col": [[1, 0, 1], [1, 0, 1]], "all": [[0, 0, 0], [0, 0, 0]]}
UNCHANGED, MOVES = "unchanged", "moves"
NZ1, NZ5, ALL1 = ("nan_at_zero", 1), ("nan_at_zero", 5), ("all_nan", 1)


def same(outcome):
    return dict.fromkeys(MASKS, outcome)


ELEMENTWISE = ("adagrad", "rmsprop", "adadelta", "adam", "adamw", "amsgrad", "adamax", "nadam",
               "yogi", "adabelief", "lamb", "adan")
NS_RULES = ("muon", "moonlight", "normuon", "mars_m")
AT_EPS_ZERO = {
    **{n: same(NZ1) for n in ELEMENTWISE},
    "radam": same(NZ5),  # steps 1-4 are momentum steps (rho_t <= 4 at beta2 = 0.999)
    "yogi": same(UNCHANGED),  # s_0 = 1e-6 > 0 by default: m_t / sqrt(s_0) = 0 where g is 0
    **{n: same(UNCHANGED) for n in ("sgd", "momentum", "nesterov", "nesterov_reformulated",
                                    "lars", "lion", "sophia")},
    "shampoo": {**same(UNCHANGED), "entry": MOVES},
    # eps = 0 refused; zero rows/columns of a factor keep exact unit eigenvectors, so they stay put
    "soap": {**same(UNCHANGED), "entry": MOVES},
    # factored V-hat = R C / sum(R) is 0 only where a whole row or column is 0; RMS(U) spreads it
    "adafactor": {"entry": UNCHANGED, "row": ALL1, "col": ALL1, "all": NZ1},
    "muon": {"entry": MOVES, "row": UNCHANGED, "col": UNCHANGED, "all": NZ1},
    "moonlight": {"entry": MOVES, "row": UNCHANGED, "col": UNCHANGED, "all": NZ1},
    "mars_m": {"entry": MOVES, "row": UNCHANGED, "col": UNCHANGED, "all": NZ1},
    # a zero row of O has r = 0: O / (sqrt(r) + 0) is 0/0, and the Frobenius rescaling spreads it
    "normuon": {"entry": MOVES, "row": ALL1, "col": UNCHANGED, "all": NZ1},
    # RACS divides a zero row (column) by its zero norm; RMS spreads it; zeros elsewhere stay 0
    "reg": {"entry": UNCHANGED, "row": ALL1, "col": ALL1, "all": NZ1},
    # sign(0) = 0, and Rprop's step is a sign times a step size
    **{n: same(UNCHANGED) for n in ("sign_sgd", "signum", "rprop", "sparse_adam")},
    # the whole layer is rescaled by 1/sqrt(1 + lr^2) (Fromage), decayed by 1 - lambd eta_t (ASGD)
    "fromage": same(MOVES), "asgd": same(MOVES),
    # one second moment per layer, ||g||^2: 0/0 only when the whole layer's gradient is 0
    "novograd": {**same(UNCHANGED), "all": NZ1},
    # Adam's 0/0 where g has been 0 (ADOPT from its second call: the first only sets v_0 = g_0^2)
    "optimistic_adam": same(NZ1), "ademamix": same(NZ1), "adopt": same(("nan_at_zero", 2)),
    # MARS: c_t is 0 where g_t and g_{t-1} are, the per-leaf clip only rescales it: Adam's 0/0
    "mars": same(NZ1),
    # a step proportional to g (optimistic GD: to g_t and g_{t-1}; SPS: g times one scalar);
    # SM3's cover accumulators are 0 only where every gradient they cover is 0, where 0/0 = 0
    **{n: same(UNCHANGED) for n in ("optimistic_gd", "polyak_sgd", "sm3")},
    # noise moves every coordinate; FTRL's w = 0 where |z| <= l1, so a zero-gradient w jumps to 0
    "noisy_sgd": same(MOVES), "ftrl": same(MOVES),
    # Adam's 0/0 where g has been 0; with every gradient 0, d_hat is 0/0 and the rule takes no step
    **{n: {**same(NZ1), "all": UNCHANGED} for n in ("prodigy", "dadapt_adam")},
    # D-Adaptation SGD steps along g; AdaGrad's accumulator starts at 1e-6 > 0
    **{n: same(UNCHANGED) for n in ("dadapt_sgd", "dadapt_adagrad")},
    # Schedule-Free SGD steps z along g; its AdamW divides by sqrt(s) as Adam does
    "schedule_free_sgd": same(UNCHANGED), "schedule_free_adamw": same(NZ1),
    # PSGD Kron: Q_i^T Q_i mixes rows and columns (the triangular factors fill in); an all-zero
    # gradient gives u = 0 (its RMS clip divides by rms + 1e-12, never by 0)
    "psgd_kron": {**same(MOVES), "all": UNCHANGED},
}
# With the defaults only the rules whose paper has no epsilon divide 0 by 0.
AT_DEFAULTS = {n: same(UNCHANGED) for n in AT_EPS_ZERO}
AT_DEFAULTS.update({"adamax": same(NZ1), "radam": same(NZ5),
                    **{n: {**same(UNCHANGED), "entry": MOVES} for n in (*NS_RULES, "shampoo", "soap")},
                    **{n: same(MOVES) for n in ("fromage", "asgd", "noisy_sgd", "ftrl")},
                    "psgd_kron": AT_EPS_ZERO["psgd_kron"]})
# eps sets a floor (Sophia), H_0 = eps I (Shampoo), torch requires it positive (SparseAdam), or the
# quotient would divide rounding noise by its own root (SOAP's rotated coordinates)
REFUSE_EPS_ZERO = ("sophia", "shampoo", "sparse_adam", "soap")
EDGE_RULES = [info for info in RULES if info.name != "partition"]  # partition runs inner rules


def build(info, eps_zero):
    params = inspect.signature(info.factory).parameters
    kw = {"weight_decay": 0.0} if "weight_decay" in params else {}  # the decay would move w
    if eps_zero and info.name not in REFUSE_EPS_ZERO:
        kw.update({k: 0.0 for k in params if k in EPS_LIKE})
    return info.factory(**kw)


def outcome_of_run(info, opt, mask, steps=8):
    """Run the masked stream; return the outcome in the table's terms."""
    w0 = np.arange(1.0, 7.0).reshape(2, 3)
    base = np.array([[1.0, -0.5, 2.0], [0.3, 1.5, -1.0]])
    zero = np.asarray(mask) == 0
    w, state = w0, opt.init(w0)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            g = base * (1 + 0.1 * t) * (1 - zero)
            extra = {"hess": np.abs(g)} if info.name == "sophia" else {}
            if info.name == "polyak_sgd":  # SPS needs f(w_t): a quadratic model's, f* + |g|^2 / 2
                extra = {"loss": 0.5 * float(np.sum(g * g))}
            w, state = opt.step(w, g, state, **extra)
            nan = np.isnan(w)
            if nan.any():
                assert not np.isinf(w).any()
                if nan.all() and not zero.all():
                    return ("all_nan", t)
                assert np.array_equal(nan, zero), f"NaN at {np.argwhere(nan)}, zeros at {np.argwhere(zero)}"
                return ("nan_at_zero", t)
            assert np.isfinite(w).all()
    return UNCHANGED if np.array_equal(w[zero], w0[zero]) else MOVES


def test_every_rule_has_a_decision():
    assert sorted(AT_EPS_ZERO) == sorted(info.name for info in EDGE_RULES)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("info", EDGE_RULES, ids=[i.name for i in EDGE_RULES])
def test_zero_gradients_at_eps_zero(info, mask):
    assert outcome_of_run(info, build(info, eps_zero=True), MASKS[mask]) == AT_EPS_ZERO[info.name][mask]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("info", EDGE_RULES, ids=[i.name for i in EDGE_RULES])
def test_zero_gradients_at_defaults(info, mask):
    assert outcome_of_run(info, build(info, eps_zero=False), MASKS[mask]) == AT_DEFAULTS[info.name][mask]


@pytest.mark.parametrize("name", REFUSE_EPS_ZERO)
def test_eps_zero_refused_where_it_would_divide_by_zero(name):
    with pytest.raises(ValueError, match="eps"):
        refopt.RULES[name].factory(eps=0.0)


@pytest.mark.parametrize("info", EDGE_RULES, ids=[i.name for i in EDGE_RULES])
def test_docstring_states_the_outcome(info):
    """The rule's docstring has the paragraph, and says NaN exactly when the table has one."""
    doc = inspect.getmodule(info.factory).__doc__
    assert "**Where the formula is undefined.**" in doc
    para = doc.split("**Where the formula is undefined.**")[1].split("\n\n")[0]
    has_nan = any(o != UNCHANGED and o != MOVES for o in AT_EPS_ZERO[info.name].values())
    assert ("NaN" in para) == has_nan
    if info.name == "radam":
        assert "from\nstep 5" in para or "from step 5" in para


def test_radam_issue_example():
    """The issue's example: radam() with g = [1, 0] gives w = [0.996, nan] at step 5."""
    opt = refopt.radam()
    w, s = np.ones(2), opt.init(np.ones(2))
    with np.errstate(invalid="ignore"):
        for _ in range(5):
            w, s = opt.step(w, np.array([1.0, 0.0]), s)
    assert math.isnan(w[1]) and abs(w[0] - 0.996) < 5e-4  # 0.99598 (printed as 0.996)


# --------------------------------------------------------------------------- 5. odd shapes/values

ODD_SHAPES = [(), (1,), (1, 1), (1, 120), (120, 1), (1, 1, 1)]  # 120: Shampoo eigh stays fast


def refused_or_run(info, shape, value, steps=3):
    """Run ``steps`` steps on a ``shape`` leaf with gradients +-value; None if refused."""
    opt = info.factory()
    rng = np.random.default_rng(0)
    w = np.asarray(rng.standard_normal(shape))
    try:
        state = opt.init({"layer": w})
    except (ValueError, TypeError) as err:  # must name the leaf, never crash inside NumPy
        assert "['layer']" in str(err)
        return None
    params = {"layer": w}
    with np.errstate(all="ignore"):
        for _ in range(steps):
            g = {"layer": np.asarray(value * np.sign(rng.standard_normal(shape)))}
            extra = {"hess": {"layer": np.abs(g["layer"])}} if info.name == "sophia" else {}
            if info.name == "polyak_sgd":
                extra = {"loss": 0.5 * float(np.sum(g["layer"] ** 2))}
            params, state = opt.step(params, g, state, **extra)
    assert params["layer"].shape == shape and params["layer"].dtype == w.dtype
    return params["layer"]


@pytest.mark.parametrize("value", [1.0, 5e-324], ids=["normal", "subnormal"])
@pytest.mark.parametrize("shape", ODD_SHAPES, ids=str)
@pytest.mark.parametrize("info", EDGE_RULES, ids=[i.name for i in EDGE_RULES])
def test_odd_shapes_and_subnormal_gradients_step_finitely_or_are_refused(info, shape, value):
    """1-element, 1x1, 1x120, 120x1 and 0-d leaves with unit or subnormal gradients: a finite
    step, or a ValueError/TypeError naming the leaf (matrix rules refuse non-2-D, Shampoo 0-d)."""
    w = refused_or_run(info, shape, value)
    if w is not None:
        assert np.isfinite(w).all()
    else:
        assert info.matrix_only or info.name == "shampoo"


@pytest.mark.parametrize("shape", ODD_SHAPES, ids=str)
@pytest.mark.parametrize("info", EDGE_RULES, ids=[i.name for i in EDGE_RULES])
def test_gradients_of_1e308_never_crash_inside_numpy(info, shape):
    """g^2 overflows: rules propagate inf/NaN as the math does (check_finite's job to report),
    except Shampoo, whose eigh cannot take it: a ValueError naming the leaf and the buffer."""
    if info.name == "shampoo" and shape != ():
        with pytest.raises(ValueError, match=r"state.H leaf \['layer'\] \(mode 0\) is not finite"):
            refused_or_run(info, shape, 1e308)
    else:
        refused_or_run(info, shape, 1e308)
