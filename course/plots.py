"""The course's three plots: a fitted line, loss curves, and the loss surface with a path.

Each function draws on ``ax`` (or on a new figure when ``ax`` is None) and
returns the Axes, with labelled axes, a title, a legend and the course's
colour-blind-safe palette.  They accept what a learner's code may hand them
(lists, NumPy arrays, PyTorch tensors, TensorFlow variables, a Keras
``History``) and say clearly what is wrong when they cannot plot it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .notebook import PALETTE
from .surface import GDPath, bowl, contour_levels, loss_grid, surface_window

__all__ = ["plot_fit", "plot_losses", "plot_surface", "to_float", "to_losses", "draw_contours", "loss_limits"]

# Roles -> palette entries, so that the same thing has the same colour in every plot.
DATA_COLOUR = PALETTE[0]
FIT_COLOUR = PALETTE[3]
TRUE_COLOUR = PALETTE[7]
PATH_COLOUR = PALETTE[3]
MIN_COLOUR = PALETTE[2]
START_COLOUR = PALETTE[1]


def _new_axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot only when we must make a figure (inline display)

    _, ax = plt.subplots()
    return ax


def _to_numpy(values):
    """A NumPy array from lists, tensors (torch, TensorFlow) or anything array-like."""
    if hasattr(values, "detach"):  # torch tensor (maybe on a GPU, maybe needing grad)
        values = values.detach().cpu().numpy()
    elif hasattr(values, "numpy") and not isinstance(values, np.ndarray):  # tf.Tensor / tf.Variable
        values = values.numpy()
    if isinstance(values, (list, tuple)):
        values = [_to_numpy(v) if hasattr(v, "detach") or hasattr(v, "numpy") else v for v in values]
    return np.asarray(values, dtype=np.float64)


def to_float(value, name: str) -> float:
    """``value`` as a Python float (a number, 0-d or 1-element array or tensor), or a clear error."""
    try:
        array = _to_numpy(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} should be a number, got {type(value).__name__} {value!r:.60}") from None
    if array.size != 1:
        raise ValueError(f"{name} should be a single number, got {array.size} values (shape {array.shape})")
    return float(array.reshape(-1)[0])


def to_losses(losses, name: str = "losses") -> np.ndarray:
    """One loss per epoch as a float64 array (accepts a Keras ``History`` or ``history.history``)."""
    if hasattr(losses, "history") and isinstance(getattr(losses, "history"), Mapping):
        losses = losses.history  # keras.callbacks.History
    if isinstance(losses, Mapping) and "loss" in losses:
        losses = losses["loss"]
    try:
        array = _to_numpy(losses)
    except (TypeError, ValueError):
        raise TypeError(f"{name} should be a sequence of numbers, got {type(losses).__name__}") from None
    if array.ndim > 1 and array.size == max(array.shape):
        array = array.reshape(-1)  # e.g. an [epochs, 1] column
    if array.ndim != 1:
        raise ValueError(f"{name} should be one loss per epoch (1-D), got shape {array.shape}")
    return array


def _line_text(w: float, b: float) -> str:
    sign = "−" if b < 0 else "+"
    return f"y = {w:.4g}x {sign} {abs(b):.4g}"


def _xy(data_or_x, y):
    if y is None:
        if hasattr(data_or_x, "x") and hasattr(data_or_x, "y"):
            x, y = data_or_x.x, data_or_x.y
        else:
            raise TypeError("plot_fit needs a LineData, or x and y: plot_fit(x, y, w=..., b=...)")
    else:
        x = data_or_x
    x, y = _to_numpy(x).reshape(-1), _to_numpy(y).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must hold the same number of points, got {x.size} and {y.size}")
    return x, y


def plot_fit(data_or_x, y=None, *, w, b, ax=None, label=None):
    """The data as points and the line ``y = w·x + b`` through them.

    ``data_or_x`` is a :class:`course.data.LineData` (its true line, when
    known, is drawn dotted) or the ``x`` values with ``y`` given.
    """
    dataset = data_or_x if y is None else None
    x, y = _xy(data_or_x, y)
    w, b = to_float(w, "w"), to_float(b, "b")
    ax = _new_axes(ax)
    ax.scatter(x, y, s=18, color=DATA_COLOUR, alpha=0.8, label="data", zorder=3)
    if x.size:
        lo, hi = float(np.min(x)), float(np.max(x))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        grid = np.array([lo - pad, hi + pad])
    else:
        grid = np.array([0.0, 1.0])
    # A LineData knows its name and, for synthetic data, its true line.
    true_w = getattr(dataset, "true_w", None)
    true_b = getattr(dataset, "true_b", None)
    if true_w is not None and true_b is not None:
        ax.plot(grid, true_w * grid + true_b, ":", color=TRUE_COLOUR, lw=1.2,
                label=f"true line: {_line_text(true_w, true_b)}")
    if math.isfinite(w) and math.isfinite(b):
        text = label or f"fit: {_line_text(w, b)}"
        ax.plot(grid, w * grid + b, "-", color=FIT_COLOUR, lw=2, label=text, zorder=4)
        name = getattr(dataset, "name", None)
        ax.set_title(f"{name}: data and fitted line" if name else "Data and fitted line")
    else:
        # A diverged fit: say so instead of drawing nothing without a word.
        ax.set_title(f"No line to draw: w = {w}, b = {b} (gradient descent diverged?)", color=FIT_COLOUR)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="best", fontsize="small")
    return ax


#: Larger losses are left out: matplotlib's autoscale margins would overflow float64 near 1e308.
LARGEST_SHOWN = 1e300


def _drawable(values: np.ndarray, log: bool):
    """The values a plot can show (the rest become gaps) and a note on what was left out."""
    finite = np.isfinite(values)
    notes = []
    if not finite.all():
        notes.append(f"not finite from epoch {int(np.argmin(finite))}")
    huge = finite & (np.abs(values) > LARGEST_SHOWN)
    if huge.any():
        notes.append(f"above {LARGEST_SHOWN:.0e} from epoch {int(np.argmax(huge))}")
    keep = finite & ~huge
    if log:
        if np.any(values[keep] <= 0):
            notes.append("zeros not shown on log scale")
        keep &= values > 0
    with np.errstate(invalid="ignore"):
        return np.where(keep, values, np.nan), notes


def loss_limits(positive: np.ndarray):
    """Whole decades around the losses (NaN where not shown), at most 36 above or below the first one.

    Whole decades keep the number of distinct limits (and so of backgrounds to
    draw) small; the cap keeps the start in view when a run converges to
    rounding noise or blows up to 1e300.
    """
    shown = positive[np.isfinite(positive)]
    if shown.size == 0:
        return 1e-3, 1e1
    first = math.log10(shown[0])
    top = min(math.ceil(math.log10(shown.max())), math.ceil(first) + 36, 300)  # 1e308 is float64's end
    bottom = max(math.floor(math.log10(shown.min())), math.floor(first) - 36)
    if bottom >= top:
        bottom = top - 1
    return 10.0 ** bottom, 10.0 ** top


def plot_losses(losses_or_dict, *, ax=None, log=True, title=None):
    """Loss per epoch: one curve, or a dict ``name -> losses`` drawn on top of each other.

    On a log scale, epochs whose loss is 0, inf or NaN are left out (and said
    so in the legend) instead of breaking the plot.
    """
    if hasattr(losses_or_dict, "history") and isinstance(getattr(losses_or_dict, "history"), Mapping):
        losses_or_dict = losses_or_dict.history  # a Keras History: one curve per metric it logged
    if isinstance(losses_or_dict, Mapping):
        if not losses_or_dict:
            raise ValueError("plot_losses got an empty dict: pass name -> losses pairs")
        curves = {str(name): to_losses(values, f"losses[{name!r}]") for name, values in losses_or_dict.items()}
    else:
        curves = {"loss": to_losses(losses_or_dict)}
    ax = _new_axes(ax)
    any_positive = False
    for index, (name, values) in enumerate(curves.items()):
        colour = PALETTE[index % len(PALETTE)]
        epochs = np.arange(values.size)
        values, notes = _drawable(values, log)
        any_positive |= bool(np.any(values > 0))
        label = name if not notes else f"{name} ({'; '.join(notes)})"
        ax.plot(epochs, values, color=colour, lw=1.8, label=label)
    if log and any_positive:
        # Explicit decades, set before the scale: autoscale's margins overflow float64 near 1e300.
        ax.set_ylim(*loss_limits(np.concatenate([line.get_ydata() for line in ax.lines[-len(curves):]])))
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)" if log and any_positive else "loss")
    ax.set_title(title or ("Loss per epoch" if len(curves) == 1 else "Loss per epoch, compared"))
    ax.legend(loc="best", fontsize="small")
    return ax


def draw_contours(ax, surface, window, *, num: int = 121):
    """The loss surface's contours over ``window`` and its minimum; returns the contour set."""
    W, B, L = loss_grid(surface, window, num)
    contours = ax.contour(W, B, L, levels=contour_levels(surface, L), cmap="viridis", linewidths=0.9)
    ax.plot([surface.w_star], [surface.b_star], marker="*", ms=13, color=MIN_COLOUR, ls="none",
            markeredgecolor="black", markeredgewidth=0.6, zorder=5,
            label=f"closed-form minimum ({surface.w_star:.4g}, {surface.b_star:.4g})")
    ax.set_xlim(window[0], window[1])
    ax.set_ylim(window[2], window[3])
    ax.set_xlabel("w (slope)")
    ax.set_ylabel("b (intercept)")
    return contours


def _path_points(path) -> np.ndarray:
    if isinstance(path, GDPath):
        return path.points
    points = _to_numpy(path)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"path should be a sequence of (w, b) pairs, shape (k, 2); got shape {points.shape}")
    return points


def plot_surface(x, y, *, path=None, ax=None, reduction="mean"):
    """Contours of the loss over ``(w, b)``, its closed-form minimum, and an optional gradient-descent path.

    ``path`` is a sequence of ``(w, b)`` pairs (one per epoch) or the result of
    :func:`course.surface.gd_path`.  The window covers the minimum and the
    path's start; a path that runs off the chart is clipped at its edge.
    """
    surface = bowl(_to_numpy(x), _to_numpy(y), reduction)
    points = _path_points(path) if path is not None else np.empty((0, 2))
    finite = points[np.all(np.isfinite(points), axis=1)]
    # Frame the start and the part of the path no farther out than the start:
    # a diverging path would otherwise shrink the bowl to a dot.
    if len(finite):
        start = finite[0]
        reach = np.hypot(*(start - [surface.w_star, surface.b_star])) * 1.5
        near = finite[np.hypot(finite[:, 0] - surface.w_star, finite[:, 1] - surface.b_star) <= reach + 1e-12]
    else:
        near = finite
    window = surface_window(surface, near)
    ax = _new_axes(ax)
    draw_contours(ax, surface, window)
    title = f"Loss surface ({reduction} squared error)"
    if len(points):
        ax.plot(points[:, 0], points[:, 1], "-", color=PATH_COLOUR, lw=1.4, marker=".", ms=4,
                label=f"gradient descent ({len(points) - 1} steps)", zorder=4)
        ax.plot(points[:1, 0], points[:1, 1], "o", color=START_COLOUR, ms=7, markeredgecolor="black",
                markeredgewidth=0.6, label="start", zorder=6)
        if len(finite) < len(points) or not _inside(points[-1], window):
            title += ": the path diverges off the chart"
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def _inside(point, window) -> bool:
    w, b = point
    return bool(np.isfinite(w) and np.isfinite(b) and window[0] <= w <= window[1] and window[2] <= b <= window[3])
