r"""FTRL-Proximal: follow the regularized leader, with per-coordinate learning rates, L1 and L2.

.. math::

    n_t &= n_{t-1} + g_t \odot g_t \\
    \sigma_t &= \bigl(n_t^{-p} - n_{t-1}^{-p}\bigr) / \alpha \\
    z_t &= z_{t-1} + g_t - \sigma_t \odot w_{t-1} \\
    w_t &= \begin{cases} 0 & |z_t| \le \lambda_1 \\
           -\dfrac{z_t - \operatorname{sign}(z_t)\,\lambda_1}{(\beta + n_t^{-p})/\alpha + \lambda_2}
           & \text{otherwise} \end{cases}

per coordinate, with :math:`z_0 = 0`, :math:`n_0 = 0` and :math:`p = -1/2`
(:math:`n^{-p} = \sqrt n`). McMahan, Holt, Sculley, Young, Ebner, Grady, Nie, Phillips,
Davydov, Golovin, Chikkerur, Liu, Wattenberg, Hrafnkelsson, Boulos & Kubica (2013), "Ad Click
Prediction: a View from the Trenches", KDD, Algorithm 1 (per-coordinate FTRL-Proximal with L1
and L2). :math:`w_t` is the closed-form minimiser of
:math:`z_t\cdot w + \lambda_1\lVert w\rVert_1 + \tfrac12(\lambda_2 + \sum_s\sigma_s)\lVert w\rVert^2`
(the proximal terms :math:`\tfrac12\sigma_s\lVert w - w_s\rVert^2` folded into :math:`z`): the
weights are a function of :math:`(z, n)` alone, and the L1 term sets exactly to 0 every coordinate
whose :math:`|z|` has not exceeded :math:`\lambda_1`, the sparsity the paper is about. The paper
computes :math:`w` at the start of a round, from the previous :math:`(z, n)`; here a step takes
the gradient at :math:`w_{t-1}` and returns the :math:`w_t` the next round would compute, the same
sequence. :math:`w_0` enters only through :math:`\sigma_1 w_0` (the paper's :math:`w_1` is 0).

==========  ========================  =======
symbol      argument                  default
==========  ========================  =======
alpha       ``lr``                    1e-3
beta        ``offset``                1.0
lambda_1    ``l1``                    0.0
lambda_2    ``l2``                    0.0
p           ``lr_power``              -0.5
n_0         ``initial_accumulator``   0.0
lambda_s    ``l2_shrinkage``          0.0
==========  ========================  =======

Defaults: the paper tunes :math:`\alpha` per problem and gives no value (1e-3 is TensorFlow's and
keras's); ":math:`\beta = 1` is usually good enough" (Section 3.1). :math:`\lambda_2` enters as in
Algorithm 1, the penalty :math:`\tfrac12\lambda_2\lVert w\rVert^2`. The paper's :math:`\beta` is
named ``offset`` here: it is no decay rate in [0, 1) (the conformance suite reads every ``beta*``
argument as one), but a constant added to :math:`\sqrt n`, like AdaGrad's eps.

**Notes and frameworks.** Convention knobs, TensorFlow's and keras's additions (paper values
by default): ``lr_power`` :math:`p` (the paper's :math:`\sqrt n`; 0 gives a fixed per-coordinate
rate, :math:`\sigma = 0`), ``initial_accumulator`` :math:`n_0` (keras 0.1, which keeps
:math:`n > 0`), and ``l2_shrinkage`` :math:`\lambda_s`, a penalty :math:`\lambda_s\lVert w\rVert^2`
on the loss whose gradient :math:`2\lambda_s w_{t-1}` joins :math:`g_t` in :math:`z` only, not in
:math:`n`. keras's ``l2_regularization_strength`` is half of :math:`\lambda_2` (its denominator
has :math:`2\lambda_2`, a penalty :math:`\lambda_2\lVert w\rVert^2`) and its ``beta`` defaults to 0:
``refopt.flavors.keras_catalogue.Ftrl``. pytorch-optimizer ``FTRL`` (``lambda_1``, ``lambda_2``
as here, :math:`n_0 = 0`, ``beta=0`` by default) uses :math:`\sqrt n` in the denominator whatever
``lr_power`` is, so it is this rule only at :math:`p = -1/2`.

**Where the formula is undefined.** Nowhere in Algorithm 1's branches: the denominator is 0 only
where :math:`n_t = 0` with :math:`\beta = \lambda_2 = 0` (and :math:`p < 0`), i.e. where every
gradient so far was 0, so :math:`z_t = 0`, :math:`|z_t| \le \lambda_1`, and the first branch gives
:math:`w_t = 0` without dividing: such a coordinate moves to exactly 0 at step 1, whatever its
:math:`w_0` (keras divides there, 0/0, with ``initial_accumulator_value=0, beta=0``:
refopt.flavors.keras_catalogue). ``lr`` must be positive (:math:`\sigma` divides by it).
(tests/rules/test_ftrl.py)

**Precision.** Dtype in, dtype out; float16 and bfloat16 leaves are computed in float32 and
rounded once, so :math:`g^2` past 65504 does not make :math:`\sigma` an inf - inf. Where
:math:`n_t` rounds to :math:`n_{t-1}` (an overflowed :math:`n` in float16 included),
:math:`\sigma_t = 0`, the exact value of a vanishing increment.
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from ..backend import accumulator, array_namespace, rounded, zeros_like
from ..core import NONNEGATIVE, POSITIVE, Interval, RuleInfo, number, rule

NONPOSITIVE = Interval(-float("inf"), 0.0, lo_open=True, hi_open=False)


class FtrlState(NamedTuple):
    t: int
    z: object  # the paper's z: gradients summed, minus sigma_s * w_s (the proximal centres)
    n: object  # the paper's n: the running sum of squared gradients (plus n_0)


def _update(w, g, z, n, *, t, lr, offset, l1, l2, lr_power, l2_shrinkage):
    xp = array_namespace(w)
    w_in, (w, g, z, n) = w, (accumulator(x) for x in (w, g, z, n))  # float32 for half leaves
    n_new = n + g * g
    # where g*g is lost in n (n = inf in float16 included) sigma is exactly 0, not inf - inf
    sigma = xp.where(n_new == n, zeros_like(n), (n_new ** -lr_power - n ** -lr_power) / lr)
    z = z + (g + 2 * l2_shrinkage * w) - sigma * w
    n = n_new
    active = xp.abs(z) > l1                       # the others are exactly 0: L1's sparsity
    quadratic = (offset + n ** -lr_power) / lr + l2  # > 0 wherever active (then some g was not 0)
    safe = xp.where(active, quadratic, xp.ones_like(quadratic))
    w = xp.where(active, -(z - xp.sign(z) * l1) / safe, zeros_like(w))
    return rounded(w, w_in), rounded(z, w_in), rounded(n, w_in)


def ftrl(lr=1e-3, offset=1.0, l1=0.0, l2=0.0, lr_power=-0.5, initial_accumulator=0.0, l2_shrinkage=0.0):
    """FTRL-Proximal (McMahan et al. 2013, Algorithm 1): ``w`` in closed form from ``(z, n)``, 0
    where ``|z| <= l1``; ``lr_power``, ``initial_accumulator``, ``l2_shrinkage``: keras's knobs."""
    n0 = number("initial_accumulator", initial_accumulator, NONNEGATIVE)

    def init_leaf(w):
        return zeros_like(w), array_namespace(w).full_like(w, n0)

    opt = rule("ftrl", FtrlState, init_leaf, _update,
               {"lr": (lr, POSITIVE), "offset": (offset, NONNEGATIVE), "l1": (l1, NONNEGATIVE),
                "l2": (l2, NONNEGATIVE), "lr_power": (lr_power, NONPOSITIVE),
                "l2_shrinkage": (l2_shrinkage, NONNEGATIVE)})
    # n_0 is used once, by init, so it is no schedule; it is listed with the others
    return replace(opt, hyperparams={**opt.hyperparams, "initial_accumulator": n0},
                   bounds={**opt.bounds, "initial_accumulator": NONNEGATIVE})


INFO = RuleInfo(
    name="ftrl", factory=ftrl, family="B. Adaptive (diagonal)",
    paper="McMahan et al. (2013)", year=2013, hook="Closed-form weights from z, n; L1 zeros",
    equations="n_t = n_{t-1} + g_t \\odot g_t\n"
              "\\sigma_t = (\\sqrt{n_t} - \\sqrt{n_{t-1}}) / \\alpha\n"
              "z_t = z_{t-1} + g_t - \\sigma_t \\odot w_{t-1}\n"
              "w_t = -\\frac{z_t - \\mathrm{sign}(z_t)\\lambda_1}"
              "{(\\beta + \\sqrt{n_t})/\\alpha + \\lambda_2}"
              " \\text{ if } |z_t| > \\lambda_1, \\text{ else } 0",
    buffers=2,
    checked_against={"keras.optimizers.Ftrl": 1e-10, "pytorch_optimizer.FTRL": 1e-12},
)
