"""course.surface's gradient-descent path against the reference, and what course.plots draws."""

import warnings

import matplotlib

matplotlib.use("Agg")  # tests draw off-screen

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course import data, plots, reference
from course.notebook import PALETTE
from course.surface import bowl, gd_path

DATASETS = {name: make() for name, make in data.DATASETS.items()}
DATASETS["make_line"] = data.make_line(n=300, w=-1.5, b=0.5, noise=0.3, seed=7, x_low=-2, x_high=3)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def assert_same_run(path, ref):
    assert path.ws[-1] == pytest.approx(ref.w, rel=1e-9, abs=1e-12)
    assert path.bs[-1] == pytest.approx(ref.b, rel=1e-9, abs=1e-12)
    assert path.losses.shape == ref.losses.shape
    # Losses that have converged to rounding noise (1e-30) cannot agree relatively: allow an absolute floor.
    np.testing.assert_allclose(path.losses, ref.losses, rtol=1e-9, atol=1e-12 * ref.losses[0])


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gd_path_matches_fit_numpy(name, reduction):
    d = DATASETS[name]
    bound = reference.stability_bound(d.x, reduction)
    for fraction, epochs, w0, b0 in [(0.01, 50, 0.0, 0.0), (0.5, 400, 1.5, -2.0), (0.99, 300, -0.7, 3.1)]:
        settings = dict(lr=fraction * bound, epochs=epochs, w0=w0, b0=b0, reduction=reduction)
        path = gd_path(d.x, d.y, **settings)
        ref = reference.fit_numpy(d.x, d.y, **settings)
        assert_same_run(path, ref)
        assert path.ws.shape == path.bs.shape == (epochs + 1,)
        assert (path.ws[0], path.bs[0]) == (w0, b0)


def test_gd_path_every_step_matches_a_one_epoch_at_a_time_replay():
    d = DATASETS["noisy_line"]
    path = gd_path(d.x, d.y, lr=0.3, epochs=25, w0=d.extra["article_w0"], b0=d.extra["article_b0"])
    w, b = d.extra["article_w0"], d.extra["article_b0"]
    for k in range(25):
        step = reference.fit_numpy(d.x, d.y, lr=0.3, epochs=1, w0=w, b0=b)
        assert path.losses[k] == pytest.approx(step.losses[0], rel=1e-9)
        w, b = step.w, step.b
        assert (path.ws[k + 1], path.bs[k + 1]) == pytest.approx((w, b), rel=1e-9, abs=1e-12)


def test_gd_path_with_a_precomputed_surface_and_its_points():
    d = DATASETS["xy_table"]
    surface = bowl(d.x, d.y, "sum")
    path = gd_path(d.x, d.y, lr=1e-4, epochs=30, surface=surface, reduction="sum")
    assert_same_run(path, reference.fit_numpy(d.x, d.y, lr=1e-4, epochs=30, reduction="sum"))
    np.testing.assert_array_equal(path.points, np.column_stack([path.ws, path.bs]))
    with pytest.raises(ValueError, match="reduction"):
        gd_path(d.x, d.y, lr=1e-4, epochs=3, surface=surface, reduction="mean")


def test_bowl_knows_the_minimum_the_bound_and_the_loss():
    d = DATASETS["make_line"]
    for reduction in ("mean", "sum"):
        surface = bowl(d.x, d.y, reduction)
        assert (surface.w_star, surface.b_star) == pytest.approx(reference.closed_form(d.x, d.y))
        assert surface.stability_bound == pytest.approx(reference.stability_bound(d.x, reduction))
        rng = np.random.default_rng(3)
        for w, b in rng.normal(size=(5, 2)) * 3:
            assert surface.loss(w, b) == pytest.approx(reference.mse(w, b, d.x, d.y, reduction), rel=1e-10)


def test_gd_path_above_the_bound_diverges_quietly(no_warnings):
    d = DATASETS["tiny_line"]
    lr = 1.2 * reference.stability_bound(d.x, "mean")
    path = gd_path(d.x, d.y, lr=lr, epochs=2000)
    ref = reference.fit_numpy(d.x, d.y, lr=lr, epochs=2000)
    assert ref.diverged
    assert not np.isfinite(path.losses[-1]) and not abs(path.ws[-1]) < 1e100
    # Before overflow both runs grow the same way.
    np.testing.assert_allclose(path.losses[:100], ref.losses[:100], rtol=1e-9)


def test_gd_path_from_the_minimum_stays_there_even_above_the_bound(no_warnings):
    d = DATASETS["tiny_line"]
    w_star, b_star = reference.closed_form(d.x, d.y)
    path = gd_path(d.x, d.y, lr=10.0, epochs=100, w0=w_star, b0=b_star)
    assert np.all(np.isfinite(path.ws)) and path.ws[-1] == pytest.approx(w_star)


def test_gd_path_edge_cases_and_bad_settings():
    d = DATASETS["tiny_line"]
    empty = gd_path(d.x, d.y, lr=0.01, epochs=0, w0=0.5, b0=0.25)
    assert empty.losses.size == 0 and list(empty.ws) == [0.5] and list(empty.bs) == [0.25]
    with pytest.raises(ValueError, match="lr must be a positive number"):
        gd_path(d.x, d.y, lr=-0.1, epochs=5)
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        gd_path(d.x, d.y, lr=0.1, epochs=2.5)


# ------------------------------------------------------------------ plot_fit
def test_plot_fit_draws_the_data_and_the_line_of_w_and_b():
    d = DATASETS["make_line"]
    fit = reference.fit_numpy(d.x, d.y, lr=0.05, epochs=100)
    ax = plots.plot_fit(d, w=fit.w, b=fit.b)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([d.x, d.y]))
    fitted = [line for line in ax.lines if line.get_label().startswith("fit")]
    assert len(fitted) == 1
    xs, ys = fitted[0].get_data()
    np.testing.assert_allclose(ys, fit.w * np.asarray(xs) + fit.b)
    assert min(xs) <= d.x.min() and max(xs) >= d.x.max()
    assert fitted[0].get_color() in PALETTE
    true_line = [line for line in ax.lines if line.get_label().startswith("true line")]
    xs, ys = true_line[0].get_data()
    np.testing.assert_allclose(ys, d.true_w * np.asarray(xs) + d.true_b)
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert d.name in ax.get_title()
    assert f"{fit.w:.4g}" in fitted[0].get_label()
    legend_texts = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "data" in legend_texts and fitted[0].get_label() in legend_texts


def test_plot_fit_with_x_y_arrays_zero_d_arrays_and_an_own_axes():
    d = DATASETS["tiny_line"]
    fig, ax = plt.subplots()
    returned = plots.plot_fit(list(d.x), d.y, w=np.float32(2.0), b=np.array([-1.0]), ax=ax, label="mine")
    assert returned is ax
    (line,) = [line for line in ax.lines if line.get_label() == "mine"]
    xs, ys = line.get_data()
    np.testing.assert_allclose(ys, 2.0 * np.asarray(xs) - 1.0)
    assert not [line for line in ax.lines if line.get_label().startswith("true")]  # arrays carry no truth


def test_plot_fit_says_what_is_wrong():
    d = DATASETS["tiny_line"]
    with pytest.raises(TypeError, match="w should be a number"):
        plots.plot_fit(d, w="two", b=1.0)
    with pytest.raises(ValueError, match="b should be a single number"):
        plots.plot_fit(d, w=1.0, b=[1.0, 2.0])
    with pytest.raises(ValueError, match="same number of points"):
        plots.plot_fit(d.x, d.y[:3], w=1.0, b=0.0)
    with pytest.raises(TypeError, match="LineData, or x and y"):
        plots.plot_fit(d.x, w=1.0, b=0.0)


def test_plot_fit_of_a_diverged_fit_draws_no_line_and_says_why(no_warnings):
    ax = plots.plot_fit(DATASETS["tiny_line"], w=float("nan"), b=float("inf"))
    assert not [line for line in ax.lines if line.get_label().startswith("fit")]
    assert "diverged" in ax.get_title()
    ax.figure.canvas.draw()


# --------------------------------------------------------------- plot_losses
def test_plot_losses_one_curve_on_a_log_scale():
    d = DATASETS["noisy_line"]
    fit = reference.fit_numpy(d.x, d.y, lr=0.1, epochs=80)
    ax = plots.plot_losses(fit.losses, title="My run")
    (line,) = ax.lines
    xs, ys = line.get_data()
    np.testing.assert_array_equal(xs, np.arange(80))
    np.testing.assert_allclose(ys, fit.losses)
    assert ax.get_yscale() == "log" and ax.get_title() == "My run"
    assert ax.get_xlabel() == "epoch" and "loss" in ax.get_ylabel()
    assert ax.get_legend() is not None


def test_plot_losses_overlays_a_dict_of_runs_in_palette_colours():
    d = DATASETS["tiny_line"]
    runs = {f"lr={lr}": reference.fit_numpy(d.x, d.y, lr=lr, epochs=60).losses for lr in (0.01, 0.03, 0.1)}
    ax = plots.plot_losses(runs, log=False)
    assert [line.get_label() for line in ax.lines] == list(runs)
    for line, losses in zip(ax.lines, runs.values()):
        np.testing.assert_allclose(line.get_ydata(), losses)
    assert len({line.get_color() for line in ax.lines}) == 3
    assert all(line.get_color() in PALETTE for line in ax.lines)
    assert ax.get_yscale() == "linear" and "compared" in ax.get_title()


def test_plot_losses_leaves_zeros_inf_and_nan_out_of_a_log_plot(no_warnings):
    d = DATASETS["tiny_line"]
    bad = reference.fit_numpy(d.x, d.y, lr=2 * reference.stability_bound(d.x), epochs=600)
    assert not np.all(np.isfinite(bad.losses))
    losses = {"diverged": bad.losses, "exact": np.array([4.0, 1.0, 0.0, 0.0])}
    ax = plots.plot_losses(losses)
    ax.figure.canvas.draw()
    diverged, exact = ax.lines
    first_bad = int(np.argmin(np.isfinite(bad.losses)))
    first_huge = int(np.argmax(bad.losses > plots.LARGEST_SHOWN))
    assert f"not finite from epoch {first_bad}" in diverged.get_label()
    assert f"above 1e+300 from epoch {first_huge}" in diverged.get_label()
    assert np.all(np.isnan(diverged.get_ydata()[first_huge:]))
    np.testing.assert_allclose(diverged.get_ydata()[:first_huge], bad.losses[:first_huge])
    assert ax.get_ylim()[1] <= 1e300
    assert "zeros not shown" in exact.get_label()
    np.testing.assert_array_equal(exact.get_ydata()[:2], [4.0, 1.0])
    assert ax.get_yscale() == "log"


def test_plot_losses_all_zero_falls_back_to_a_linear_axis(no_warnings):
    ax = plots.plot_losses([0.0, 0.0, 0.0])
    ax.figure.canvas.draw()
    assert ax.get_yscale() == "linear"


def test_plot_losses_says_what_is_wrong():
    with pytest.raises(TypeError, match="losses should be a sequence of numbers"):
        plots.plot_losses(["a", "b"])
    with pytest.raises(ValueError, match="one loss per epoch"):
        plots.plot_losses(np.ones((3, 4)))
    with pytest.raises(ValueError, match="empty dict"):
        plots.plot_losses({})


def test_to_losses_accepts_a_keras_history_dict_and_columns():
    np.testing.assert_array_equal(plots.to_losses({"loss": [3, 2, 1]}), [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(plots.to_losses(np.array([[3.0], [2.0]])), [3.0, 2.0])


# -------------------------------------------------------------- plot_surface
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_plot_surface_marks_the_minimum_and_draws_the_path(name, no_warnings):
    d = DATASETS[name]
    lr = 0.5 * reference.stability_bound(d.x)
    path = gd_path(d.x, d.y, lr=lr, epochs=200)
    ax = plots.plot_surface(d.x, d.y, path=path.points.tolist())
    w_star, b_star = reference.closed_form(d.x, d.y)
    (minimum,) = [line for line in ax.lines if line.get_label().startswith("closed-form minimum")]
    assert (minimum.get_xdata()[0], minimum.get_ydata()[0]) == pytest.approx((w_star, b_star))
    (drawn,) = [line for line in ax.lines if line.get_label().startswith("gradient descent")]
    np.testing.assert_allclose(np.column_stack(drawn.get_data()), path.points)
    assert ax.collections, "contours drawn"
    levels = ax.collections[0].levels
    assert levels[0] > reference.mse(w_star, b_star, d.x, d.y) and np.all(np.diff(levels) > 0)
    w_lo, w_hi = ax.get_xlim()
    b_lo, b_hi = ax.get_ylim()
    for w, b in [(w_star, b_star), (0.0, 0.0)]:
        assert w_lo <= w <= w_hi and b_lo <= b <= b_hi
    assert ax.get_xlabel().startswith("w") and ax.get_ylabel().startswith("b")
    assert "diverges" not in ax.get_title()
    ax.figure.canvas.draw()


def test_plot_surface_accepts_a_gd_path_and_flags_a_path_that_runs_off(no_warnings):
    d = DATASETS["tiny_line"]
    path = gd_path(d.x, d.y, lr=1.1 * reference.stability_bound(d.x, "sum"), epochs=300, reduction="sum")
    ax = plots.plot_surface(d.x, d.y, path=path, reduction="sum")
    assert "diverges off the chart" in ax.get_title() and "sum" in ax.get_title()
    ax.figure.canvas.draw()


def test_plot_surface_without_a_path_and_with_a_bad_one():
    d = DATASETS["normal_line"]
    ax = plots.plot_surface(d.x, d.y)
    assert not [line for line in ax.lines if line.get_label().startswith("gradient")]
    with pytest.raises(ValueError, match=r"\(w, b\) pairs"):
        plots.plot_surface(d.x, d.y, path=[1.0, 2.0, 3.0])
