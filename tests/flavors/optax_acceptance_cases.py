"""The configurations optax's own test suite runs its optimizers with (optax 0.2.8, installed), as
our own table: optax's test modules import absl, sklearn and scipy and define test classes, so
they are read, not imported.

* ``ALIAS``: ``optax/_src/alias_test.py``, ``_OPTIMIZERS_UNDER_TEST`` (the list that its
  ``test_optimization``, ``test_optimizers_can_be_wrapped_in_inject_hyperparams``,
  ``test_preserve_dtype`` and ``test_gradient_accumulation`` run), 33 entries;
* ``EXPLICIT_DTYPE``: ``alias_test.py``, ``test_explicit_dtype``: ``sgd(0.1, momentum=0.9,
  accumulator_dtype=d)``, ``adam(0.1, mu_dtype=d)``, ``adamw(0.1, mu_dtype=d)`` for d in
  bfloat16, float32, complex64, None: 12;
* ``CONTRIB``: for ``optax.contrib.muon``: its entry in ``optax/contrib/_common_test.py``
  (``_MAIN_OPTIMIZERS_UNDER_TEST``) and the distinct argument sets of
  ``optax/contrib/_muon_test.py`` (``get_updates`` and ``test_callable_weight_dim_nums``: lr 1e-3
  with each preconditioning, and with dimension numbers; ``test_complex_mixed_target``: adaptive
  x nesterov; ``test_muon_orthogonalization_modes``; ``test_aol_numerical_difference``: dion
  coefficients; ``test_orthogonality``): 15;
* ``CONTRIB_MORE``: the other optimizers of ``_common_test.py`` (17) and the two argument sets of
  ``optax/contrib/_schedule_free_test.py``: 19.

Every case is ``(source, attr, kwargs)``. ``REASONS`` gives, for each option a flavor refuses, the
reason class counted in the closing note and the convention-table wording.
"""
from __future__ import annotations

ALIAS_SOURCE = "optax/_src/alias_test.py _OPTIMIZERS_UNDER_TEST"
ALIAS = [(ALIAS_SOURCE, name, kwargs) for name, kwargs in [
    ("adabelief", {"learning_rate": 1e-2}),
    ("adadelta", {"learning_rate": 0.1}),
    ("adadelta", {}),
    ("adafactor", {"learning_rate": 5e-3}),
    ("adafactor", {}),
    ("adagrad", {"learning_rate": 1.0}),
    ("adam", {"learning_rate": 1e-1}),
    ("adamax", {"learning_rate": 1e-1}),
    ("adamaxw", {"learning_rate": 1e-1}),
    ("adamw", {"learning_rate": 1e-1}),
    ("adan", {"learning_rate": 1e-1}),
    ("amsgrad", {"learning_rate": 1e-1}),
    ("fromage", {"learning_rate": 5e-3}),
    ("lamb", {"learning_rate": 1e-3}),
    ("lars", {"learning_rate": 1.0}),
    ("lion", {"learning_rate": 1e-2, "weight_decay": 1e-4}),
    ("nadam", {"learning_rate": 1e-2}),
    ("nadamw", {"learning_rate": 1e-2}),
    ("noisy_sgd", {"learning_rate": 1e-3, "eta": 1e-4, "key": 0}),
    ("novograd", {"learning_rate": 1e-3}),
    ("optimistic_adam", {"learning_rate": 2e-3}),
    ("optimistic_adam_v2", {"learning_rate": 2e-3}),
    ("optimistic_gradient_descent", {"learning_rate": 2e-3, "alpha": 0.7, "beta": 0.1}),
    ("polyak_sgd", {"max_learning_rate": 1.0}),
    ("radam", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3, "momentum": 0.9}),
    ("rprop", {"learning_rate": 1e-1}),
    ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}),
    ("sign_sgd", {"learning_rate": 1e-1}),
    ("signum", {"learning_rate": 1e-2}),
    ("sm3", {"learning_rate": 1.0}),
    ("yogi", {"learning_rate": 1e-1}),
]]

DTYPE_SOURCE = "optax/_src/alias_test.py test_explicit_dtype"
EXPLICIT_DTYPE = [
    (DTYPE_SOURCE, name, {"learning_rate": 0.1, **extra, key: dtype})
    for name, key, extra in [("sgd", "accumulator_dtype", {"momentum": 0.9}), ("adam", "mu_dtype", {}),
                             ("adamw", "mu_dtype", {})]
    for dtype in ("bfloat16", "float32", "complex64", None)
]

COMMON, MUON = "optax/contrib/_common_test.py", "optax/contrib/_muon_test.py"
CONTRIB = [(source, "contrib.muon", kwargs) for source, kwargs in [
    (COMMON, {"learning_rate": 1e-2}),
    (MUON, {"learning_rate": 1e-3, "preconditioning": "frobenius"}),
    (MUON, {"learning_rate": 1e-3, "preconditioning": "aol"}),
    (MUON, {"learning_rate": 1e-3, "preconditioning": "schatten"}),
    (MUON, {"learning_rate": 1e-3, "muon_weight_dimension_numbers": "a callable"}),
    (MUON, {"learning_rate": 1e-2, "adaptive": True, "nesterov": True}),
    (MUON, {"learning_rate": 1e-2, "adaptive": True, "nesterov": False}),
    (MUON, {"learning_rate": 1e-2, "adaptive": False, "nesterov": True}),
    (MUON, {"learning_rate": 1e-2, "adaptive": False, "nesterov": False}),
    (MUON, {"learning_rate": 1.0, "weight_decay": 0.0, "preconditioning": "frobenius"}),
    (MUON, {"learning_rate": 1.0, "weight_decay": 0.0, "preconditioning": "aol"}),
    (MUON, {"learning_rate": 0.1, "preconditioning": "frobenius"}),
    (MUON, {"learning_rate": 0.1, "preconditioning": "aol", "ns_coeffs": "dion"}),
    (MUON, {"learning_rate": 0.1, "preconditioning": "schatten", "ns_coeffs": "dion"}),
    (MUON, {"learning_rate": 0.1, "preconditioning": "schatten"}),
]]

# the other entries of _common_test.py's _MAIN_OPTIMIZERS_UNDER_TEST (its wrapper rows, mechanize,
# schedule_free and reduce_on_plateau over sgd, are wrappers, not optimizers: not here), and the
# argument sets of optax/contrib/_schedule_free_test.py's test_schedule_free_adamw and
# test_schedule_free_sgd (the default)
SCHEDULE_FREE = "optax/contrib/_schedule_free_test.py"
CONTRIB_MORE = [(COMMON, f"contrib.{name}", kwargs) for name, kwargs in [
    ("acprop", {"learning_rate": 1e-3}),
    ("ademamix", {"learning_rate": 1e-3}),
    ("simplified_ademamix", {"learning_rate": 1e-3}),
    ("adopt", {"learning_rate": 1e-2}),
    ("cocob", {}),
    ("cocob", {"weight_decay": 1e-2}),
    ("dadapt_adamw", {"learning_rate": 1e-1}),
    ("dog", {"learning_rate": 1.0}),
    ("dowg", {"learning_rate": 1.0}),
    ("madgrad", {"learning_rate": 1e-2}),
    ("momo", {"learning_rate": 1e-1}),
    ("momo_adam", {"learning_rate": 1e-1}),
    ("prodigy", {"learning_rate": 1e-1}),
    ("schedule_free_sgd", {"learning_rate": 1e-2, "warmup_steps": 5000}),
    ("schedule_free_adamw", {"learning_rate": 1e-2, "warmup_steps": 5000}),
    ("sophia", {"learning_rate": 1e-2}),
    ("galore", {"learning_rate": 1e-2, "rank": 8}),
]] + [(SCHEDULE_FREE, "contrib.schedule_free_adamw", {"learning_rate": 1.0, "b1": 0.9, "weight_decay": 1e-4}),
      (SCHEDULE_FREE, "contrib.schedule_free_sgd", {})]

CASES = ALIAS + EXPLICIT_DTYPE + CONTRIB + CONTRIB_MORE

# option a flavor refuses -> (reason class, why: the convention-table wording)
REASONS = {
    "mu_dtype": ("complex dtype", "refopt's rules are real-valued: a complex moment has no real counterpart"),
    "accumulator_dtype": ("complex dtype", "refopt's rules are real-valued: a complex moment has no real "
                          "counterpart"),
    "preconditioning": ("Muon variant", "only optax's default Frobenius-normalised Newton-Schulz is a "
                        "refopt rule (aol, schatten are not)"),
    "ns_coeffs": ("Muon variant", "named coefficient presets (dion) are not refopt coefficients"),
    "adaptive": ("Muon variant", "the dual-norm scaling (arXiv 2409.20325) is not a refopt rule"),
    "muon_weight_dimension_numbers": ("Muon variant", "refopt's Muon takes 2-D leaves as they are"),
    "warmup_steps": ("two-count warmup", "optax reads schedule_free's warmup at two counts (the z step "
                     "at t-1, the averaging weight at t), which no single gamma_t of the rule gives "
                     "(tests/flavors/test_schedule_free_flavors.py measures it)"),
    "value": ("needs the loss", "optax's polyak_sgd takes the loss, update(..., value=f); these runs feed "
              "gradients only (tests/rules/test_polyak_sgd.py feeds both sides one loss stream)"),
}
NEEDS_VALUE = ("polyak_sgd",)
