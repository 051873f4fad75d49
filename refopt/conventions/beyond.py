"""The convention tables of the requested rules beyond the cheat sheet that the frameworks ship
(issue 16): Schedule-Free SGD and AdamW, Prodigy and D-Adaptation Adam (``refopt.conventions.spec``),
and MARS and SOAP, which none of the three ships: their tables measure pytorch-optimizer's
departures (its flavors equal it to 1e-10 on its own kernels), the one implementation of each on
the package registry, in rows named by where they are found. The authors' packages and pytorch-optimizer are otherwise not columns
here: their departures are measured in the rules' and flavors' docstrings and tests."""
import math

import refopt
from refopt import tree
from refopt.core import Optimizer
from refopt.flavors import keras as K
from refopt.flavors import optax as O
from refopt.flavors import pytorch_optimizer as P
from refopt.flavors.pytorch_optimizer_rules import by_ndim

from .spec import Diff, Spec, eps_hat


def _decay_after(opt, lr, weight_decay):
    """refopt.soap ``opt``, then each leaf it stepped times (1 - lr weight_decay): every leaf from the
    second call, and from the first the leaves with nothing to rotate (the others only build L, R)."""
    def step(params, grads, state):
        params, state = opt.step(params, grads, state)
        spec = tree.structure(params)
        factors = tree.leaves_like(spec, state.L, "state.L")
        leaves = [w * (1 - lr * weight_decay) if state.t > 1 or not any(f.shape[0] for f in L) else w
                  for (_, w), L in zip(tree.leaves_with_paths(params), factors)]
        return tree.unflatten(spec, leaves), state
    return Optimizer(f"{opt.name}+decay after", opt.init, step)


def _eps_outside(eps=1e-8, beta2=0.95):
    """eps outside the uncorrected root as the paper rule's eps: eps / sqrt(1 - beta2^k), k = t - 1."""
    return lambda t: eps / math.sqrt(1 - beta2 ** max(t - 1, 1))

SPECS = [
    Spec(
        "Schedule-Free AdamW",
        ("schedule_free_adamw",),
        "Defazio et al. (2024), Algorithm 1: y = (1-beta1) z + beta1 x is the gradient point (refopt's "
        "params), z takes Adam's step, x averages z with weights gamma_t^2 (the lr with sqrt(1 - beta2^t) "
        "folded in); x is the output (refopt.schedule_free_eval_params). refopt: lr 0.0025, betas 0.9/0.999",
        {"torch": "no Schedule-Free in torch 2.13 (the authors' package schedulefree 1.4.1)",
         "optax": "optax/contrib/_schedule_free.py (optax 0.2.8)",
         "keras": "keras/src/optimizers/schedule_free_adamw.py (keras 3.15.1)"},
        [
            ("bias correction", "sqrt(1-beta2^t) in gamma_t (weights, eps, decay)", "-",
             "on the second moment", "on the second moment"),
            ("averaging weights", "gamma_t^2 (weight_lr_power 2)", "-", "lr^2 (weight_lr_power 2)",
             "uniform, c = 1/t"),
            ("warm-up", "warmup_steps", "-", "refused by the flavor (z stands still at step 1)", "warmup_steps"),
            ("evaluation point", "x", "-", "schedule_free_eval_params", "no eval switch: params are y"),
        ],
        [Diff("the second moment corrected instead of gamma_t (the packages' form)", "optax, keras",
              lambda: refopt.schedule_free_adamw(), lambda: refopt.schedule_free_adamw(bias_correction="moment"))],
        {"optax.contrib.schedule_free_adamw": (lambda: refopt.schedule_free_adamw(),
                                                lambda: O.contrib.schedule_free_adamw()),
         "keras.optimizers.ScheduleFreeAdamW": (lambda: refopt.schedule_free_adamw(),
                                                lambda: K.ScheduleFreeAdamW())},
    ),
    Spec(
        "Schedule-Free SGD",
        ("schedule_free_sgd",),
        "Defazio et al. (2024): y = (1-beta) z + beta x, z -= gamma g(y), x averages z with weights "
        "gamma_t^2 (refopt: lr 1.0, beta 0.9)",
        {"torch": "no Schedule-Free in torch 2.13 (the authors' package schedulefree 1.4.1)",
         "optax": "optax/contrib/_schedule_free.py (optax 0.2.8)", "keras": "no Schedule-Free SGD in keras 3.15.1"},
        [("momentum name", "beta", "-", "b1", "-")],
        [],
        {"optax.contrib.schedule_free_sgd": (lambda: refopt.schedule_free_sgd(), lambda: O.contrib.schedule_free_sgd())},
        "optax follows the paper here: the total is rounding.",
    ),
    Spec(
        "Prodigy",
        ("prodigy",),
        "Mishchenko & Defazio (2024), the Adam form: d estimated from r / ||s||_1 over the whole tree, "
        "as the authors' prodigyopt 1.1.2 computes it (refopt: d0 1e-6, betas 0.9/0.999, beta3 sqrt(beta2), "
        "no bias correction, decoupled decay)",
        {"torch": "no Prodigy in torch 2.13 (the authors' package prodigyopt 1.1.2)",
         "optax": "optax/contrib/_prodigy.py (optax 0.2.8)", "keras": "no Prodigy in keras 3.15.1"},
        [
            ("bias correction", "off by default (use_bias_correction)", "-", "always on", "-"),
            ("eps scaled by", "d_{k+1} (the package; the paper writes d_k)", "-", "d_{k+1}", "-"),
            ("d0 name", "d0", "-", "estim_lr0", "-"),
        ],
        [Diff("bias correction on", "optax", lambda: refopt.prodigy(), lambda: refopt.prodigy(use_bias_correction=True))],
        {"optax.contrib.prodigy": (lambda: refopt.prodigy(), lambda: O.contrib.prodigy())},
    ),
    Spec(
        "D-Adaptation Adam",
        ("dadapt_adam",),
        "Defazio & Mishchenko (2023), D-Adapted Adam as the authors' dadaptation 3.2 computes it (refopt: "
        "d0 1e-6, betas 0.9/0.999, no bias correction, coupled decay)",
        {"torch": "no D-Adaptation in torch 2.13 (the authors' package dadaptation 3.2)",
         "optax": "optax/contrib/_dadapt_adamw.py (optax 0.2.8)", "keras": "no D-Adaptation in keras 3.15.1"},
        [
            ("bias correction", "off by default", "-", "always on", "-"),
            ("weight decay", "coupled by default (decouple=False)", "-", "decoupled", "-"),
        ],
        [Diff("bias correction on", "optax", lambda: refopt.dadapt_adam(),
              lambda: refopt.dadapt_adam(use_bias_correction=True))],
        {"optax.contrib.dadapt_adamw": (lambda: refopt.dadapt_adam(), lambda: O.contrib.dadapt_adamw())},
    ),
    Spec(
        "MARS (AdamW form)",
        ("mars",),
        "Yuan et al. (2024), MARS-AdamW: c = g + gamma b1/(1-b1) (g - g_prev), clipped to norm 1 per "
        "tensor (the authors' code; the algorithm writes one parameter vector), then Adam with "
        "m_hat / (sqrt(s_hat) + eps) and decoupled decay on every leaf (refopt: lr 3e-3, betas "
        "0.95/0.99, gamma 0.025, eps 1e-8, as the authors' mars.py)",
        {"torch": "no MARS in torch 2.13 (pytorch-optimizer 4.1.0 MARS; the authors' AGI-Arena/MARS is "
                  "not on the package registry)",
         "optax": "no MARS in optax 0.2.8 (PR #1689 open, #1560/#1562/#1697 closed: refopt.rules.mars)",
         "keras": "no MARS in keras 3.15.1"},
        [("implementations", "pytorch-optimizer MARS(mars_type='adamw'), its default", "-", "-", "-")],
        [Diff("eps before the bias correction, eps / sqrt(1 - b2^t)", "pytorch-optimizer",
              lambda: refopt.mars(), lambda: refopt.mars(eps=eps_hat(1e-8, 0.99))),
         Diff("1e-15 added to s inside the root", "pytorch-optimizer",
              lambda: refopt.mars(), lambda: refopt.mars(eps_root=lambda t: 1e-15 / (1 - 0.99**t))),
         Diff("leaves of ndim < 2 by AdamW (lr_1d 3e-3, betas_1d 0.9/0.95, weight_decay_1d 0.1)",
              "pytorch-optimizer, the authors' code (optimize_1d=False)", lambda: refopt.mars(),
              lambda: by_ndim(refopt.mars(),
                              refopt.adamw(lr=3e-3, beta1=0.9, beta2=0.95, weight_decay=3e-4)))],
        {"pytorch_optimizer.MARS": (lambda: refopt.mars(), lambda: P.MARS())},
        "optax's pull requests read other formulas (#1689: c = g + (1-gamma)(c_prev - g_prev), no clip; "
        "#1562: only the correction clipped, by a global norm, none at t = 1; #1697: clip optional, taken "
        "off): after 10 steps of the mixed stream they are 1.55 to 2.04 times the rule's displacement "
        "away, after 1 step 1.6e-6 (tests/rules/test_mars.py).",
    ),
    Spec(
        "SOAP",
        ("soap",),
        "Vyas et al. (2024), Algorithm 3 with Algorithm 4's refresh (one power iteration, QR) every 10 "
        "steps, Adam's bias correction, decoupled decay on W_{t-1}; the first call builds L, R and their "
        "eigh bases only (refopt: lr 3e-3, betas 0.95/0.95, eps 1e-8, decay 0.01)",
        {"torch": "no SOAP in torch 2.13 (the authors' soap.py is not on PyPI; pytorch-optimizer 4.1.0)",
         "optax": "no SOAP in optax 0.2.8", "keras": "no SOAP in keras 3.15.1"},
        [
            ("eps", "outside sqrt(V_hat) (Adam's)", "-", "-", "-"),
            ("zero rows of L, R", "exact unit eigenvectors", "-", "-", "-"),
            ("QR of the refresh", "in the params' dtype (float64 for float32)", "-", "-", "-"),
            ("a vector's first call", "AdamW's step (nothing to rotate)", "-", "-", "-"),
        ],
        [Diff("eps outside the uncorrected root, bias correction in the step size", "pytorch-optimizer, "
              "authors' soap.py", lambda: refopt.soap(), lambda: refopt.soap(eps=_eps_outside())),
         Diff("decay of the updated params, W (1 - lr wd) after the step",
              "pytorch-optimizer, authors' soap.py",
              lambda: refopt.soap(), lambda: _decay_after(refopt.soap(weight_decay=0.0), 3e-3, 0.01)),
         Diff("the refreshes' QR in float32",
              "pytorch-optimizer (the authors' soap.py: eigh and QR in float32)",
              lambda: P.SOAP(qr_dtype="float64"), lambda: P.SOAP())],
        {"pytorch_optimizer.SOAP": (lambda: refopt.soap(), lambda: P.SOAP())},
        "The total is mostly the vector b: pytorch-optimizer (and the authors' code) drop a vector's first "
        "gradient with the rest of the group's, where the paper rule takes AdamW's first step (b alone: "
        "1.7; the matrix w alone: 3.0e-5). No zero row of L or R on this stream (its first gradient is "
        "dense), so the exact unit eigenvectors and pytorch-optimizer's eigh(GG + 1e-30 I) agree here; "
        "eigenvector signs change no bit (tests/rules/test_soap.py).",
    ),
]
