"""The Schedule-Free claim (analysis/schedule_free.py): its problem checked independently (the
optimum by the normal equations, the condition number by SVD), its verdict thresholds, and one
short run of the real rule against a hand-written Schedule-Free loop on the same rows."""
import numpy as np
import pytest

from analysis import schedule_free as sf


def test_the_problem_is_the_stated_one():
    A, b, f_star, w_star = sf.problem()
    assert A.shape == (sf.N, sf.D)
    assert abs(np.linalg.cond(A.T @ A) - sf.COND) < 1e-8 * sf.COND
    w_normal = np.linalg.solve(A.T @ A, A.T @ b)        # independent of lstsq
    np.testing.assert_allclose(w_star, w_normal, rtol=1e-9, atol=1e-12)
    r = A @ w_normal - b
    assert abs(f_star - 0.5 * r @ r / sf.N) <= 1e-12 * f_star
    assert f_star > 0.05  # the noise leaves a floor: no row fits exactly, SGD stays noisy


@pytest.mark.parametrize("ratio,want", [(1.0, "holds"), (1.5, "holds"), (1.51, "conditional"),
                                        (3.0, "conditional"), (3.01, "false"), (np.inf, "false"),
                                        (np.nan, "false")])
def test_verdict_thresholds(ratio, want):
    assert sf.verdict_of(ratio) == want


def test_best_skips_a_diverged_lr():
    out = {("m", lr): np.array([5.0, 1.0 + lr]) for lr in sf.LR_GRID}
    out["m", sf.LR_GRID[0]] = np.array([5.0, np.nan])
    assert sf.best(out, 1.0, "m") == (sf.LR_GRID[1], sf.LR_GRID[1])


def test_the_run_follows_a_hand_written_schedule_free_loop():
    """30 steps of the claim's run against the paper's equations written out here: z <- z - lr g(y),
    c = 1/t (constant lr, weight lr^2), x <- (1-c) x + c z, y = 0.1 z + 0.9 x."""
    A, b, _, _ = sf.problem()
    rows = np.random.default_rng(1).integers(0, sf.N, 30)
    lr = 1.0 / float(np.max(np.sum(A * A, axis=1)))
    got = sf.run(sf.refopt.schedule_free_sgd(lr=lr, beta=0.9), A, b, rows, read=lambda w, s: s.x)
    z = x = y = np.zeros(sf.D)
    want = []
    for t, i in enumerate(rows, start=1):
        z = z - lr * A[i] * (A[i] @ y - b[i])
        x = (1 - 1 / t) * x + z / t
        y = 0.1 * z + 0.9 * x
        want.append(sf.loss(A, b, x))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert want[-1] < want[0]
