r"""``torch.optim.lr_scheduler``'s schedulers as refopt schedules ``t -> lr``.

**Epoch and t.** torch's loop is ``optimizer.step(); scheduler.step()``: building a scheduler is
epoch 0 and each ``scheduler.step()`` adds one, so torch's t-th ``optimizer.step()`` (t >= 1)
runs at the lr of epoch ``t - 1``. ``schedule(t)`` here is that lr, the value
``optimizer.param_groups[0]["lr"]`` holds at torch's t-th step, and refopt's step t uses it.

**Recursive, as torch computes it.** Most of torch's schedulers update the group's current lr
(``lr * gamma`` each epoch, not ``base * gamma**e``), which is how they chain; their closed
forms differ in the last bits (CosineAnnealingLR's ratio of cosines most). Each schedule here
is torch's recursion, ``start(lr)`` at epoch 0 and ``advance(e, lr)`` after, iterated and
cached; a closed form only where torch uses one (SequentialLR's restart at a milestone).
Only the lr is modelled, not CyclicLR's and OneCycleLR's momentum cycling. ReduceLROnPlateau
depends on the losses: here a schedule told each loss (``.step(loss)``, torch's name).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = ["TorchSchedule", "ReduceLROnPlateau", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "OneCycleLR", "SequentialLR", "ChainedScheduler"]


class TorchSchedule:
    """``t -> lr`` from torch's recursion; ``base`` is the optimizer's lr (None: the schedule sets
    its own). ``start(lr)``: epoch 0; ``advance(e, lr)``: epoch e >= 1 from epoch e-1's lr;
    ``restart()``: the lr SequentialLR sets at a milestone (torch's ``_update_lr(0)``)."""

    def __init__(self, name: str, base: float | None, start: Callable, advance: Callable,
                 restart: Callable | None = None):
        self.name, self.base, self.start, self.advance = name, base, start, advance
        self.restart = restart or (lambda: start(base))
        self._lrs: list[float] = []  # lr at epochs 0, 1, ... computed so far

    def __call__(self, t: int) -> float:
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ValueError(f"{self.name}: t must be an int >= 1 (refopt's step count), got {t!r}")
        lrs = self._lrs
        if not lrs:
            lrs.append(self.start(self.base))
        while len(lrs) < t:
            lrs.append(self.advance(len(lrs), lrs[-1]))
        return lrs[t - 1]


def _base(lr: float) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
        raise ValueError(f"lr must be a number >= 0 (the optimizer's lr), got {lr!r}")
    return float(lr)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def LambdaLR(lr, lr_lambda):
    r""":math:`\eta_e = \eta_0\,\lambda(e)`."""
    lr = _base(lr)
    return TorchSchedule("LambdaLR", lr, lambda _: lr * lr_lambda(0), lambda e, _: lr * lr_lambda(e))


def StepLR(lr, step_size, gamma=0.1):
    r""":math:`\eta_e = \eta_{e-1}\gamma` when ``step_size`` divides e, else :math:`\eta_{e-1}`
    (closed form :math:`\eta_0\gamma^{\lfloor e/s\rfloor}`)."""
    lr, step_size = _base(lr), _count("step_size", step_size)
    return TorchSchedule("StepLR", lr, lambda b: b,
                         lambda e, x: x * gamma if e % step_size == 0 else x, lambda: lr * gamma**0)


def MultiStepLR(lr, milestones, gamma=0.1):
    r""":math:`\eta_e = \eta_{e-1}\gamma^{c(e)}`, c(e) the times e is listed in ``milestones``."""
    lr, counts = _base(lr), Counter(milestones)
    return TorchSchedule("MultiStepLR", lr, lambda b: b * gamma ** counts[0] if 0 in counts else b,
                         lambda e, x: x * gamma ** counts[e] if e in counts else x,
                         lambda: lr * gamma ** bisect_right(sorted(counts.elements()), 0))


def ExponentialLR(lr, gamma):
    r""":math:`\eta_e = \eta_{e-1}\gamma` (closed form :math:`\eta_0\gamma^e`)."""
    lr = _base(lr)
    return TorchSchedule("ExponentialLR", lr, lambda b: b, lambda e, x: x * gamma, lambda: lr * gamma**0)


def ConstantLR(lr, factor=1.0 / 3, total_iters=5):
    r""":math:`\eta_0 f` until epoch ``total_iters``, where it is multiplied by :math:`1/f`."""
    lr = _base(lr)
    if not 0 <= factor <= 1:
        raise ValueError(f"factor must be in [0, 1], got {factor!r}")
    return TorchSchedule("ConstantLR", lr, lambda b: b * factor,
                         lambda e, x: x * (1.0 / factor) if e == total_iters else x,
                         lambda: lr * (factor + (0 >= total_iters) * (1 - factor)))


def LinearLR(lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    r""":math:`\eta_0 f_s` at epoch 0, then for :math:`1 \le e \le T`
    :math:`\eta_e = \eta_{e-1}\bigl(1 + \frac{f_e - f_s}{T f_s + (e-1)(f_e - f_s)}\bigr)`."""
    lr = _base(lr)
    if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
        raise ValueError(f"start_factor must be in (0, 1] and end_factor in [0, 1], "
                         f"got {start_factor!r}, {end_factor!r}")
    d = end_factor - start_factor

    def advance(e, x):
        return x if e > total_iters else x * (1.0 + d / (total_iters * start_factor + (e - 1) * d))

    return TorchSchedule("LinearLR", lr, lambda b: b * start_factor, advance,
                         lambda: lr * (start_factor + d * min(total_iters, 0) / total_iters))


def PolynomialLR(lr, total_iters=5, power=1.0):
    r"""For :math:`1 \le e \le T`: :math:`\eta_e = \eta_{e-1}
    \bigl(\frac{1 - e/T}{1 - (e-1)/T}\bigr)^p` (closed form :math:`\eta_0(1 - e/T)^p`)."""
    lr, total_iters = _base(lr), _count("total_iters", total_iters)

    def advance(e, x):
        if e > total_iters:
            return x
        return x * ((1.0 - e / total_iters) / (1.0 - (e - 1) / total_iters)) ** power

    return TorchSchedule("PolynomialLR", lr, lambda b: b, advance,
                         lambda: lr * (1.0 - min(total_iters, 0) / total_iters) ** power)


def CosineAnnealingLR(lr, T_max, eta_min=0.0):
    r"""torch's recursion (SGDR without restarts, Loshchilov & Hutter 2017, arXiv 1608.03983):
    :math:`\eta_e = \eta_{\min} + (\eta_{e-1} - \eta_{\min})\frac{1 + \cos(\pi e/T)}{1 + \cos(\pi(e-1)/T)}`,
    and at the trough (:math:`(e - 1 - T) \bmod 2T = 0`)
    :math:`\eta_e = \eta_{e-1} + (\eta_0 - \eta_{\min})(1 - \cos(\pi/T))/2`. This is what torch
    computes; the closed form :math:`\eta_{\min} + (\eta_0-\eta_{\min})(1+\cos(\pi e/T))/2` differs
    from it in the last bits (and past T the recursion climbs back up, as torch's does)."""
    lr, T_max = _base(lr), _count("T_max", T_max)

    def advance(e, x):
        if (e - 1 - T_max) % (2 * T_max) == 0:
            return x + (lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
        ratio = (1 + math.cos(math.pi * e / T_max)) / (1 + math.cos(math.pi * (e - 1) / T_max))
        return ratio * (x - eta_min) + eta_min

    return TorchSchedule("CosineAnnealingLR", lr, lambda b: b, advance,
                         lambda: eta_min + (lr - eta_min) * (1 + math.cos(0.0)) / 2)


def CosineAnnealingWarmRestarts(lr, T_0, T_mult=1, eta_min=0.0):
    r""":math:`\eta_e = \eta_{\min} + (\eta_0 - \eta_{\min})(1 + \cos(\pi T_{cur}/T_i))/2`, with
    :math:`T_{cur}` the epochs since the last restart and :math:`T_i` the current period
    (:math:`T_0`, then multiplied by ``T_mult`` at each restart; SGDR, arXiv 1608.03983)."""
    lr, T_0, T_mult = _base(lr), _count("T_0", T_0), _count("T_mult", T_mult)

    def at(e):
        t_cur, t_i = e, T_0
        while t_cur >= t_i:  # torch's incremental restarts, in integers
            t_cur, t_i = t_cur - t_i, t_i * T_mult
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    return TorchSchedule("CosineAnnealingWarmRestarts", lr, lambda b: at(0), lambda e, _: at(e))


def CyclicLR(base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0,
             scale_fn=None, scale_mode="cycle"):
    r"""Smith (2017), "Cyclical Learning Rates", arXiv 1506.01186: with cycle
    :math:`c = \lfloor 1 + e/S\rfloor` (:math:`S` = up + down), :math:`x = 1 + e/S - c` and
    :math:`h = x/r` rising (:math:`x \le r`, :math:`r` = up/S), :math:`(x-1)/(r-1)` falling,
    :math:`\eta_e = \eta_{\text{base}} + (\eta_{\max} - \eta_{\text{base}})\,h\,\sigma`, where
    :math:`\sigma` is 1 (triangular), :math:`2^{1-c}` (triangular2), :math:`\gamma^e`
    (exp_range), or ``scale_fn`` of c or e (``scale_mode``). Sets the lr itself (base None)."""
    up = float(_count("step_size_up", step_size_up))
    down = up if step_size_down is None else float(_count("step_size_down", step_size_down))
    total, ratio = up + down, up / (up + down)
    if scale_fn is None:
        modes = {"triangular": (lambda c: 1.0, "cycle"),
                 "triangular2": (lambda c: 1 / 2.0 ** (c - 1), "cycle"),
                 "exp_range": (lambda e: gamma**e, "iterations")}
        if mode not in modes:
            raise ValueError(f"mode must be 'triangular', 'triangular2' or 'exp_range', got {mode!r}")
        scale_fn, scale_mode = modes[mode]
    elif scale_mode not in ("cycle", "iterations"):
        raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")

    def at(e):
        cycle = math.floor(1 + e / total)
        x = 1.0 + e / total - cycle
        h = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        return base_lr + (max_lr - base_lr) * h * scale_fn(cycle if scale_mode == "cycle" else e)

    return TorchSchedule("CyclicLR", None, lambda _: at(0), lambda e, _: at(e))


def OneCycleLR(max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
               final_div_factor=1e4, three_phase=False):
    r"""Smith & Topin (2019), "Super-Convergence", arXiv 1708.07120: from
    :math:`\eta_{\max}/d` up to :math:`\eta_{\max}` by epoch :math:`pT - 1`, then down to
    :math:`\eta_{\max}/(d\,d_f)` at :math:`T - 1` (three_phase: back to :math:`\eta_{\max}/d` by
    :math:`2pT - 2` first), each phase annealed by ``cos`` (:math:`b + (a-b)(1+\cos\pi q)/2`) or
    ``linear`` over its fraction q. torch refuses epoch > total_steps, and so does this."""
    total_steps = _count("total_steps", total_steps)
    if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
        raise ValueError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    low = max_lr / div_factor
    ends = [float(pct_start * total_steps) - 1]
    points = [low, max_lr]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
        points.append(low)
    ends.append(total_steps - 1)
    points.append(low / final_div_factor)

    def anneal(a, b, q):
        if anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * q) + 1)
        return (b - a) * q + a

    def at(e):
        if e > total_steps:
            raise ValueError(f"OneCycleLR: epoch {e} (step t = {e + 1}) is past total_steps = {total_steps}")
        begin = 0.0
        for i, end in enumerate(ends):
            if e <= end or i == len(ends) - 1:
                return anneal(points[i], points[i + 1], (e - begin) / (end - begin))
            begin = end

    return TorchSchedule("OneCycleLR", None, lambda _: at(0), lambda e, _: at(e))


def _common_base(name: str, schedules: Sequence[TorchSchedule]) -> float | None:
    if not schedules or not all(isinstance(s, TorchSchedule) for s in schedules):
        raise ValueError(f"{name} needs a non-empty list of schedules from this module, got {schedules!r}")
    bases = {s.base for s in schedules if s.base is not None}
    if len(bases) > 1:
        raise ValueError(f"{name}: the schedules must share one optimizer lr, got {sorted(bases)}")
    return bases.pop() if bases else None


def SequentialLR(schedules, milestones):
    r"""``schedules[i]`` from epoch ``milestones[i-1]`` on (epoch counted from there): at a
    milestone torch restarts it with its closed form at epoch 0, then steps its recursion."""
    base = _common_base("SequentialLR", schedules)
    milestones = list(milestones)
    if len(milestones) != len(schedules) - 1:
        raise ValueError(f"SequentialLR: milestones must number len(schedules) - 1 = {len(schedules) - 1}, "
                         f"got {milestones!r}")

    def advance(e, x):
        i = bisect_right(milestones, e)
        if i > 0 and milestones[i - 1] == e:
            return schedules[i].restart()
        return schedules[i].advance(e - (milestones[i - 1] if i else 0), x)

    first = schedules[bisect_right(milestones, 0)]
    return TorchSchedule("SequentialLR", base, first.start, advance)


def ChainedScheduler(schedules):
    r"""All ``schedules`` stepped together, each updating the lr the previous one left:
    :math:`\eta_e = a_n(e, \dots a_1(e, \eta_{e-1}))` (products of their factors)."""
    base = _common_base("ChainedScheduler", schedules)

    def start(x):
        for s in schedules:
            x = s.start(x)
        return x

    def advance(e, x):
        for s in schedules:
            x = s.advance(e, x)
        return x

    return TorchSchedule("ChainedScheduler", base, start, advance)


class ReduceLROnPlateau:
    """torch's ReduceLROnPlateau as a schedule told the losses: call ``.step(loss)`` after each
    optimizer step (as with torch's); ``schedule(t)`` is then the lr of step t, which needs the
    losses of steps 1..t-1. After more than ``patience`` epochs without improvement (``mode``
    "min"/"max", ``threshold`` "rel": beyond best*(1 -/+ threshold), "abs": best -/+ threshold)
    the lr becomes ``max(lr * factor, min_lr)`` if that moves it by more than ``eps``; then
    ``cooldown`` epochs count no bad epochs."""

    def __init__(self, lr, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs") or not factor < 1.0:
            raise ValueError(f"mode must be 'min'/'max', threshold_mode 'rel'/'abs', factor < 1: got "
                             f"{mode!r}, {threshold_mode!r}, {factor!r}")
        self.lrs, self.sign = [_base(lr)], 1.0 if mode == "min" else -1.0
        self.settings = (factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
        self.best, self.bad, self.cooling = math.inf if mode == "min" else -math.inf, 0, 0

    def _better(self, loss):
        threshold, threshold_mode = self.settings[2:4]
        if threshold_mode == "rel":
            return self.sign * loss < self.sign * self.best * (1.0 - self.sign * threshold)
        return self.sign * loss < self.sign * self.best - threshold

    def step(self, loss):
        """The loss of the step just taken (torch's ``scheduler.step(loss)``)."""
        factor, patience, _, _, cooldown, min_lr, eps = self.settings
        loss, lr = float(loss), self.lrs[-1]
        self.best, self.bad = (loss, 0) if self._better(loss) else (self.best, self.bad + 1)
        if self.cooling > 0:
            self.cooling, self.bad = self.cooling - 1, 0
        if self.bad > patience:
            new = max(lr * factor, min_lr)
            lr = new if lr - new > eps else lr
            self.cooling, self.bad = cooldown, 0
        self.lrs.append(lr)

    def __call__(self, t):
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= len(self.lrs):
            raise ValueError(f"ReduceLROnPlateau: the lr of step t = {t!r} needs the losses of steps "
                             f"1..t-1; {len(self.lrs) - 1} reported (call .step(loss) after each step)")
        return self.lrs[t - 1]
