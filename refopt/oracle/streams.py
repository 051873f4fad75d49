"""Gradient sequences that exercise the corners of a rule, not just its middle."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import tree


def _mixed(rng: np.random.Generator, shape: tuple, steps: int) -> np.ndarray:
    """Dense normal steps, mostly-zero (sparse) steps and rare large spikes, interleaved.

    A third of the steps are dense N(0, 1); a third keep ~10% of their entries (the rest
    exactly 0.0, as in sparse features); the rest are small N(0, 1e-2) with, on every
    seventh step, one entry spiking to +-100. Exact zeros test eps and max-based state;
    spikes test clipping and the bound of adaptive steps.
    """
    out = np.empty((steps, *shape))
    for k in range(steps):
        kind = k % 3
        g = rng.standard_normal(shape)
        if kind == 1:
            g = g * (rng.random(shape) < 0.1)
        elif kind == 2:
            g = 1e-2 * g
            if k % 7 == 2 and g.size:
                g.flat[rng.integers(g.size)] = 100.0 * rng.choice([-1.0, 1.0])
        out[k] = g
    return out


def mixed_gradients(params: Any, steps: int, seed: int = 0) -> list[Any]:
    """``steps`` gradient trees shaped like ``params`` (float64 NumPy), reproducible by seed."""
    rng = np.random.default_rng(seed)
    spec = tree.structure(params)
    leaves = [np.asarray(w) for _, w in tree.leaves_with_paths(params)]
    columns = [_mixed(rng, w.shape, steps).astype(w.dtype) for w in leaves]
    return [tree.unflatten(spec, [c[k] for c in columns]) for k in range(steps)]
