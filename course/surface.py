"""The MSE loss of a line as a function of ``(w, b)``, and gradient descent's path across it.

The loss of a line is a quadratic bowl in ``(w, b)``:

    L(w, b) = L_min + ½ · zᵀ H z,      z = (w − w*, b − b*),

with ``(w*, b*)`` the least-squares line and ``H`` the loss's constant
Hessian.  One gradient-descent step is ``z ← (I − lr·H) z``, so after ``k``
steps ``z_k = Q · diag(μᵏ) · Qᵀ z_0`` with ``μ = 1 − lr·λ`` for the
eigenvalues ``λ`` of ``H``.  That gives the whole path for any number of
epochs from a handful of sums over the data, in one vectorised expression:
fast enough to recompute on every slider move.  It is the same iteration as
:func:`course.reference.fit_numpy` (``tests/test_plots.py`` checks the two
agree), written so that its cost does not depend on ``n`` or on a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .reference import closed_form, hessian
from .reference.result import prepare

__all__ = ["Bowl", "GDPath", "bowl", "gd_path", "loss_grid", "surface_window", "contour_levels"]


class GDPath(NamedTuple):
    """Where gradient descent went: ``ws[k], bs[k]`` after ``k`` updates (``k = 0..epochs``).

    ``losses[k]`` is the loss *before* update ``k`` (as in :class:`course.reference.FitResult`),
    so ``len(losses) == epochs`` and ``len(ws) == epochs + 1``.
    """

    ws: np.ndarray
    bs: np.ndarray
    losses: np.ndarray

    @property
    def points(self) -> np.ndarray:
        """The path as an ``(epochs + 1, 2)`` array of ``(w, b)``."""
        return np.column_stack([self.ws, self.bs])


@dataclass(frozen=True)
class Bowl:
    """Everything about one dataset's loss surface that does not depend on lr, epochs or the start."""

    n: int
    reduction: str
    w_star: float
    b_star: float
    loss_min: float
    hessian: np.ndarray
    eigenvalues: np.ndarray  # of the Hessian, ascending
    eigenvectors: np.ndarray  # columns, matching ``eigenvalues``

    @property
    def stability_bound(self) -> float:
        """Gradient descent diverges for ``lr`` above ``2 / λ_max``."""
        return float(2.0 / self.eigenvalues[-1])

    def loss(self, w, b) -> np.ndarray:
        """The loss at ``(w, b)`` (arrays broadcast), as a sum of non-negative terms: no cancellation."""
        u = np.asarray(w, dtype=np.float64) - self.w_star
        v = np.asarray(b, dtype=np.float64) - self.b_star
        h = self.hessian
        return self.loss_min + 0.5 * (h[0, 0] * u * u + 2.0 * h[0, 1] * u * v + h[1, 1] * v * v)


def bowl(x, y, reduction: str = "mean") -> Bowl:
    """Precompute the loss surface of ``(x, y)`` (the data's sums; O(n) once)."""
    x, y = prepare(x, y, 1.0, 0, reduction)
    w_star, b_star = closed_form(x, y)
    # The smallest loss, from the residuals themselves: the quadratic form below
    # then only adds the (exact, non-negative) excess over it.
    residual = w_star * x + b_star - y
    total = float(np.dot(residual, residual))
    loss_min = total / x.size if reduction == "mean" else total
    h = hessian(x, reduction)
    eigenvalues, eigenvectors = np.linalg.eigh(h)
    return Bowl(x.size, reduction, w_star, b_star, loss_min, h, eigenvalues, eigenvectors)


def gd_path(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", surface: Bowl | None = None) -> GDPath:
    """Full-batch gradient descent's path from ``(w0, b0)``: every ``(w, b)`` and every loss.

    Same arguments and same numbers as :func:`course.reference.fit_numpy`
    (``ws[-1], bs[-1], losses`` are its ``w, b, losses``).  Pass ``surface``
    (from :func:`bowl`) to skip the O(n) sums when only the settings change.
    """
    if surface is None:
        surface = bowl(x, y, reduction)
    elif surface.reduction != reduction:
        raise ValueError(f"surface was built for reduction={surface.reduction!r}, not {reduction!r}")
    prepare([0.0], [0.0], lr, epochs, reduction)  # same argument checks as the references
    lam, q = surface.eigenvalues, surface.eigenvectors
    z0 = np.array([float(w0) - surface.w_star, float(b0) - surface.b_star])
    coords0 = q.T @ z0  # the start in the Hessian's eigenbasis: each coordinate shrinks (or grows) alone
    steps = np.arange(epochs + 1, dtype=np.float64)[:, None]
    # Overflow to inf is what a too-large lr does; it is reported, not warned about.
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        factors = np.power(1.0 - lr * lam[None, :], steps)
        # A coordinate that starts at exactly 0 stays 0 (0 · inf would be NaN).
        coords = np.where(coords0 == 0.0, 0.0, coords0 * factors)
        z = coords @ q.T
        ws = surface.w_star + z[:, 0]
        bs = surface.b_star + z[:, 1]
        ws[0], bs[0] = float(w0), float(b0)  # exactly the start, not the start rotated there and back
        excess = 0.5 * (coords[:-1] ** 2 @ lam)
        losses = surface.loss_min + excess
    return GDPath(ws, bs, losses)


def surface_window(surface: Bowl, points=(), *, pad: float = 0.25, min_half_width: float = 0.5):
    """A ``(w_lo, w_hi, b_lo, b_hi)`` box around the minimum and the given finite ``(w, b)`` points."""
    ws = [surface.w_star]
    bs = [surface.b_star]
    for w, b in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        if np.isfinite(w) and np.isfinite(b):
            ws.append(w)
            bs.append(b)
    spans = []
    for values, centre in ((ws, surface.w_star), (bs, surface.b_star)):
        lo, hi = min(values), max(values)
        # Never a zero-width box: at least ±min_half_width (or ±half the centre) around the minimum.
        half = max(min_half_width, 0.5 * abs(centre))
        lo, hi = min(lo, centre - half), max(hi, centre + half)
        extra = pad * (hi - lo)
        spans.append((lo - extra, hi + extra))
    (w_lo, w_hi), (b_lo, b_hi) = spans
    return float(w_lo), float(w_hi), float(b_lo), float(b_hi)


def loss_grid(surface: Bowl, window, num: int = 121):
    """``(W, B, L)`` meshes of the loss over the window ``(w_lo, w_hi, b_lo, b_hi)``."""
    w_lo, w_hi, b_lo, b_hi = window
    W, B = np.meshgrid(np.linspace(w_lo, w_hi, num), np.linspace(b_lo, b_hi, num))
    return W, B, surface.loss(W, B)


def contour_levels(surface: Bowl, L: np.ndarray, count: int = 14) -> np.ndarray:
    """Geometrically spaced levels above the minimum: a bowl's rings look evenly spread."""
    excess_max = float(np.nanmax(L)) - surface.loss_min
    if not np.isfinite(excess_max) or excess_max <= 0:
        excess_max = 1.0
    excess = np.geomspace(excess_max * 1e-4, excess_max, count)
    return surface.loss_min + excess
