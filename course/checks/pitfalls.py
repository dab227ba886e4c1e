"""Checks of the PyTorch notebooks' "work out what happens" exercises: a loop that never zeroes its
gradients (notebook 2), a validation loss on held-out points and the largest stable learning rate of a
summed loss (notebook 3).

Each computes the right number and the numbers of the classic slips with the float64 reference
(:mod:`course.reference`) and hands them to :func:`~course.checks.check_value`, which names a slip
the learner's number matches.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import dict, float, int, range, slice

from numpy import asarray as _asarray
from numpy import float64 as _float64
from numpy import mean as _mean
from numpy import sqrt as _sqrt
from numpy.linalg import eigvalsh as _eigvalsh

from ..reference import fit_numpy as _fit_numpy
from ..reference import gradients as _gradients
from ..reference import hessian as _hessian
from ..reference import mse as _mse
from .values import check_value


def _as64(values):
    return _asarray(values, dtype=_float64).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Notebook 2: the manual loop with the zero_() lines left out.


def _never_zeroed(x, y, lr, updates, *, zeroed=False, sign=1.0, first_only=False, reduction="mean"):
    """w after ``updates`` updates from w = b = 0 when .grad keeps the running sum of the gradients.

    ``zeroed``: the correct loop (each update uses its own gradient); ``first_only``: every update
    adds the start's gradient again; ``sign``: -1 climbs; ``reduction``: the loss the gradient is of.
    """
    w = b = 0.0
    grad_w = grad_b = 0.0
    start = None
    for _ in range(updates):
        dw, db = _gradients(x, y, w, b, reduction)
        if first_only:
            start = (dw, db) if start is None else start
            dw, db = start
        grad_w, grad_b = (dw, db) if zeroed else (grad_w + dw, grad_b + db)
        w, b = w - sign * lr * grad_w, b - sign * lr * grad_b
    return float(w)


def check_forgotten_zeroing(received, *, x, y, lr, updates, name="w_forgot", digits=4):
    """Check ``w`` after ``updates`` updates of notebook 2's manual loop without ``zero_()`` (from w = b = 0).

    Without zeroing, ``backward()`` adds each epoch's gradient to ``.grad``: update ``k`` subtracts
    ``lr · (g_0 + … + g_k)``, each ``g_j`` taken at that epoch's ``(w, b)``.
    """
    x, y, lr, updates = _as64(x), _as64(y), float(lr), int(updates)

    def run(**slip):
        return _never_zeroed(x, y, lr, slip.pop("updates", updates), **slip)

    check_value(received, run(), name=name, digits=digits, style="torch", slips=[
        ("zeroed_run", run(zeroed=True), dict(updates=updates)),
        ("updates_off", run(updates=updates - 1), dict(updates=updates, updates_run=updates - 1)),
        ("updates_off", run(updates=updates + 1), dict(updates=updates, updates_run=updates + 1)),
        ("sign_flip", run(sign=-1.0)),
        ("first_gradient_repeated", run(first_only=True)),
        ("sum_reduction", run(reduction="sum"), dict(n=x.size)),
    ])


# ---------------------------------------------------------------------------------------------
# Notebook 3: held-out data.


def _broadcast_loss(w, b, x, y):
    """The [N, 1]-against-[N] loss: every prediction against every target, averaged."""
    return float(_mean(((w * x + b).reshape(-1, 1) - y.reshape(1, -1)) ** 2))


def check_validation_loss(received, *, x, y, n_train, lr, epochs, name="val_loss", digits=3):
    """Check the validation loss of a line trained on the first ``n_train`` points (``lr``, ``epochs``,
    from w = b = 0) and measured, as the mean squared error, on the rest."""
    x, y, lr, epochs, n_train = _as64(x), _as64(y), float(lr), int(epochs), int(n_train)
    n, n_val = x.size, x.size - int(n_train)
    train, held = slice(0, n_train), slice(n_train, None)

    def trained(part):
        run = _fit_numpy(x[part], y[part], lr=lr, epochs=epochs)
        return run.w, run.b, run

    w, b, run = trained(train)
    expected = _mse(w, b, x[held], y[held])
    w_val, b_val, _ = trained(held)
    w_first, b_first, _ = trained(slice(0, n_val))
    w_all, b_all, _ = trained(slice(0, n))
    sizes = dict(n=n, n_train=n_train, n_val=n_val)
    check_value(received, expected, name=name, digits=digits, style="optim", slips=[
        ("train_loss", _mse(w, b, x[train], y[train]), sizes),
        ("train_loss", float(run.losses[-1]), sizes),
        ("all_points_loss", _mse(w, b, x, y), sizes),
        ("untrained_loss", _mse(0.0, 0.0, x[held], y[held]), sizes),
        ("untrained_loss", float(run.losses[0]), sizes),
        ("split_reversed", _mse(w_val, b_val, x[train], y[train]), sizes),
        ("split_reversed", _mse(w_first, b_first, x[n_val:], y[n_val:]), sizes),
        ("validation_in_training", _mse(w_all, b_all, x[held], y[held]), sizes),
        ("summed_errors", expected * n_val, sizes),
        ("rmse", float(_sqrt(expected))),
        ("broadcast_nxn", _broadcast_loss(w, b, x[held], y[held])),
    ])


# ---------------------------------------------------------------------------------------------
# Notebook 3: the largest stable learning rate of a summed loss.


def check_summed_bound(received, *, x, other_x, other_name="the six points", name="lr_max_sum", digits=3):
    """Check the largest stable learning rate of gradient descent on the *summed* squared error over ``x``:
    2 / λ_max of its Hessian, n times smaller than the mean loss's bound.  ``other_x``: the data of the
    notebook's earlier sections, whose bounds are a slip."""
    x, other_x = _as64(x), _as64(other_x)
    n = x.size
    curvatures = _eigvalsh(_hessian(x, "sum"))
    largest, smallest = float(curvatures.max()), float(curvatures.min())
    mean_bound = 2.0 / float(_eigvalsh(_hessian(x, "mean")).max())
    counts = dict(n=n, n_minus_1=n - 1)
    check_value(received, 2.0 / largest, name=name, digits=digits, style="optim", slips=[
        ("mean_loss_bound", mean_bound, counts),
        ("zigzag_threshold", 1.0 / largest),
        ("zigzag_threshold", mean_bound / 2.0),
        ("bound_multiplied", mean_bound * n, counts),
        ("bound_n_minus_1", mean_bound / (n - 1), counts),
        ("sum_hessian_no_2", 4.0 / largest),
        ("bound_lambda_min", 2.0 / smallest),
        ("six_points_bound", 2.0 / float(_eigvalsh(_hessian(other_x, "sum")).max()),
         dict(n=n, dataset=other_name)),
        ("six_points_bound", 2.0 / float(_eigvalsh(_hessian(other_x, "mean")).max()),
         dict(n=n, dataset=other_name)),
    ])


__all__ = ["check_forgotten_zeroing", "check_validation_loss", "check_summed_bound"]
