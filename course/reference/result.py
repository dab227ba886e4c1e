"""What every reference returns, the input checks they share, and the facts about the loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class FitResult:
    """The end of a gradient-descent run.

    ``losses[k]`` is the loss *before* the update of epoch ``k``, so
    ``len(losses) == epochs`` and ``losses[0]`` is the loss at ``(w0, b0)``.
    """

    style: str
    w: float
    b: float
    losses: np.ndarray
    lr: float
    epochs: int
    reduction: str = "mean"

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1]) if len(self.losses) else float("nan")

    @property
    def diverged(self) -> bool:
        """True when the run blew up: a non-finite value, or a loss that grew overall."""
        values = np.asarray(self.losses, dtype=np.float64)
        if not (np.isfinite(self.w) and np.isfinite(self.b) and np.all(np.isfinite(values))):
            return True
        return len(values) > 1 and values[-1] > values[0] * (1 + 1e-6) + 1e-12

    def predict(self, x):
        return self.w * np.asarray(x, dtype=np.float64) + self.b

    def __repr__(self) -> str:
        return (
            f"FitResult({self.style}: w={self.w:.6g}, b={self.b:.6g}, "
            f"final loss={self.final_loss:.6g}, lr={self.lr:g}, epochs={self.epochs}, "
            f"reduction={self.reduction!r})"
        )


def prepare(x, y, lr, epochs, reduction):
    """Validate the common arguments; return float64 ``x``, ``y`` of shape (n,)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must hold the same number of points, got {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("x and y are empty: there is nothing to fit")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return x, y


def hessian(x, reduction: str = "mean") -> np.ndarray:
    """The (constant) Hessian of the MSE loss over (w, b)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = x.size
    scale = 2.0 / n if reduction == "mean" else 2.0
    return scale * np.array([[np.dot(x, x), x.sum()], [x.sum(), n]])


def stability_bound(x, reduction: str = "mean") -> float:
    """The largest stable learning rate: gradient descent on MSE diverges above 2 / λ_max."""
    return float(2.0 / np.linalg.eigvalsh(hessian(x, reduction)).max())


def closed_form(x, y) -> tuple[float, float]:
    """The least-squares line ``(w, b)``: where gradient descent converges to."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    A = np.stack([x, np.ones_like(x)], axis=1)
    (w, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(w), float(b)


def mse(w, b, x, y, reduction: str = "mean") -> float:
    """The loss of the line ``(w, b)`` on ``(x, y)``, in float64."""
    r = w * np.asarray(x, dtype=np.float64) + b - np.asarray(y, dtype=np.float64)
    total = float(np.dot(r, r))
    return total / r.size if reduction == "mean" else total
