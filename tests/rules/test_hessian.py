"""The Hessian-diagonal estimators are unbiased: Hutchinson on quadratics (the Hessian is
the matrix itself), Gauss-Newton-Bartlett on logistic regression (the Gauss-Newton matrix
(1/B) sum p(1-p) x x^T, which for this loss is also the Hessian).

Monte-Carlo tolerance: the mean of N independent estimates has standard error sd/sqrt(N);
a test allows 5 standard errors per coordinate (a false alarm has probability ~6e-7 per
coordinate, and the draws are seeded, so a pass is reproducible), and also asserts that this
allowance is below 6% of the true value, so a bias of 6% or more would fail (N = 20000
estimates keep the whole file near 10 s; the exact-expectation test below has no such slack)."""
import numpy as np
import pytest
import torch

import refopt
from refopt.hessian import gauss_newton_bartlett, hutchinson, sample_labels

N = 20_000


def assert_unbiased(samples, truth):
    samples = np.asarray(samples)
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    assert np.all(5 * se < 0.06 * np.abs(truth)), "the test could not see a 6% bias"
    assert np.all(np.abs(mean - truth) <= 5 * se), (mean, truth, se)


def quadratic(seed=0, n=4):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    return Q @ Q.T / n + np.diag(np.arange(1.0, n + 1))  # f(w) = w'Aw/2, Hessian A


@pytest.mark.parametrize("distribution", ["normal", "rademacher"])
def test_hutchinson_is_unbiased_on_a_quadratic(distribution):
    A = quadratic()
    rng = np.random.default_rng(1)
    w = np.zeros(4)
    samples = [hutchinson(lambda v: A @ v, w, rng, distribution) for _ in range(N)]
    assert_unbiased(samples, np.diag(A))


def test_hutchinson_variance_is_the_known_one():
    # Rademacher: Var = sum_{j != i} A_ij^2; normal: 2 A_ii^2 + sum_{j != i} A_ij^2 (u_i^2 has
    # variance 2). The sample variance of N draws is within ~10% of these (chi-square, N=2e4).
    A = quadratic()
    off = (A**2).sum(axis=1) - np.diag(A) ** 2
    for distribution, var in (("rademacher", off), ("normal", off + 2 * np.diag(A) ** 2)):
        rng = np.random.default_rng(2)
        samples = np.array([hutchinson(lambda v: A @ v, np.zeros(4), rng, distribution) for _ in range(N)])
        np.testing.assert_allclose(samples.var(axis=0), var, rtol=0.1)
        # and within 5 standard errors of the sample variance, sqrt((m4 - var^2)/N) from the
        # samples' fourth moment: for Rademacher probes that is 2-4% of var, where the 10%
        # above would let a variance off by 5% pass (normal probes: 13-15%, so 10% binds)
        c = samples - samples.mean(axis=0)
        se = np.sqrt(((c**4).mean(axis=0) - samples.var(axis=0) ** 2) / N)
        assert np.all(np.abs(samples.var(axis=0) - var) <= 5 * se), distribution


def test_hutchinson_with_rademacher_probes_is_exact_for_a_diagonal_hessian():
    A = np.diag([1.0, -2.0, 3.0])
    rng = np.random.default_rng(3)
    for _ in range(5):
        np.testing.assert_array_equal(hutchinson(lambda v: A @ v, np.zeros(3), rng, "rademacher"),
                                      [1.0, -2.0, 3.0])


def test_hutchinson_on_a_tree_and_on_torch():
    # f(a, b) = a'Pa/2 + (b.b) * 2: Hessian diagonal diag(P) and 4, as torch tensors
    P = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    params = {"a": torch.zeros(2, dtype=torch.float64), "b": [torch.zeros(3, dtype=torch.float64)]}
    hvp = lambda v: {"a": P @ v["a"], "b": [4.0 * v["b"][0]]}  # noqa: E731
    rng = np.random.default_rng(4)
    out = hutchinson(hvp, params, rng, "rademacher")
    assert isinstance(out["b"][0], torch.Tensor) and out["b"][0].dtype == torch.float64
    np.testing.assert_array_equal(out["b"][0].numpy(), [4.0, 4.0, 4.0])
    samples = [hutchinson(hvp, params, rng, "rademacher")["a"].numpy() for _ in range(N // 4)]
    assert_unbiased(samples, np.array([2.0, 3.0]))


def test_hutchinson_rejects_an_unknown_distribution():
    with pytest.raises(ValueError, match="distribution"):
        hutchinson(lambda v: v, np.zeros(2), np.random.default_rng(0), "uniform")


def logistic_problem(seed=5, batch=6, dim=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, dim))
    theta = 0.7 * rng.standard_normal(dim)
    z = X @ theta
    logits = np.stack([np.zeros(batch), z], axis=1)   # softmax([0, z]) = (1 - sigma(z), sigma(z))
    p = 1 / (1 + np.exp(-z))

    def sampled_grad(labels):
        # gradient of the mean cross-entropy at labels y: (1/B) sum (sigma(z_b) - y_b) x_b
        return {"theta": X.T @ (p - labels) / batch}

    gauss_newton = (p * (1 - p)) @ (X**2) / batch   # diag of (1/B) sum p(1-p) x x^T
    return logits, sampled_grad, gauss_newton


def test_gauss_newton_bartlett_is_unbiased_on_logistic_regression():
    logits, sampled_grad, truth = logistic_problem()
    rng = np.random.default_rng(6)
    samples = [gauss_newton_bartlett(sampled_grad, logits, rng)["theta"] for _ in range(N)]
    assert_unbiased(samples, truth)
    assert np.all(np.asarray(samples) >= 0)


def test_gauss_newton_bartlett_exact_expectation_by_enumerating_labels():
    """With B = 6 binary labels there are 64 label vectors: E[B g g] summed exactly equals
    the Gauss-Newton diagonal (Bartlett's identity), to rounding."""
    logits, sampled_grad, truth = logistic_problem()
    p = 1 / (1 + np.exp(-logits[:, 1]))
    expectation = np.zeros_like(truth)
    for code in range(2**6):
        y = np.array([(code >> b) & 1 for b in range(6)], dtype=float)
        prob = np.prod(np.where(y == 1, p, 1 - p))
        expectation += prob * 6 * sampled_grad(y)["theta"] ** 2
    np.testing.assert_allclose(expectation, truth, rtol=1e-13)


def test_labels_follow_the_softmax():
    # 3 classes with probabilities (0.2, 0.3, 0.5): frequencies within 5 binomial sd
    logits = np.log(np.tile([[0.2, 0.3, 0.5]], (N, 1)))
    counts = np.bincount(sample_labels(logits, np.random.default_rng(7)), minlength=3) / N
    sd = np.sqrt(np.array([0.2 * 0.8, 0.3 * 0.7, 0.5 * 0.5]) / N)
    assert np.all(np.abs(counts - [0.2, 0.3, 0.5]) <= 5 * sd)


def test_sophia_h_minimises_an_ill_conditioned_quadratic():
    """End to end: Sophia fed Hutchinson estimates every k = 10 steps (t mod k = 1, as in
    the paper) reaches the minimum of w'Aw/2 with condition number 1e4, where its clipped
    Newton-like step has every coordinate converge at a similar rate."""
    A = np.diag([1e-2, 1.0, 1e2])
    rng = np.random.default_rng(8)
    opt = refopt.sophia(lr=0.05, beta1=0.9, gamma=1.0, weight_decay=0.0)
    w = np.array([1.0, 1.0, 1.0])
    state = opt.init(w)
    for t in range(1, 401):
        hess = hutchinson(lambda v: A @ v, w, rng, "rademacher") if t % 10 == 1 else None
        w, state = opt.step(w, A @ w, state, hess=hess)
    assert np.max(np.abs(w)) < 1e-2
