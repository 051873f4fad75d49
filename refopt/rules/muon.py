r"""Muon: momentum, then orthogonalize it with a few Newton-Schulz steps.

.. math::

    B_t &= \beta_1 B_{t-1} + (1-\beta_1) G_t \\
    U_t &= (1-\beta_1) G_t + \beta_1 B_t \quad (\text{Nesterov; } U_t = B_t \text{ without}) \\
    O_t &= \mathrm{NS}_5(U_t) \, \sqrt{\max(1, \text{rows}/\text{cols})} \\
    W_t &= W_{t-1} - \eta\lambda W_{t-1} - \eta\, O_t

with :math:`B_0 = 0`. :math:`\mathrm{NS}_k` (``newton_schulz`` below) transposes a tall
matrix so that it iterates on the wide orientation, divides by the Frobenius norm plus
:math:`\epsilon` (so every singular value is at most 1), then repeats :math:`k` times
:math:`A = XX^\top,\ X \leftarrow aX + (bA + cA^2)X` with
:math:`(a, b, c) = (3.4445, -4.7750, 2.0315)`. That quintic maps a singular value
:math:`\sigma` to :math:`a\sigma + b\sigma^3 + c\sigma^5`; its slope at 0 is large (3.4445) so
small singular values grow fast, and it deliberately does not converge to 1: after 5 steps the
singular values of a full-rank input lie roughly in [0.68, 1.13] (measured in test_muon.py).
``ns_coefficients`` also takes a sequence of per-iteration triples :math:`(a_k, b_k, c_k)` or a
preset name (``"jordan"``, ``"polar_express"``, ``"dion"``, ...: ``refopt.rules.ns_presets``, one
table with each source). On a (64, 32) matrix with condition number 10, Polar Express leaves the
singular values within 0.13 of 1 after 5 steps and 1e-15 after 8; Jordan's stay 0.32 away
(measured in tests/rules/test_ns_presets.py).

Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein (2024), "Muon: An optimizer for hidden
layers in neural networks" (blog, kellerjordan.github.io/posts/muon), and the reference code
KellerJordan/Muon ``muon.py`` (``muon_update``, ``zeropower_via_newtonschulz5``), which this
rule follows: EMA momentum (``lerp``), Nesterov mix on by default, decay multiplied by lr.

Layout: weights are (out, in), as torch's ``Linear.weight``, so rows/cols = fan_out/fan_in and a
tall (3072, 768) matrix gets a factor 2. ``layout="in_out"`` reads them as (in, out), optax's
convention, giving :math:`\sqrt{\max(1, \text{cols}/\text{rows})}`.

Where others differ (the knobs reproduce them; flavors set them):

* Cheat sheet: :math:`M_t = \beta_1 M_{t-1} + \nabla L`, :math:`V_t = -\eta\,\mathrm{NS}_5(M_t)`:
  no Nesterov, no shape factor, no normalisation or transposition details, no weight decay.
  Sum or EMA momentum gives the same :math:`O_t` up to :math:`\epsilon`, because
  :math:`\mathrm{NS}(cU) = \mathrm{NS}(U)` for :math:`c > 0` when :math:`\epsilon = 0`.
* The reference and torch run NS in bfloat16; this rule runs in the input's dtype (see
  Precision below).
* torch ``Muon`` divides by ``max(norm, eps)`` instead of ``norm + eps`` (identical at ``eps=0``),
  defaults ``lr=1e-3, weight_decay=0.1``.
* optax ``contrib.muon``: bias-corrected momentum with a NAdam-style Nesterov mix
  (``bias_correction=True``), ``eps=1e-8``, (in, out) layout (``layout="in_out"``).
* Moonlight's factor :math:`\text{rms}\sqrt{\max(\text{rows}, \text{cols})}` in place of the
  shape factor: ``rms=0.2`` (torch ``adjust_lr_fn="match_rms_adamw"``, optax
  ``consistent_rms=0.2``). ``refopt.moonlight`` is that rule as its paper writes it.

=========  ======================  =========================
symbol     argument                default
=========  ======================  =========================
eta        ``lr``                  0.02
beta_1     ``beta1``               0.95
lambda     ``weight_decay``        0
epsilon    ``eps``                 1e-7
           ``nesterov``            True
k          ``ns_steps``            5
(a, b, c)  ``ns_coefficients``     (3.4445, -4.7750, 2.0315)
           ``bias_correction``     False (optax: True)
           ``layout``              "out_in" (optax: "in_out")
           ``rms``                 None (Moonlight's factor: 0.2)
=========  ======================  =========================

**Where the formula is undefined.** Newton-Schulz divides by :math:`\lVert X\rVert_F +
\epsilon`. An all-zero gradient (so all-zero momentum, from step 1) gives NS(0) = 0/(0 +
:math:`\epsilon`) = 0 for ``eps > 0``, so the step is the decay only, as in KellerJordan/Muon
(``X.norm() + 1e-7``) and torch (``max(norm, eps)``); at ``eps = 0`` it is 0/0 and the whole
leaf is NaN at step 1 (the orthogonal factor of 0 is undefined). A zero row or column of the
gradient stays put; a single zero entry moves, since NS mixes entries.
(tests/robustness/test_rules_edge.py)

**Memory order.** BLAS takes another path for a transposed operand and NumPy sums in
another order, so a Fortran-ordered or strided gradient used to give other last bits than the
same values in C order (up to 13 ulps of max|O| in float64, 16 in float32, over shapes (4, 3) to
(128, 96)). Every Muon-family rule, and ``newton_schulz`` itself, first lays its inputs out
row-major (``refopt.backend.c_order``: a view when they already are, one copy otherwise), so C,
Fortran and strided inputs give the same bits (tests/rules/test_muon_family_edge.py).

**Precision.** Dtype in, dtype out. For float16 and bfloat16 leaves every matmul and the
Frobenius norm accumulate in float32 and round their result once to the leaf's dtype (as
torch's bfloat16 matmul does; NumPy's ml_dtypes matmul would return float32); the elementwise
lines run in the leaf's dtype, so NS iterates in it, as the reference's bfloat16 NS does.
float32 and float64 are computed as written. (tests/rules/test_half_precision.py)
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import accumulator, array_namespace, c_order, rounded, unless_overflowed, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule
from . import ns_presets

NS_COEFFICIENTS = ns_presets.JORDAN  # Keller Jordan's; the other presets: ns_presets.PRESETS


def frobenius(x):
    """sqrt(sum(x * x)) in ``x``'s dtype, accumulated in float32 for half-precision leaves,
    and still finite where x*x overflows (``unless_overflowed``)."""
    xp, wide = array_namespace(x), accumulator(x)
    return rounded(unless_overflowed(xp.sqrt(xp.sum(wide * wide)), wide), x)


def matmul(a, b):
    """``a @ b`` in ``a``'s dtype, accumulated in float32 for half-precision leaves."""
    return rounded(array_namespace(a).matmul(accumulator(a), accumulator(b)), a)


def newton_schulz(G, steps=5, coefficients=NS_COEFFICIENTS, eps=1e-7):
    """An approximate orthogonal factor of the 2-D ``G`` (``U V^T`` of its SVD, with the
    singular values pushed towards 1 but not onto it): the quintic iteration above.
    ``coefficients``: one triple for every step, a sequence of per-iteration triples (the last
    repeated), or a preset name (``refopt.rules.ns_presets``, which may scale the norm)."""
    xp = array_namespace(G)
    G = c_order(G)  # the same bits for a Fortran-ordered or strided G
    triples, safety = ns_presets.schedule(coefficients, steps)
    tall = G.shape[0] > G.shape[1]
    X = xp.matrix_transpose(G) if tall else G  # X X^T is then the smaller Gram matrix
    norm = frobenius(X) if safety == 1.0 else safety * frobenius(X)
    X = X / (norm + eps)                       # Frobenius >= spectral norm, so sigma <= 1
    for a, b, c in triples:
        A = matmul(X, xp.matrix_transpose(X))
        X = a * X + matmul(b * A + c * matmul(A, A), X)
    return xp.matrix_transpose(X) if tall else X


def shape_factor(shape, layout="out_in"):
    """Keller Jordan's sqrt(max(1, fan_out / fan_in)), with the layout saying which axis is out."""
    rows, cols = shape
    fan_out, fan_in = (rows, cols) if layout == "out_in" else (cols, rows)
    return math.sqrt(max(1.0, fan_out / fan_in))


def rms_match_factor(shape, rms=0.2):
    """Moonlight's rms * sqrt(max(rows, cols)): an orthogonal O times it has RMS ``rms``."""
    return rms * math.sqrt(max(shape))


def matrix_check(name):
    """A ``check`` for ``rule()`` that rejects every leaf that is not a 2-D matrix."""
    def check(path, w):
        if len(w.shape) != 2:
            raise ValueError(f"{name} takes 2-D matrices only, but leaf {path} has shape "
                             f"{tuple(w.shape)}; route other leaves to another rule with "
                             f"refopt.partition")
        if 0 in tuple(w.shape):  # NS would divide by a zero size (the shape factor, the RMS)
            raise ValueError(f"{name}: params leaf {path} is an empty matrix (shape {tuple(w.shape)}); "
                             f"it has no entries to step; leave it out of the params tree")
    return check


def ns_settings(ns_steps, ns_coefficients):
    """Validate the Newton-Schulz count and coefficients: a preset name (returned as given), one
    triple or a sequence of per-iteration triples (returned as floats)."""
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
        raise ValueError(f"ns_steps must be an integer >= 1, got {ns_steps!r}")
    return ns_presets.validated(ns_coefficients)


def flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


class MuonState(NamedTuple):
    t: int
    m: object  # the momentum buffer B, EMA form


def _update(w, g, m, *, t, lr, beta1, weight_decay, eps, nesterov, ns_steps, ns_coefficients,
            bias_correction, layout, rms):
    g, m = c_order(g), c_order(m)  # results independent of the inputs' memory layout (c_order)
    m = beta1 * m + (1 - beta1) * g
    if bias_correction:  # optax: debiased EMA, Nesterov as in NAdam (next step's correction)
        u = (beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1 ** t)
             if nesterov else m / (1 - beta1 ** t))
    else:
        u = (1 - beta1) * g + beta1 * m if nesterov else m
    scale = shape_factor(w.shape, layout) if rms is None else rms_match_factor(w.shape, rms)
    o = newton_schulz(u, ns_steps, ns_coefficients, eps) * scale
    w = w - lr * weight_decay * w - lr * o
    return w, m


def muon(lr=0.02, beta1=0.95, weight_decay=0.0, eps=1e-7, nesterov=True, ns_steps=5,
         ns_coefficients=NS_COEFFICIENTS, bias_correction=False, layout="out_in", rms=None):
    """Muon (Keller Jordan's reference): EMA momentum, Nesterov mix, Newton-Schulz, shape factor.
    2-D leaves only; use ``refopt.partition`` to send the others elsewhere."""
    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "weight_decay": (weight_decay, NONNEGATIVE),
             "eps": (eps, NONNEGATIVE), "nesterov": (flag("nesterov", nesterov), None),
             "ns_steps": (ns_steps, None), "ns_coefficients": (ns_settings(ns_steps, ns_coefficients), None),
             "bias_correction": (flag("bias_correction", bias_correction), None),
             "layout": (choice("layout", layout, ("out_in", "in_out")), None),
             "rms": (rms if rms is None else number("rms", rms, NONNEGATIVE), None)}
    return rule("muon", MuonState, lambda w: (zeros_like(w),), _update, hyper, check=matrix_check("muon"))


INFO = RuleInfo(
    name="muon", factory=muon, family="H. Muon family", paper="Jordan et al. (2024)", year=2024,
    hook="Momentum, then orthogonalize",
    equations="B_t = \\beta_1 B_{t-1} + (1-\\beta_1) G_t\n"
              "U_t = (1-\\beta_1) G_t + \\beta_1 B_t\n"
              "O_t = \\mathrm{NS}_5(U_t)\\,\\sqrt{\\max(1, \\mathrm{rows}/\\mathrm{cols})}\n"
              "W_t = W_{t-1} - \\eta\\lambda W_{t-1} - \\eta\\, O_t",
    buffers=1, matrix_only=True,
    # torch and pytorch-optimizer run NS in bfloat16 only: their flavors, equal to them in bfloat16
    # (tests/flavors/test_bfloat16_muon.py), are compared here with NS in float64
    checked_against={"torch.optim.Muon (flavor, NS in float64)": 1e-12, "optax.contrib.muon": 1e-12,
                     "pytorch_optimizer.Muon (flavor, NS in float64)": 1e-12},
)
