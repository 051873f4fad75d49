"""Combinators and the Hessian helpers refuse bad input by name (issue 9, section 4):
partition's labels, hutchinson's and gauss_newton_bartlett's generator, sample_labels' rows."""
import numpy as np
import pytest

import refopt
from refopt import hessian


def _two_rules():
    return {"a": refopt.sgd(lr=0.1), "b": refopt.momentum(lr=0.1)}


def test_a_label_missing_from_the_inner_state_is_named_with_a_leaf():
    opt = refopt.partition(_two_rules(), lambda path, w: "a" if path == "['x']" else "b")
    p = {"x": np.ones(2), "y": np.ones(2)}
    s = opt.init(p)
    bad = s._replace(inner={"a": s.inner["a"]})  # "b" dropped, e.g. a state of another partition
    with pytest.raises(ValueError, match=r"state\.inner has no entry for label 'b' \(leaf \['y'\]"):
        opt.step(p, p, bad)


@pytest.mark.parametrize("label", [["a"], {"a": 1}, np.array(["a"])], ids=["list", "dict", "array"])
def test_an_unhashable_label_is_named_with_its_leaf(label):
    opt = refopt.partition(_two_rules(), lambda path, w: label)
    with pytest.raises(ValueError, match=r"label_fn gave .* for leaf \['x'\], which is not a label"):
        opt.init({"x": np.ones(2)})


def test_a_partition_state_of_another_class_is_named():
    opt = refopt.partition(_two_rules(), lambda path, w: "a")
    with pytest.raises(TypeError, match="state is an AdamState, but partition.* needs a PartitionState"):
        opt.step(np.ones(2), np.ones(2), refopt.adam().init(np.ones(2)))


def test_partition_keeps_the_values_it_had():
    # routing still works after the checks: sgd and momentum, first step both w - lr g
    opt = refopt.partition(_two_rules(), lambda path, w: "a" if path == "['x']" else "b")
    p = {"x": np.ones(2), "y": np.ones(2)}
    new, _ = opt.step(p, {"x": np.full(2, 2.0), "y": np.full(2, 3.0)}, opt.init(p))
    assert np.all(new["x"] == 1 - 0.1 * 2.0) and np.all(new["y"] == 1 - 0.1 * 3.0)


def _diag_hvp(h):
    return lambda u: {"w": h * u["w"]}


def test_hutchinson_accepts_an_int_seed_as_default_rng_of_it():
    h = np.array([1.0, 2.0, 3.0])
    p = {"w": np.zeros(3)}
    from_seed = hessian.hutchinson(_diag_hvp(h), p, 7, distribution="rademacher")
    from_rng = hessian.hutchinson(_diag_hvp(h), p, np.random.default_rng(7), distribution="rademacher")
    # a diagonal H and Rademacher u: u * (H u) = H_ii u_i^2 = H_ii exactly, whatever the draw
    assert np.array_equal(from_seed["w"], h) and np.array_equal(from_rng["w"], h)
    normal = hessian.hutchinson(_diag_hvp(h), p, 7)
    u = np.random.default_rng(7).standard_normal(3)
    np.testing.assert_allclose(normal["w"], h * u**2, rtol=4.5e-16)  # u*(h*u) vs h*u^2: 2 roundings


@pytest.mark.parametrize("rng", [None, 0.5, True, "7", np.random.RandomState(0)],
                         ids=["None", "float", "bool", "str", "RandomState"])
def test_hutchinson_says_it_needs_a_generator_or_an_int(rng):
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator or an int seed"):
        hessian.hutchinson(_diag_hvp(np.ones(2)), {"w": np.zeros(2)}, rng)


def test_a_negative_seed_is_refused_by_name():
    with pytest.raises(ValueError, match=r"rng: a seed must be a non-negative int, got -1"):
        hessian.hutchinson(_diag_hvp(np.ones(2)), {"w": np.zeros(2)}, -1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sample_labels_refuses_non_finite_rows_by_index(bad):
    logits = np.zeros((4, 3))
    logits[2, 1] = bad
    with pytest.raises(ValueError, match=r"^logits row 2 has a non-finite entry"):
        hessian.sample_labels(logits, np.random.default_rng(0))


def test_sample_labels_with_finite_rows_draws_from_the_softmax():
    # one row whose softmax puts all but e^-50 of the mass on class 2: every draw is 2
    logits = np.tile([0.0, 0.0, 50.0], (64, 1))
    assert np.all(hessian.sample_labels(logits, 0) == 2)
