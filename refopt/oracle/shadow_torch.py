"""What ``refopt.oracle.shadow`` knows of torch's classes: which it shadows (``SHADOWED``) or refuses
(``REFUSED``) and why, the paper's rule each is believed to be (``BELIEFS``, each difference a row of
``refopt.conventions``' tables), torch's state keys for ``every=k`` (``STATE_KEYS``), and the two
classes that need more than the group's options at each step (``LAGGED_LR``, ``FLOAT64_OPTIONS``)."""
from __future__ import annotations

from typing import Any, Callable

import refopt

__all__ = ["BELIEFS", "STATE_KEYS", "RESTARTABLE", "SHADOWED", "REFUSED", "LAGGED_LR", "FLOAT64_OPTIONS",
           "EFFECTS"]

def _betas(o: dict) -> dict:
    return {"beta1": float(o["betas"][0]), "beta2": float(o["betas"][1])}


_COUPLED = "adds weight_decay*w to the gradient (coupled L2)"

# torch class -> (the canonical rule with torch's numbers read as the paper's, where they part);
# each difference named is a row of refopt.conventions' tables (adam_family.py, classic.py)
BELIEFS: dict[str, tuple[Callable[[dict], Any], str]] = {
    "AdamW": (lambda o: refopt.adamw(lr=o["lr"], **_betas(o), eps=o["eps"], weight_decay=o["weight_decay"]),
              "torch's AdamW multiplies weight_decay by lr (w <- w - lr*wd*w); the paper's lambda "
              "(refopt.adamw's weight_decay) is not: torch's weight_decay=wd is the paper's lambda = lr*wd"),
    "Adam": (lambda o: refopt.adam(lr=o["lr"], **_betas(o), eps=o["eps"]),
             f"torch's Adam {_COUPLED}, which the paper's Adam has not"),
    "SGD": (lambda o: refopt.momentum(lr=o["lr"], beta1=o["momentum"]) if o["momentum"]
            else refopt.sgd(lr=o["lr"]),
            "torch's SGD dampens the momentum buffer, adds weight_decay*w to the gradient, or steps "
            "Nesterov's reformulated form, where the paper's heavy ball does none of these"),
    "Adagrad": (lambda o: refopt.adagrad(lr=o["lr"], eps=o["eps"]),
                "torch's Adagrad decays lr by lr_decay, starts the sum at initial_accumulator_value and "
                "adds weight_decay*w to the gradient"),
    "RMSprop": (lambda o: refopt.rmsprop(lr=o["lr"], beta2=o["alpha"], eps=o["eps"]),
                "torch's RMSprop adds weight_decay*w to the gradient, or takes momentum/centered steps"),
    "NAdam": (lambda o: refopt.nadam(lr=o["lr"], **_betas(o), eps=o["eps"]),
              "torch's NAdam schedules the momentum coefficient, "
              "mu_t = beta1 (1 - 0.5 0.96^(momentum_decay t)) "
              "with products of the mu_i as corrections, where the paper's (refopt.nadam) is a constant "
              f"beta1; and it {_COUPLED} unless decoupled_weight_decay"),
    "RAdam": (lambda o: refopt.radam(lr=o["lr"], **_betas(o)),
              "torch's RAdam rectifies only while rho_t > 5 (the paper: > 4; at beta2 = 0.999 step 5 "
              "differs) and adds eps to sqrt(s_t) (eps/sqrt(1-beta2^t) outside sqrt(s_hat)); the paper "
              "has no eps"),
    "Adamax": (lambda o: refopt.adamax(lr=o["lr"], **_betas(o)),
               "torch's Adamax adds eps inside the max, u_t = max(beta2 u_{t-1}, |g_t| + eps); the paper's "
               "Algorithm 2 has no eps"),
    "Adadelta": (lambda o: refopt.adadelta(lr=1.0, beta2=o["rho"], eps=o["eps"]),
                 "torch's Adadelta multiplies the step by lr (the paper has no lr: lr = 1; the squared "
                 f"steps are stored unscaled either way) and {_COUPLED}"),
}

# torch's state keys -> the flavor state's fields, for every=k (restarting from torch's state)
STATE_KEYS = {"step": "t", "exp_avg": "m", "exp_avg_sq": "s", "max_exp_avg_sq": "s_max", "sum": "s",
              "square_avg": "s", "grad_avg": "gbar"}
RESTARTABLE = ("Adam", "AdamW", "SGD", "Adagrad", "RMSprop")

# the torch optimizers whose param groups the shadow reads (each in tests/oracle/test_shadow_classes.py);
# not LBFGS: its step(closure) evaluates the loss at points of its own line search, which a gradient
# read before the step does not give the flavor
SHADOWED = ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adafactor",
            "Rprop", "ASGD", "Muon", "SparseAdam")
REFUSED = {"LBFGS": "its step(closure) evaluates the loss at the points of its own line search; "
                    "compare it with refopt.flavors.torch.LBFGS on a function (refopt.rules.lbfgs) instead"}

# torch's ASGD steps with the eta it computed at the end of the previous step, from that step's lr:
# a scheduler's new lr reaches it one step late, so its flavor is built with the lr of the step before
# (Rprop reads lr once, at init, as its flavor does)
LAGGED_LR = ("ASGD",)

# torch's Muon runs Newton-Schulz in bfloat16: the float64 run computes the formula (float64 NS), and
# torch is within the flavor's RTOL (refopt.flavors.torch.RTOL: one bfloat16 ulp carried through NS
# where torch's matmul sums in another order than the emulation) rather than float32 rounding
FLOAT64_OPTIONS = {"Muon": {"newton_schulz_dtype": "float64"}}
EFFECTS = {"Muon": "bfloat16 Newton-Schulz's effect and the dtype's"}
