"""Sliders for the learning rate and the epochs: a live gradient-descent explorer.

``explore(data)`` shows, for one dataset, sliders for ``lr`` (log scale, with
the stability bound 2/λ_max marked), ``epochs``, the start ``w0``/``b0`` and
the loss reduction, above three linked plots: the data with the current line,
the loss per epoch, and the loss surface with gradient descent's path.  Every
slider move recomputes the run with the NumPy reference's iteration
(:func:`course.surface.gd_path`, instant for any ``n``) and redraws only what
moved (:class:`course.live_figure.LiveFigure`).  A button replays the same
settings with one of the framework styles of :mod:`course.reference`.

It needs no browser: creating an explorer in a headless kernel (nbclient,
nbgrader) draws into an off-screen canvas and prints nothing.
"""

from __future__ import annotations

import base64
import contextlib
import html
import math
import warnings

import ipywidgets as widgets
import numpy as np

from . import reference
from .explorer_view import UNSTABLE_COLOUR, ExplorerView, _number
from .reference import FitResult
from .surface import Bowl, bowl, gd_path, surface_window

__all__ = ["Explorer", "explore"]

LR_RANGE_BELOW = 1e4  # the lr slider starts this many times below the stability bound ...
LR_RANGE_ABOVE = 2.0  # ... and ends this many times above it
MAX_EPOCHS = 2000


def explore(data, lr=None, epochs=100, *, w0=0.0, b0=0.0, reduction="mean") -> "Explorer":
    """An :class:`Explorer` for ``data`` (a ``LineData``, a dataset name or an ``(x, y)`` pair).

    ``lr=None`` starts at about a quarter of the stability bound.  Show it as
    the last expression of a cell, or with ``display(explorer)``.
    """
    return Explorer(data, lr=lr, epochs=epochs, w0=w0, b0=b0, reduction=reduction)


def _dataset(data):
    """``(name, x, y, true_w, true_b)`` from a LineData, a name in ``course.data.DATASETS`` or ``(x, y)``."""
    from . import data as course_data

    if isinstance(data, str):
        data = course_data.load(data)
    if hasattr(data, "x") and hasattr(data, "y"):
        name, x, y = getattr(data, "name", "data"), data.x, data.y
        true_w, true_b = getattr(data, "true_w", None), getattr(data, "true_b", None)
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise TypeError("explore() needs a LineData, a dataset name or an (x, y) pair") from None
        name, true_w, true_b = "data", None, None
    x, y = reference.result.prepare(x, y, 1.0, 0, "mean")  # same checks (and messages) as the references
    return name, x, y, true_w, true_b


def _grid_through(value: float, lo: float, hi: float, points: int = 200) -> tuple[float, float]:
    """A slider minimum at or below ``lo`` and a step of about (hi - lo)/points whose grid contains ``value``."""
    step = (hi - lo) / points
    return value - step * math.ceil((value - lo) / step), step


class Explorer(ExplorerView):
    """Sliders and three linked plots for one dataset; see :func:`explore`.

    Widgets: ``lr``, ``epochs``, ``w0``, ``b0``, ``reduction``, ``style``,
    ``replay_button``, ``readout``, ``bar`` (the lr range with the stability
    bound), ``image`` (the plots), all inside ``widget``.  State after each
    update: ``fit`` (a ``FitResult`` with the NumPy reference's numbers),
    ``path`` (the ``GDPath``), ``state`` ("ok" or "diverged"), ``bound``.
    Artists, for tests: ``line``, ``path_line``, ``loss_line``.
    """

    def __init__(self, data, *, lr=None, epochs=100, w0=0.0, b0=0.0, reduction="mean"):
        self.name, self.x, self.y, self.true_w, self.true_b = _dataset(data)
        if reduction not in reference.REDUCTIONS:
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if not (isinstance(epochs, (int, np.integer)) and 1 <= epochs):
            raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
        self._holding = False
        self._static_version = 0
        self.surface: Bowl = bowl(self.x, self.y, reduction)
        self.bound = self.surface.stability_bound
        if lr is None:
            lr = float(f"{self.bound / 4:.1g}")
        if not (isinstance(lr, (int, float, np.floating)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.fit: FitResult | None = None
        self.path = None
        self.state = "ok"
        self.replayed: FitResult | None = None
        self._replay_note = ""
        # One window for every start the w0/b0 sliders allow: the contours are drawn once.
        mirror = (2 * self.surface.w_star - w0, 2 * self.surface.b_star - b0)
        self.window = surface_window(self.surface, [(w0, b0), mirror], pad=0.15)
        self._build_widgets(lr, int(epochs), float(w0), float(b0), reduction)
        self._build_figure()
        self.update()

    # ----------------------------------------------------------------- widgets
    def _build_widgets(self, lr, epochs, w0, b0, reduction):
        style = {"description_width": "70px"}
        wide = widgets.Layout(width="430px")
        lo, hi = self._lr_range(lr)
        # min and max before value: the slider clamps the value to its range as it is set.
        self.lr = widgets.FloatLogSlider(min=lo, max=hi, value=lr, base=10, step=0.01, description="lr",
                                         readout_format=".3g", style=style, layout=wide)
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=max(MAX_EPOCHS, epochs), description="epochs",
                                        style=style, layout=wide)
        w_lo, w_hi, b_lo, b_hi = self.window
        # The browser snaps a slider to min + k·step: put the starting value on that grid,
        # or the page shows (and sends back) a neighbour of it.
        w_lo, w_step = _grid_through(w0, w_lo, w_hi)
        b_lo, b_step = _grid_through(b0, b_lo, b_hi)
        self.lr.min = math.log10(lr) - 0.01 * math.ceil((math.log10(lr) - lo) / 0.01 - 1e-9)
        self.w0 = widgets.FloatSlider(value=w0, min=w_lo, max=w_hi, step=w_step,
                                      description="start w0", readout_format=".3g", style=style, layout=wide)
        self.b0 = widgets.FloatSlider(value=b0, min=b_lo, max=b_hi, step=b_step,
                                      description="start b0", readout_format=".3g", style=style, layout=wide)
        self.reduction = widgets.ToggleButtons(options=list(reference.REDUCTIONS), value=reduction,
                                               description="loss", style={**style, "button_width": "60px"},
                                               tooltips=["mean squared error", "sum of squared errors"])
        self.style = widgets.Dropdown(options=list(reference.STYLES), value="torch_optim",
                                      description="framework", style=style, layout=widgets.Layout(width="250px"))
        self.replay_button = widgets.Button(description="Replay these settings", icon="play",
                                            tooltip="Run the same lr, epochs and start with the chosen framework")
        self.bar = widgets.HTML(layout=widgets.Layout(width="430px"))
        self.readout = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        for control in (self.lr, self.epochs, self.w0, self.b0, self.reduction):
            control.observe(self._on_change, names="value")
        self.replay_button.on_click(self._on_replay)
        left = widgets.VBox([self.lr, self.bar, self.epochs, self.reduction])
        right = widgets.VBox([self.w0, self.b0, widgets.HBox([self.style, self.replay_button])])
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.image, self.readout])

    def _lr_range(self, lr=None):
        """The lr slider's exponents: from far below to a bit above the stability bound (and ``lr``)."""
        lo = math.log10(self.bound / LR_RANGE_BELOW)
        hi = math.log10(self.bound * LR_RANGE_ABOVE)
        if lr is not None:
            lo, hi = min(lo, math.log10(lr)), max(hi, math.log10(lr))
        return lo, hi

    def _set_lr_range(self):
        lo, hi = self._lr_range()
        if lo > self.lr.max:  # ipywidgets refuses min > max even for a moment
            self.lr.max, self.lr.min = hi, lo
        else:
            self.lr.min, self.lr.max = lo, hi

    def _change_reduction(self, reduction):
        """A new reduction scales the loss, the Hessian and the bound: new contours, new lr range."""
        self.surface = bowl(self.x, self.y, reduction)
        self.bound = self.surface.stability_bound
        with self._hold():
            self._set_lr_range()
        self._draw_surface()

    # ------------------------------------------------------------------ update
    @contextlib.contextmanager
    def _hold(self):
        """Change several controls with one update at the end instead of one per control."""
        previous, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = previous

    def _on_change(self, _change):
        if not self._holding:
            self.update()

    def set(self, *, lr=None, epochs=None, w0=None, b0=None, reduction=None) -> "Explorer":
        """Move several controls at once (as a learner would), then update once."""
        with self._hold():
            if reduction is not None:
                self.reduction.value = reduction
                if reduction != self.surface.reduction:
                    self._change_reduction(reduction)  # first: it moves the lr slider's range
            if lr is not None:
                self.lr.value = lr
            if epochs is not None:
                self.epochs.value = epochs
            if w0 is not None:
                self.w0.value = w0
            if b0 is not None:
                self.b0.value = b0
        self.update()
        return self

    def settings(self) -> dict:
        """The current slider values, as keyword arguments for any ``course.reference`` fit."""
        return {"lr": float(self.lr.value), "epochs": int(self.epochs.value), "w0": float(self.w0.value),
                "b0": float(self.b0.value), "reduction": self.reduction.value}

    def update(self) -> dict:
        """Recompute the run for the current settings, redraw, and return a summary of the state."""
        if self.reduction.value != self.surface.reduction:
            self._change_reduction(self.reduction.value)
        settings = self.settings()
        self.path = gd_path(self.x, self.y, surface=self.surface, **settings)
        self.fit = FitResult("numpy", float(self.path.ws[-1]), float(self.path.bs[-1]), self.path.losses,
                             settings["lr"], settings["epochs"], settings["reduction"])
        # Above the bound the iteration grows without limit, even while the first epochs still look fine.
        self.state = "diverged" if (settings["lr"] > self.bound or self.fit.diverged) else "ok"
        self.replayed, self._replay_note = None, ""  # a replay belongs to the settings it ran with
        # Overflowing values are the lesson here, not a warning to print.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._key = self._move_artists()
            self.image.value = self.live.render(self._key)
        self.bar.value = self._bar_html()
        self.readout.value = self._readout_html()
        return self.summary()

    def summary(self) -> dict:
        w_star, b_star = self.surface.w_star, self.surface.b_star
        return {**self.settings(), "state": self.state, "w": self.fit.w, "b": self.fit.b,
                "final_loss": self.fit.final_loss, "bound": self.bound, "w_star": w_star, "b_star": b_star,
                "distance": self.distance}

    @property
    def distance(self) -> float:
        """How far the run ended from the closed-form solution, ‖(w, b) − (w*, b*)‖."""
        return float(math.hypot(self.fit.w - self.surface.w_star, self.fit.b - self.surface.b_star))

    # ------------------------------------------------------------------ replay
    def replay(self, style=None) -> FitResult:
        """Run the current settings with a framework style (``course.reference.STYLES``) and compare."""
        style = style or self.style.value
        result = reference.fit(style, self.x, self.y, **self.settings())
        self.replayed = result
        positive = np.where(np.isfinite(result.losses) & (result.losses > 0), result.losses, np.nan)
        self.replay_line.set_data(np.arange(result.losses.size), positive)
        self.replay_line.set_label(style)
        gap_w, gap_b = abs(result.w - self.fit.w), abs(result.b - self.fit.b)
        self._replay_note = (
            f"<div style='margin-top:4px'><b>{html.escape(style)}</b>: w = <code>{_number(result.w)}</code>, "
            f"b = <code>{_number(result.b)}</code>, final loss = <code>{_number(result.final_loss)}</code>; "
            f"differs from NumPy by |Δw| = {gap_w:.2g}, |Δb| = {gap_b:.2g} "
            f"(float32 against float64)</div>"
        )
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._key = self._move_artists()
            self.image.value = self.live.render(self._key)
        self.readout.value = self._readout_html()
        return result

    def _on_replay(self, _button):
        # A button callback's exception would only reach the kernel log: show it to the learner instead.
        self.replay_button.disabled = True
        try:
            self.replay()
        except Exception as error:  # noqa: BLE001 - any failure becomes a readable message
            self._replay_note = (f"<div style='color:{UNSTABLE_COLOUR}'>Replay with {html.escape(self.style.value)} "
                                 f"failed: {html.escape(type(error).__name__)}: {html.escape(str(error))}</div>")
            self.readout.value = self._readout_html()
        finally:
            self.replay_button.disabled = False

    # ----------------------------------------------------------------- display
    def png(self) -> bytes:
        """The three plots as they are now (PNG bytes)."""
        return bytes(self.image.value)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # Where no widget manager runs (a static export), the plots still show as a picture.
        png = self.png()
        if png:  # none while the autograder grades without figures (course.live_figure.RENDER)
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return (f"Explorer({self.name}: lr={_number(self.lr.value)}, epochs={self.epochs.value}, "
                f"reduction={self.reduction.value!r}, w={_number(self.fit.w)}, b={_number(self.fit.b)}, "
                f"state={self.state!r})")
