"""The trajectory gallery: every registered rule on three 2-D test functions.

The rules are read from ``refopt.RULES`` when the figure is drawn, so a rule added later
appears without touching this file. Each rule runs with its own defaults except:

* ``lr`` is chosen per rule and function from a grid (``lr_grid``: decades in --quick, half
  decades in the full run) as the smallest lr whose final loss is within ``TIE`` (relative)
  of the lowest final loss among the runs that stay finite. Many rules reach the same
  minimum at several lrs; the smallest draws the calmest path.
* ``weight_decay`` is 0 where the rule has one, so that every rule minimises the same f.
* matrix-only rules (the Muon family) get the point as a (1, 2) matrix;
* the look-ahead Nesterov form gets its gradient at ``opt.look_ahead``;
* a rule whose step takes ``hess=`` (Sophia) gets the true Hessian diagonal at each step;
* a rule whose factory has no ``lr``, or needs other arguments (a combinator such as
  ``partition``), runs its registered example, once; a row whose rules all are such (the
  combinators) shows partition on the problem it is for instead, the MLP of
  scripts/demo_partition_mlp.py, as a loss curve.

Paths that leave the plotted box are clipped at the frame and marked there with an x (the
legend says at which step); the figure's key explains the markers.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

import refopt

from .claim import figure


@dataclass(frozen=True)
class TestFunction:
    name: str
    f_xy: Callable  # f(x, y) on arrays, for the contours
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    hess_diag: Callable[[np.ndarray], np.ndarray]
    start: tuple[float, float]
    box: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax of the contour plot
    minimum: tuple[float, float] | None


def _ravine():
    a = np.array([0.1, 10.0])  # curvatures: condition number 100
    f_xy = lambda x, y: 0.5 * (a[0] * x * x + a[1] * y * y)  # noqa: E731
    return TestFunction(
        "ravine", f_xy, lambda w: float(f_xy(*w)), lambda w: a * w, lambda w: a,
        (-4.0, 1.0), (-4.5, 1.5, -1.5, 1.5), (0.0, 0.0))


def _rosenbrock():
    def f_xy(x, y):
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(w):
        x, y = w
        return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])

    def hess_diag(w):
        x, y = w
        return np.array([2 - 400 * (y - x * x) + 800 * x * x, 200.0])

    return TestFunction("rosenbrock", f_xy, lambda w: float(f_xy(*w)), grad, hess_diag, (-1.2, 1.0),
                        (-2.0, 2.0, -1.0, 3.0),
                        (1.0, 1.0))


def _saddle():
    # f = (x^2 - y^2)/2 + y^4/4: a saddle at 0, minima at (0, +-1) with f = -1/4
    def f_xy(x, y):
        return 0.5 * (x * x - y * y) + 0.25 * y ** 4

    return TestFunction(
        "saddle", f_xy, lambda w: float(f_xy(*w)), lambda w: np.array([w[0], -w[1] + w[1] ** 3]),
        lambda w: np.array([1.0, -1.0 + 3 * w[1] ** 2]), (1.5, 1e-3), (-2.0, 2.0, -1.6, 1.6),
        (0.0, 1.0))


FUNCTIONS = (_ravine(), _rosenbrock(), _saddle())
TIE = 1e-6


def lr_grid(quick: bool) -> np.ndarray:
    """Quick: 1e-3 .. 1, a decade apart; full: 1e-4 .. 1, half a decade apart."""
    return np.logspace(-3, 0, 4) if quick else np.logspace(-4, 0, 9)


def steps(quick: bool) -> int:
    return 150 if quick else 500


def takes_lr(info) -> bool:
    """Whether the factory can be called with ``lr`` alone (every other argument defaulted)."""
    params = inspect.signature(info.factory).parameters
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return "lr" in params and required <= {"lr"}


def make(info, lr: float | None):
    """The rule built as the module docstring says; ``lr=None`` for rules without one."""
    params = inspect.signature(info.factory).parameters
    if lr is None or not takes_lr(info):
        return info.make_example()
    kwargs = {"lr": float(lr)}
    if "weight_decay" in params:
        kwargs["weight_decay"] = 0.0
    return info.factory(**kwargs)


def trajectory(info, fn: TestFunction, lr: float | None, n_steps: int) -> np.ndarray:
    """The points w_0 .. w_n of the real rule on ``fn`` (fewer if it went non-finite)."""
    opt = make(info, lr)
    shape = (1, 2) if info.matrix_only else (2,)
    w = np.array(fn.start, dtype=np.float64).reshape(shape)
    state = opt.init(w)
    look_ahead = getattr(opt, "look_ahead", None)
    wants_hess = "hess" in _aux_keywords(opt, w, state)
    path = [w.ravel()]
    with np.errstate(all="ignore"):
        for _ in range(n_steps):
            at = look_ahead(w, state) if look_ahead is not None else w
            g = fn.grad(at.ravel()).reshape(shape)
            extra = {"hess": fn.hess_diag(w.ravel()).reshape(shape)} if wants_hess else {}
            w, state = opt.step(w, g, state, **extra)
            if not np.all(np.isfinite(w)):
                break
            path.append(w.ravel())
    return np.array(path)


def _aux_keywords(opt, w, state) -> set[str]:
    """The extra keywords ``step`` accepts, found by asking it (rule() names the unknown one)."""
    try:
        opt.step(w, np.zeros_like(w), state, hess=np.ones_like(w))
        return {"hess"}
    except TypeError:
        return set()


def final_loss(fn: TestFunction, path: np.ndarray, n_steps: int) -> float:
    """f at the last point, or inf when the run stopped early on a non-finite point."""
    if len(path) < n_steps + 1:
        return np.inf
    with np.errstate(all="ignore"):
        value = fn.f(path[-1])
    return value if np.isfinite(value) else np.inf


def best_run(info, fn: TestFunction, quick: bool) -> tuple[float | None, np.ndarray]:
    """(lr, path) for the smallest lr of the grid whose final loss is within TIE of the best;
    the smallest lr when every run diverged."""
    n = steps(quick)
    if not takes_lr(info):
        return None, trajectory(info, fn, None, n)
    runs = [(float(lr), trajectory(info, fn, lr, n)) for lr in lr_grid(quick)]
    losses = [final_loss(fn, path, n) for _, path in runs]
    best = min(losses)
    if not np.isfinite(best):
        return runs[0]
    return next(run for run, loss in zip(runs, losses) if loss <= best + TIE * (1 + abs(best)))


def all_runs(quick: bool) -> dict[tuple[str, str], tuple[float | None, np.ndarray]]:
    return {(name, fn.name): best_run(info, fn, quick)
            for name, info in refopt.RULES.items() for fn in FUNCTIONS}


def _contours(ax, fn: TestFunction) -> None:
    x0, x1, y0, y1 = fn.box
    X, Y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    Z = fn.f_xy(X, Y)
    Z = np.log1p(Z - Z.min())
    ax.contour(X, Y, Z, levels=15, colors="0.75", linewidths=0.5)
    ax.plot(*fn.start, "ko", ms=4)
    if fn.minimum is not None:
        ax.plot(*fn.minimum, "k*", ms=8)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([x0, x1])
    ax.set_yticks([y0, y1])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("$w_1$", fontsize=8, labelpad=-6)
    ax.set_ylabel("$w_2$", fontsize=8, labelpad=-10)


def _leaves_frame(path: np.ndarray, box: tuple[float, float, float, float]) -> int | None:
    """The index of the first point outside ``box``, or None: matplotlib clips the line at the
    frame, so the gallery marks where it left and says so in the legend."""
    x0, x1, y0, y1 = box
    out = (path[:, 0] < x0) | (path[:, 0] > x1) | (path[:, 1] < y0) | (path[:, 1] > y1)
    return int(np.argmax(out)) if out.any() else None


def _trajectories(ax, fn: TestFunction, names: list[str], runs: dict) -> None:
    _contours(ax, fn)
    for i, name in enumerate(names):
        lr, path = runs[(name, fn.name)]
        label = name if lr is None else f"{name} (lr {lr:.0e})"
        left = _leaves_frame(path, fn.box)
        if left is not None:  # drawn up to the frame, an x where it crossed it
            x0, x1, y0, y1 = fn.box
            ax.plot(np.clip(path[left, 0], x0, x1), np.clip(path[left, 1], y0, y1), "x", color=f"C{i}",
                    ms=6, clip_on=False)
            label += f", leaves the frame at step {left}"
        ax.plot(path[:, 0], path[:, 1], color=f"C{i}", lw=1.2, label=label)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.85)


def _partition_losses() -> list[float]:
    """The combinators' run: partition on the problem it is for, the MLP of
    scripts/demo_partition_mlp.py (Muon on the matrices, AdamW on the biases, its tuned lrs):
    on a 2-D point every leaf is a vector, so the routing has nothing to route."""
    from .runs import partition_demo
    return partition_demo().train(steps=300, verbose=False)


def _partition_demo(ax, losses) -> None:
    ax.semilogy(losses, color="C0", lw=1.2, label="refopt.partition: muon on matrices, adamw on biases")
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("training loss", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper right")


@figure("gallery")
def gallery_figure(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    runs = all_runs(quick)
    demo = _partition_losses()
    families = list(dict.fromkeys(info.family for info in refopt.RULES.values()))
    fig, axes = plt.subplots(len(families), len(FUNCTIONS), squeeze=False,
                             figsize=(4.2 * len(FUNCTIONS), 3.4 * len(families)))
    for row, family in zip(axes, families):
        names = [n for n, info in refopt.RULES.items() if info.family == family]
        if not any(takes_lr(refopt.RULES[n]) for n in names):  # combinators: their own problem
            _partition_demo(row[0], demo)
            row[0].set_title(f"{family}: partition on the MLP demo (300 steps)", fontsize=9)
            for ax in row[1:]:
                ax.axis("off")
            continue
        for ax, fn in zip(row, FUNCTIONS):
            _trajectories(ax, fn, names, runs)
            ax.set_title(f"{fn.name}: {family}", fontsize=9)
    key = [Line2D([], [], ls="", marker="o", color="k", ms=4, label="start"),
           Line2D([], [], ls="", marker="*", color="k", ms=8, label="minimum"),
           Line2D([], [], ls="", marker="x", color="0.3", ms=6, label="where a path leaves the frame"),
           Line2D([], [], color="0.75", lw=0.5, label="contours of log(1 + f - min f)")]
    fig.legend(handles=key, loc="upper right", fontsize=8, ncol=4, frameon=False)
    fig.suptitle(f"Every refopt rule, {steps(quick)} steps, lr = best final loss on the grid "
                 f"{', '.join(f'{x:.0e}' for x in lr_grid(quick))}", fontsize=10, x=0.3, ha="center")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(outdir / "gallery.png", dpi=100)
    plt.close(fig)
    for name in refopt.RULES:
        rule_panel(name, runs, demo, quick, outdir / "gallery")


def rule_panel(name: str, runs: dict, demo: list[float], quick: bool, outdir) -> None:
    """``outdir/<name>.png``: the rule's own row of the gallery, alone (the site's rule pages)."""
    import matplotlib.pyplot as plt
    outdir.mkdir(parents=True, exist_ok=True)
    if not takes_lr(refopt.RULES[name]):
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
        _partition_demo(ax, demo)
        ax.set_title(f"{name} on the MLP demo (300 steps)", fontsize=9)
    else:
        fig, axes = plt.subplots(1, len(FUNCTIONS), figsize=(3.4 * len(FUNCTIONS), 3.0))
        for ax, fn in zip(axes, FUNCTIONS):
            _trajectories(ax, fn, [name], runs)
            ax.set_title(f"{fn.name}, {steps(quick)} steps (o start, * minimum)", fontsize=9)
    fig.tight_layout()
    _save_small(fig, outdir / f"{name}.png")
    plt.close(fig)


def _save_small(fig, path) -> None:
    """96 dpi (7 pt text is 9 px, as on the gallery) as a 64-colour palette PNG: one of ~35 files
    kept in the repository, about a third of the RGBA file's size, the lines still smooth."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    Image.open(buf).convert("RGB").quantize(colors=64).save(path, optimize=True)
