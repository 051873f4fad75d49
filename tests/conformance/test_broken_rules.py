"""The conformance checks fail for rules that break the contract.

Each broken rule is the plain SGD step written without refopt's lifting helper, with one
defect: it mutates its input, it changes the dtype, or it lets NumPy broadcast a gradient
of the wrong shape. If a check passed any of these, it could not be trusted for the rest.
"""
import numpy as np
import pytest

from refopt import tree
from refopt.core import NONNEGATIVE, Optimizer, RuleInfo
from refopt.rules.sgd import SGDState

from . import checks


def broken(step_leaf):
    def factory(lr=0.1):
        if lr < 0:
            raise ValueError(f"lr must be a number in {NONNEGATIVE}, got {lr}")

        def step(params, grads, state):
            new = tree.tree_map(lambda w, g: step_leaf(w, g, lr), params, grads)
            return new, SGDState(state.t + 1)

        return Optimizer("broken", lambda p: SGDState(0), step, {"lr": lr}, {"lr": NONNEGATIVE})

    return RuleInfo(name="broken", factory=factory, family="-", paper="-", year=None, hook="-",
                    equations="-", buffers=0)


def mutates(w, g, lr):
    w -= lr * g  # in place: the caller's params change
    return w


def changes_dtype(w, g, lr):
    return (w - lr * g).astype(np.float64)


def broadcasts(w, g, lr):
    return w - lr * g  # no shape check: (4, 3) - (4, 1) broadcasts


def test_a_rule_that_mutates_its_input_fails():
    with pytest.raises(AssertionError, match="inputs were modified"):
        checks.check_pure(broken(mutates))


def test_a_rule_that_changes_dtype_fails():
    with pytest.raises(AssertionError, match="dtype"):
        checks.check_dtype_shape_tree(broken(changes_dtype), np.float32)


def test_a_rule_that_broadcasts_a_mismatched_gradient_fails():
    with pytest.raises(AssertionError, match=r"\(4,1\) grads: no ValueError raised"):
        checks.check_rejects_bad_input(broken(broadcasts))


def test_a_rule_that_trusts_state_t_fails():
    # the broken rule adds 1 to whatever t it is given: True + 1 = 2 steps it without a word
    with pytest.raises(AssertionError, match=r"state.t = True: no TypeError/ValueError raised"):
        checks.check_rejects_bad_state(broken(broadcasts))


def test_the_correct_rule_passes_the_same_checks():
    # the same three checks pass for the real refopt.sgd, so it is the defect they catch
    import refopt
    info = refopt.RULES["sgd"]
    checks.check_pure(info)
    checks.check_dtype_shape_tree(info, np.float32)
    checks.check_rejects_bad_input(info)
    checks.check_rejects_bad_state(info)
