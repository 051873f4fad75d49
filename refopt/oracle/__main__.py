"""``python -m refopt.oracle torch.optim.Adam --lr 1e-3``: see ``refopt.oracle.cli``."""
import sys

from .cli import main

sys.exit(main())
