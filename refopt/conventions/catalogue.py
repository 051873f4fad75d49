"""The convention tables of the rules added for the frameworks' whole catalogues (issue 15): signSGD
and Signum, Fromage, NovoGrad, Rprop, ASGD and SparseAdam (``refopt.conventions.spec``)."""
import refopt
from refopt.flavors import optax as O
from refopt.flavors import torch as T

from .spec import SOURCES, Diff, Spec, eps_hat

SPECS = [
    Spec(
        "signSGD, Signum",
        ("sign_sgd", "signum"),
        "Bernstein et al. (2018), Algorithms 1 and 3: w -= lr sign(g), and w -= lr sign(m) with "
        "m = beta m + (1-beta) g, no bias correction (refopt.sign_sgd lr 1e-3, refopt.signum lr 1e-4, beta 0.9)",
        {"torch": "no signSGD in torch 2.13", "optax": "optax/_src/alias.py sign_sgd, signum (optax 0.2.8)",
         "keras": "no signSGD in keras 3.15.1"},
        [
            ("sign(0)", "the analysis writes +-1", "-", "0: no step", "-"),
            ("Signum's memory", "m = beta m + (1-beta) g", "-", "ema(beta, debias=False): the same", "-"),
            ("lr default", "none (tuned per experiment)", "-", "required", "-"),
        ],
        [],
        {"optax.sign_sgd": (lambda: refopt.sign_sgd(lr=1e-3), lambda: O.sign_sgd(1e-3)),
         "optax.signum": (lambda: refopt.signum(lr=1e-4), lambda: O.signum(1e-4))},
        "optax follows the papers: nothing to measure beyond the totals, which are exact.",
    ),
    Spec(
        "Fromage",
        ("fromage",),
        "Bernstein et al. (2020), Algorithm 1: W <- (W - lr ||W||/||g|| g)/sqrt(1 + lr^2) per layer, the "
        "ratio 1 where a norm is 0 (refopt.fromage: lr 0.01, min_norm 0)",
        {"torch": "no Fromage in torch 2.13", "optax": "optax/_src/alias.py fromage (optax 0.2.8)",
         "keras": "no Fromage in keras 3.15.1"},
        [
            ("norm floor", "none (ratio 1 where a norm is 0)", "-",
             "min_norm = 1e-6: max(||W||, mu)/max(||g||, mu)", "-"),
            ("the 1/sqrt(1 + lr^2) factor", "on the whole bracket", "-",
             "lr times it, plus add_decayed_weights(1/sqrt(1+lr^2) - 1): the same number", "-"),
            ("lr default", "0.01", "-", "required", "-"),
        ],
        [
            Diff("min_norm 1e-6 floors both norms vs none (changes only norms below 1e-6)", "optax",
                 lambda: refopt.fromage(lr=0.01), lambda: refopt.fromage(lr=0.01, min_norm=1e-6)),
        ],
        {"optax.fromage": (lambda: refopt.fromage(lr=0.01), lambda: O.fromage(0.01))},
        "The standard run's norms are all far above 1e-6, so the floor changes nothing there; it changes "
        "a zero-initialised bias (ratio 1e-6/||g|| where the paper's is 1). optax computes the factor "
        "as (mult - 1) w, which cancels: the flavor agrees with optax to 3.9e-12, not 1e-14.",
    ),
    Spec(
        "NovoGrad",
        ("novograd",),
        "Ginsburg et al. (2019), Algorithm 1: v_1 = ||g_1||^2 per layer, then an EMA; m = beta1 m + "
        "(g/(sqrt(v) + eps) + lambda w) (refopt.novograd: betas 0.95/0.98, eps 1e-8)",
        {"torch": "no NovoGrad in torch 2.13", "optax": "optax/_src/alias.py novograd (optax 0.2.8)",
         "keras": "no NovoGrad in keras 3.15.1"},
        [
            ("betas", "0.95, 0.98", "-", "0.9, 0.25", "-"),
            ("eps", "1e-8 outside the root", "-", "1e-6 outside, eps_root 0 inside", "-"),
            ("weight decay", "lambda w inside the momentum", "-", "the same, 0", "-"),
        ],
        [
            Diff("beta2 0.25 vs 0.98", "optax", lambda: refopt.novograd(lr=1e-3),
                 lambda: refopt.novograd(lr=1e-3, beta2=0.25)),
            Diff("beta1 0.9 vs 0.95", "optax", lambda: refopt.novograd(lr=1e-3),
                 lambda: refopt.novograd(lr=1e-3, beta1=0.9)),
            Diff("eps 1e-6 vs 1e-8", "optax", lambda: refopt.novograd(lr=1e-3),
                 lambda: refopt.novograd(lr=1e-3, eps=1e-6)),
        ],
        {"optax.novograd": (lambda: refopt.novograd(lr=1e-3), lambda: O.novograd(1e-3))},
    ),
    Spec(
        "Rprop",
        ("rprop",),
        "Riedmiller & Braun (1993) step sizes with the gradient zeroed after a sign change and no "
        "weight-backtracking (iRprop-, Igel & Huesken 2000) (refopt.rprop: Delta_0 0.1, etas 0.5/1.2, "
        "bounds 1e-6/50)",
        {"torch": SOURCES["torch"].format("rprop"), "optax": "optax/_src/transform.py scale_by_rprop "
         "(optax 0.2.8)", "keras": "no Rprop in keras 3.15.1"},
        [
            ("variant", "the 1993 paper backtracks (Rprop+); refopt.rprop does not (iRprop-)", "iRprop-",
             "iRprop- step sizes, but each step emits the one computed the step before (0 at step 1; "
             "open PR google-deepmind/optax#1725)", "-"),
            ("Delta_0", "0.1", "lr = 1e-2", "learning_rate (required)", "-"),
            ("clip of the step size", "where it grows or shrinks", "every step, also where g_{t-1} g_t = 0",
             "only where it grows or shrinks", "-"),
        ],
        [
            Diff("optax's one-step-stale update vs torch's", "optax", lambda: T.Rprop(lr=1e-2),
                 lambda: O.rprop(1e-2)),
        ],
        {"torch.optim.Rprop": (lambda: refopt.rprop(lr=1e-2), lambda: T.Rprop()),
         "optax.rprop": (lambda: refopt.rprop(lr=1e-2), lambda: O.rprop(1e-2))},
    ),
    Spec(
        "ASGD",
        ("asgd",),
        "Polyak & Juditsky (1992) averaging of SGD iterates with torch's step size eta_t = lr/(1 + "
        "lambd lr t)^alpha and the average after t0 (refopt.asgd: torch's defaults, the average in "
        "state.w_avg)",
        {"torch": SOURCES["torch"].format("asgd"), "optax": "no ASGD in optax 0.2.8",
         "keras": "no ASGD in keras 3.15.1"},
        [
            ("averaging start", "after t0", "after t0 + 1: mu_t = 1/max(1, t - 1 - t0)", "-", "-"),
            ("precision", "exact (float64 here)", "eta_t and mu_t are 0-d tensors of torch's default "
             "dtype (float32 unless changed), so float64 params step with a float32 eta_t", "-", "-"),
        ],
        [
            Diff("eta_t and mu_t in float32 (torch's default dtype) vs float64", "torch",
                 lambda: T.ASGD(scalar_dtype="float64"), lambda: T.ASGD(scalar_dtype="float32")),
        ],
        {"torch.optim.ASGD": (lambda: refopt.asgd(), lambda: T.ASGD(scalar_dtype="float32"))},
        "The standard run is 100 steps, far before torch's default t0 = 1e6, so the average is never "
        "formed here: the rows measure the iterates (tests/rules/test_asgd.py checks the average).",
    ),
    Spec(
        "SparseAdam",
        ("sparse_adam",),
        "Kingma & Ba (2015) on the coordinates a sparse gradient holds: the others' moments and params "
        "are left as they are (refopt.sparse_adam: step(..., mask=); lr 1e-3, eps 1e-8 outside sqrt(s_hat))",
        {"torch": SOURCES["torch"].format("sparse_adam"), "optax": "no SparseAdam in optax 0.2.8",
         "keras": "no SparseAdam in keras 3.15.1"},
        [
            ("gradient", "dense values + a mask of the present coordinates", "a sparse COO tensor "
             "(repeated indices summed); a dense one is refused", "-", "-"),
            ("eps", "1e-8 outside sqrt(s_hat)", "1e-8 beside sqrt(s_t) before the correction: "
             "eps/sqrt(1 - beta2^t) in the paper's placement", "-", "-"),
            ("step count", "every step", "every step (also where a coordinate is absent)", "-", "-"),
        ],
        [
            Diff("torch's eps placement vs the paper's", "torch", lambda: refopt.sparse_adam(),
                 lambda: refopt.sparse_adam(eps=eps_hat(1e-8))),
        ],
        {"torch.optim.SparseAdam": (lambda: refopt.sparse_adam(), lambda: T.SparseAdam())},
        "Measured on dense gradients (every coordinate present); tests/rules/test_sparse_adam.py "
        "checks the flavor against torch with real sparse COO gradients.",
    ),
]
