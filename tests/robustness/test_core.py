"""The core's validation (issue 9, sections 3 and 4): numbers, the step count, buffer
layouts, foreign states, extra trees, 0-d leaves, bfloat16, half-precision hyperparameters,
torch autograd, and array layouts (read-only, strided, Fortran, Python lists).

Every expected value here is derived by hand or from another library, never from refopt.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt import core
from refopt.backend import article, check_leaf
from refopt.rules.adam import AdamState

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = ml_dtypes.bfloat16
NON_MATRIX = [info for info in refopt.RULES.values() if not info.matrix_only
              and info.name not in ("shampoo", "partition")]  # Shampoo refuses 0-d by design


# --------------------------------------------------------------------------- 1. numbers

def _scalars():
    import jax.numpy as jnp
    import torch
    return [np.float32(0.5), np.float64(0.5), np.float16(0.5), np.array(0.5), np.array(0.5, np.float32),
            torch.tensor(0.5), torch.tensor(0.5, dtype=torch.float64), jnp.asarray(0.5), 0.5]


@pytest.mark.parametrize("x", _scalars(), ids=lambda x: type(x).__module__ + "." + type(x).__name__)
def test_every_kind_of_real_scalar_is_a_number_and_becomes_a_python_float(x):
    got = core.number("beta1", x, core.UNIT)
    assert type(got) is float and got == 0.5  # 0.5 is exact in every dtype above


@pytest.mark.parametrize("x", [np.int64(3), np.int8(3), np.array(3), 3])
def test_integers_are_numbers(x):
    got = core.number("lr", x, core.NONNEGATIVE)
    assert type(got) is float and got == 3.0


@pytest.mark.parametrize("x", [True, np.bool_(False), np.array(True), 1j, np.complex128(1), "0.1",
                               np.ones(2), np.ones((1,)), None, [0.1]],
                         ids=lambda x: repr(x)[:20])
def test_non_numbers_name_the_parameter(x):
    with pytest.raises(ValueError, match=r"^lr must be a number in \[0, inf\)"):
        refopt.adam(lr=x)


def test_an_int_too_large_for_a_float_names_lr_instead_of_overflowing():
    with pytest.raises(ValueError, match=r"lr must be a number.*an int of about 401 digits"):
        refopt.adam(lr=10**400)


def test_a_schedule_returning_numpy_float32_is_accepted():
    opt = refopt.sgd(lr=lambda t: np.float32(0.5) / t)
    w, s = opt.step(np.zeros(1), np.ones(1), opt.init(np.zeros(1)))
    w, s = opt.step(w, np.ones(1), s)
    assert w[0] == -0.5 - 0.25  # 0.5/1 + 0.5/2, exact in binary


# --------------------------------------------------------------------------- 2. state.t

@pytest.mark.parametrize("t, exc", [(True, TypeError), (0.5, TypeError), (3.0, TypeError),
                                    ("3", TypeError), (-1, ValueError), (-3, ValueError)])
def test_a_tampered_step_count_names_state_t_and_the_rule(t, exc):
    opt = refopt.adam()
    state = opt.init(np.ones(2))._replace(t=t)
    with pytest.raises(exc, match=r"^adam: state\.t must be a non-negative int"):
        opt.step(np.ones(2), np.ones(2), state)


def test_a_numpy_integer_step_count_is_read_as_a_python_int():
    opt = refopt.sgd(lr=lambda t: 1.0 / t)  # the schedule shows which t the step used
    w, s = opt.step(np.zeros(1), np.ones(1), opt.init(np.zeros(1))._replace(t=np.int64(3)))
    assert w[0] == -0.25 and type(s.t) is int and s.t == 4


# --------------------------------------------------------------------------- 3. buffers

def test_a_state_for_other_params_names_the_leaf_and_the_buffer():
    opt = refopt.adam()
    with pytest.raises(ValueError, match=r"state\.m leaf <root> has shape \(3, 3\).*\(3,\)"):
        opt.step(np.ones(3), np.ones(3), opt.init(np.ones((3, 3))))


@pytest.mark.parametrize("name, shape, other", [("adafactor", (4, 3), (4, 5)),  # factored (R, C)
                                                ("shampoo", (4, 3), (4, 5)),    # H1, H2 matrices
                                                ("normuon", (4, 3), (5, 3))])   # a row vector
def test_rule_specific_layouts_are_checked(name, shape, other):
    opt = refopt.RULES[name].make_example()
    state = opt.init({"w": np.ones(other)})
    with pytest.raises(ValueError, match=r"state\.\w+(\[\d\])? leaf \['w'\]"):
        opt.step({"w": np.ones(shape)}, {"w": np.ones(shape)}, state)


def test_a_tuple_of_the_wrong_length_is_named():
    opt = refopt.adafactor()
    state = opt.init({"w": np.ones((4, 3))})
    bad = state._replace(v={"w": state.v["w"][:1]})
    with pytest.raises(ValueError, match=r"state\.v leaf \['w'\] is a tuple of 1.*tuple of 2"):
        opt.step({"w": np.ones((4, 3))}, {"w": np.ones((4, 3))}, bad)


def test_a_buffer_from_another_library_is_named():
    import torch
    opt = refopt.adam()
    state = opt.init({"w": np.ones(3)})
    bad = state._replace(s={"w": torch.zeros(3, dtype=torch.float64)})
    with pytest.raises(TypeError, match=r"^state\.s leaf \['w'\]: arrays come from different libraries"):
        opt.step({"w": np.ones(3)}, {"w": np.ones(3)}, bad)


# --------------------------------------------------------------------------- 4. state classes

def test_a_same_name_state_class_from_another_module_is_called_another_class():
    from typing import NamedTuple

    class AdamState(NamedTuple):  # noqa: F811 - the point: same name, other module
        t: int
        m: object
        s: object

    opt = refopt.adam()
    with pytest.raises(TypeError, match=r"another class of the same name.*refopt\.rules\.adam") as err:
        opt.step(np.ones(2), np.ones(2), AdamState(0, np.zeros(2), np.zeros(2)))
    assert __name__ in str(err.value)  # both modules are named


def test_articles_follow_the_first_letter():
    assert article("AdamState") == "an AdamState" and article("MuonState") == "a MuonState"
    opt = refopt.adam()
    with pytest.raises(TypeError, match="state is a MomentumState, but adam needs an AdamState"):
        opt.step(np.ones(2), np.ones(2), refopt.momentum().init(np.ones(2)))
    assert AdamState._fields == ("t", "m", "s")


# --------------------------------------------------------------------------- 5. extra trees

def test_errors_about_sophias_hess_name_hess():
    opt = refopt.sophia()
    p = {"w": np.ones(3)}
    with pytest.raises(ValueError, match=r"^hess leaf \['w'\] has shape \(2,\)"):
        opt.step(p, p, opt.init(p), hess={"w": np.ones(2)})
    with pytest.raises(TypeError, match=r"^hess leaf \['w'\] has dtype float32"):
        opt.step(p, p, opt.init(p), hess={"w": np.ones(3, np.float32)})


def test_a_hess_from_another_library_names_hess():
    import torch
    opt = refopt.sophia()
    p = {"w": np.ones(3)}
    with pytest.raises(TypeError, match=r"^hess leaf \['w'\]: arrays come from different libraries"):
        opt.step(p, p, opt.init(p), hess={"w": torch.ones(3, dtype=torch.float64)})


def test_errors_about_mars_m_prev_grad_name_prev_grad():
    opt = refopt.RULES["mars_m"].make_example()
    p = {"w": np.ones((3, 2))}
    with pytest.raises(ValueError, match=r"^prev_grad leaf \['w'\] has shape \(2, 3\)"):
        opt.step(p, p, opt.init(p), prev_grad={"w": np.ones((2, 3))})


# --------------------------------------------------------------------------- 6. 0-d leaves

def _run(opt, w, g, steps=2):
    s = opt.init(w)
    for _ in range(steps):
        w, s = opt.step(w, g, s)
    return w, s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("info", NON_MATRIX, ids=lambda i: i.name)
def test_0d_leaves_stay_0d_arrays_and_equal_a_one_element_run(info, dtype):
    opt = info.make_example()
    w0, g = np.asarray(0.7, dtype), np.asarray(-0.3, dtype)
    w, s = _run(opt, w0, g)
    w1, s1 = _run(opt, w0.reshape(1), g.reshape(1))
    for a in [w] + _flat(s[1:]):
        assert type(a) is np.ndarray and a.ndim == 0 and a.dtype == dtype, (info.name, type(a), a)
    # a 0-d leaf is the 1-element vector's math: the same bits (norms of one entry are |w|)
    assert np.array_equal(w.reshape(1), w1)
    for a, b in zip(_flat(s[1:]), _flat(s1[1:])):
        assert np.array_equal(a.reshape(-1), b.reshape(-1)), info.name


def _flat(x):
    return [a for _, a in refopt.tree.leaves_with_paths(x) if hasattr(a, "shape")]


# --------------------------------------------------------------------------- 7. bfloat16

def _bf(x):
    """Round to bfloat16 the way ml_dtypes' arithmetic does: compute in float32, round."""
    return np.asarray(x, np.float32).astype(BF16)


def _f(x):
    return np.asarray(x).astype(np.float32)


def test_sgd_steps_bfloat16_with_bfloat16_rounding():
    rng = np.random.default_rng(0)
    w, g = _bf(rng.standard_normal(64)), _bf(rng.standard_normal(64))
    got, _ = _run(refopt.sgd(lr=0.1), w, g, steps=1)
    # a Python float meets a bfloat16 array as bfloat16 (NEP 50), then each op rounds once
    want = _bf(_f(w) - _f(_bf(_f(_bf(0.1)) * _f(g))))
    assert got.dtype == BF16 and np.array_equal(got, want)


def test_lion_steps_bfloat16_exactly_as_hand_rounding_gives():
    rng = np.random.default_rng(1)
    w, g = _bf(rng.standard_normal(64)), _bf(rng.standard_normal(64))
    got, s = _run(refopt.lion(lr=0.1), w, g, steps=1)
    # step 1 from m = 0: c = 0.1 g has g's sign, so w - lr*sign(g); m = 0.01 g
    want = _bf(_f(w) - _f(_bf(_f(_bf(0.1)) * np.sign(_f(g)))))
    assert np.array_equal(got, want) and s.m.dtype == BF16
    assert np.array_equal(s.m, _bf(_f(_bf(_f(_bf(0.99)) * 0)) + _f(_bf(_f(_bf(1 - 0.99)) * _f(g)))))


def test_adam_steps_bfloat16_within_bfloat16_rounding_of_its_closed_form():
    rng = np.random.default_rng(2)
    w, g = _bf(rng.standard_normal(256)), _bf(rng.standard_normal(256) + 0.1)
    got, s = _run(refopt.adam(lr=0.1), w, g, steps=1)
    assert got.dtype == BF16 and s.m.dtype == BF16 and s.s.dtype == BF16
    # Adam's first step is lr * g / (|g| + eps) = lr*sign(g) to 1e-8/|g|; in bfloat16 each of
    # its ~8 operations rounds by at most u = 2^-8 relative (the step within ~8u of lr), and
    # the subtraction adds u |w_1|
    exact = _f(w).astype(np.float64) - 0.1 * np.sign(_f(g))
    bound = 2.0**-8 * np.abs(exact) + 8 * 2.0**-8 * 0.1 + 1e-7
    assert np.all(np.abs(_f(got) - exact) <= bound)
    assert not np.array_equal(_f(got), exact.astype(np.float32))  # bfloat16's rounding is visible


def test_torch_and_jax_bfloat16_leaves_are_real_floating():
    import jax.numpy as jnp
    import torch
    for w in (torch.ones(3, dtype=torch.bfloat16), jnp.ones(3, dtype=jnp.bfloat16)):
        check_leaf("<root>", w, w)  # does not raise
        new, _ = _run(refopt.sgd(lr=0.5), w, w, steps=1)
        assert str(new.dtype).endswith("bfloat16") and float(new[0]) == 0.5  # 1 - 0.5*1, exact


@pytest.mark.parametrize("dtype", [np.complex128, np.int32, np.bool_, object])
def test_other_dtypes_are_refused_naming_the_leaf(dtype):
    with pytest.raises(TypeError, match=r"params leaf \['w'\] has dtype"):
        refopt.adam().init({"w": np.ones(3).astype(dtype)})


def test_a_python_list_of_numbers_is_explained():
    with pytest.raises(TypeError, match=r"params leaf \['w'\]\[0\] is a float, not an array.*list"):
        refopt.adam().init({"w": [1.0, 2.0]})


# --------------------------------------------------------------------------- 8. half precision

def test_float16_adam_at_defaults_is_refused_naming_eps_and_float16():
    with pytest.raises(ValueError, match=r"eps = 1e-08 rounds to 0 in float16 \(smallest positive "
                                         r"6e-08\): pass eps >= 6e-08, or keep params in float32 "
                                         r"\(params leaf \['h'\] is float16\)"):
        refopt.adam().init({"f": np.ones(3, np.float32), "h": np.ones(3, np.float16)})


def test_float16_adam_with_a_representable_eps_steps():
    opt = refopt.adam(eps=1e-4)
    w, s = _run(opt, np.ones(3, np.float16), np.full(3, 0.5, np.float16), steps=1)
    # step 1 is lr * g / (|g| + eps) = 1e-3 / (1 + 2e-4): w = 1 - 1e-3 rounds to 0.999 in float16
    assert w.dtype == np.float16 and np.all(w == np.float16(1 - 1e-3))


def test_a_hyperparameter_rounding_to_inf_is_refused():
    with pytest.raises(ValueError, match=r"lr = 100000 rounds to inf in float16 \(largest 65504\)"):
        refopt.sgd(lr=1e5).init(np.ones(2, np.float16))


def test_a_schedule_value_is_checked_at_the_step_it_is_used():
    opt = refopt.sgd(lr=lambda t: 10.0**-(3 * t))  # 1e-3, 1e-6, 1e-9: the last rounds to 0
    w, s = _run(opt, np.ones(2, np.float16), np.ones(2, np.float16), steps=2)
    with pytest.raises(ValueError, match=r"lr = 1e-09 \(schedule at step 3\) rounds to 0 in float16"):
        opt.step(w, np.ones(2, np.float16), s)


@given(eps=st.floats(1e-30, 1e-3))
def test_representable_eps_is_exactly_what_float16_keeps_nonzero(eps):
    # the law: refused if and only if float16(eps) == 0 (NumPy's cast is the reference)
    opt = refopt.adam(eps=eps)
    if np.float16(eps) == 0:
        with pytest.raises(ValueError, match="rounds to 0 in float16"):
            opt.init(np.ones(2, np.float16))
    else:
        opt.init(np.ones(2, np.float16))


# --------------------------------------------------------------------------- 11. torch autograd

def test_torch_params_with_requires_grad_build_no_graph():
    import torch
    w = torch.ones(3, requires_grad=True)
    opt = refopt.adam()
    s = opt.init(w)
    p = w
    for _ in range(3):
        p, s = opt.step(p, torch.ones(3), s)
    # documented: the new params are plain values (requires_grad False), with no history
    assert p.grad_fn is None and not p.requires_grad
    assert all(b.grad_fn is None and not b.requires_grad for b in (s.m, s.s))
    assert w.requires_grad and w.grad is None  # the caller's tensor is untouched


# --------------------------------------------------------------------------- 12. layouts

@pytest.mark.parametrize("info", NON_MATRIX + [refopt.RULES["muon"]], ids=lambda i: i.name)
def test_read_only_strided_and_fortran_inputs_give_the_contiguous_result(info):
    rng = np.random.default_rng(3)
    w, g = rng.standard_normal((6, 8)), rng.standard_normal((6, 8))
    want, _ = _run(info.make_example(), w.copy(), g.copy())
    ro_w, ro_g = w.copy(), g.copy()
    ro_w.flags.writeable = ro_g.flags.writeable = False
    wide_w, wide_g = np.repeat(w, 2, axis=1), np.repeat(g, 2, axis=1)
    for label, (a, b) in {"read-only": (ro_w, ro_g), "strided": (wide_w[:, ::2], wide_g[:, ::2]),
                          "fortran": (np.asfortranarray(w), np.asfortranarray(g))}.items():
        got, _ = _run(info.make_example(), a, b)
        # elementwise rules: the same bits; matrix products may sum in another order (4e-16)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14, err_msg=f"{info.name} {label}")
