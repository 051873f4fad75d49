r"""Where ``torch.optim`` computes with 0-d tensors instead of Python floats, and how the torch
flavors reproduce it: the code-path options (``foreach``, ``fused``, ``differentiable``,
``capturable``) and tensor-valued ``lr`` / ``betas``.

**Scalar state.** torch keeps ``step`` (and NAdam's ``mu_product``) as 0-d tensors of its default
dtype (``torch.optim.optimizer._get_scalar_dtype``: float64 if the default dtype is float64, else
float32; fused kernels always float32). The usual paths read them back as Python floats
(``_get_value``), so a float32 step count, an exact integer, changes nothing. Two paths compute
with the tensors themselves, in the scalar dtype (read in torch 2.13, checked against torch):

* ``Adam``/``AdamW`` with ``differentiable=True``: :math:`1-\beta_1^t`, :math:`1-\beta_2^t`, the
  step size, its square root and ``eps / step_size`` are float32 tensors (``adam_update``);
* ``NAdam`` with ``differentiable=True``: its two coefficients divide by float32 ``1 - mu_product``
  (``torch_rules.nadam_update``).

Every other combination of the options gives the plain path's numbers, measured over torch's
own test configurations (``tests/flavors/test_torch_acceptance.py``): foreach and fused
(Adam, AdamW, SGD, Adagrad on CPU) agree with it to 1e-10. ``capturable=True`` is refused: torch
runs it only on CUDA, XPU and XLA devices, where these flavors are not checked.

**Tensor hyperparameters.** torch accepts a 1-element tensor ``lr`` (and ``betas`` for the Adam
family) and keeps it a tensor; ``value`` reads its number exactly (a float32 ``tensor(1e-3)`` is
float32(1e-3)). Where torch then only turns it back into a Python float (SGD, Adagrad, RMSprop,
Adadelta, RAdam's lr, the fused Adam/AdamW), that is all it takes. Where torch computes further
in the tensor's float32 (Adam's step size ``lr / (1 - beta1^t)``, Adamax, NAdam, Adafactor) the
flavor refuses a float32 tensor with a ValueError naming it; a float64 tensor is exact.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import array_namespace, zeros_like

__all__ = ["code_path", "value", "TorchAdamState", "adam_init", "adam_update"]


def code_path(optimizer: str, impl: dict, takes: tuple[str, ...], fused: bool = False) -> str:
    """``"differentiable"``, ``"fused"``, ``"foreach"`` or ``"plain"``: the torch code path the
    options choose (None, torch's default, is the plain path on CPU).
    ``impl`` holds the options given; ``takes`` those torch's ``optimizer`` accepts; ``fused``
    whether torch has a fused CPU kernel for it."""
    unknown = sorted(set(impl) - set(takes))
    if unknown:
        raise TypeError(f"{optimizer}() got an unexpected keyword argument {unknown[0]!r}")
    for name, v in impl.items():
        if v is not None and not isinstance(v, bool):
            raise ValueError(f"{name} must be True, False or None (as torch), got {v!r}")
    chosen = {k for k, v in impl.items() if v}
    if "capturable" in chosen:
        raise ValueError(f"{optimizer}: capturable=True is not supported: torch runs it only on CUDA, "
                         f"XPU and XLA devices, where this flavor is not checked")
    if {"fused", "foreach"} <= chosen:
        raise ValueError(f"{optimizer}: fused and foreach cannot both be True (as torch)")
    if {"fused", "differentiable"} <= chosen:
        raise ValueError(f"{optimizer}: fused=True does not support differentiable=True (as torch)")
    if "fused" in chosen and not fused:
        raise ValueError(f"{optimizer}: fused=True is not supported: torch has no fused {optimizer}")
    for path in ("differentiable", "fused", "foreach"):
        if path in chosen:
            return path
    return "plain"


def value(name: str, x: Any, exact_in_float32: bool = True) -> Any:
    """A tensor-valued hyperparameter (1 element, any shape: torch squeezes it) as the Python
    float of its value; anything else unchanged. ``exact_in_float32=False``: the path computes
    in the tensor's dtype, so a tensor of less than float64 is refused."""
    if not (hasattr(x, "dtype") and hasattr(x, "shape") and hasattr(x, "item")) or isinstance(x, np.generic):
        return x
    if int(np.prod(x.shape)) != 1:
        raise ValueError(f"{name} as a tensor must have one element (as torch), got shape {tuple(x.shape)}")
    dtype = str(x.dtype).removeprefix("torch.")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"{name} as a tensor must be float32 or float64, got {dtype}")
    if dtype != "float64" and not exact_in_float32:
        raise ValueError(f"{name} as a {dtype} tensor is not supported here: torch computes the step "
                         f"size from it in {dtype}, which this flavor does not model; pass a float or "
                         f"a float64 tensor")
    return float(x.item())


# --- Adam with differentiable=True: the bias corrections as 0-d tensors ----------------------

class TorchAdamState(NamedTuple):
    t: int
    m: object
    s: object
    s_max: object  # AMSGrad's running max of s, () without amsgrad


def adam_init(amsgrad: bool):
    return lambda w: (zeros_like(w), zeros_like(w), zeros_like(w) if amsgrad else ())


def step_coefficients(t: int, lr: float, beta1: float, beta2: float, eps: float, dtype: str):
    r"""torch's differentiable-path scalars, each a 0-d tensor of ``dtype`` (its step is one):
    :math:`a = \sqrt{1-\beta_2^t}\cdot(-\eta/(1-\beta_1^t))` and :math:`e = \epsilon/(-\eta/(1-\beta_1^t))`.
    ``x / tensor`` is ``tensor.reciprocal() * x`` in torch (``Tensor.__rdiv__``), the Python
    floats rounded to ``dtype`` first. One known difference: torch's float32 ``sqrt`` on CPU is
    not correctly rounded (one ulp off for ~15% of inputs, measured), NumPy's is: ``a`` may
    differ from torch's by one float32 ulp, 6e-8 relative."""
    f = np.float32 if dtype == "float32" else np.float64
    one = f(1)
    bias_correction1 = one - f(beta1) ** f(t)
    bias_correction2 = one - f(beta2) ** f(t)
    step_size_neg = -((one / bias_correction1) * f(lr))
    a = np.sqrt(bias_correction2) * step_size_neg
    e = (one / step_size_neg) * f(eps)
    return float(a), float(e)


def adam_update(w, g, m, s, s_max, *, t, lr, beta1, beta2, eps, amsgrad, scalar_dtype):
    r"""Adam (AMSGrad with ``amsgrad``) as torch's ``differentiable=True`` path writes it:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad s_t = \beta_2 s_{t-1} + (1-\beta_2) g_t^2,\quad
        w_t = w_{t-1} + m_t / (\sqrt{s_t}/a_t + e_t)

    with :math:`a_t, e_t` from ``step_coefficients`` (negative), :math:`s_t` replaced by its
    running max under AMSGrad. In float64 it is Adam's update; the scalar dtype is torch's.
    """
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    if amsgrad:
        s_max = xp.maximum(s_max, s)
    a, e = step_coefficients(t, lr, beta1, beta2, eps, scalar_dtype)
    w = w + m / (xp.sqrt(s_max if amsgrad else s) / a + e)
    return w, m, s, s_max
