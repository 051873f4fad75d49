"""How the paper, torch, optax and keras differ per optimizer, each difference measured.

The data behind ``docs/conventions.md`` (written by ``scripts/conventions.py``), the rule pages
of the documentation site and ``tests/test_conventions.py``: one source. ``SPECS`` holds the
tables (``spec.Spec``); ``for_rule(name)`` the ones about a rule; ``NOT_SHIPPED`` the rules none
of the three frameworks ships, with where they are checked instead (tests/test_conventions.py
asserts the frameworks really lack them). Importing this imports the flavors, not the frameworks.
"""
from __future__ import annotations

from . import adam_family, beyond, catalogue, classic, others
from .spec import FRAMEWORKS, RTOL, STEPS, Diff, Spec, measure, measured, size_text

SPECS: list[Spec] = classic.SPECS + adam_family.SPECS + others.SPECS + catalogue.SPECS + beyond.SPECS

# rule -> (the names the frameworks would give it, looked up and found absent by the tests; why)
NOT_SHIPPED: dict[str, tuple[tuple[str, ...], str]] = {
    "mars_m": (("MARS", "mars"), "pytorch-optimizer's MARS is the one implementation (checked against it)"),
    "normuon": (("NorMuon", "normuon"), "pytorch-optimizer's NorMuon is the one implementation"),
    "shampoo": (("Shampoo", "shampoo"), "pytorch-optimizer's Shampoo; optax has it only outside its "
                "package (distributed_shampoo in google-research)"),
    "reg": (("REG", "reg"), "the paper's own method, in no framework"),
    "dadapt_sgd": (("DAdaptSGD", "dadapt_sgd"), "the authors' dadaptation 3.2 (bit for bit up to 1.5e-12) "
                   "and pytorch-optimizer's DAdaptSGD"),
    "dadapt_adagrad": (("DAdaptAdaGrad", "dadapt_adagrad"), "the authors' dadaptation 3.2 (bit for bit) and "
                       "pytorch-optimizer's DAdaptAdaGrad"),
    "psgd_kron": (("Kron", "kron", "psgd_kron", "psgd", "PSGD"),
                  "pytorch-optimizer's Kron (checked against it, its departures measured in "
                  "refopt/rules/psgd_kron.py); kron_torch, psgd_jax and heavyball outside the three "
                  "frameworks"),
}


def for_rule(name: str) -> list[Spec]:
    """The tables about rule ``name`` (empty for the rules in ``NOT_SHIPPED``)."""
    return [s for s in SPECS if name in s.rules]


__all__ = ["FRAMEWORKS", "NOT_SHIPPED", "RTOL", "SPECS", "STEPS", "Diff", "Spec", "for_rule", "measure",
           "measured", "size_text"]
