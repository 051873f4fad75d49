"""``python -m refopt.oracle torch.optim.Adam --lr 1e-3``: see ``refopt.oracle.cli``.

Importing this module runs nothing: the command runs only as ``__main__``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
