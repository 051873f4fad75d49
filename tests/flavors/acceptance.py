"""What the acceptance sets (test_*_acceptance.py) share."""
import inspect

from refopt import flavors


def effective(module, attr, kwargs):
    """The arguments that differ from the flavor's defaults: two rows with the same are one run."""
    defaults = inspect.signature(flavors.attr_of(module, attr)).parameters
    return attr, tuple(sorted((k, repr(v)) for k, v in kwargs.items()
                              if k not in defaults or defaults[k].default != v))
