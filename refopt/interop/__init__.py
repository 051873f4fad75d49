"""refopt and the frameworks, both directions, one file per framework.

Frameworks as refopt pairs (for the oracle and the flavors): ``refopt.interop.torch.torch_optimizer``,
``refopt.interop.optax.optax_transformation``, ``refopt.interop.keras.keras_optimizer`` wrap a
framework's optimizer as an ``Adapter`` ``(name, init, step)`` over NumPy params trees, so it runs
wherever a refopt rule runs (``refopt.oracle.trajectory``, ``compare``). refopt rules as framework
optimizers: ``refopt.interop.torch.Optimizer(params_or_groups, rule)`` (a real
``torch.optim.Optimizer``) and ``refopt.interop.optax.transformation(rule)`` (an optax
``GradientTransformation``, jit-compatible). A framework is imported by the file that needs it,
never here.

Process-wide settings are left as the user set them (issue 9, section 6):

* torch's default dtype is never changed. torch keeps some scalar state in it (NAdam's
  ``mu_product``, float32 unless the user chose float64); ``refopt.flavors.torch`` models
  that instead (its ``scalar_dtype``).
* JAX's ``jax_enable_x64`` is never changed: init and step run inside ``jax.enable_x64(True)``,
  a context manager whose setting is local to the calling thread (jax 0.10.2,
  ``jax._src.config.State``: ``swap_local``/``set_local``), so float64 stays float64 in that
  thread only and other threads keep their own setting.
* keras's ``floatx`` is process-wide (a module global in keras 3.15.1), and keras reads it when
  an optimizer creates its learning-rate variable. ``keras.keras_optimizer`` sets it to the params'
  dtype for the build and restores it exactly, under a module lock (so two adapters never
  restore each other's value); other threads may see it during the build.
* ``KERAS_BACKEND`` is set to ``jax`` only while keras is first imported, and only if unset.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

__all__ = ["Adapter", "in_x64"]


class Adapter(NamedTuple):
    """A framework optimizer as a refopt pair: ``init(params)``, ``step(params, grads, state)``."""
    name: str
    init: Any
    step: Any


def in_x64(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` run inside ``jax.enable_x64(True)``: float64 in this thread, for this call only."""
    import jax

    def run(*args: Any) -> Any:
        with jax.enable_x64(True):
            return f(*args)

    return run
