"""refopt: gradient-based optimizers written to be read, and checked.

    opt = refopt.adam(lr=1e-3)
    state = opt.init(params)
    params, state = opt.step(params, grads, state)

Every rule in ``refopt.RULES`` is also an attribute of this package (``refopt.sgd``, ...).
"""
from .accumulation import accumulate
from .averaging import ema
from .cautious import cautious
from .checkpoint import CheckpointError, load_state, save_state
from .clipping import clip, clip_by_global_norm, clip_by_norm
from .combine import coupled_weight_decay, partition
from .core import Interval, NonFiniteGradient, NonFiniteState, Optimizer, RuleInfo, check_finite
from .registry import RULES
from .rules.schedule_free_sgd import eval_params as schedule_free_eval_params
from .storage import quantized

globals().update({name: info.factory for name, info in RULES.items()})

__all__ = ["RULES", "RuleInfo", "Optimizer", "Interval", "NonFiniteGradient", "NonFiniteState",
           "check_finite",
           "coupled_weight_decay", "cautious", "clip", "clip_by_norm", "clip_by_global_norm", "ema", "accumulate",
           "save_state", "load_state", "CheckpointError", "schedule_free_eval_params",
           "quantized", *RULES]
__version__ = "0.1.0"
