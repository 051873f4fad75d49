"""bfloat16 and float16 in the rules whose norms, sums or matmuls used to promote the dtype
(issue 9): dtype in, dtype out for params and every state buffer, and the same numbers as the
rule run in float32, to within what rounding to the half-precision dtype can explain.

The reference is independent of the half-precision code paths: the same rule, from the same
(already rounded) params and gradients cast up exactly to float32, where every ``accumulator``
and ``rounded`` in the rules is the identity (their float32 results are pinned bit for bit by
the rules' own tests).

Tolerance. Let u be the unit roundoff (bfloat16 2^-8, float16 2^-11). Each step does two
things that rounding can disturb: it stores the new params through R subtractions of
params-sized values (R = 1 for ``w - lr*d``, 2 for ``w - lr*wd*w - lr*o``: at most R u max|w|),
and it computes the update through a chain of rounded operations, each adding at most u relative
to first order, so at most K u max|dw| with K the number of rounded operations on the update's
path (counted per rule below; dw the float32 run's largest one-step change). Over S steps, with
each step's error carried forward unchanged (the rules are 1-Lipschitz in w up to lr * decay):
    |w_half - w_32| <= S u (R max|w| + K max|dw|).
That bound holds in the normal range only (subnormals have fewer bits), so gradients and Hessian
estimates are drawn with magnitudes in [0.5, 2], where (1 - beta2) g^2 stays normal in float16.
Newton-Schulz's roundings are relative to the largest singular value, so in the direction of the
smallest they are kappa times larger (kappa the condition number): the Muon family gets matrix
gradients U diag(s_t) V^T with fixed random orthogonal U, V and s_t in [1, 2] (kappa <= 2) and
K kappa in place of K. Each test also checks that the float32 run moves the params by more than
the tolerance, so a rule that skipped its update would fail.
"""
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt

torch = pytest.importorskip("torch")  # torch comes with the oracle extra

UNIT_ROUNDOFF = {"bfloat16": 2.0**-8, "float16": 2.0**-11}
STEPS = 3
# (factory, R, K). Hyperparameters make one step move w by ~5-15% of max|w| (many bfloat16
# ulps); eps is raised where its default rounds to 0 in float16 (the core refuses it there).
# K counts rounded operations on the update's path, rounded up:
#   lars/lamb: 2 norms, the ratio's 4-6 scalar ops, 4-8 elementwise ops of momentum/moments: 16.
#   Muon family: Newton-Schulz rounds 7 results per iteration (3 matmuls, 4 elementwise), 5
#   iterations, plus 3 for the normalisation and 4-8 outside it (momentum, NorMuon's rows, MARS-M's
#   clip, the scale): 48. (NS keeps relative errors about their size: sigma p'(sigma) / p(sigma)
#   is ~1 for small sigma and at most 1.6 in absolute value on the band it ends in.)
#   reg: 2 p-norms and 4 scalings per RACS round, the RMS, momentum: 16.
#   sophia: momentum, the EMA of h, max, the ratio, clip, lr: 8.
RULES = {
    "lars": (lambda: refopt.lars(lr=1.0, trust_coefficient=0.05, weight_decay=0.01), 1, 16),
    "lamb": (lambda: refopt.lamb(lr=0.05, weight_decay=0.01), 1, 16),
    "muon": (lambda: refopt.muon(lr=0.2, weight_decay=0.1), 2, 48),
    "moonlight": (lambda: refopt.moonlight(lr=0.3), 1, 48),
    "normuon": (lambda: refopt.normuon(lr=0.3, eps=1e-6), 2, 48),
    "mars_m": (lambda: refopt.mars_m(lr=0.3), 1, 48),
    # MARS: the correction (3), the clip's norm and division (3), Adam's moments, corrections, root,
    # eps and ratio (10), the decoupled step (3): 19, rounded up to 20
    "mars": (lambda: refopt.mars(lr=0.05, eps=1e-4, weight_decay=0.01), 1, 20),
    "reg": (lambda: refopt.reg(lr=0.1, eps=1e-6), 1, 16),
    "sophia": (lambda: refopt.sophia(lr=0.05, gamma=1.0, eps=1e-6), 2, 8),
    # partition sends the matrix to Muon and the vector to AdamW (eps 1e-8 is 0 in float16)
    "partition": (lambda: refopt.partition(
        {"matrix": refopt.muon(lr=0.2), "other": refopt.adamw(lr=0.05, eps=1e-4)},
        lambda path, w: "matrix" if len(w.shape) == 2 else "other"), 2, 48),
}
NEWTON_SCHULZ = {"muon", "moonlight", "normuon", "mars_m", "partition"}
KAPPA = 2.0  # the gradients' condition-number bound for those (see problem)
CASES = [("numpy", "bfloat16"), ("numpy", "float16"), ("torch", "bfloat16")]


def as_dtype(a, library, dtype):
    """A float64 NumPy array rounded to ``dtype`` on ``library``."""
    if library == "torch":
        return torch.from_numpy(a.astype(np.float32)).to(getattr(torch, dtype))
    return a.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)


def widen(x):
    """The same values in float32 on the same library (exact: both half formats fit in float32)."""
    return x.to(torch.float32) if isinstance(x, torch.Tensor) else x.astype(np.float32)


def host(x):
    return x.double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def leaves(x):
    """Every array in a params tree or state (NamedTuples, dicts, tuples), skipping ``t``."""
    if isinstance(x, dict):
        return [a for v in x.values() for a in leaves(v)]
    if isinstance(x, (tuple, list)):
        return [a for v in x for a in leaves(v)]
    return [] if isinstance(x, int) else [x]


def tree_map(f, x):
    return {k: tree_map(f, v) for k, v in x.items()} if isinstance(x, dict) else f(x)


def problem(name, rows, cols, seed):
    """Params ~ 0.5 N(0, 1); gradients and Hessian estimates of magnitude in [0.5, 2]. Each
    gradient entry keeps its sign over the steps (a consistent descent direction), so the params
    move steadily and the displacement the test checks against does not cancel out."""
    rng = np.random.default_rng(seed)
    shapes = {"w": (rows, cols), "b": (cols,)} if name == "partition" else {"w": (rows, cols)}
    signs = {k: rng.choice([-1.0, 1.0], size=s) for k, s in shapes.items()}
    params = {k: 0.5 * rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: signs[k] * rng.uniform(0.5, 2.0, size=s) for k, s in shapes.items()}
             for _ in range(STEPS)]
    hess = [{k: rng.uniform(0.5, 2.0, size=s) for k, s in shapes.items()} for _ in range(STEPS)]
    if name in NEWTON_SCHULZ:  # condition number <= 2, the same singular vectors every step
        u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
        v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
        k = min(rows, cols)
        for g in grads:
            g["w"] = (u[:, :k] * rng.uniform(1.0, 2.0, size=k)) @ v[:, :k].T
    return params, grads, hess


def run(name, params, grads, hess):
    """The rule for STEPS steps; returns the params after each step (the first is the start)
    and the state after each step."""
    opt = RULES[name][0]()
    state, trajectory, states = opt.init(params), [params], []
    for g, h in zip(grads, hess):
        extra = {"hess": h} if name == "sophia" else {}
        params, state = opt.step(params, g, state, **extra)
        trajectory.append(params)
        states.append(state)
    return trajectory, states


@pytest.mark.parametrize("library, dtype", CASES)
@pytest.mark.parametrize("name", sorted(RULES))
@given(rows=st.integers(2, 7), cols=st.integers(2, 7), seed=st.integers(0, 2**16))
def test_half_precision_keeps_dtype_and_matches_float32(name, library, dtype, rows, cols, seed):
    params, grads, hess = problem(name, rows, cols, seed)
    half = [[tree_map(lambda a: as_dtype(a, library, dtype), t) for t in seq] for seq in (grads, hess)]
    start = tree_map(lambda a: as_dtype(a, library, dtype), params)
    trajectory, states = run(name, start, *half)

    want = start["w"].dtype
    for step, (p, state) in enumerate(zip(trajectory[1:], states), start=1):
        for where, arr in [("params", a) for a in leaves(p)] + [("state", a) for a in leaves(state)]:
            assert type(arr) is type(start["w"]) and arr.dtype == want, (
                f"{name} step {step}: a {where} array is {type(arr).__name__} {arr.dtype}, not {want}")

    reference, _ = run(name, tree_map(widen, start),
                       *[[tree_map(widen, t) for t in seq] for seq in half])
    u, (_, R, K) = UNIT_ROUNDOFF[dtype], RULES[name]
    K *= KAPPA if name in NEWTON_SCHULZ else 1.0
    for key in start:
        ref = [host(p[key]) for p in reference]
        biggest = max(float(np.max(np.abs(r))) for r in ref)
        moved = max(float(np.max(np.abs(b - a))) for a, b in zip(ref, ref[1:]))
        tolerance = STEPS * u * (R * biggest + K * moved)
        error = float(np.max(np.abs(host(trajectory[-1][key]) - ref[-1])))
        assert error <= tolerance, f"{name} [{key!r}]: {error:.3g} > {tolerance:.3g}"
        total = float(np.max(np.abs(ref[-1] - ref[0])))
        assert total > tolerance, f"{name} [{key!r}]: the check is too loose to see the update"
