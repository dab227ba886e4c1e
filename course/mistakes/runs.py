"""Gradient descent with a bug injected: many variants of one full-batch run side by side, in float64."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): a learner who rebinds
# a builtin or a NumPy function in their session cannot change a diagnosis.
from builtins import (
    ValueError, bool, dict, float, int, len, range, sorted, str,
)
from dataclasses import dataclass

from numpy import array as _array
from numpy import asarray as _asarray
from numpy import einsum as _einsum
from numpy import empty as _empty
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import where as _where
from numpy import zeros as _zeros



# ---------------------------------------------------------------------------------------------
# The buggy gradient descent.


@dataclass(frozen=True)
class Variant:
    """One run of full-batch gradient descent on MSE, with bug flags (all off: the correct run)."""

    lr: float
    w0: float = 0.0
    b0: float = 0.0
    reduction: str = "mean"
    sign: float = 1.0  # -1: steps uphill
    grad_factor: float = 1.0  # 2: gradient twice as large; 0.5: the factor 2 dropped
    accumulate: bool = False  # gradients never zeroed: each step uses the running sum
    update_w: bool = True
    update_b: bool = True
    broadcast: bool = False  # [N, 1] prediction against [N] target: loss over the N×N table
    relu: bool = False  # a ReLU on the output: max(0, w·x + b)


@dataclass(frozen=True)
class Run:
    """What :func:`run_variants` gives back for K variants over ``epochs`` epochs."""

    w: object  # (K,) final w
    b: object  # (K,) final b
    losses: object  # (K, epochs): the loss before each update
    w_path: object = None  # (K, epochs + 1) when recorded: w after k updates
    b_path: object = None


def run_variants(x, y, variants, epochs: int, *, record_path: bool = False) -> Run:
    """Run every variant for ``epochs`` epochs side by side, in float64.

    The broadcast bug's loss is the mean (or sum) of ``(p_i − y_j)²`` over all
    pairs ``i, j``; since ``Σ_j (p_i − y_j)² = n·(p_i − ȳ)² + Σ_j (y_j − ȳ)²``,
    it equals the ordinary loss against the constant target ``ȳ`` plus the
    spread of ``y``, and its gradient is the ordinary one with ``y`` replaced
    by ``ȳ`` (and a factor ``n`` more for the sum).
    """
    x = _asarray(x, dtype=_float64).reshape(-1)
    y = _asarray(y, dtype=_float64).reshape(-1)
    n = x.size
    count = len(variants)
    mean = _array([v.reduction == "mean" for v in variants])
    broadcast = _array([bool(v.broadcast) for v in variants])
    y_bar = float(y.sum()) / n
    spread = float(((y - y_bar) ** 2).sum())
    target = _where(broadcast[:, None], y_bar, y[None, :])
    loss_scale = _where(mean, 1.0 / n, _where(broadcast, float(n), 1.0))
    loss_const = _where(broadcast, _where(mean, spread / n, n * spread), 0.0)
    grad_scale = _where(mean, 2.0 / n, _where(broadcast, 2.0 * n, 2.0))
    step = _array([v.lr * v.sign * v.grad_factor for v in variants]) * grad_scale
    update_w = _array([bool(v.update_w) for v in variants])
    update_b = _array([bool(v.update_b) for v in variants])
    accumulate = _array([bool(v.accumulate) for v in variants])
    relu = _array([bool(v.relu) for v in variants])[:, None]
    w = _array([float(v.w0) for v in variants])
    b = _array([float(v.b0) for v in variants])
    sum_w, sum_b = _zeros(count), _zeros(count)
    losses = _empty((count, epochs))
    w_path = _empty((count, epochs + 1)) if record_path else None
    b_path = _empty((count, epochs + 1)) if record_path else None
    # Blowing up is a lesson (the learning rate too large), not an error.
    with _errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(epochs):
            if record_path:
                w_path[:, epoch], b_path[:, epoch] = w, b
            prediction = w[:, None] * x[None, :] + b[:, None]
            cut = relu & (prediction <= 0)  # a ReLU's output (and its gradient) is 0 there
            residual = _where(cut, 0.0, prediction) - target
            losses[:, epoch] = loss_scale * _einsum("ij,ij->i", residual, residual) + loss_const
            residual = _where(cut, 0.0, residual)
            grad_w, grad_b = residual @ x, residual.sum(axis=1)
            # where(), not multiplication by 0/1 flags: 0 · inf would be NaN.
            sum_w = _where(accumulate, sum_w + grad_w, grad_w)
            sum_b = _where(accumulate, sum_b + grad_b, grad_b)
            w = _where(update_w, w - step * sum_w, w)
            b = _where(update_b, b - step * sum_b, b)
    if record_path:
        w_path[:, epochs], b_path[:, epochs] = w, b
    return Run(w, b, losses, w_path, b_path)


#: The bug flags behind each mistake that is a change to the algorithm itself.
_BUG_FLAGS = {
    "sum_reduction": dict(reduction="sum"),
    "mean_reduction": dict(reduction="mean"),
    "no_zero_grad": dict(accumulate=True),
    "sign_flip": dict(sign=-1.0),
    "grad_x2": dict(grad_factor=2.0),
    "grad_half": dict(grad_factor=0.5),
    "only_w": dict(update_b=False),
    "only_b": dict(update_w=False),
    "broadcast_nxn": dict(broadcast=True),
    "relu_activation": dict(relu=True),
}


def _variant(bug, *, lr, w0, b0, reduction) -> Variant:
    flags = dict(reduction=reduction)
    flags.update(_BUG_FLAGS.get(bug, {}))
    return Variant(lr=float(lr), w0=float(w0), b0=float(b0), **flags)


def buggy_fit(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", bug=None):
    """Gradient descent in float64 with one named bug injected (``bug=None``: the correct run).

    ``bug`` is one of ``sum_reduction``, ``mean_reduction``, ``no_zero_grad``,
    ``sign_flip``, ``grad_x2``, ``grad_half``, ``only_w``, ``only_b``,
    ``broadcast_nxn``.  Returns a :class:`course.reference.FitResult`.
    """
    from ..reference import FitResult

    if bug is not None and bug not in _BUG_FLAGS:
        raise ValueError(f"unknown bug {bug!r}; choose one of {sorted(_BUG_FLAGS)}")
    run = run_variants(x, y, [_variant(bug, lr=lr, w0=w0, b0=b0, reduction=reduction)], int(epochs))
    return FitResult(f"buggy:{bug}", float(run.w[0]), float(run.b[0]), run.losses[0].copy(),
                     float(lr), int(epochs), _BUG_FLAGS.get(bug, {}).get("reduction", reduction))
