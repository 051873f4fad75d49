"""The convention tables of SGD with momentum and Nesterov, AdaGrad, RMSProp and AdaDelta: what each side does, read in
the sources named, and the pairs of refopt optimizers that measure each difference
(``refopt.conventions.spec``)."""
import refopt
from refopt.flavors import keras as K
from refopt.flavors import optax as O
from refopt.flavors import torch as T

from .spec import SOURCES, Diff, Spec

SPECS = [
    Spec(
        "SGD, heavy-ball momentum, Nesterov",
        ("sgd", "momentum", "nesterov", "nesterov_reformulated"),
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
        ("adagrad",),
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
        ("rmsprop",),
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
        ("adadelta",),
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
]
