"""Write docs/conventions.md: how the paper, torch, optax and keras differ per optimizer, measured.

    python scripts/conventions.py          # rewrite docs/conventions.md
    python scripts/conventions.py --check  # exit 1 if docs/conventions.md is stale (the tests run this)

The convention rows (what each side does, with the source it was read in) are data below,
written by hand. Every number is measured when the script runs: each difference is a pair of
refopt optimizers that differ in that one convention only (the paper's side and the
framework's side, all else equal), and each optimizer also gets a "total" row, the paper rule
at its own defaults against the framework's flavor at the framework's defaults, with the same
lr (the framework's default lr, or the paper's where the framework has none). Both run
``STEPS`` steps of ``refopt.oracle.mixed_gradients`` in float64 from the same params; the
table gives the largest relative params difference over the run, max |w_fw - w_paper| /
max |w_paper - w_0| (``refopt.oracle.compare``), and the first step whose update differs by
more than 1e-10 relative. The flavors are checked against the frameworks themselves by
tests/flavors/ (1e-10), so a flavor's numbers are the framework's.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import refopt  # noqa: E402
from refopt.flavors import keras as K  # noqa: E402
from refopt.flavors import optax as O  # noqa: E402
from refopt.flavors import torch as T  # noqa: E402
from refopt.oracle import compare, mixed_gradients  # noqa: E402

OUT = ROOT / "docs" / "conventions.md"
STEPS = 100
RTOL = 1e-10
SHAPES = {"w": (5, 4), "b": (4,)}
FRAMEWORKS = ("torch", "optax", "keras")

# where the framework columns were read: torch 2.13, optax 0.2.8, keras 3.15.1 (installed)
SOURCES = {
    "torch": "torch/optim/{}.py (torch 2.13)",
    "optax": "optax/_src/{} (optax 0.2.8)",
    "keras": "keras/src/optimizers/{}.py (keras 3.15.1)",
}


@dataclass
class Diff:
    """One convention, measured: ``paper()`` and ``framework()`` differ in it alone."""
    what: str
    frameworks: str
    paper: Callable[[], Any]
    framework: Callable[[], Any]


@dataclass
class Spec:
    title: str
    paper: str
    sources: dict[str, str]
    rows: list[tuple[str, str, str, str, str]]   # aspect, paper, torch, optax, keras
    diffs: list[Diff]
    totals: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = field(default_factory=dict)
    notes: str = ""
    shapes: dict = field(default_factory=lambda: dict(SHAPES))


def _eps_hat(eps, beta2=0.999):
    return lambda t: eps / math.sqrt(1 - beta2**t)


SPECS = [
    Spec(
        "SGD, heavy-ball momentum, Nesterov",
        "Robbins & Monro (1951); Polyak (1964) heavy ball b_t = mu b_{t-1} + g_t; Nesterov (1983) in "
        "Sutskever et al.'s (2013) lookahead form (refopt.sgd, refopt.momentum, refopt.nesterov)",
        {"torch": SOURCES["torch"].format("sgd"), "optax": "optax/_src/alias.py sgd, "
         "optax/transforms/_accumulation.py trace (optax 0.2.8)", "keras": SOURCES["keras"].format("sgd")},
        [
            ("lr default", "none given", "1e-3", "required", "1e-2"),
            ("momentum form", "b_t = mu b_{t-1} + g_t, w -= lr b_t, b_0 = 0",
             "same, but with dampening tau: b_1 = g_1 undamped, then b_t = mu b_{t-1} + (1-tau) g_t",
             "same (trace), b_0 = 0", "velocity with lr inside: v_t = mu v_{t-1} - lr g_t, w += v_t"),
            ("momentum default", "-", "0 (off)", "None (off)", "0.0 (off)"),
            ("Nesterov", "lookahead: gradient at w + mu v, stores w",
             "reformulated: w -= lr (g_t + mu b_t), stores the lookahead point",
             "reformulated (as torch)", "reformulated, lr inside: w += mu v_t - lr g_t"),
            ("weight decay", "none", "coupled L2: g += lambda w", "none in sgd",
             "decoupled, before the step: w -= w lambda lr"),
        ],
        [
            Diff("dampening tau = 0.5 (b_1 = g_1 undamped) vs none", "torch",
                 lambda: refopt.momentum(lr=0.01, beta1=0.9),
                 lambda: T.SGD(lr=0.01, momentum=0.9, dampening=0.5)),
            Diff("lr inside the velocity vs outside (constant lr)", "keras",
                 lambda: refopt.momentum(lr=0.01, beta1=0.9),
                 lambda: K.SGD(floatx="float64", learning_rate=0.01, momentum=0.9)),
            Diff("Nesterov: stored lookahead point vs the paper's iterate", "torch, optax, keras",
                 lambda: refopt.nesterov(lr=0.01, beta1=0.9),
                 lambda: T.SGD(lr=0.01, momentum=0.9, nesterov=True)),
            Diff("decay 0.01 decoupled (keras) vs coupled (torch), plain SGD", "torch vs keras",
                 lambda: T.SGD(lr=0.01, weight_decay=0.01),
                 lambda: K.SGD(floatx="float64", learning_rate=0.01, weight_decay=0.01)),
            Diff("decay 0.01 decoupled (keras) vs coupled (torch), momentum 0.9", "torch vs keras",
                 lambda: T.SGD(lr=0.01, momentum=0.9, weight_decay=0.01),
                 lambda: K.SGD(floatx="float64", learning_rate=0.01, momentum=0.9, weight_decay=0.01)),
        ],
        {"torch.optim.SGD": (lambda: refopt.sgd(lr=1e-3), lambda: T.SGD()),
         "optax.sgd": (lambda: refopt.sgd(lr=1e-3), lambda: O.sgd(1e-3)),
         "keras.optimizers.SGD": (lambda: refopt.sgd(lr=0.01), lambda: K.SGD())},
        "Plain SGD with coupled and with decoupled decay is the same map, w(1 - lr lambda) - lr g: "
        "the two differ only once momentum carries the decay term into later steps.",
    ),
    Spec(
        "AdaGrad",
        "Duchi, Hazan & Singer (2011), diagonal update with delta outside the root (refopt.adagrad: "
        "lr 1e-2, eps 1e-10 outside, s_0 = 0)",
        {"torch": SOURCES["torch"].format("adagrad"), "optax": "optax/_src/alias.py adagrad, "
         "transform.py scale_by_rss (optax 0.2.8)", "keras": SOURCES["keras"].format("adagrad")},
        [
            ("lr default", "1e-2 (refopt)", "1e-2", "required", "1e-3"),
            ("eps", "1e-10, outside the root", "1e-10, outside", "1e-7, inside: sqrt(s + eps)",
             "1e-7, inside: sqrt(s + eps)"),
            ("initial accumulator s_0", "0", "0 (initial_accumulator_value)", "0.1", "0.1"),
            ("lr schedule", "none", "lr / (1 + (t-1) lr_decay), lr_decay 0", "none", "none"),
            ("weight decay", "none", "coupled L2", "none", "decoupled, before the step"),
        ],
        [
            Diff("eps 1e-7 inside vs outside the root", "optax, keras",
                 lambda: refopt.adagrad(lr=1e-2, eps=1e-7),
                 lambda: refopt.adagrad(lr=1e-2, eps=0.0, eps_root=1e-7)),
            Diff("s_0 = 0.1 vs 0", "optax, keras",
                 lambda: refopt.adagrad(lr=1e-2, eps=0.0, eps_root=1e-7),
                 lambda: refopt.adagrad(lr=1e-2, eps=0.0, eps_root=1e-7, initial_accumulator=0.1)),
            Diff("eps 1e-7 vs 1e-10 (both outside)", "optax, keras (value)",
                 lambda: refopt.adagrad(lr=1e-2), lambda: refopt.adagrad(lr=1e-2, eps=1e-7)),
        ],
        {"torch.optim.Adagrad": (lambda: refopt.adagrad(lr=1e-2), lambda: T.Adagrad()),
         "optax.adagrad": (lambda: refopt.adagrad(lr=1e-2), lambda: O.adagrad(1e-2)),
         "keras.optimizers.Adagrad": (lambda: refopt.adagrad(lr=1e-3), lambda: K.Adagrad())},
    ),
    Spec(
        "RMSProp",
        "Hinton & Tieleman (2012) lecture 6e; centered: Graves (2013) (refopt.rmsprop: lr 1e-3, "
        "beta2 0.9, eps 1e-8 outside the root)",
        {"torch": SOURCES["torch"].format("rmsprop"), "optax": "optax/_src/alias.py rmsprop, "
         "transform.py scale_by_rms / scale_by_stddev (optax 0.2.8)",
         "keras": SOURCES["keras"].format("rmsprop")},
        [
            ("lr default", "1e-3 (refopt)", "1e-2", "required", "1e-3"),
            ("decay", "0.9", "alpha = 0.99", "decay = 0.9", "rho = 0.9"),
            ("eps", "1e-8, outside the root", "1e-8, outside", "1e-8, inside (eps_in_sqrt=True)",
             "1e-7, inside (also of the centered s - gbar^2)"),
            ("initial s_0", "0", "0", "initial_scale = 0", "0"),
            ("bias correction", "none", "none", "optional (bias_correction=False), of s and gbar", "none"),
            ("momentum", "b = mu b + g/(...), w -= lr b", "same",
             "trace after the lr (same); optional nesterov",
             "lr inside: b = mu b + lr g/(...), w -= b"),
            ("weight decay", "none", "coupled L2", "none", "decoupled, before the step"),
        ],
        [
            Diff("decay 0.99 vs 0.9", "torch",
                 lambda: refopt.rmsprop(lr=1e-3), lambda: refopt.rmsprop(lr=1e-3, beta2=0.99)),
            Diff("eps 1e-8 inside vs outside the root", "optax, keras",
                 lambda: refopt.rmsprop(lr=1e-3), lambda: refopt.rmsprop(lr=1e-3, eps=0.0, eps_root=1e-8)),
            Diff("eps 1e-7 vs 1e-8 (inside)", "keras",
                 lambda: refopt.rmsprop(lr=1e-3, eps=0.0, eps_root=1e-8),
                 lambda: refopt.rmsprop(lr=1e-3, eps=0.0, eps_root=1e-7)),
            Diff("bias_correction=True vs none", "optax (option)",
                 lambda: O.rmsprop(1e-3), lambda: O.rmsprop(1e-3, bias_correction=True)),
            Diff("momentum 0.9 with lr inside vs outside (constant lr)", "keras",
                 lambda: refopt.rmsprop(lr=1e-3, eps=0.0, eps_root=1e-7, momentum=0.9),
                 lambda: K.RMSprop(floatx="float64", momentum=0.9)),
        ],
        {"torch.optim.RMSprop": (lambda: refopt.rmsprop(lr=1e-2), lambda: T.RMSprop()),
         "optax.rmsprop": (lambda: refopt.rmsprop(lr=1e-3), lambda: O.rmsprop(1e-3)),
         "keras.optimizers.RMSprop": (lambda: refopt.rmsprop(lr=1e-3), lambda: K.RMSprop())},
    ),
    Spec(
        "AdaDelta",
        "Zeiler (2012), Algorithm 1: no lr (refopt.adadelta: lr 1, rho 0.95, eps 1e-6 inside both roots)",
        {"torch": SOURCES["torch"].format("adadelta"), "optax": "optax/_src/alias.py adadelta, "
         "transform.py scale_by_adadelta (optax 0.2.8)", "keras": SOURCES["keras"].format("adadelta")},
        [
            ("lr default", "none (1)", "1.0", "None: the identity, so the step ascends", "1e-3"),
            ("rho", "0.95", "0.9", "0.9", "0.95"),
            ("eps", "1e-6, inside both roots", "1e-6", "1e-6", "1e-7"),
            ("stored squared step", "unscaled", "unscaled (lr after)", "unscaled", "unscaled"),
            ("weight decay", "none", "coupled L2", "coupled (added to g)", "decoupled, before the step"),
        ],
        [
            Diff("rho 0.9 vs 0.95", "torch, optax",
                 lambda: refopt.adadelta(lr=1.0), lambda: refopt.adadelta(lr=1.0, beta2=0.9)),
            Diff("eps 1e-7 vs 1e-6", "keras",
                 lambda: refopt.adadelta(lr=1.0), lambda: refopt.adadelta(lr=1.0, eps=1e-7)),
            Diff("learning_rate=None (ascends) vs lr 1", "optax (default)",
                 lambda: O.adadelta(1.0), lambda: O.adadelta()),
            Diff("lr 1e-3 vs 1 (the paper has none)", "keras (default)",
                 lambda: refopt.adadelta(lr=1.0), lambda: refopt.adadelta(lr=1e-3)),
        ],
        {"torch.optim.Adadelta": (lambda: refopt.adadelta(lr=1.0), lambda: T.Adadelta()),
         "optax.adadelta": (lambda: refopt.adadelta(lr=1.0), lambda: O.adadelta(1.0)),
         "keras.optimizers.Adadelta": (lambda: refopt.adadelta(lr=1e-3), lambda: K.Adadelta())},
        "AdaDelta's first step is about sqrt(eps/(1-rho)) sign(g) where |g| >> sqrt(eps) (4.5e-3 at the "
        "paper's values) and later steps grow from the stored squared steps, so eps sets the scale of "
        "the whole run: its row is large by construction (eps 1e-7 vs 1e-6 makes the first step sqrt(10) "
        "times smaller, a relative difference of 0.68).",
    ),
    Spec(
        "Adam",
        "Kingma & Ba (2015), Algorithm 1 (refopt.adam: lr 1e-3, betas 0.9/0.999, eps 1e-8 outside "
        "sqrt(s_hat))",
        {"torch": SOURCES["torch"].format("adam"), "optax": "optax/_src/alias.py adam, "
         "transform.py scale_by_adam (optax 0.2.8)", "keras": SOURCES["keras"].format("adam")},
        [
            ("lr default", "1e-3", "1e-3", "required", "1e-3"),
            ("eps", "1e-8, outside sqrt(s_hat)", "1e-8, outside sqrt(s_hat)",
             "1e-8 outside, eps_root = 0 inside", "1e-7, eps-hat: alpha_t m_t/(sqrt(s_t) + eps), "
             "i.e. eps/sqrt(1-beta2^t) outside sqrt(s_hat)"),
            ("bias correction", "m and s", "m and s", "m and s",
             "folded into alpha_t = lr sqrt(1-b2^t)/(1-b1^t)"),
            ("weight decay", "none", "coupled L2 (decoupled_weight_decay=False)", "none (adamw)",
             "decoupled, before the step (Adam(weight_decay) is AdamW)"),
            ("Nesterov", "-", "-", "nesterov=False (True: NAdam)", "-"),
            ("precision (keras)", "exact (float64 here)", "-", "-",
             "a constant lr is a variable of floatx (float32 unless set), cast to the params' dtype in "
             "the step: float64 params train with lr rounded to float32 (every keras optimizer)"),
            ("precision (torch, optax)", "exact (float64 here)",
             "step is a 0-d tensor of torch's default dtype (float32 unless changed): exact on the usual "
             "paths; differentiable=True computes the bias corrections and step size from it in float32",
             "mu_dtype stores m in another dtype (None: the params')", "-"),
        ],
        [
            Diff("lr held in float32 (keras's default floatx) vs float64", "keras",
                 lambda: K.Adam(floatx="float64"), lambda: K.Adam(floatx="float32")),
            Diff("differentiable=True: corrections from a float32 step vs float64", "torch",
                 lambda: T.Adam(differentiable=True, scalar_dtype="float64"),
                 lambda: T.Adam(differentiable=True, scalar_dtype="float32")),
            Diff("m stored in bfloat16 (mu_dtype) vs the params' float64", "optax (option)",
                 lambda: O.adam(1e-3), lambda: O.adam(1e-3, mu_dtype="bfloat16")),
            Diff("eps-hat 1e-7 vs the paper's placement of 1e-7", "keras",
                 lambda: refopt.adam(lr=1e-3, eps=1e-7), lambda: refopt.adam(lr=1e-3, eps=_eps_hat(1e-7))),
            Diff("eps 1e-7 vs 1e-8 (paper placement)", "keras (value)",
                 lambda: refopt.adam(lr=1e-3), lambda: refopt.adam(lr=1e-3, eps=1e-7)),
            Diff("eps_root 1e-8 inside vs eps 1e-8 outside", "optax (option)",
                 lambda: refopt.adam(lr=1e-3), lambda: refopt.adam(lr=1e-3, eps=0.0, eps_root=1e-8)),
            Diff("decay 0.01 decoupled (keras) vs coupled L2 (torch)", "torch vs keras",
                 lambda: T.Adam(weight_decay=0.01), lambda: K.Adam(floatx="float64", weight_decay=0.01)),
        ],
        {"torch.optim.Adam": (lambda: refopt.adam(lr=1e-3), lambda: T.Adam()),
         "optax.adam": (lambda: refopt.adam(lr=1e-3), lambda: O.adam(1e-3)),
         "keras.optimizers.Adam": (lambda: refopt.adam(lr=1e-3), lambda: K.Adam())},
    ),
    Spec(
        "AdamW",
        "Loshchilov & Hutter (2019), Algorithm 2: decay times the schedule multiplier only, not the lr "
        "(refopt.adamw: weight_decay 1e-5 in the paper's units = torch's 1e-2 times its lr 1e-3)",
        {"torch": SOURCES["torch"].format("adamw") + " (Adam with decoupled_weight_decay)",
         "optax": "optax/_src/alias.py adamw, transform.py add_decayed_weights (optax 0.2.8)",
         "keras": SOURCES["keras"].format("adamw") + ", base_optimizer.py _apply_weight_decay"},
        [
            ("decay scaling", "lambda eta_t (not the lr)", "lr lambda", "lr lambda", "lr lambda"),
            ("decay order", "w_{t-1} in the same update", "w (1 - lr lambda) before the step",
             "lambda w_{t-1} added to the update", "w - w lambda lr before the step"),
            ("decay default", "none given (refopt 1e-5)", "1e-2", "1e-4", "0.004"),
            ("eps", "1e-8 outside sqrt(s_hat)", "1e-8", "1e-8 (+ eps_root 0)", "1e-7, eps-hat"),
        ],
        [
            Diff("the same number 0.01 read as lr*lambda (frameworks) vs lambda (paper)",
            "torch, optax, keras",
                 lambda: refopt.adamw(lr=1e-3, weight_decay=0.01), lambda: T.AdamW(weight_decay=0.01)),
            Diff("default decay 1e-4 vs 1e-2 (times lr)", "optax vs torch",
                 lambda: T.AdamW(), lambda: O.adamw(1e-3)),
            Diff("default decay 0.004 vs 1e-2 (times lr), eps-hat 1e-7", "keras vs torch",
                 lambda: T.AdamW(), lambda: K.AdamW(floatx="float64")),
            Diff("differentiable=True: corrections from a float32 step vs float64", "torch",
                 lambda: T.AdamW(differentiable=True, scalar_dtype="float64"),
                 lambda: T.AdamW(differentiable=True, scalar_dtype="float32")),
        ],
        {"torch.optim.AdamW": (lambda: refopt.adamw(lr=1e-3), lambda: T.AdamW()),
         "optax.adamw": (lambda: refopt.adamw(lr=1e-3), lambda: O.adamw(1e-3)),
         "keras.optimizers.AdamW": (lambda: refopt.adamw(lr=1e-3), lambda: K.AdamW())},
    ),
    Spec(
        "AMSGrad",
        "Reddi, Kale & Kumar (2018), Algorithm 2: max of the raw s_t, no bias correction "
        "(refopt.amsgrad: lr 1e-3, eps 1e-8 outside)",
        {"torch": SOURCES["torch"].format("adam") + " amsgrad=True", "optax": "optax/_src/alias.py amsgrad, "
         "transform.py scale_by_amsgrad (optax 0.2.8)",
         "keras": SOURCES["keras"].format("adam") + " amsgrad=True"},
        [
            ("max of", "raw s_t", "raw s_t", "bias-corrected s_hat_t", "raw s_t"),
            ("bias correction", "none", "m, and the max divided by the current 1-b2^t",
             "m and s before the max", "folded into alpha_t (eps-hat)"),
            ("eps", "1e-8 outside (refopt)", "1e-8 outside", "1e-8 outside, eps_root 0", "1e-7, eps-hat"),
        ],
        [
            Diff("bias corrections (torch's form) vs none", "torch",
                 lambda: refopt.amsgrad(lr=1e-3), lambda: T.Adam(amsgrad=True)),
            Diff("max of corrected s_hat vs of raw s (both corrected)", "optax vs torch",
                 lambda: T.Adam(amsgrad=True), lambda: O.amsgrad(1e-3)),
            Diff("eps-hat 1e-7 vs torch's 1e-8", "keras vs torch",
                 lambda: T.Adam(amsgrad=True), lambda: K.Adam(floatx="float64", amsgrad=True)),
        ],
        {"torch.optim.Adam(amsgrad)": (lambda: refopt.amsgrad(lr=1e-3), lambda: T.Adam(amsgrad=True)),
         "optax.amsgrad": (lambda: refopt.amsgrad(lr=1e-3), lambda: O.amsgrad(1e-3)),
         "keras.optimizers.Adam(amsgrad)": (lambda: refopt.amsgrad(lr=1e-3), lambda: K.Adam(amsgrad=True))},
    ),
    Spec(
        "AdaMax",
        "Kingma & Ba (2015), Algorithm 2: u_t = max(beta2 u_{t-1}, |g_t|), no eps (refopt.adamax: "
        "lr 2e-3, eps 0)",
        {"torch": SOURCES["torch"].format("adamax"), "optax": "optax/_src/alias.py adamax, "
         "transform.py scale_by_adamax (optax 0.2.8)", "keras": SOURCES["keras"].format("adamax")},
        [
            ("lr default", "2e-3", "2e-3", "required", "1e-3"),
            ("eps", "none", "1e-8 inside the max: max(b2 u, |g| + eps)", "1e-8 inside the max",
             "1e-7 after the max: m/((1-b1^t)(u + eps))"),
        ],
        [
            Diff("eps 1e-8 inside the max vs none", "torch, optax",
                 lambda: refopt.adamax(lr=2e-3), lambda: refopt.adamax(lr=2e-3, eps=1e-8)),
            Diff("eps 1e-7 after the max vs none", "keras",
                 lambda: refopt.adamax(lr=2e-3), lambda: K.Adamax(floatx="float64", learning_rate=2e-3)),
        ],
        {"torch.optim.Adamax": (lambda: refopt.adamax(lr=2e-3), lambda: T.Adamax()),
         "optax.adamax": (lambda: refopt.adamax(lr=2e-3), lambda: O.adamax(2e-3)),
         "keras.optimizers.Adamax": (lambda: refopt.adamax(lr=1e-3), lambda: K.Adamax())},
    ),
    Spec(
        "NAdam",
        "Dozat (2016), with a constant beta1 (refopt.nadam: lr 2e-3, eps 1e-8 outside)",
        {"torch": SOURCES["torch"].format("nadam"), "optax": "optax/_src/alias.py nadam, "
         "transform.py scale_by_adam(nesterov=True) (optax 0.2.8)",
         "keras": SOURCES["keras"].format("nadam")},
        [
            ("lr default", "2e-3", "2e-3", "required", "1e-3"),
            ("momentum coefficient", "constant beta1",
             "mu_t = beta1 (1 - 0.5 0.96^(0.004 t)), products of mu_i as corrections",
             "constant beta1 (Dozat's form)", "mu_t = beta1 (1 - 0.5 0.96^t)"),
            ("eps", "1e-8 outside", "1e-8", "1e-8 (+ eps_root 0)", "1e-7"),
            ("weight decay", "none", "coupled L2 (decoupled_weight_decay=False)", "none (nadamw)",
             "decoupled, before the step"),
            ("precision", "exact (float64 here)",
             "the product of the mu_i is a 0-d tensor in torch's default dtype: float32 unless "
             "changed (the other torch optimizers here do not depend on it)", "-", "-"),
        ],
        [
            Diff("momentum schedule psi = 0.004 vs constant beta1", "torch",
                 lambda: refopt.nadam(lr=2e-3), lambda: T.NAdam()),
            Diff("mu_product in float32 (torch's default dtype) vs float64", "torch",
                 lambda: T.NAdam(scalar_dtype="float64"), lambda: T.NAdam(scalar_dtype="float32")),
            Diff("momentum schedule 0.96^t vs constant beta1 (eps 1e-8)", "keras",
                 lambda: refopt.nadam(lr=2e-3),
                 lambda: K.Nadam(floatx="float64", learning_rate=2e-3, epsilon=1e-8)),
        ],
        {"torch.optim.NAdam": (lambda: refopt.nadam(lr=2e-3), lambda: T.NAdam()),
         "optax.nadam": (lambda: refopt.nadam(lr=2e-3), lambda: O.nadam(2e-3)),
         "keras.optimizers.Nadam": (lambda: refopt.nadam(lr=1e-3), lambda: K.Nadam())},
    ),
    Spec(
        "RAdam",
        "Liu et al. (2020), Algorithm 2: rectify while rho_t > 4, no eps (refopt.radam: threshold 4, eps 0)",
        {"torch": SOURCES["torch"].format("radam"), "optax": "optax/_src/alias.py radam, "
         "transform.py scale_by_radam (optax 0.2.8)", "keras": "no RAdam in keras 3.15.1"},
        [
            ("threshold", "rho_t > 4", "rho_t > 5", "rho_t >= 5", "-"),
            ("eps", "none", "1e-8: sqrt(1-b2^t)/(sqrt(s_t) + eps)", "1e-8 outside sqrt(s_hat), eps_root 0",
             "-"),
        ],
        [
            Diff("threshold 5 vs 4", "torch, optax",
                 lambda: refopt.radam(lr=1e-3), lambda: refopt.radam(lr=1e-3, threshold=5.0)),
            Diff("eps 1e-8 outside sqrt(s_hat) vs none", "optax",
                 lambda: refopt.radam(lr=1e-3, threshold=5.0),
                 lambda: refopt.radam(lr=1e-3, eps=1e-8, threshold=5.0)),
            Diff("torch's eps 1e-8 outside sqrt(s_t) (eps-hat type) vs none", "torch",
                 lambda: refopt.radam(lr=1e-3, threshold=5.0), lambda: T.RAdam()),
        ],
        {"torch.optim.RAdam": (lambda: refopt.radam(lr=1e-3), lambda: T.RAdam()),
         "optax.radam": (lambda: refopt.radam(lr=1e-3), lambda: O.radam(1e-3))},
        "With beta2 = 0.999, rho_t first exceeds 4 at t = 5 and 5 at t = 6, so the threshold changes "
        "the fifth step only; the params keep that step's difference afterwards (the moments do not "
        "depend on the params, and the gradient sequence is fixed).",
    ),
    Spec(
        "Lion",
        "Chen et al. (2023), Algorithm 2 (refopt.lion: lr 1e-4, betas 0.9/0.99, decay 0)",
        {"torch": "no Lion in torch 2.13", "optax": "optax/_src/alias.py lion (optax 0.2.8)",
         "keras": SOURCES["keras"].format("lion")},
        [
            ("lr default", "1e-4 (refopt; the paper advises 3-10x below AdamW's)", "-", "required", "1e-3"),
            ("weight decay", "lr lambda w inside the step, 0", "-", "1e-3 by default, inside the step",
             "decoupled before the step (the same numbers), None"),
        ],
        [
            Diff("optax's default decay 1e-3 vs none", "optax",
                 lambda: refopt.lion(lr=1e-4), lambda: O.lion(1e-4)),
        ],
        {"optax.lion": (lambda: refopt.lion(lr=1e-4), lambda: O.lion(1e-4)),
         "keras.optimizers.Lion": (lambda: refopt.lion(lr=1e-3), lambda: K.Lion())},
    ),
    Spec(
        "Adafactor",
        "Shazeer & Stern (2018), Algorithms 4/5 with relative step and clipping (refopt.adafactor: rho_t = "
        "min(1e-2, 1/sqrt t), eps1 1e-30 added to G^2, eps2 1e-3, d 1, beta2_t = 1 - t^-0.8)",
        {"torch": SOURCES["torch"].format("_adafactor"), "optax": "optax/_src/alias.py adafactor, "
         "factorized.py scale_by_factored_rms (optax 0.2.8)", "keras": SOURCES["keras"].format("adafactor")},
        [
            ("lr role", "rho_t = min(1e-2, 1/sqrt t)", "rho_t = min(lr, 1/sqrt t), lr 1e-2",
             "no relative step: learning_rate is the step (None: none)", "rho_t = min(lr, 1/sqrt t), lr 1e-3 "
             "(relative_step changes nothing in 3.15.1)"),
            ("eps1", "1e-30 added to G^2", "machine eps as clamps: max(mean R, eps1), max(V, eps1^2)",
             "1e-30 added to G^2", "1e-30 added to G^2"),
            ("factored axes", "the matrix", "last two axes", "the two largest, if both >= 128",
             "last two axes"),
            ("parameter scale", "max(eps2, RMS(w_{t-1})) before clipping", "same, RMS read before the decay",
             "max(1e-3, RMS(w)) after clipping and lr", "same as the paper, RMS read after the decay"),
            ("weight decay", "none", "decoupled w(1 - lr lambda)", "weight_decay_rate added after momentum",
             "decoupled, before the step"),
            ("precision", "exact (float64 here)", "-", "beta2_t in float32 (float64 under inject_hyperparams)",
             "every mean (row, column, RMS) in float32 even for float64 input: keras 3.15.1's JAX ops.mean "
             "computes in result_type(x.dtype, 'float32')"),
        ],
        [
            Diff("means in float32 (keras on JAX) vs in the params' dtype", "keras",
                 lambda: K.Adafactor(floatx="float64", mean_dtype=None),
                 lambda: K.Adafactor(floatx="float64", mean_dtype="float32")),
            Diff("eps1 as torch's clamps (float64 machine eps) vs added 1e-30", "torch",
                 lambda: refopt.adafactor(lr=1e-2), lambda: T.Adafactor()),
            Diff("keras's default lr 1e-3 as the cap of rho_t vs the paper's 1e-2", "keras",
                 lambda: refopt.adafactor(lr=1e-2), lambda: K.Adafactor(floatx="float64", mean_dtype=None)),
            Diff("decay 0.1, RMS(w) read before (torch) vs after (keras) the decay", "torch vs keras",
                 lambda: T.Adafactor(weight_decay=0.1),
                 lambda: K.Adafactor(floatx="float64", mean_dtype=None, learning_rate=1e-2,
                                     weight_decay=0.1)),
            Diff("optax with these leaves factored (min_dim_size_to_factor=2): its order and missing "
                 "relative step change nothing here; what remains is its float32 beta2_t", "optax",
                 lambda: refopt.adafactor(lr=1e-2), lambda: O.adafactor(1e-2, min_dim_size_to_factor=2)),
            Diff("beta2_t = 1 - t^-0.8 in float32 (optax's default) vs float64 (under inject_hyperparams)",
                 "optax", lambda: O.adafactor(1e-2, decay_rate_dtype="float64"), lambda: O.adafactor(1e-2)),
        ],
        {"torch.optim.Adafactor": (lambda: refopt.adafactor(lr=1e-2), lambda: T.Adafactor()),
         "optax.adafactor": (lambda: refopt.adafactor(lr=1e-2), lambda: O.adafactor(1e-2)),
         "keras.optimizers.Adafactor": (lambda: refopt.adafactor(lr=1e-3), lambda: K.Adafactor())},
        "torch's clamps differ from the added eps1 only where a row/column statistic falls below "
        "~1e-16, which a run whose first gradient is dense never reaches. keras 3.15.1's JAX ops.mean "
        "accumulates float64 input in float32 in XLA's summation order; the flavor's float32 means "
        "(its default) have that precision but not those bits, so keras's Adafactor and its flavor agree "
        "to 1.4e-7 relative in the update (tests/flavors/test_keras.py). optax's "
        "default factors no axis of these small leaves (a full second moment, as Adam without beta1 but "
        "with beta2_t): that is the whole of its total row. The parameter scale and the lr are scalars, "
        "so optax's order (after the clipping) is the paper's numbers. With rho_t = min(1e-2, "
        "1/sqrt t) = 1e-2 up to "
        "t = 10^4, optax's missing relative step changes nothing in 100 steps at lr 1e-2.",
    ),
    Spec(
        "LAMB",
        "You et al. (2020), Algorithm 2: r_t = m_hat/(sqrt(s_hat) + eps) + lambda w, step "
        "lr ||w||/||r_t|| r_t (refopt.lamb: lr 1e-3, eps 1e-6, decay 0)",
        {"torch": "no LAMB in torch 2.13", "optax": "optax/_src/alias.py lamb (optax 0.2.8)",
         "keras": SOURCES["keras"].format("lamb")},
        [
            ("weight decay", "lambda w inside r_t, so inside the trust ratio", "-",
             "the same (add_decayed_weights before scale_by_trust_ratio)",
             "decoupled w(1 - lr lambda) before the step, outside the ratio"),
            ("eps", "1e-6 outside sqrt(s_hat)", "-", "1e-6 (+ eps_root 0)", "1e-7"),
            ("lr default", "1e-3 (refopt)", "-", "required", "1e-3"),
        ],
        [
            Diff("decay 0.01 outside the trust ratio (keras) vs inside r_t", "keras",
                 lambda: refopt.lamb(lr=1e-2, weight_decay=0.01),
                 lambda: K.Lamb(floatx="float64", learning_rate=1e-2, epsilon=1e-6, weight_decay=0.01)),
            Diff("eps 1e-7 vs 1e-6", "keras",
                 lambda: refopt.lamb(lr=1e-3), lambda: refopt.lamb(lr=1e-3, eps=1e-7)),
        ],
        {"optax.lamb": (lambda: refopt.lamb(lr=1e-3), lambda: O.lamb(1e-3)),
         "keras.optimizers.Lamb": (lambda: refopt.lamb(lr=1e-3), lambda: K.Lamb())},
    ),
    Spec(
        "LARS",
        "You, Gitman & Ginsburg (2017), eq. (6) and Algorithm 1: ratio eta_tc ||w||/(||g|| + beta ||w||), "
        "lr inside the momentum (refopt.lars: trust coefficient 1e-3, momentum 0.9, decay 0)",
        {"torch": "no LARS in torch 2.13", "optax": "optax/_src/alias.py lars, transform.py "
         "scale_by_trust_ratio (optax 0.2.8)", "keras": "no LARS in keras 3.15.1"},
        [
            ("trust ratio", "eta_tc ||w||/(||g|| + beta ||w|| + eps)", "-",
             "eta_tc ||w||/(||g + beta w|| + eps): the norm of the decayed gradient", "-"),
            ("momentum", "v = m v + lr ratio (g + beta w), w -= v", "-",
             "the same (trace of the lr-scaled step)", "-"),
        ],
        [
            Diff("ratio from ||g + beta w|| vs ||g|| + beta ||w||, decay 0.01", "optax",
                 lambda: refopt.lars(lr=0.1, weight_decay=0.01), lambda: O.lars(0.1, weight_decay=0.01)),
        ],
        {"optax.lars": (lambda: refopt.lars(lr=0.1), lambda: O.lars(0.1))},
        "Without decay the two ratios are the same number, so optax's defaults give the paper's run.",
    ),
    Spec(
        "Yogi",
        "Zaheer et al. (2018), Algorithm 2 as its authors' TF code implements it: corrections folded "
        "into the step size, m_0 = 0, s_0 = 1e-6 (refopt.yogi: lr 1e-2, eps 1e-3)",
        {"torch": "no Yogi in torch 2.13", "optax": "optax/_src/alias.py yogi, transform.py scale_by_yogi "
         "(optax 0.2.8)", "keras": "no Yogi in keras 3.15.1"},
        [
            ("initial state", "m_0 = 0, s_0 = 1e-6", "-", "m_0 = s_0 = 1e-6", "-"),
            ("bias correction", "in the step size: lr sqrt(1-b2^t)/(1-b1^t)", "-", "m and s (Adam's hats)",
             "-"),
            ("eps", "1e-3 outside the root", "-", "1e-3 outside", "-"),
        ],
        [
            Diff("bias correction of m and s, m_0 = 1e-6 vs in the step size, m_0 = 0", "optax",
                 lambda: refopt.yogi(lr=1e-2),
                 lambda: refopt.yogi(lr=1e-2, bias_correction="moments", initial_momentum=1e-6)),
        ],
        {"optax.yogi": (lambda: refopt.yogi(lr=1e-2), lambda: O.yogi(1e-2))},
        "optax's form is a setting of the rule (bias_correction=\"moments\", initial_momentum=1e-6), so the "
        "diff row above is the total. At t = 1 (s_0 negligible) optax's step is lr g/(|g| + eps), the "
        "authors' lr g/(|g| + eps/sqrt(1-b2)) = lr g/(|g| + 31.6 eps): they part where |g| is near eps.",
    ),
    Spec(
        "AdaBelief",
        "Zhuang et al. (2020), Algorithm 2: eps added inside the stored s each step and outside the root "
        "(refopt.adabelief: eps 1e-16, eps_root 1e-16)",
        {"torch": "no AdaBelief in torch 2.13", "optax": "optax/_src/alias.py adabelief, transform.py "
         "scale_by_belief (optax 0.2.8)", "keras": "no AdaBelief in keras 3.15.1"},
        [
            ("eps", "1e-16 inside s_t (stored) and 1e-16 outside the root", "-",
             "the same (eps_root, eps)", "-"),
            ("lr default", "1e-3", "-", "required", "-"),
        ],
        [],
        {"optax.adabelief": (lambda: refopt.adabelief(lr=1e-3), lambda: O.adabelief(1e-3))},
        "optax follows the paper here: no difference to measure.",
    ),
    Spec(
        "Adan",
        "Xie et al. (2024), Algorithm 1: averages started from their first sample, eps inside the root, "
        "proximal decay (refopt.adan: betas 0.98/0.92/0.99 in the code's EMA convention, eps 1e-8)",
        {"torch": "no Adan in torch 2.13", "optax": "optax/_src/alias.py adan, transform.py scale_by_adan "
         "(optax 0.2.8)", "keras": "no Adan in keras 3.15.1"},
        [
            ("gradient difference weight", "beta2 (0.92) in n_t and the step", "-", "1 - beta2 (0.08)", "-"),
            ("initial state", "first samples (m_1 = g_1, n_1 = g_1^2)", "-",
             "zeros, all three bias-corrected", "-"),
            ("eps", "1e-8 inside the root", "-", "eps_root 1e-8 inside and eps 1e-8 outside", "-"),
            ("weight decay", "proximal: divide by 1 + lr lambda", "-", "lr lambda w added to the step", "-"),
        ],
        [
            Diff("zero-started, bias-corrected averages vs first-sample starts",
                 "optax (and the official code)",
                 lambda: refopt.adan(lr=1e-3), lambda: refopt.adan(lr=1e-3, debias=True)),
            Diff("decay 0.02 added to the step vs proximal", "optax",
                 lambda: refopt.adan(lr=1e-3, weight_decay=0.02),
                 lambda: refopt.adan(lr=1e-3, weight_decay=0.02, proximal=False)),
        ],
        {"optax.adan": (lambda: refopt.adan(lr=1e-3), lambda: O.adan(1e-3))},
    ),
    Spec(
        "Muon",
        "Jordan et al. (2024), blog and KellerJordan/Muon muon.py (refopt.muon: lr 0.02, EMA momentum "
        "0.95, Nesterov, NS5 on X/(||X||_F + eps), eps 1e-7, factor sqrt(max(1, rows/cols)) for "
        "(out, in) weights, decay 0)",
        {"torch": SOURCES["torch"].format("_muon"), "optax": "optax/contrib/_muon.py (optax 0.2.8)",
         "keras": "keras/src/optimizers/muon.py exists; not read for this table (no keras Muon flavor)"},
        [
            ("lr default", "0.02", "1e-3", "required", "-"),
            ("lr multiplier", "sqrt(max(1, rows/cols)), (out, in)",
             "adjust_lr_fn None/original: the same; match_rms_adamw: 0.2 sqrt(max(rows, cols))",
             "sqrt(max(1, cols/rows)): (in, out) layout; consistent_rms=0.2 as Moonlight", "-"),
            ("momentum", "EMA, Nesterov mix, no bias correction", "same",
             "bias-corrected, NAdam-style mix", "-"),
            ("normalisation", "X / (||X||_F + eps), eps 1e-7", "X / max(||X||_F, eps), eps 1e-7",
             "X / (||X||_F + eps), eps 1e-8", "-"),
            ("weight decay", "lr lambda w, 0", "lr lambda w with the unadjusted lr, 0.1", "0", "-"),
            ("precision", "the params' dtype", "bfloat16 Newton-Schulz", "the params' dtype", "-"),
        ],
        [
            Diff("(in, out) layout: the shape factor read transposed", "optax",
                 lambda: refopt.muon(lr=0.02), lambda: refopt.muon(lr=0.02, layout="in_out")),
            Diff("bias-corrected momentum vs none", "optax",
                 lambda: refopt.muon(lr=0.02, layout="in_out"),
                 lambda: refopt.muon(lr=0.02, layout="in_out", bias_correction=True)),
            Diff("max(||X||, eps) vs ||X|| + eps (flavor in float64)", "torch",
                 lambda: refopt.muon(lr=0.02),
                 lambda: T.Muon(lr=0.02, weight_decay=0.0, newton_schulz_dtype="float64")),
            Diff("Newton-Schulz in bfloat16 (torch, emulated) vs float64", "torch",
                 lambda: T.Muon(lr=0.02, newton_schulz_dtype="float64"), lambda: T.Muon(lr=0.02)),
            Diff("Moonlight's 0.2 sqrt(max(rows, cols)) vs the shape factor", "torch, optax (options)",
                 lambda: refopt.muon(lr=0.02), lambda: refopt.muon(lr=0.02, rms=0.2)),
        ],
        {"torch.optim.Muon": (lambda: refopt.muon(lr=1e-3), lambda: T.Muon()),
         "optax.contrib.muon": (lambda: refopt.muon(lr=0.02), lambda: O.contrib.muon(0.02))},
        "Measured on two matrices, 5x4 and 3x6 (Muon takes matrices only). The torch flavor runs "
        "Newton-Schulz in bfloat16 as torch does (refopt.flavors.bfloat16; newton_schulz_dtype='float64' "
        "gives the formula), so its total row holds the bfloat16 effect; the emulation agrees with torch "
        "to 5.5e-14 where the matmul kernel is the emulated one and 5.0e-3 where it sums in another "
        "order (tests/flavors/test_bfloat16_muon.py).",
        shapes={"w": (5, 4), "v": (3, 6)},
    ),
]


def measure(paper: Callable[[], Any], framework: Callable[[], Any],
            shapes: dict | None = None) -> tuple[float, int | None]:
    """(max relative params difference, first step whose update parts beyond RTOL or None)."""
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in (shapes or SHAPES).items()}
    report = compare(paper(), framework(), params, mixed_gradients(params, STEPS, seed=1), rtol=RTOL)
    first = report.first_parting
    return report.max_params_rel, (first.step if first else None)


def _size(x: float) -> str:
    # below 1e-12 the figure is rounding noise that may differ by platform
    return "< 1e-12" if x < 1e-12 else ("inf" if math.isinf(x) else f"{x:.2g}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def section(spec: Spec) -> str:
    lines = [f"## {spec.title}", "", f"Paper: {spec.paper}.", "",
             "Read in: " + "; ".join(f"{fw}: {spec.sources[fw]}" for fw in FRAMEWORKS) + ".", "",
             "| aspect | paper | torch | optax | keras |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in spec.rows]
    lines += ["", f"Measured ({STEPS} steps, float64):", "",
              "| difference | where | max rel. params difference | first step parting > 1e-10 |",
              "|---|---|---|---|"]
    for d in spec.diffs:
        size, step = measure(d.paper, d.framework, spec.shapes)
        lines.append(f"| {_cell(d.what)} | {d.frameworks} | {_size(size)} | {step or 'never'} |")
    for name, (paper, flavor) in spec.totals.items():
        size, step = measure(paper, flavor, spec.shapes)
        lines.append(f"| total: paper rule vs `{name}` at its defaults, same lr | {name.split('.')[0]} "
                     f"| {_size(size)} | {step or 'never'} |")
    if spec.notes:
        lines += ["", spec.notes]
    return "\n".join(lines)


HEADER = f"""# Conventions: paper, torch, optax, keras

Generated by `python scripts/conventions.py` (do not edit by hand; `tests/test_conventions.py`
checks it is up to date). For each optimizer: what the paper, torch 2.13, optax 0.2.8 and keras
3.15.1 do where they differ, then the size of each difference measured on a standard run: two
refopt optimizers that differ in that convention alone, or (the "total" rows) the paper's rule
at its defaults against the framework's flavor (`refopt.flavors`) at the framework's defaults
with the same lr, both run {STEPS} steps of `refopt.oracle.mixed_gradients` (dense, mostly-zero
and spiking gradients) in float64 from the same params (a 5x4 matrix and a 4-vector, unless a
section says otherwise). "max rel. params difference" is the largest
max|w_fw - w_paper| / max|w_paper - w_0| over the run; "first step parting" is the first step
whose update differs by more than 1e-10 relative ("never": the two agree to rounding). Below
1e-12 the figure is rounding and printed as such.

Common to all: torch's `weight_decay` is coupled L2 (g += lambda w) except in AdamW, Adafactor,
Muon and with `decoupled_weight_decay=True`; keras's `weight_decay` lives in the base optimizer
and is always decoupled, w -= w lambda lr before the step (keras/src/optimizers/base_optimizer.py,
`_apply_weight_decay`); optax adds decay as a separate transformation (`add_decayed_weights`)
where an alias offers it. keras's default epsilon is 1e-7 everywhere, torch's and optax's 1e-8
for the Adam family. torch's `maximize=True` negates the gradient before anything else (torch
only). keras's learning rate may be a schedule of the 0-based iteration count; refopt's
schedules take the 1-based step t, and the keras flavors shift it (`refopt.flavors.keras_schedules`).
"""


def render() -> str:
    return HEADER + "\n" + "\n\n".join(section(s) for s in SPECS) + "\n"


def main() -> int:
    new = render()
    if "--check" in sys.argv:
        old = OUT.read_text() if OUT.exists() else ""
        if new != old:
            print("docs/conventions.md is stale: run python scripts/conventions.py")
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
