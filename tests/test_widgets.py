"""The gradient-descent explorer, driven the way a learner drives it: by moving its widgets."""

import math
import re
import warnings

import nbformat
import numpy as np
import pytest

from course import data, reference, widgets

DATASETS = {name: make() for name, make in data.DATASETS.items()}
DATASETS["make_line"] = data.make_line(n=1000, w=0.5, b=2.0, noise=0.2, seed=11, x_low=-3, x_high=2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def number(value):
    return widgets._number(value)


def assert_shows_reference(explorer):
    """The explorer's state, plots and readout all show fit_numpy's run for the slider values."""
    settings = explorer.settings()
    ref = reference.fit_numpy(explorer.x, explorer.y, **settings)
    fit = explorer.fit
    assert (fit.lr, fit.epochs, fit.reduction) == (settings["lr"], settings["epochs"], settings["reduction"])
    assert fit.w == pytest.approx(ref.w, rel=1e-9, abs=1e-12)
    assert fit.b == pytest.approx(ref.b, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(fit.losses, ref.losses, rtol=1e-9, atol=1e-12 * ref.losses[0])
    xs, ys = explorer.line.get_data()
    np.testing.assert_allclose(ys, fit.w * np.asarray(xs) + fit.b)
    path_w, path_b = explorer.path_line.get_data()
    assert (path_w[0], path_b[0]) == pytest.approx((settings["w0"], settings["b0"]))
    assert (path_w[-1], path_b[-1]) == pytest.approx((fit.w, fit.b))
    assert len(path_w) == settings["epochs"] + 1
    epochs_drawn, losses_drawn = explorer.loss_line.get_data()
    np.testing.assert_array_equal(epochs_drawn, np.arange(settings["epochs"]))
    np.testing.assert_allclose(losses_drawn, fit.losses)
    w_star, b_star = reference.closed_form(explorer.x, explorer.y)
    distance = math.hypot(fit.w - w_star, fit.b - b_star)
    text = explorer.readout.value
    for value in (fit.w, fit.b, fit.final_loss, distance, w_star, b_star):
        assert number(value) in text
    assert explorer.state == "ok" and "Converging" in text
    assert explorer.png().startswith(PNG_MAGIC)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_sliders_show_the_reference_run_and_the_diverged_state(name, no_warnings):
    d = DATASETS[name]
    explorer = widgets.explore(d, epochs=150)
    bound = reference.stability_bound(d.x, "mean")
    assert explorer.bound == pytest.approx(bound)
    assert_shows_reference(explorer)
    first_picture = explorer.png()

    explorer.lr.value = 0.6 * bound
    assert_shows_reference(explorer)
    assert explorer.png() != first_picture
    explorer.epochs.value = 40
    assert_shows_reference(explorer)
    explorer.set(w0=explorer.w0.value + 0.3 * (explorer.w0.max - explorer.w0.value), b0=explorer.b0.min)
    assert_shows_reference(explorer)

    explorer.lr.value = 1.5 * bound
    assert explorer.state == "diverged"
    assert explorer.fit.diverged
    assert f"Diverged: lr = {number(explorer.lr.value)} is above the stability bound 2/λ_max = {number(bound)}" \
        in explorer.readout.value
    assert "Diverged" in explorer.ax_surface.get_title() and "Diverged" in explorer.diverged_text.get_text()
    explorer.epochs.value = 2000  # far enough to overflow: still a picture, still no warning
    assert explorer.state == "diverged" and not np.isfinite(explorer.fit.final_loss)
    assert not explorer.line.get_visible()
    path_w, path_b = explorer.path_line.get_data()
    assert np.all(np.isfinite(path_w)) and np.all(np.isfinite(path_b))
    assert explorer.png().startswith(PNG_MAGIC)

    explorer.lr.value = 0.3 * bound  # and back
    assert explorer.state == "ok"
    assert explorer.line.get_visible() and "Diverged" not in explorer.ax_surface.get_title()
    assert_shows_reference(explorer)


def test_the_lr_slider_spans_the_bound_and_the_bar_marks_it():
    d = DATASETS["tiny_line"]
    explorer = widgets.explore(d, lr=0.01, epochs=100)
    bound = reference.stability_bound(d.x, "mean")
    assert explorer.lr.value == pytest.approx(0.01)
    # the range starts at bound / LR_RANGE_BELOW, moved down by less than one step so that
    # the starting lr lies on the slider's grid (the browser snaps to min + k·step)
    low = bound / widgets.LR_RANGE_BELOW
    assert low / 10 ** explorer.lr.step < 10 ** explorer.lr.min <= low * (1 + 1e-9)
    steps = (math.log10(explorer.lr.value) - explorer.lr.min) / explorer.lr.step
    assert steps == pytest.approx(round(steps), abs=1e-6)
    assert 10 ** explorer.lr.max == pytest.approx(bound * widgets.LR_RANGE_ABOVE)
    assert f"stable below lr = <b>{number(bound)}</b>" in explorer.bar.value
    position = 100 * (math.log10(bound) - explorer.lr.min) / (explorer.lr.max - explorer.lr.min)
    assert f"{position:.1f}%" in explorer.bar.value
    # An lr outside the usual range widens the slider instead of being clamped away.
    wide = widgets.explore(d, lr=bound * 10, epochs=5)
    assert wide.lr.value == pytest.approx(bound * 10) and wide.state == "diverged"


def test_the_reduction_toggle_moves_the_bound_and_the_lr_range(no_warnings):
    d = DATASETS["noisy_line"]
    explorer = widgets.explore(d, lr=0.05, epochs=200)
    mean_bound = explorer.bound
    explorer.reduction.value = "sum"
    sum_bound = reference.stability_bound(d.x, "sum")
    assert explorer.bound == pytest.approx(sum_bound) and sum_bound == pytest.approx(mean_bound / d.n)
    assert 10 ** explorer.lr.max == pytest.approx(sum_bound * widgets.LR_RANGE_ABOVE)
    # lr = 0.05 is far above the summed loss's bound: the slider is clamped to its top, which diverges.
    assert explorer.lr.value == pytest.approx(10 ** explorer.lr.max)
    assert explorer.state == "diverged" and "sum loss" in explorer.bar.value
    explorer.lr.value = 0.5 * sum_bound
    assert_shows_reference(explorer)
    levels = explorer.ax_surface.collections[-1].levels
    assert levels[0] > reference.mse(explorer.surface.w_star, explorer.surface.b_star, d.x, d.y, "sum")
    explorer.set(reduction="mean", lr=0.1)
    assert explorer.bound == pytest.approx(mean_bound)
    assert_shows_reference(explorer)


def test_set_moves_several_controls_with_one_update():
    explorer = widgets.explore("xy_table", epochs=10)
    updates = []
    original = explorer.update
    explorer.update = lambda: updates.append(1) or original()
    explorer.set(lr=0.001, epochs=321, w0=1.0, b0=20.0)
    assert len(updates) == 1
    assert explorer.settings() == {"lr": pytest.approx(0.001), "epochs": 321, "w0": pytest.approx(1.0),
                                   "b0": pytest.approx(20.0), "reduction": "mean"}
    assert_shows_reference(explorer)
    summary = explorer.update()
    assert summary["w"] == explorer.fit.w and summary["state"] == "ok"
    assert summary["distance"] == pytest.approx(explorer.distance)


def test_replay_with_a_framework_compares_with_numpy():
    d = DATASETS["tiny_line"]
    explorer = widgets.explore(d, lr=0.01, epochs=200, reduction="sum")
    explorer.style.value = "torch_manual"
    explorer.replay_button.click()  # the learner's click: runs PyTorch with the same settings
    ref = reference.fit_torch_manual(d.x, d.y, lr=0.01, epochs=200, reduction="sum")
    replayed = explorer.replayed
    assert replayed.style == "torch_manual"
    assert (replayed.w, replayed.b) == (ref.w, ref.b)
    assert replayed.w == pytest.approx(explorer.fit.w, rel=1e-4)
    assert "torch_manual" in explorer.readout.value and number(replayed.w) in explorer.readout.value
    assert explorer.replay_line.get_visible()
    np.testing.assert_allclose(explorer.replay_line.get_ydata(), ref.losses)
    assert [t.get_text() for t in explorer.loss_legend.get_texts()] == ["NumPy", "torch_manual"]
    explorer.epochs.value = 100  # the replay belonged to the old settings
    assert explorer.replayed is None and not explorer.replay_line.get_visible()
    assert "torch_manual" not in explorer.readout.value


def test_explorer_displays_as_a_widget_with_a_picture_fallback(capsys):
    explorer = widgets.explore("normal_line")
    bundle = explorer._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == explorer.widget.model_id
    assert bundle["text/plain"].startswith("Explorer(normal_line")
    import base64

    assert base64.b64decode(bundle["image/png"]) == explorer.png()
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_bad_arguments_get_clear_messages():
    with pytest.raises(KeyError, match="unknown dataset"):
        widgets.explore("no_such_data")
    with pytest.raises(ValueError, match="lr must be a positive number"):
        widgets.explore("tiny_line", lr=-1)
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1"):
        widgets.explore("tiny_line", epochs=0)
    with pytest.raises(ValueError, match="reduction must be"):
        widgets.explore("tiny_line", reduction="max")
    with pytest.raises(TypeError, match="LineData, a dataset name or an"):
        widgets.explore(42)
    with pytest.raises(ValueError, match="same number of points"):
        widgets.explore(([1.0, 2.0], [1.0]))


def test_x_y_pairs_work_too():
    x = np.linspace(0, 1, 20)
    explorer = widgets.explore((x, 3 * x + 1), lr=0.5, epochs=300)
    assert_shows_reference(explorer)


@pytest.mark.slow
def test_explorer_in_a_headless_kernel_prints_nothing(tmp_path, monkeypatch):
    """Executed by nbclient as nbgrader does: no stderr, no error, a widget view and a picture per explorer."""
    from nbclient import NotebookClient

    cells = [
        "from course.notebook import setup\nsetup()\nfrom course import data\nfrom course.widgets import explore",
        "explorers = {name: explore(name, epochs=300) for name in data.DATASETS}",
        "explorer = explore(data.make_line(n=1000), epochs=2000)\nexplorer",
        "explorer.lr.value = 1.5 * explorer.bound\nprint(explorer.state)\nexplorer",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for variable in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "MPLCONFIGDIR"):
        (tmp_path / variable.lower()).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in nb.cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    shown = [o for o in outputs if o.output_type == "execute_result"]
    assert len(shown) == 2
    for output in shown:
        assert "application/vnd.jupyter.widget-view+json" in output.data
        assert "image/png" in output.data
    assert re.search(r"state='diverged'", shown[1].data["text/plain"])
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert printed.strip() == "diverged"
