"""The convention tables of the rules added for the frameworks' whole catalogues and the requested
rules (issues 15, 16): signSGD and Signum, Fromage, NovoGrad, Rprop, ASGD, SparseAdam, noisy SGD,
optimistic GD and Adam, SPS, SM3, FTRL, ADOPT and AdEMAMix (``refopt.conventions.spec``)."""
import numpy as np

import refopt
from refopt.flavors import keras as K
from refopt.flavors import optax as O
from refopt.flavors import torch as T

from .spec import SOURCES, Diff, Spec, eps_hat


def _float32_tensor(x: float):
    import torch
    return torch.tensor(x, dtype=torch.float32)


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
            ("a changed lr (a scheduler)", "eta_t from the lr of step t", "eta_t computed at the end of "
             "step t-1 from that step's lr (eta_1 = lr): a new lr takes effect one step late "
             "(StepLR(10, 0.5) at its defaults: 4.7e-2 of the distance moved at step 11 if read at "
             "once; refopt.oracle.shadow models it)",
             "-", "-"),
            ("precision", "exact (float64 here)", "eta_t and mu_t are 0-d tensors of torch's default "
             "dtype (float32 unless changed), so float64 params step with a float32 eta_t", "-", "-"),
        ],
        [
            Diff("eta_t and mu_t in float32 (torch's default dtype) vs float64", "torch",
                 lambda: T.ASGD(scalar_dtype="float64"), lambda: T.ASGD(scalar_dtype="float32")),
            Diff("the foreach path (eta_t from float32 tensor operations, w - eta_t (g + lambd w)) vs "
                 "the single-tensor path", "torch",
                 lambda: T.ASGD(scalar_dtype="float32"),
                 lambda: T.ASGD(scalar_dtype="float32", foreach=True)),
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
            Diff("a float32 tensor lr (optim_db's torch.tensor(1e-3)): the step size lr sqrt(1 - beta2^t) / "
                 "(1 - beta1^t) in float32 vs the same lr as a Python float", "torch",
                 lambda: T.SparseAdam(lr=float(np.float32(1e-3))),
                 lambda: T.SparseAdam(lr=_float32_tensor(1e-3))),
        ],
        {"torch.optim.SparseAdam": (lambda: refopt.sparse_adam(), lambda: T.SparseAdam())},
        "Measured on dense gradients (every coordinate present); tests/rules/test_sparse_adam.py "
        "checks the flavor against torch with real sparse COO gradients.",
    ),
    Spec(
        "Noisy SGD",
        ("noisy_sgd",),
        "Neelakantan et al. (2015): w -= lr (g + N(0, sigma_t^2)), sigma_t^2 = eta/(1 + t)^gamma with t from 0 "
        "(refopt.noisy_sgd: eta 0.01, gamma 0.55, noise from NumPy's PCG64 seeded by (seed, t, leaf))",
        {"torch": "no noisy SGD in torch 2.13", "optax": "optax/_src/alias.py noisy_sgd (optax 0.2.8)",
         "keras": "no noisy SGD in keras 3.15.1"},
        [
            ("noise", "N(0, eta/(1+t)^gamma), drawn from a seed", "-",
             "the same variance, drawn with jax.random from key (split each step)", "-"),
        ],
        [],
        notes="Not measured here: the two sides draw different random numbers by construction. The flavor "
              "draws optax's own noise from its key and agrees with optax to 1e-12 "
              "(tests/rules/test_noisy_sgd.py), and the rule's noise variance is checked against eta/t^gamma.",
    ),
    Spec(
        "Optimistic gradient descent",
        ("optimistic_gd",),
        "Daskalakis et al. (2018): w -= lr ((alpha + beta) g_t - beta g_{t-1}), g_0 = g_1 "
        "(refopt.optimistic_gd: alpha 1, optimism beta 1)",
        {"torch": "no optimistic GD in torch 2.13",
         "optax": "optax/_src/alias.py optimistic_gradient_descent (optax 0.2.8)",
         "keras": "no optimistic GD in keras 3.15.1"},
        [("form", "alpha, beta of the paper's OMD", "-", "the same (alpha, beta)", "-")],
        [],
        {"optax.optimistic_gradient_descent": (lambda: refopt.optimistic_gd(lr=0.01),
                                               lambda: O.optimistic_gradient_descent(0.01))},
    ),
    Spec(
        "Optimistic Adam",
        ("optimistic_adam",),
        "Daskalakis et al. (2018), Algorithm 1: Adam's step u_t, applied as (alpha + beta) u_t - beta u_{t-1} "
        "(refopt.optimistic_adam: nesterov=False, as the paper)",
        {"torch": "no optimistic Adam in torch 2.13", "optax": "optax/_src/alias.py optimistic_adam, "
         "optimistic_adam_v2 (optax 0.2.8)", "keras": "no optimistic Adam in keras 3.15.1"},
        [
            ("moment", "Adam's bias-corrected m", "-", "nesterov=True by default (NAdam's m)", "-"),
            ("lr placement", "lr outside", "-", "optimistic_adam (deprecated): lr inside the combination "
             "(alpha = lr); optimistic_adam_v2: outside", "-"),
        ],
        [Diff("NAdam-style momentum (optax's default) vs Adam's", "optax",
              lambda: refopt.optimistic_adam(), lambda: refopt.optimistic_adam(nesterov=True))],
        {"optax.optimistic_adam_v2": (lambda: refopt.optimistic_adam(), lambda: O.optimistic_adam_v2(1e-3))},
    ),
    Spec(
        "Stochastic Polyak step (SPS)",
        ("polyak_sgd",),
        "Loizou et al. (2021), SPS_max: gamma_t = min((f_t - f*)/(c ||g_t||^2), gamma_b) over the whole tree; "
        "the loss f_t is an input (refopt.polyak_sgd: c 0.2, max_lr 1)",
        {"torch": "no SPS in torch 2.13", "optax": "optax/_src/alias.py polyak_sgd (optax 0.2.8)",
         "keras": "no SPS in keras 3.15.1"},
        [
            ("c", "0.2 (the paper's experiments)", "-", "scaling s multiplies g before the step: c = s^2 "
             "with the gap and the cap times s; s = 1", "-"),
            ("variant", "SPS_max", "-", "variant='sps' (SPS_max) or 'sps+' (gap clipped at 0)", "-"),
        ],
        [],
        notes="Not measured on the standard run, which has gradients only: SPS needs the loss at each step. "
              "tests/rules/test_polyak_sgd.py feeds both sides the same loss stream (1e-12).",
    ),
    Spec(
        "SM3",
        ("sm3",),
        "Anil et al. (2019), SM3-II with one accumulator per row and per column (per entry for vectors), "
        "no momentum (refopt.sm3: lr 0.1, beta1 0)",
        {"torch": "no SM3 in torch 2.13", "optax": "optax/_src/alias.py sm3, transform.py scale_by_sm3 "
         "(optax 0.2.8)", "keras": "no SM3 in keras 3.15.1"},
        [("momentum", "none (beta1 = 0)", "-", "0.9, an EMA of the preconditioned gradient", "-")],
        [Diff("momentum 0.9 vs none", "optax", lambda: refopt.sm3(lr=0.1), lambda: refopt.sm3(lr=0.1, beta1=0.9))],
        {"optax.sm3": (lambda: refopt.sm3(lr=0.1), lambda: O.sm3(0.1))},
    ),
    Spec(
        "FTRL-Proximal",
        ("ftrl",),
        "McMahan et al. (2013), Algorithm 1: per-coordinate lr alpha/(beta + sqrt(n)), L1 and L2 "
        "(refopt.ftrl: beta (offset) 1, n_0 = 0, lr_power -0.5)",
        {"torch": "no FTRL in torch 2.13", "optax": "no FTRL in optax 0.2.8",
         "keras": SOURCES["keras"].format("ftrl")},
        [
            ("beta", "1", "-", "-", "beta = 0"),
            ("n_0", "0", "-", "-", "initial_accumulator_value = 0.1"),
            ("L2", "lambda_2", "-", "-", "l2_regularization_strength = lambda_2 / 2"),
            ("|z| <= lambda_1", "w = 0 exactly", "-", "-", "0/0 = NaN where n_0 = beta = l2 = 0"),
        ],
        [
            Diff("beta 0 vs 1 (both with n_0 = 0.1)", "keras", lambda: refopt.ftrl(initial_accumulator=0.1),
                 lambda: refopt.ftrl(offset=0.0, initial_accumulator=0.1)),
            Diff("n_0 = 0.1 vs 0", "keras", lambda: refopt.ftrl(), lambda: refopt.ftrl(initial_accumulator=0.1)),
        ],
        {"keras.optimizers.Ftrl": (lambda: refopt.ftrl(), lambda: K.Ftrl())},
    ),
    Spec(
        "ADOPT",
        ("adopt",),
        "Taniguchi et al. (2024): g normalised by the previous second moment, clipped at t^(1/4), then "
        "momentum; the first call only sets v_0 = g_0^2 (refopt.adopt: betas 0.9/0.9999, eps 1e-6)",
        {"torch": "no ADOPT in torch 2.13", "optax": "optax/contrib/_adopt.py (optax 0.2.8)",
         "keras": "no ADOPT in keras 3.15.1"},
        [("clipping", "clip(., t^(1/4))", "-", "use_clipping=True, clip_value_fn t^(1/4)", "-")],
        [Diff("no clipping vs t^(1/4)", "optax (option)", lambda: refopt.adopt(), lambda: refopt.adopt(clip=None))],
        {"optax.contrib.adopt": (lambda: refopt.adopt(), lambda: O.contrib.adopt(1e-3))},
    ),
    Spec(
        "AdEMAMix",
        ("ademamix",),
        "Pagliardini, Ablin & Grangier (2024), Algorithm 1: (m1_hat + alpha m2)/(sqrt(v_hat) + eps), m2 a slow "
        "EMA with beta3, optional warm-ups of alpha and beta3 (refopt.ademamix: alpha 5, beta3 0.9999)",
        {"torch": "no AdEMAMix in torch 2.13", "optax": "optax/contrib/_ademamix.py (optax 0.2.8)",
         "keras": "no AdEMAMix in keras 3.15.1"},
        [("warm-ups", "T_alpha, T_beta3 (none by default here)", "-", "schedules passed as alpha, b3", "-")],
        [Diff("alpha 0 (which is Adam) vs 5: the slow EMA's share", "the paper",
              lambda: refopt.ademamix(), lambda: refopt.ademamix(alpha=0.0))],
        {"optax.contrib.ademamix": (lambda: refopt.ademamix(), lambda: O.contrib.ademamix(1e-3))},
    ),
]
