"""Every optimizer torch.optim, optax and keras ship has a flavor, or a reason it has none.

The frameworks' own lists, read from the installed packages (torch 2.13, optax 0.2.8, keras
3.15.1): torch's ``torch.optim.__all__`` (its Optimizer subclasses), optax's public aliases (the
functions of ``optax._src.alias``, which optax exports at top level, and ``optax.nadam``/``nadamw``,
which it defines there as partials) and the Optimizer classes in ``keras.optimizers``. A name the
framework adds fails here until it has a flavor or an entry in the flavor module's
``NOT_MODELLED``; an exclusion that gains a flavor fails too."""
import inspect
import os

import pytest

from refopt.flavors import MODULES
from refopt.oracle import cli


def _torch() -> set[str]:
    import torch.optim
    return {n for n in torch.optim.__all__ if inspect.isclass(getattr(torch.optim, n))
            and issubclass(getattr(torch.optim, n), torch.optim.Optimizer) and n != "Optimizer"}


def _optax() -> set[str]:
    import optax
    from optax._src import alias
    names = {n for n, f in vars(alias).items() if not n.startswith("_") and
             (inspect.isfunction(f) and f.__module__ == alias.__name__ or n in ("nadam", "nadamw"))}
    assert all(hasattr(optax, n) for n in names)  # each is exported at top level
    return names


def _keras() -> set[str]:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    return {n for n in dir(keras.optimizers) if inspect.isclass(getattr(keras.optimizers, n))
            and issubclass(getattr(keras.optimizers, n), keras.optimizers.Optimizer) and n != "Optimizer"}


LISTS = {"torch": _torch, "optax": _optax, "keras": _keras}


@pytest.mark.parametrize("framework", LISTS)
def test_every_optimizer_the_framework_lists_has_a_flavor_or_a_reason(framework):
    module = MODULES[framework]
    shipped = LISTS[framework]()
    flavored, excluded = set(module.__all__), set(getattr(module, "NOT_MODELLED", {}))
    assert shipped - flavored - excluded == set(), "no flavor and no reason"
    assert flavored & excluded == set(), "a flavor that is also listed as not modelled"
    assert excluded <= shipped, "a reason for a name the framework does not have"
    assert all(len(why) > 20 for why in getattr(module, "NOT_MODELLED", {}).values())


def test_the_cli_gives_the_reason_for_a_name_without_flavor(capsys):
    module = MODULES["keras"]
    attr, why = next(iter(module.NOT_MODELLED.items()))
    with pytest.raises(SystemExit) as exit_:
        cli.main([module.PREFIX + attr])
    assert exit_.value.code == 2 and why in " ".join(capsys.readouterr().err.split())
