"""The configurations keras 3.15.1's own optimizer tests build (``keras/src/optimizers/*_test.py``,
``optimizer_test.py`` and ``schedules/learning_rate_schedule_test.py``, installed), as our own
table: keras's test modules are ``testing.TestCase`` classes that step one or two hand-made
variables, so they are read, not imported.

Every row is ``(source, attr, kwargs)``: ``source`` names the keras test (file and test method),
``attr`` the ``keras.optimizers`` class, ``kwargs`` the constructor arguments that test passes.
Three things a keras test does that are not constructor arguments appear under keras's own name
as if they were, so that the flavor's refusal of them is checked: ``exclude_from_weight_decay``
(a method the ``test_weight_decay`` tests call), ``overwrite_with_gradient`` and ``constraint``
(attributes of a variable). A learning-rate schedule is written ``Sched(class name, kwargs)`` and
built as ``keras.optimizers.schedules.<name>(**kwargs)`` when the row runs (keras is imported
then, not here); keras's schedule tests build schedules alone, so each schedule's
``test_config`` arguments are run as Adam's lr, the optimizer ``test_fit_lr_correctness`` uses.

``REASONS``: for each option a flavor refuses, the reason class counted in the closing tally.
``INVALID``: the rows keras itself refuses with a ValueError (its ``test_invalid_*`` tests).
"""
from __future__ import annotations

from typing import Any, NamedTuple


class Sched(NamedTuple):
    """A ``keras.optimizers.schedules`` schedule, built when the row runs."""
    name: str
    kwargs: dict

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.kwargs.items())})"


def _zero_argument_lr():  # optimizer_test.py test_callable_learning_rate: keras calls it with no argument
    return 0.1


WD = {"learning_rate": 1.0, "weight_decay": 0.004}  # every test_weight_decay's optimizer_1
EXCLUDED = {**WD, "exclude_from_weight_decay": ["exclude"]}  # its optimizer_2 (var_names=...)


# nadam_test.py's test_config and test_correctness_with_golden
NADAM = {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.67, "epsilon": 1e-5}
# adafactor_test.py's test_config and test_correctness_with_golden
ADAFACTOR = {"learning_rate": 0.5, "beta_2_decay": -0.65, "epsilon_1": 1e-15, "epsilon_2": 1e-4,
             "clip_threshold": 0.9, "relative_step": False}


def _per_file(attr: str, file: str, config: dict, golden: dict | None, *extra: tuple) -> list[tuple]:
    """The tests every ``<optimizer>_test.py`` has: config, single step, weight decay (with and
    without an excluded variable), golden values, clipnorm=1 and clipvalue=1; then its own."""
    rows = [("test_config", config), ("test_single_step", {"learning_rate": 0.5}),
            ("test_weight_decay", WD), ("test_weight_decay exclude", EXCLUDED)]
    if golden is not None:
        rows.append(("test_correctness_with_golden", golden))
    rows += [("test_clip_norm", {"clipnorm": 1}), ("test_clip_value", {"clipvalue": 1}), *extra]
    return [(f"{file} {test}", attr, kwargs) for test, kwargs in rows]


PER_FILE = (
    _per_file("SGD", "sgd_test.py", {"learning_rate": 0.5, "momentum": 0.06, "nesterov": True,
                                     "weight_decay": 0.004}, {"nesterov": True},
              ("test_invalid_momentum", {"momentum": -1.0}), ("test_invalid_momentum", {"momentum": 2.0}))
    + _per_file("Adam", "adam_test.py", {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.67, "epsilon": 1e-5,
                                       "amsgrad": True}, {"amsgrad": True},
                ("test_ema", {"learning_rate": 1.0, "use_ema": True, "ema_momentum": 0.9}),
                ("test_ema model.fit", {"use_ema": True, "ema_momentum": 0.9}),
                ("test_ema_overwrite_frequency", {"learning_rate": 1.0, "use_ema": True, "ema_momentum": 0.9,
                                                  "ema_overwrite_frequency": 2}),
                ("test_clipnorm_indexed_slices", {"clipnorm": 100}))
    + _per_file("AdamW", "adamw_test.py", {"learning_rate": 0.5, "weight_decay": 0.008, "beta_1": 0.5,
                                         "beta_2": 0.67, "epsilon": 1e-5, "amsgrad": True},
                {"learning_rate": 1.0, "weight_decay": 0.5, "epsilon": 2},
                ("test_weight_decay_is_none", {"learning_rate": 1.0, "weight_decay": None}))
    + _per_file("Adamax", "adamax_test.py", {"learning_rate": 0.5, "beta_1": 0.8, "beta_2": 0.95,
                                           "epsilon": 1e-5},
                {"learning_rate": 0.2, "beta_1": 0.85, "beta_2": 0.95, "epsilon": 1e-6})
    + _per_file("Nadam", "nadam_test.py", NADAM, NADAM,
                ("test_build_with_empty_var_list", {}))
    + _per_file("RMSprop", "rmsprop_test.py", {"learning_rate": 0.5, "rho": 0.8, "momentum": 0.05,
                                             "epsilon": 1e-6, "centered": True}, {"centered": True})
    + _per_file("Adagrad", "adagrad_test.py", {"learning_rate": 0.5, "initial_accumulator_value": 0.2,
                                             "epsilon": 1e-5},
                {"learning_rate": 0.2, "initial_accumulator_value": 0.3, "epsilon": 1e-6})
    + _per_file("Adadelta", "adadelta_test.py", {"learning_rate": 0.5, "rho": 0.9, "epsilon": 1e-5},
                {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-6})
    + _per_file("Lion", "lion_test.py", {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.67}, {},
                ("test_invalid_beta_1", {"beta_1": -0.1}), ("test_invalid_beta_1", {"beta_1": 0.0}),
                ("test_invalid_beta_1", {"beta_1": 1.1}), ("test_ema", {"use_ema": True}))
    + _per_file("Lamb", "lamb_test.py", {"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.67,
                                       "epsilon": 1e-5}, {})
    + _per_file("Adafactor", "adafactor_test.py", ADAFACTOR, ADAFACTOR,
                ("test_single_step_2d", {"learning_rate": 0.5}))
)

OPT = "optimizer_test.py"
# optimizers.get(name) / get({"class_name": name, "config": ...}) in keras's parameterized tests
GET_NAMES = ("Adam", "SGD", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "Lion", "Nadam", "Ftrl",
             "Adafactor")
OPTIMIZER_TEST = [(f"{OPT} {test}", attr, kwargs) for test, attr, kwargs in [
    ("test_iterations_counter", "Adam", {"learning_rate": 1.0}),
    ("test_clip_args", "SGD", {"learning_rate": 1.0, "clipnorm": 0.1}),
    ("test_clip_args", "SGD", {"learning_rate": 1.0, "clipvalue": 0.1}),
    ("test_clip_args", "SGD", {"learning_rate": 1.0, "global_clipnorm": 0.1}),
    ("test_clip_args", "SGD", {"learning_rate": 1.0, "clipnorm": 0.1, "clipvalue": 0.1}),
    ("test_clip_args", "SGD", {"learning_rate": 1.0, "clipnorm": 0.1, "global_clipnorm": 0.1}),
    ("test_global_clip_norm", "SGD", {"global_clipnorm": 1}),
    ("test_ema", "SGD", {"learning_rate": 1.0, "use_ema": True, "ema_momentum": 0.9,
                         "ema_overwrite_frequency": 3}),
    ("test_ema_with_model_fit", "SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.9}),
    ("test_constraints_are_applied", "SGD", {"learning_rate": 0.0001, "constraint": "NonNeg"}),
    ("test_static_loss_scaling", "SGD", {"learning_rate": 1.0, "loss_scale_factor": 1024.0}),
    ("test_gradient_accumulation", "SGD", {"learning_rate": 1.0, "gradient_accumulation_steps": 3}),
    ("test_callable_learning_rate", "SGD", {"learning_rate": _zero_argument_lr}),
    ("test_overwrite_with_gradient", "SGD", {"learning_rate": 1.0, "overwrite_with_gradient": True}),
    ("test_overwrite_with_gradient_with_gradient_accumulation", "SGD",
     {"learning_rate": 1.0, "gradient_accumulation_steps": 2, "overwrite_with_gradient": True}),
    ("test_setting_lr_to_callable_untracks_lr_var", "Adam",
     {"learning_rate": Sched("PolynomialDecay", {"initial_learning_rate": 0.001, "decay_steps": 4})}),
]] + [(f"{OPT} test_gradient_accumulation_with_weigth_decay", name, kwargs) for name in GET_NAMES
      for kwargs in ({"weight_decay": 0.05}, {"weight_decay": 0.05, "gradient_accumulation_steps": 3})
      ] + [(f"{OPT} test_pickleable_optimizers", name, {}) for name in GET_NAMES]

SCHED = "schedules/learning_rate_schedule_test.py"
SCHEDULES = [(f"{SCHED} {test}", "Adam", {"learning_rate": Sched(name, kwargs)}) for test, name, kwargs in [
    ("test_fit_lr_correctness", "ExponentialDecay",
     {"initial_learning_rate": 0.05, "decay_steps": 1, "decay_rate": 0.9}),
    ("ExponentialDecayTest.test_config", "ExponentialDecay",
     {"initial_learning_rate": 0.05, "decay_steps": 10, "decay_rate": 0.96, "staircase": True}),
    ("PiecewiseConstantDecayTest.test_config", "PiecewiseConstantDecay",
     {"boundaries": [10, 20], "values": [1, 2, 3]}),
    ("LinearDecayTest.test_config", "PolynomialDecay",
     {"initial_learning_rate": 0.1, "decay_steps": 100, "end_learning_rate": 0.005, "power": 1.0,
      "cycle": False}),
    ("InverseTimeDecayTest.test_config", "InverseTimeDecay",
     {"initial_learning_rate": 0.05, "decay_steps": 10, "decay_rate": 0.96, "staircase": True}),
    ("CosineDecayTest.test_config", "CosineDecay",
     {"initial_learning_rate": 0.05, "decay_steps": 10, "alpha": 0.1, "warmup_target": 0.2,
      "warmup_steps": 2}),
    ("CosineDecayRestartsTest.test_config", "CosineDecayRestarts",
     {"initial_learning_rate": 0.05, "first_decay_steps": 10, "alpha": 0.1, "t_mul": 3.0, "m_mul": 4.0}),
]]

# keras optimizers refopt has no flavor for (the catalogue issue's): their test_config rows
NO_FLAVOR_ROWS = [
    ("ftrl_test.py test_config", "Ftrl", {
        "learning_rate": 0.05, "learning_rate_power": -0.2, "initial_accumulator_value": 0.4,
        "l1_regularization_strength": 0.05, "l2_regularization_strength": 0.15,
        "l2_shrinkage_regularization_strength": 0.01, "beta": 0.3}),
    ("muon_test.py test_config", "Muon", {"learning_rate": 0.5, "epsilon": 1e-5}),
    ("schedule_free_adamw_test.py test_config", "ScheduleFreeAdamW",
     {"learning_rate": 0.005, "beta_1": 0.95, "beta_2": 0.99, "epsilon": 1e-6, "warmup_steps": 100}),
]

CASES = PER_FILE + OPTIMIZER_TEST + SCHEDULES + NO_FLAVOR_ROWS

# the rows keras refuses itself (ValueError at construction): the flavor must refuse them too
INVALID = [case for case in CASES if "test_invalid" in case[0] or "weight_decay_is_none" in case[0]
           or (case[0].endswith("test_clip_args") and sum(k in case[2] for k in
                                                          ("clipnorm", "clipvalue", "global_clipnorm")) > 1)]

# option a flavor refuses -> (reason class, why)
REASONS: dict[str, tuple[str, str]] = {
    "exclude_from_weight_decay": ("option not modelled", "per-variable exclusion is keras's variable "
                                  "bookkeeping (refopt.partition decays some leaves only)"),
    "overwrite_with_gradient": ("option not modelled", "a variable attribute (float8 scaling factors) "
                                "that replaces the update by the gradient"),
    "constraint": ("option not modelled", "a variable's projection after the step is the model's, not "
                   "the optimizer's"),
}


def arguments(kwargs: dict, schedules: Any) -> dict:
    """``kwargs`` with each ``Sched`` built from ``schedules`` (``keras.optimizers.schedules``)."""
    return {k: getattr(schedules, v.name)(**v.kwargs) if isinstance(v, Sched) else v
            for k, v in kwargs.items()}
