r"""optax's arguments that choose storage (``mu_dtype``, ``accumulator_dtype``, ``dtype_momentum``),
modelled, and those refopt's flavors take only at their default (``default_only``).

optax keeps such a moment in the dtype asked for (``optax.tree.cast`` after each update) and
computes with it as JAX promotes (optax 0.2.8, ``transform.scale_by_adam``,
``transforms/_accumulation.trace``/``ema``, ``contrib/_muon.scale_by_muon``). At step t,
with :math:`m_{t-1}` stored in the narrow dtype :math:`d`:

.. math::

    m_t = (1-\beta)\,g_t + \mathrm{fl}_d(\beta\,m_{t-1})
    \quad(\text{the trace: } g_t + \mathrm{fl}_d(\beta\,m_{t-1})),\qquad
    \text{stored: } \mathrm{fl}_d(m_t)

The product :math:`\beta m_{t-1}` is taken in :math:`d` (a Python float meets a float32 or
bfloat16 array in that array's dtype, :math:`\beta` rounded to it first); the sum is in the
gradient's dtype; the step uses the unrounded :math:`m_t`; only the stored copy is rounded.
One exception, measured on jitted optax (XLA on CPU, jax 0.10.2): a 16-bit :math:`d` (bfloat16)
with float32 gradients, where XLA keeps the product in float32 (its ``xla_allow_excess_precision``,
on by default: :math:`\mathrm{fl}_{32}(\mathrm{fl}_d(\beta) m_{t-1})`, 7.8e-3 from the rounded
product on unit inputs); with float64 gradients it rounds the product to :math:`d` as above.

refopt keeps every state buffer in the params' dtype (``refopt.backend.check_buffer``), so
``stored_in`` keeps the moment there, holding values of :math:`d`, and hands the rule, whose
line is ``m = beta*m + (1-beta)*g``, the buffer :math:`\mathrm{fl}_d(\beta m_{t-1})/\beta`:
the rule's own product then gives optax's :math:`\mathrm{fl}_d(\beta m_{t-1})` to two
roundings of the params' dtype (2.2e-16 relative in float64, where the acceptance set checks
1e-10; 1.2e-7 in float32).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import tree
from ..backend import array_namespace
from ..core import Optimizer

__all__ = ["default_only", "storage_dtype", "stored_in"]

def default_only(**settings: Any) -> None:
    """optax arguments accepted for the signature but supported only at their default."""
    for name, (value, default) in settings.items():
        if value is not default and value != default:
            raise ValueError(f"{name}={value!r} is not supported by the refopt flavor "
                             f"(only {default!r}): it picks a dtype, a mask or a variant refopt lacks")


_NAMES = ("bfloat16", "float16", "float32", "float64")


def storage_dtype(name: str, dtype: Any) -> np.dtype | None:
    """``dtype`` (None, a name, a NumPy, JAX or ml_dtypes dtype) as a NumPy dtype; None stays None
    (optax: the params' dtype). Complex and integer dtypes are refused: the flavors are real."""
    if dtype is None:
        return None
    import ml_dtypes  # bfloat16 for NumPy (a dependency of jax, and of refopt's oracle extra)

    try:
        resolved = np.dtype(ml_dtypes.bfloat16 if str(getattr(dtype, "__name__", dtype)) == "bfloat16"
                            else dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _NAMES:
        raise ValueError(f"{name}={dtype!r} is not supported by the refopt flavor: a real floating "
                         f"dtype ({', '.join(_NAMES)}) or None; refopt's rules are real-valued")
    return resolved


def _in(d: np.dtype, x: Any) -> Any:
    """``x`` rounded to ``d`` (NumPy; bfloat16 is a NumPy dtype through ml_dtypes only)."""
    return np.asarray(x).astype(d)


def stored_in(opt: Optimizer, field: str, beta: float, dtype: np.dtype | None, name: str) -> Optimizer:
    r"""``opt`` with ``state.<field>`` stored as optax stores it in ``dtype`` (module docstring).

    ``beta`` is the coefficient with which ``opt``'s rule multiplies the stored buffer at the
    next step (``beta1`` for Adam's :math:`m`, the momentum of a trace). ``name`` is optax's
    argument (``mu_dtype``) for the error where ``dtype`` is wider than a params leaf:
    optax would then keep a wider moment than the params, which refopt's state cannot."""
    if dtype is None:
        return opt

    def narrow(path: str, m: Any) -> None:
        if np.dtype(m.dtype).itemsize < dtype.itemsize:
            raise ValueError(f"{name}={dtype.name} is wider than params leaf {path} ({m.dtype}): "
                             f"refopt keeps the state in the params' dtype")

    def as_read(m: Any) -> Any:  # the buffer whose beta*m is optax's fl_d(beta*m)
        xp = array_namespace(m)
        if beta == 0:
            return m
        if dtype.itemsize < 4 and m.dtype == np.float32:  # XLA's excess precision: the product in float32
            product = _in(m.dtype, _in(dtype, beta)) * m
        else:  # in dtype: NumPy keeps an array's dtype against a Python float, as JAX does
            product = _in(dtype, m) * beta
        return xp.asarray(_in(m.dtype, product)) / beta

    def as_stored(m: Any) -> Any:
        return array_namespace(m).asarray(_in(m.dtype, _in(dtype, m)))

    def over(state: Any, f: Any) -> Any:
        return state._replace(**{field: tree.tree_map(f, getattr(state, field))})

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        if not (hasattr(state, field) and hasattr(state, "_replace")):
            return opt.step(params, grads, state, **extra)  # not this rule's state: its error
        for path, w in tree.leaves_with_paths(params):
            narrow(tree.fmt_path(path), w)
        params, state = opt.step(params, grads, over(state, as_read), **extra)
        return params, over(state, as_stored)

    return Optimizer(f"{opt.name}+{field}:{dtype.name}", opt.init, step,
                     {**opt.hyperparams, name: dtype.name}, opt.bounds)
