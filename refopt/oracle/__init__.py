"""refopt as an oracle: run another framework's optimizer beside a refopt rule.

``refopt.interop`` wraps torch.optim / pytorch-optimizer optimizers, optax transformations and
Keras optimizers as ``(init, step)`` pairs over NumPy arrays, the same shape as a refopt
optimizer, so anything that runs one runs the other. ``streams`` makes the gradient
sequences the checks use. ``compare`` steps two such pairs side by side and reports the first
step and leaf where they part; ``python -m refopt.oracle`` does that for a framework
optimizer and its refopt flavor. ``shadow(torch_optimizer)`` rides along with a real torch
training run: the flavor in the params' dtype and in float64, and the paper's rule, on the same
gradients (``refopt.oracle.shadow``); ``shadow_optax(optax.adamw, ...)`` does it for an optax alias.
"""
from .compare import Report, StepError, compare
from .run import trajectory
from .shadow import shadow
from .shadow_optax import shadow_optax
from .streams import mixed_gradients

__all__ = ["trajectory", "mixed_gradients", "compare", "Report", "StepError", "shadow", "shadow_optax"]
