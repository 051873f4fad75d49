"""The convention tables of Adam, AdamW, AMSGrad, AdaMax, NAdam and RAdam: what each side does, read in
the sources named, and the pairs of refopt optimizers that measure each difference
(``refopt.conventions.spec``)."""
import refopt
from refopt.flavors import keras as K
from refopt.flavors import optax as O
from refopt.flavors import torch as T

from .spec import SOURCES, Diff, Spec, eps_hat

SPECS = [
    Spec(
        "Adam",
        ("adam",),
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
                 lambda: refopt.adam(lr=1e-3, eps=1e-7), lambda: refopt.adam(lr=1e-3, eps=eps_hat(1e-7))),
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
        ("adamw",),
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
        ("amsgrad",),
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
        ("adamax",),
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
        ("nadam",),
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
        ("radam",),
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
]
