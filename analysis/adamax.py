r"""AdaMax: the L_p -> infinity limit of Adam's second moment and its step bound
(notes, lines 979-1047; Kingma & Ba sec. 7.1).

**The limit.** With decay :math:`\beta_2^p`,
:math:`v_t^{(p)} = (1-\beta_2^p)\sum_i \beta_2^{p(t-i)}|g_i|^p`. Let
:math:`h_i = \beta_2^{t-i}|g_i|` and :math:`u_t = \max_i h_i`. Then exactly

.. math::

    \log\frac{(v_t^{(p)})^{1/p}}{u_t} = \frac{\log(1-\beta_2^p)
        + \log\sum_i (h_i/u_t)^p}{p},

and the sum tends to the number of ties at the max (1 generically), so the error is
:math:`\log(1-\beta_2^p)/p \approx \log(p(1-\beta_2))/p` while :math:`p(1-\beta_2) \ll 1`,
then :math:`O(\beta_2^p/p)`: slow (13% at p = 10 with beta2 = 0.999), computed here in
log space (``scipy.special.logsumexp``) because :math:`|g|^p` overflows.

**The step bound.** With :math:`\epsilon = 0`,
:math:`|\Delta_t|/\eta = |\sum_k a_k g_k| / \max_k \beta_2^{t-k}|g_k|`, with
:math:`a_k = (1-\beta_1)\beta_1^{t-k}/(1-\beta_1^t)`. Each :math:`|g_k| \le
u_t\,\beta_2^{-(t-k)}`, so

.. math::

    A(t) = \sup_g \frac{|\Delta_t|}{\eta} = \sum_k a_k \beta_2^{-(t-k)}
         = \frac{1-\beta_1}{1-\beta_1^t}\,\frac{1-\rho^t}{1-\rho},\quad \rho = \beta_1/\beta_2,

attained when every :math:`h_k` equals :math:`u_t` with one sign: :math:`g_k = \beta_2^{k}`
(older gradients larger, each decayed back to exactly :math:`u_t`), which attains it at every
t at once. The limit is
:math:`(1-\beta_1)\beta_2/(\beta_2-\beta_1)` (1.00909 at the defaults) if
:math:`\beta_1 < \beta_2`; :math:`A(t) \to \infty` otherwise.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

import refopt

from .adam_bound import searched_max, step_ratios
from .claim import Verdict, claim, figure
from .runs import steps_from_zero

DEFAULTS = (0.9, 0.999)


def sup_ratio(t, beta1: float, beta2: float) -> np.ndarray:
    """A(t), the supremum of |step|/lr over all gradient sequences (eps = 0)."""
    t = np.asarray(t, dtype=float)
    rho = beta1 / beta2
    geometric = t if rho == 1.0 else (1 - rho**t) / (1 - rho)
    return (1 - beta1) / (1 - beta1**t) * geometric


def sup_ratio_limit(beta1: float, beta2: float) -> float:
    return (1 - beta1) * beta2 / (beta2 - beta1) if beta1 < beta2 else np.inf


def adamax(beta1: float, beta2: float):
    return refopt.adamax(lr=1.0, beta1=beta1, beta2=beta2, eps=0.0)


def lp_moment_root(g: np.ndarray, beta2: float, p: float, bias_correct: bool = False) -> float:
    """(v_t^(p))^(1/p) for Adam's L_p moment with decay beta2^p, in log space. With
    ``bias_correct`` it is divided by 1 - beta2^(p t) first, as Adam would."""
    t = len(g)
    logs = p * (np.arange(t - 1, -1, -1) * np.log(beta2) + np.log(np.abs(g)))
    log_v = np.log1p(-beta2**p) + logsumexp(logs)
    if bias_correct:
        log_v -= np.log1p(-beta2 ** (p * t))
    return float(np.exp(log_v / p))


def adamax_u(grads: np.ndarray, beta2: float) -> np.ndarray:
    """The state u after each step of the real refopt.adamax, for (T, N) gradients."""
    opt = refopt.adamax(lr=1.0, beta1=0.9, beta2=beta2, eps=0.0)
    _, states = steps_from_zero(opt, grads)
    return np.array([state.u for state in states])


@claim("adamax-lp-limit",
       "u_t = lim_{p->inf} v_t^(1/p) = max(beta2^(t-1)|g_1|, ..., |g_t|), i.e. "
       "u_t = max(beta2 u_{t-1}, |g_t|); large finite p is a dead end (overflow)",
       source_line=1027)
def adamax_lp_limit(quick: bool) -> Verdict:
    rng = np.random.default_rng(5)
    b2 = DEFAULTS[1]
    trials = 20 if quick else 200
    ps = np.geomspace(2, 1e6, 25)
    errs = np.zeros((trials, len(ps)))
    outside = 0.0
    for i in range(trials):
        g = rng.standard_t(2, 60)
        u = adamax_u(g[:, None], b2)[-1, 0]
        log_err = np.array([np.log(lp_moment_root(g, b2, p) / u) for p in ps])
        errs[i] = np.expm1(log_err)
        # exact bracket: 1 <= sum_i (h_i/u)^p <= t, so log(u_p/u) lies within
        # [log(1-b2^p)/p, (log(1-b2^p) + log t)/p]; allow rounding of the logsumexp
        lo, hi = np.log1p(-b2**ps) / ps, (np.log1p(-b2**ps) + np.log(len(g))) / ps
        outside = max(outside, float(np.max(np.maximum(lo - log_err, log_err - hi))))
    err_at = {p: float(np.exp(np.interp(np.log(p), np.log(ps), np.log(np.abs(errs).max(axis=0)
                                                                          + 1e-300))))
              for p in (10, 100, 1000, 1e5)}
    mid = (ps >= 10) & (ps <= 300)
    slope = np.polyfit(np.log(ps[mid]), np.log(np.median(np.abs(errs[:, mid]), axis=0)), 1)[0]
    # bias correction by 1 - beta2^(p t) changes nothing in the limit
    g = rng.standard_t(2, 60)
    u = adamax_u(g[:, None], b2)[-1, 0]
    corrected = lp_moment_root(g, b2, 1e6, bias_correct=True) / u - 1
    figs = {"rel_err_p10": err_at[10], "rel_err_p100": err_at[100], "rel_err_p1000": err_at[1000],
            "rel_err_p1e5": err_at[1e5], "leading_term_p10": float(np.expm1(np.log1p(-b2**10) / 10)),
            "log_log_slope_p10_to_300": float(slope), "max_outside_exact_bracket": outside,
            "bias_corrected_rel_err_p1e6": float(corrected)}
    ok = outside < 1e-12 and err_at[1e5] < 1e-12
    return Verdict(
        "holds" if ok else "false", figs, key="rel_err_p100",
        detail=(f"The limit holds, at rate O(log p / p) (relative error {err_at[10]:.2f} at p = 10, "
                f"{err_at[100]:.3f} at p = 100); (v_t^(p))^(1/p), computed with logsumexp for p up to 1e6 "
                f"on "
                f"{trials} Student-t(2) sequences, converges to the u_t that refopt.adamax keeps, "
                f"but slowly: relative error {err_at[10]:.2f} at p = 10, {err_at[100]:.3f} at "
                f"p = 100, {err_at[1000]:.1e} at p = 1000, {err_at[1e5]:.1e} at p = 1e5. Rate: "
                f"log(u_p/u) lies in [log(1-b2^p)/p, (log(1-b2^p) + log t)/p] (exact; every run "
                f"inside to {outside:.0e}), so the error is ~log(1/(p(1-b2)))/p, O(log p / p) "
                f"(fitted log-log slope {slope:.2f} for p in 10..300), while p(1-b2) << 1, and "
                f"falls exponentially (b2^p/p) once p >> 1/(1-b2) = 1000. Overflow is avoidable (log "
                f"space), so finite p is "
                f"slow rather than a numerical dead end. Dividing by 1-b2^(pt) (bias correction) "
                f"leaves the limit unchanged ({corrected:.1e} at p = 1e6)."),
    )


@claim("adamax-recursion",
       "u_t = max(beta2 u_{t-1}, |g_t|) with u_1 = |g_1|: no bias correction needed; with "
       "beta2 = 0.999 and |g| = [1, 3, 2, 8, 1], u_t = 7.99",
       source_line=1035)
def adamax_recursion(quick: bool) -> Verdict:
    rng = np.random.default_rng(6)
    b2 = DEFAULTS[1]
    T, n = (200, 200) if quick else (1000, 1000)
    G = rng.standard_cauchy((T, n)) * (rng.random((T, n)) < 0.3)
    G[0] += 1.0
    u = adamax_u(G, b2)
    # closed form: the unrolled max over the decayed history, max_k b2^(t-k) |g_k|
    unrolled = np.array([np.max(b2 ** np.arange(t, -1, -1.0)[:, None] * np.abs(G[:t + 1]), axis=0)
                         for t in range(T)])
    gap = float(np.max(np.abs(u - unrolled) / unrolled))
    first = float(np.max(np.abs(u[0] - np.abs(G[0]))))
    example = float(adamax_u(np.array([[1.0], [3.0], [2.0], [8.0], [1.0]]), b2)[-1, 0])
    # the unrolled max uses b2**(t-k), the rule t products by b2: a few ulps per step apart
    return Verdict(
        "holds" if gap < 4 * T * np.finfo(float).eps and first == 0 and abs(example - 7.99) < 0.005
        else "false",
        {"max_rel_gap_state_vs_unrolled_max": gap, "u1_minus_abs_g1": first,
         "example_u5": example},
        key="example_u5",
        detail=(f"Holds exactly on the real state (u_5 = {example:.3f} for the notes' example); "
                f"refopt.adamax's state equals max_k b2^(t-k)|g_k| on {n} sparse Cauchy sequences "
                f"of {T} steps to {gap:.0e} (relative), u_1 = |g_1| exactly (no shrinkage toward 0, "
                f"so no bias correction), and [1, 3, 2, 8, 1] gives u_5 = {example:.5f} "
                f"(= 0.999 * 8, the notes' 7.99)."),
    )


@claim("lp-norm-table",
       "||[3, 7, 2]||_p = 12 (p = 1), ~7.87 (p = 2), ~7.04 (p = 10), ~7.0001 (p = 100), "
       "7 (p = inf)", source_line=993)
def lp_norm_table(quick: bool) -> Verdict:
    x = np.array([3.0, 7.0, 2.0])
    stated = {1: 12.0, 2: 7.87, 10: 7.04, 100: 7.0001}
    tol = {1: 0.5, 2: 0.005, 10: 0.005, 100: 0.00005}            # half a unit in the last digit
    got = {p: float(np.exp(logsumexp(p * np.log(x)) / p)) for p in stated}
    # independent: 7 (1 + (3/7)^p + (2/7)^p)^(1/p), expanded to first order for large p
    first_order = {p: 7 * (1 + ((3 / 7) ** p + (2 / 7) ** p) / p) for p in stated}
    wrong = [p for p in stated if abs(got[p] - stated[p]) > tol[p]]
    figs = {f"norm_p{p}": got[p] for p in stated}
    figs["first_order_p10"] = first_order[10]
    figs["rows_wrong"] = float(len(wrong))
    return Verdict(
        "false" if wrong else "holds", figs, key="norm_p10",
        detail=(f"Rows p = 10 and 100 are wrong ({got[10]:.5f}, not 7.04; {got[100]:.5f}, not 7.0001); "
                f"rows p = 1 and 2 hold (12, {got[2]:.4f}); p = 10 gives {got[10]:.6f}, not 7.04 "
                f"(first order 7(1 + ((3/7)^p + (2/7)^p)/p) = {first_order[10]:.6f}), and p = 100 "
                f"gives 7 + {got[100] - 7:.1e}, not 7.0001: the max dominates much sooner than the "
                f"table says (wrong rows: p = {', '.join(str(p) for p in wrong)})."),
    )


@claim("adamax-step-bound",
       "AdaMax: |Delta_t| <= eta, always, unconditionally; u_t >= |g_t| by construction, so "
       "the ratio stays bounded", source_line=1037)
def adamax_step_bound(quick: bool) -> Verdict:
    b1, b2 = DEFAULTS
    steps = 3000 if quick else 20000
    t = np.arange(1, steps + 1)
    g = b2 ** np.arange(steps, dtype=float)
    attained = step_ratios(adamax(b1, b2), g[:, None])[:, 0]
    closed = sup_ratio(t, b1, b2)
    agree = float(np.max(np.abs(attained / closed - 1)))
    rng = np.random.default_rng(7)
    search_t = (5, 20) if quick else (5, 20, 40)
    found = [searched_max(adamax(b1, b2), n, rng, 1 if quick else 3, maxiter=100) / sup_ratio(n, b1, b2)
             for n in search_t]
    # beta1 >= beta2: no bound at all (A(t) ~ (1-b1) t / (1 - b1^t) at beta1 = beta2)
    equal = float(step_ratios(adamax(0.9, 0.9), (0.9 ** np.arange(200.0))[:, None])[-1, 0])
    limit = sup_ratio_limit(b1, b2)
    figs = {"sup_ratio_limit": limit, "attained_at_T": float(attained[-1]), "T": steps,
            "max_rel_gap_rule_vs_closed_form": agree,
            "search_excess_over_sup": max(max(found) - 1, 0.0),
            "search_min_fraction_of_sup_reached": min(found),
            "first_t_over_lr": int(t[np.argmax(closed > 1)]),
            "ratio_at_t200_beta1_eq_beta2_0.9": equal}
    return Verdict(
        "false" if attained.max() > 1 else "holds", figs, key="sup_ratio_limit",
        detail=(f"|step|/lr reaches {limit:.5f} at the defaults and is unbounded for beta1 >= beta2; u_t "
                f">= |g_t| bounds only the newest gradient; older ones may reach "
                f"u_t b2^-(t-k). The supremum of |step|/lr is A(t) = (1-b1)/(1-b1^t) * "
                f"(1-(b1/b2)^t)/(1-b1/b2), attained by g_k = b2^k (every decayed |g_k| equal to u_t); it "
                f"exceeds 1 from t = "
                f"{figs['first_t_over_lr']} and tends to (1-b1)b2/(b2-b1) = {limit:.5f} at (0.9, "
                f"0.999). refopt.adamax (eps = 0) on g_k = b2^k gives A(t) at every t to "
                f"{agree:.1e} ({attained[-1]:.5f} at t = {steps}); searches (random, then L-BFGS) "
                f"reach A(t) within {1 - min(found):.1e} and never exceed it. So |step| <= lr is "
                f"false by 0.9% at the defaults, and not unconditional: with beta1 >= beta2 the "
                f"step is unbounded ({equal:.2f} lr at t = 200 for beta1 = beta2 = 0.9). Kingma & "
                f"Ba's '|Delta_t| <= alpha' (sec. 7.1) has the same flaw."),
    )


@figure("adamax_step_bound")
def draw(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    b1, b2 = DEFAULTS
    steps = 3000 if quick else 20000
    t = np.arange(1, steps + 1)
    attained = step_ratios(adamax(b1, b2), (b2 ** np.arange(steps, dtype=float))[:, None])[:, 0]
    rng = np.random.default_rng(8)
    g = rng.standard_t(2, 60)
    u = adamax_u(g[:, None], b2)[-1, 0]
    ps = np.geomspace(1, 1e6, 60)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.semilogx(t, sup_ratio(t, b1, b2), "k", label="sup over all sequences, A(t)")
    ax.semilogx(t[::41], attained[::41], "o", ms=3, label="refopt.adamax on g_k = b2^k")
    ax.axhline(1.0, ls=":", c="r", label="notes: |step| <= lr")
    ax.axhline(sup_ratio_limit(b1, b2), ls="--", c="k", lw=0.8, label="limit (1-b1)b2/(b2-b1)")
    ax.set(xlabel="step t", ylabel="|step| / lr", title="AdaMax (0.9, 0.999), eps = 0")
    ax.legend(fontsize=7)
    err = [abs(lp_moment_root(g, b2, p) / u - 1) for p in ps]
    bx.loglog(ps, err, label="|v^(1/p) / u - 1|, Student-t(2) sequence")
    bx.loglog(ps, np.abs(np.expm1(np.log1p(-b2**ps) / ps)), "--", label="log(1-b2^p)/p")
    bx.set(xlabel="p", ylabel="relative error", title="L_p moment -> refopt.adamax's u_t")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "adamax_step_bound.png", dpi=120)
    plt.close(fig)
