"""The convention tables of Lion, Adafactor, LAMB, LARS, Yogi, AdaBelief, Adan and Muon: what each side does, read in
the sources named, and the pairs of refopt optimizers that measure each difference
(``refopt.conventions.spec``)."""
import refopt
from refopt.flavors import keras as K
from refopt.flavors import optax as O
from refopt.flavors import torch as T

from .spec import SOURCES, Diff, Spec

SPECS = [
    Spec(
        "Lion",
        ("lion",),
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
        ("adafactor",),
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
        ("lamb",),
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
        ("lars",),
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
        ("yogi",),
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
        ("adabelief",),
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
        ("adan",),
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
        ("muon", "moonlight"),
        "Jordan et al. (2024), blog and KellerJordan/Muon muon.py (refopt.muon: lr 0.02, EMA momentum "
        "0.95, Nesterov, NS5 on X/(||X||_F + eps), eps 1e-7, factor sqrt(max(1, rows/cols)) for "
        "(out, in) weights, decay 0)",
        {"torch": SOURCES["torch"].format("_muon"), "optax": "optax/contrib/_muon.py (optax 0.2.8)",
         "keras": SOURCES["keras"].format("muon")},
        [
            ("lr default", "0.02", "1e-3", "required", "1e-3"),
            ("lr multiplier", "sqrt(max(1, rows/cols)), (out, in)",
             "adjust_lr_fn None/original: the same; match_rms_adamw: 0.2 sqrt(max(rows, cols))",
             "sqrt(max(1, cols/rows)): (in, out) layout; consistent_rms=0.2 as Moonlight",
             "rms_rate 0.2: 0.2 sqrt(max(rows, cols)), as Moonlight"),
            ("momentum", "EMA, Nesterov mix, no bias correction", "same",
             "bias-corrected, NAdam-style mix", "a sum m = mu m + g, Nesterov: the EMA over (1 - mu), so "
             "with the scale-free NS only eps moves (it acts as eps (1 - mu))"),
            ("normalisation", "X / (||X||_F + eps), eps 1e-7", "X / max(||X||_F, eps), eps 1e-7",
             "X / (||X||_F + eps), eps 1e-8", "X / (||X||_F + eps), eps 1e-7"),
            ("weight decay", "lr lambda w, 0", "lr lambda w with the unadjusted lr, 0.1", "0",
             "decoupled w(1 - lr lambda) before the step, 0.004"),
            ("other leaves", "- (matrices only)", "refused", "AdamW (adam_* settings)",
             "AdamW for non-2-D and embedding leaves (adam_lr_ratio, adam_weight_decay)"),
            ("precision", "the params' dtype", "bfloat16 Newton-Schulz", "the params' dtype",
             "||X||_F in float32 for float64 input (ops.norm on JAX)"),
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
            Diff("Moonlight's 0.2 sqrt(max(rows, cols)) vs the shape factor", "torch, optax (options), keras",
                 lambda: refopt.muon(lr=0.02), lambda: refopt.muon(lr=0.02, rms=0.2)),
            Diff("keras's sum momentum: eps 1e-7 (1 - mu) in the EMA's units vs 1e-7", "keras",
                 lambda: refopt.muon(lr=0.02, rms=0.2), lambda: refopt.muon(lr=0.02, rms=0.2, eps=1e-7 * 0.05)),
            Diff("||X||_F in float32 (keras on JAX) vs float64", "keras",
                 lambda: K.Muon(learning_rate=0.02, weight_decay=0.0, norm_dtype=None),
                 lambda: K.Muon(learning_rate=0.02, weight_decay=0.0)),
        ],
        {"torch.optim.Muon": (lambda: refopt.muon(lr=1e-3), lambda: T.Muon()),
         "optax.contrib.muon": (lambda: refopt.muon(lr=0.02), lambda: O.contrib.muon(0.02)),
         "keras.optimizers.Muon": (lambda: refopt.muon(lr=1e-3), lambda: K.Muon())},
        "Measured on two matrices, 5x4 and 3x6 (Muon takes matrices only). The torch flavor runs "
        "Newton-Schulz in bfloat16 as torch does (refopt.flavors.bfloat16; newton_schulz_dtype='float64' "
        "gives the formula), so its total row holds the bfloat16 effect; the emulation agrees with torch "
        "to 5.5e-14 where the matmul kernel is the emulated one and 5.0e-3 where it sums in another "
        "order (tests/flavors/test_bfloat16_muon.py).",
        shapes={"w": (5, 4), "v": (3, 6)},
    ),
    Spec(
        "Sophia",
        ("sophia",),
        "Liu et al. (2023/ICLR 2024), Algorithm 3: clip(m_t / max(gamma h_t, eps), 1), the estimate h-hat "
        "folded into h before the step that uses it, no bias correction (refopt.sophia: lr 1e-4, "
        "betas 0.965/0.99, gamma 0.01, eps 1e-12, decay 0.1)",
        {"torch": "no Sophia in torch 2.13", "optax": "optax/contrib/_sophia.py (optax 0.2.8)",
         "keras": "no Sophia in keras 3.15.1"},
        [
            ("Hessian estimate", "given by the caller every k = 10 steps (steps 1, 11, ...)", "-",
             "its own Hutchinson estimator, Rademacher probes, every update_interval = 10", "-"),
            ("when the estimate enters", "before the step that uses it", "-",
             "after the step that computed it: optax's step t is the paper's with that estimate at t + 1",
             "-"),
            ("bias correction", "none", "-", "of m", "-"),
            ("defaults", "lr 1e-4, b1 0.965, b2 0.99, gamma 0.01, eps 1e-12, decay 0.1", "-",
             "b1 0.965, b2 0.99, gamma 0.01, eps 1e-8, decay 1e-4, clip_threshold 1", "-"),
        ],
        [],
        notes="Not measured on the standard run: every difference is in how and when the Hessian estimate "
              "enters, which the gradient stream alone does not give (with h = 0 both sides take the same "
              "clipped sign steps). tests/rules/test_sophia.py feeds both the same estimate stream, "
              "shifted by one step for optax, and they agree to 1e-12 with bias_correction=True.",
    ),
    Spec(
        "partition (one optimizer per group of leaves)",
        ("partition",),
        "no paper: the routing of Muon's authors (MuonWithAuxAdam) and of optax's multi_transform "
        "(refopt.partition(rules_by_label, label_fn): label_fn(path, leaf) names each leaf's rule)",
        {"torch": "torch/optim/optimizer.py param_groups (torch 2.13)",
         "optax": "optax/_src/combine.py partition (optax 0.2.8; multi_transform is its old name)",
         "keras": "keras.optimizers.MultiOptimizer's docstring (keras 3.15.1); its code not read"},
        [
            ("routing", "label_fn(path, leaf) -> label", "param groups: lists of tensors, each with its "
             "own hyperparameters of ONE optimizer class (two classes: two optimizers)",
             "param_labels: a pytree of labels or a function of the params", "MultiOptimizer("
             "OptimizerMap(default_optimizer, {path regex: optimizer})) or a callable of the variable"),
            ("step count", "each rule its own (counts its own steps)", "per parameter, in its state",
             "each inner transformation its own state", "not read"),
        ],
        [],
        notes="Nothing to measure: each leaf gets its rule's update unchanged on every side. "
              "tests/rules/test_partition.py checks refopt.partition (Muon on the matrices, AdamW on the "
              "rest) against torch.optim.Muon plus torch.optim.AdamW on the same leaves (1e-12), and bit "
              "for bit against each rule run on its own leaves.",
    ),
]
