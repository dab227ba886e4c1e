"""What the explorer of :mod:`course.widgets` draws and writes: its three plots, the lr bar and the
readout.  A mixin of :class:`course.widgets.Explorer`, which owns the sliders and the state it reads
(``self.fit``, ``self.path``, ``self.surface``, ``self.window``, ``self.bound``, ``self.state``)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import ticker

from .live_figure import LiveFigure
from .notebook import PALETTE
from .plots import DATA_COLOUR, FIT_COLOUR, PATH_COLOUR, START_COLOUR, TRUE_COLOUR, draw_contours, loss_limits

STABLE_COLOUR = PALETTE[2]  # bluish green
UNSTABLE_COLOUR = PALETTE[3]  # vermillion
REPLAY_COLOUR = PALETTE[4]  # reddish purple
NICE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, … × 10^k that is ≥ value: few distinct axis limits to cache."""
    if value <= 1:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in NICE_STEPS if step * scale >= value - 1e-9)


def _decade_label(value, _position):
    # Plain "1e-5" instead of matplotlib's mathtext 10⁻⁵: the same information, a fraction of the draw time.
    return f"1e{round(math.log10(value))}" if 0 < value < math.inf else ""


def _number(value: float) -> str:
    """How the readout writes a number (tests look for exactly this text)."""
    return f"{value:.6g}"


class ExplorerView:
    """The explorer's figure and HTML; see the module docstring for the attributes it reads."""

    # ------------------------------------------------------------------ figure
    def _build_figure(self):
        """Three axes; the lines that follow the sliders are "moving", everything else is background."""
        self.live = live = LiveFigure()
        fig = live.figure
        self.ax_fit, self.ax_loss, self.ax_surface = fig.subplots(1, 3)
        fig.subplots_adjust(left=0.055, right=0.99, bottom=0.14, top=0.88, wspace=0.32)
        ax = self.ax_fit
        data = ax.scatter(self.x, self.y, s=14, color=DATA_COLOUR, alpha=0.8, label="data", zorder=3)
        lo, hi = float(self.x.min()), float(self.x.max())
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        self._x_grid = np.array([lo - pad, hi + pad])
        y_lo, y_hi = float(self.y.min()), float(self.y.max())
        y_pad = 0.15 * (y_hi - y_lo) if y_hi > y_lo else 1.0
        ax.set_xlim(*self._x_grid)
        ax.set_ylim(y_lo - y_pad, y_hi + y_pad)
        handles = [data]
        if self.true_w is not None and self.true_b is not None:
            handles += ax.plot(self._x_grid, self.true_w * self._x_grid + self.true_b, ":", color=TRUE_COLOUR,
                               lw=1.2, label="true line")
        self.line = live.add_moving(ax.plot(self._x_grid, self._x_grid * 0, "-", color=FIT_COLOUR, lw=2,
                                            label="current fit", zorder=4)[0])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(handles=handles + [self.line], loc="upper left", fontsize="small", framealpha=0.8)
        self.diverged_text = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center",
                                     color=UNSTABLE_COLOUR, fontsize=11, fontweight="bold", zorder=10,
                                     bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": UNSTABLE_COLOUR})

        ax = self.ax_loss
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, numticks=8))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_decade_label))
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (log scale)")
        self.loss_line = live.add_moving(ax.plot([], [], "-", color=PALETTE[0], lw=1.8, label="NumPy")[0])
        self.loss_end = live.add_moving(ax.plot([], [], "o", color=PALETTE[0], ms=4)[0])
        self.replay_line = live.add_moving(ax.plot([], [], "--", color=REPLAY_COLOUR, lw=1.6, label="replay")[0])
        self.loss_legend = None

        ax = self.ax_surface
        self.path_line = live.add_moving(ax.plot([], [], "-", color=PATH_COLOUR, lw=1.4, label="GD path")[0])
        self.start_marker = live.add_moving(ax.plot([], [], "o", color=START_COLOUR, ms=7, markeredgecolor="black",
                                                    markeredgewidth=0.6, label="start (w0, b0)")[0])
        self.end_marker = live.add_moving(ax.plot([], [], "X", color=PATH_COLOUR, ms=8, markeredgecolor="black",
                                                  markeredgewidth=0.6, label="last (w, b)")[0])
        self._draw_surface()

    def _draw_surface(self):
        """Contours, minimum and legend of the loss surface (again when the reduction changes)."""
        ax = self.ax_surface
        for artist in getattr(self, "_surface_artists", ()):
            artist.remove()
        contours = draw_contours(ax, self.surface, self.window, num=101)
        minimum = ax.lines[-1]
        minimum.set_label(f"minimum ({self.surface.w_star:.3g}, {self.surface.b_star:.3g})")
        legend = ax.legend(handles=[minimum, self.path_line, self.start_marker, self.end_marker],
                           loc="upper right", fontsize="x-small", framealpha=0.8)
        self._surface_artists = (contours, minimum, legend)
        self._static_version += 1
        self.live.forget()

    def _set_static_texts(self, diverged: bool):
        """Titles and the diverged banner: part of the background, which is cached per state."""
        colour = UNSTABLE_COLOUR if diverged else "black"
        bound = f"2/λ_max = {self.bound:.3g}"
        self.ax_fit.set_title("Diverged: the line flies off" if diverged else "Data and the current fit",
                              color=colour)
        self.diverged_text.set_text(f"Diverged: lr is above\nthe stability bound\n{bound}" if diverged else "")
        self.ax_loss.set_title("Loss per epoch: it grows" if diverged else "Loss per epoch", color=colour)
        normal_title = f"Loss surface ({self.surface.reduction}) and the GD path"
        self.ax_surface.set_title(f"Diverged: lr > {bound}" if diverged else normal_title, color=colour)
        handles = [self.loss_line] + ([self.replay_line] if self.replayed is not None else [])
        if self.loss_legend is not None:
            self.loss_legend.remove()
        self.loss_legend = self.ax_loss.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.8)

    def _move_artists(self):
        """Point every moving artist at the current run; return the key of the matching background."""
        fit, path, diverged = self.fit, self.path, self.state == "diverged"
        # The fitted line: hidden once it has left any sensible scale.
        y_line = fit.w * self._x_grid + fit.b
        shown = bool(np.all(np.isfinite(y_line)) and np.abs(y_line).max() < 1e12)
        self.line.set_data(self._x_grid, y_line if shown else [np.nan, np.nan])
        self.line.set_visible(shown)

        # Loss per epoch: zeros, inf and NaN are gaps on a log axis, not errors.
        losses = path.losses
        positive = np.where(np.isfinite(losses) & (losses > 0), losses, np.nan)
        epochs_axis = np.arange(losses.size)
        self.loss_line.set_data(epochs_axis, positive)
        last = np.flatnonzero(np.isfinite(positive))
        self.loss_end.set_data(epochs_axis[last[-1:]], positive[last[-1:]])
        ylim = loss_limits(positive)
        xlim = (0.0, _nice_ceiling(max(losses.size - 1, 1)))
        self.ax_loss.set_xlim(*xlim)
        self.ax_loss.set_ylim(*ylim)
        self.replay_line.set_visible(self.replayed is not None)

        # The path across the surface, cut where it leaves a generous box around the chart.
        w_lo, w_hi, b_lo, b_hi = self.window
        inside = (np.isfinite(path.ws) & np.isfinite(path.bs)
                  & (np.abs(path.ws - (w_lo + w_hi) / 2) < 5 * (w_hi - w_lo))
                  & (np.abs(path.bs - (b_lo + b_hi) / 2) < 5 * (b_hi - b_lo)))
        cut = path.ws.size if inside.all() else int(np.argmin(inside)) + 1
        ws, bs = path.ws[:cut], path.bs[:cut]
        keep = np.isfinite(ws) & np.isfinite(bs)
        self.path_line.set_data(ws[keep], bs[keep])
        self.start_marker.set_data(path.ws[:1], path.bs[:1])
        end_inside = bool(inside[-1])
        self.end_marker.set_data(path.ws[-1:] if end_inside else [], path.bs[-1:] if end_inside else [])

        replay = None if self.replayed is None else self.replayed.style
        key = (self._static_version, diverged, replay, xlim, ylim)
        if key[:3] != getattr(self, "_texts_key", None):
            self._set_static_texts(diverged)
            self._texts_key = key[:3]
        return key

    # ---------------------------------------------------------------- readouts
    def _bar_html(self) -> str:
        """The lr slider's range as a bar: green where gradient descent converges, red above the bound."""
        lo, hi = self.lr.min, self.lr.max

        def at(value):
            return 100.0 * min(max((math.log10(value) - lo) / (hi - lo), 0.0), 1.0)

        bound_at, lr_at = at(self.bound), at(self.lr.value)
        return (
            f'<div style="margin-left:74px;width:340px;font-size:11px;line-height:1.2">'
            f'<div style="position:relative;height:8px;border-radius:3px;background:linear-gradient(to right,'
            f'{STABLE_COLOUR} 0%,{STABLE_COLOUR} {bound_at:.1f}%,{UNSTABLE_COLOUR} {bound_at:.1f}%,'
            f'{UNSTABLE_COLOUR} 100%)">'
            f'<div style="position:absolute;left:calc({lr_at:.1f}% - 2px);top:-3px;width:4px;height:14px;'
            f'background:black"></div></div>'
            f'<div>stable below lr = <b>{_number(self.bound)}</b> (2/λ<sub>max</sub> for the '
            f'{self.surface.reduction} loss); diverges above</div></div>'
        )

    def _readout_html(self) -> str:
        fit = self.fit
        rows = [
            ("w", _number(fit.w)), ("b", _number(fit.b)), ("final loss", _number(fit.final_loss)),
            ("closed form (w*, b*)", f"({_number(self.surface.w_star)}, {_number(self.surface.b_star)})"),
            ("distance to (w*, b*)", _number(self.distance)),
        ]
        table = "".join(f"<tr><td style='padding-right:12px'>{name}</td><td><code>{value}</code></td></tr>"
                        for name, value in rows)
        if self.state == "diverged":
            status = (f"<div style='color:{UNSTABLE_COLOUR};font-weight:bold'>Diverged: lr = {_number(fit.lr)} "
                      f"is above the stability bound 2/λ_max = {_number(self.bound)}. Each step overshoots the "
                      f"minimum by more than the last; lower lr below the bound.</div>")
        else:
            status = (f"<div style='color:{STABLE_COLOUR};font-weight:bold'>Converging: lr = {_number(fit.lr)} "
                      f"is below the stability bound {_number(self.bound)}.</div>")
        return f"<div>{status}<table>{table}</table>{self._replay_note}</div>"
