"""Style 1: NumPy with gradients derived by hand."""

from __future__ import annotations

import numpy as np

from .result import FitResult, prepare


def gradients(x, y, w, b, reduction: str = "mean"):
    """∂L/∂w and ∂L/∂b of L = (1/n)·Σ(w·x + b − y)² (drop 1/n for ``sum``)."""
    return _gradients_from_residual(w * x + b - y, x, reduction)


def _gradients_from_residual(residual, x, reduction: str):
    """The gradients above, given residual = w·x + b − y."""
    scale = 2.0 / x.size if reduction == "mean" else 2.0
    return scale * np.dot(residual, x), scale * residual.sum()


def fit_numpy(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean") -> FitResult:
    """Full-batch gradient descent in float64 NumPy."""
    x, y = prepare(x, y, lr, epochs, reduction)
    w, b = float(w0), float(b0)
    losses = np.empty(epochs, dtype=np.float64)
    residual = np.empty_like(x)
    # Overflow to inf/NaN is the lesson of a too-large learning rate, not an error.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            # residual = w·x + b − y, written into one buffer: the same arithmetic as
            # `gradients`, without new arrays of size n every epoch.
            np.multiply(x, w, out=residual)
            residual += b
            residual -= y
            total = np.dot(residual, residual)
            losses[epoch] = total / x.size if reduction == "mean" else total
            grad_w, grad_b = _gradients_from_residual(residual, x, reduction)
            w -= lr * grad_w
            b -= lr * grad_b
    return FitResult("numpy", float(w), float(b), losses, float(lr), int(epochs), reduction)
