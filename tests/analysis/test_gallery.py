"""The gallery: every registered rule is drawn, with the lr the documented rule picks."""
import numpy as np
import pytest

import refopt
from analysis import gallery


@pytest.fixture(scope="module")
def runs():
    return gallery.all_runs(quick=True)


def test_every_registered_rule_runs_on_every_function(runs):
    assert {name for name, _ in runs} == set(refopt.RULES)
    assert {fn for _, fn in runs} == {"ravine", "rosenbrock", "saddle"}
    for (name, fn), (lr, path) in runs.items():
        start = next(f.start for f in gallery.FUNCTIONS if f.name == fn)
        assert path.shape[1] == 2, name
        assert np.array_equal(path[0], start), name
        assert np.all(np.isfinite(path)), name


def test_sgd_on_the_ravine_by_hand(runs):
    # f = (0.1 x^2 + 10 y^2)/2, SGD: each coordinate is multiplied by (1 - lr a) per step.
    # On the quick grid: lr = 1 diverges (|1 - 10| = 9); lr = 0.1 zeroes y in one step and
    # leaves x = -4 * 0.99^150; lr = 0.01 and 1e-3 shrink x less. So the rule picks 0.1.
    lr, path = runs[("sgd", "ravine")]
    assert lr == pytest.approx(0.1)
    k = np.arange(path.shape[0])
    by_hand = np.stack([-4.0 * (1 - 0.1 * 0.1) ** k, 1.0 * (1 - 0.1 * 10) ** k], axis=1)
    np.testing.assert_allclose(path, by_hand, rtol=1e-13, atol=1e-300)  # 150 products: rounding


def test_the_lr_choice_prefers_the_smallest_lr_among_ties():
    # On the saddle SGD reaches f = -1/4 only by escaping along y (growth (1 + lr) per step
    # from 1e-3): lr = 1e-3 barely moves, so its loss is far from the best, and every lr
    # within TIE of the best is at least as large as the one chosen.
    info = refopt.RULES["sgd"]
    saddle = next(f for f in gallery.FUNCTIONS if f.name == "saddle")
    lr, _ = gallery.best_run(info, saddle, quick=True)
    n = gallery.steps(True)
    losses = {float(x): gallery.final_loss(saddle, gallery.trajectory(info, saddle, x, n), n)
              for x in gallery.lr_grid(True)}
    best = min(losses.values())
    tied = [x for x, v in losses.items() if v <= best + gallery.TIE * (1 + abs(best))]
    assert lr == min(tied)
    assert losses[1e-3] > best + 0.1
    # the same losses by hand: f = (x^2 - y^2)/2 + y^4/4 from (1.5, 1e-3), SGD is
    # x <- (1 - lr) x, y <- y + lr (y - y^3); 150 steps of rounding: 1e-12
    def by_hand(a):
        x, y = 1.5, 1e-3
        for _ in range(n):
            x, y = (1 - a) * x, y + a * (y - y**3)
        return 0.5 * (x * x - y * y) + 0.25 * y**4

    hand = {x: by_hand(x) for x in losses}
    for x in losses:
        assert np.isclose(losses[x], hand[x], rtol=1e-12), x
    # lr = 0.1 escapes and converges (y -> 1 at rate 0.8); lr = 1 still oscillates about
    # y = 1 (the map 2y - y^3 has derivative -1 there), short of -1/4 by far more than TIE
    assert abs(hand[0.1] + 0.25) < 1e-12 and hand[1.0] > -0.25 + 1e-4
    assert lr == pytest.approx(0.1)


def test_special_rules_get_what_they_need(runs):
    w = np.zeros(2)
    sophia = gallery.make(refopt.RULES["sophia"], 0.1)
    assert gallery._aux_keywords(sophia, w, sophia.init(w)) == {"hess"}
    sgd = gallery.make(refopt.RULES["sgd"], 0.1)
    assert gallery._aux_keywords(sgd, w, sgd.init(w)) == set()
    for name, info in refopt.RULES.items():
        if info.matrix_only:
            assert runs[(name, "ravine")][1].shape[1] == 2


def test_look_ahead_nesterov_gets_its_gradient_at_the_look_ahead_point():
    # textbook Nesterov: v_t = w_t - w_{t-1}, and its look-ahead point w_t + beta v_t is the
    # torch form's iterate phi_t (for constant lr, beta = 0.9 by default). This holds only if
    # the gallery evaluates the gradient at opt.look_ahead, not at w.
    ravine = gallery.FUNCTIONS[0]
    look = gallery.trajectory(refopt.RULES["nesterov"], ravine, 0.05, 40)
    phi = gallery.trajectory(refopt.RULES["nesterov_reformulated"], ravine, 0.05, 40)
    np.testing.assert_allclose(phi[1:], look[1:] + 0.9 * (look[1:] - look[:-1]),
                               rtol=1e-12, atol=1e-15)  # 40 steps of rounding


def test_gallery_figure_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(gallery, "all_runs", lambda quick: {
        (n, f.name): (0.1, np.array([f.start, f.start])) for n in refopt.RULES for f in gallery.FUNCTIONS})
    drawn = []
    real_panel = gallery.rule_panel
    monkeypatch.setattr(gallery, "rule_panel", lambda name, *a: drawn.append(name))
    gallery.gallery_figure(True, tmp_path)
    assert (tmp_path / "gallery.png").stat().st_size > 20_000
    # and each rule's own panel, for its page on the site: asked for every rule, drawn here for
    # a rule on the three functions and for the combinator's loss curve (~0.7 s a panel)
    assert drawn == list(refopt.RULES)
    runs = gallery.all_runs(True)
    for name in ("adam", "partition"):
        real_panel(name, runs, [1.0, 0.5, 0.25], True, tmp_path / "gallery")
        assert (tmp_path / "gallery" / f"{name}.png").stat().st_size > 5_000


def test_a_path_that_leaves_the_frame_is_found_at_its_first_point_outside():
    box = (-1.0, 1.0, -1.0, 1.0)
    path = np.array([[0.0, 0.0], [0.5, 0.9], [0.9, 1.2], [3.0, 0.0]])
    assert gallery._leaves_frame(path, box) == 2
    assert gallery._leaves_frame(path[:2], box) is None
