"""Notebook 5's optimizer exercise: the updates of ``keras.optimizers.SGD(momentum=…)``, by hand
(:func:`check_momentum_fit`).

Keras's SGD with momentum keeps a velocity for each variable between calls of
``apply_gradients``: ``v ← momentum·v − lr·g`` then ``w ← w + v``.  The expected
run is that rule in float64 NumPy (``tests/test_tape_checks.py`` pins it to
Keras's own optimizer); the slips are the same loop with one classic change
(no velocity kept, the moving-average form, the position moved first, lr
applied twice, Nesterov's update, the gradient's sign).
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import abs, dict, enumerate, float, len, list, max, next, print, range, zip

from numpy import abs as _np_abs
from numpy import all as _np_all
from numpy import asarray as _asarray
from numpy import float64 as _float64
from numpy import isfinite as _isfinite
from numpy import mean as _mean

from ..convert import fail, to_array, to_float, to_framework
from ..mistakes import LOSS_FLOOR, RTOL, Diagnosis
from .common import _call, _fail_with, _fmt, _read_settings, _unpack, _verdict
from .fit import _function_name

#: mistake id -> the rule its loop follows (see :func:`momentum_run`).
_SLIPS = {
    "velocity_reset": "plain", "ema_momentum": "ema", "position_first": "position_first",
    "momentum_lr_twice": "lr_twice", "nesterov_update": "nesterov", "sign_flip": "climb",
}


def momentum_run(x, y, *, lr, momentum, epochs, w0=0.0, b0=0.0, rule="keras"):
    """``(w, b, losses)`` of full-batch gradient descent with momentum on the mean squared error, in float64.

    ``rule="keras"`` is Keras's SGD; the others are the slips of :data:`_SLIPS`.
    """
    x, y = _asarray(x, dtype=_float64), _asarray(y, dtype=_float64)
    w, b, vw, vb, losses = float(w0), float(b0), 0.0, 0.0, []
    mu = 0.0 if rule == "plain" else momentum
    for _ in range(epochs):
        error = w * x + b - y
        losses.append(float(_mean(error * error)))
        dw, db = 2 * float(_mean(error * x)), 2 * float(_mean(error))
        if rule == "ema":  # v ← μ·v + (1 − μ)·g, w ← w − lr·v
            vw, vb = mu * vw + (1 - mu) * dw, mu * vb + (1 - mu) * db
            w, b = w - lr * vw, b - lr * vb
            continue
        if rule == "position_first":  # the old velocity moves w, then the velocity is updated
            w, b = w + vw, b + vb
            vw, vb = mu * vw - lr * dw, mu * vb - lr * db
            continue
        sign = 1.0 if rule == "climb" else -1.0
        vw, vb = mu * vw + sign * lr * dw, mu * vb + sign * lr * db
        if rule == "lr_twice":
            w, b = w + lr * vw, b + lr * vb
        elif rule == "nesterov":
            w, b = w + mu * vw - lr * dw, b + mu * vb - lr * db
        else:
            w, b = w + vw, b + vb
    return w, b, losses


def _close(received, expected, atol):
    received, expected = _asarray(received, dtype=_float64), _asarray(expected, dtype=_float64)
    with_slack = _np_abs(received - expected) <= RTOL * _np_abs(expected) + atol
    return bool(_np_all(with_slack & _isfinite(received)))


def check_momentum_fit(fit, *, x, y, lr, momentum, epochs, w0=0.0, b0=0.0, framework="tf"):
    """Call ``fit(x, y, lr, momentum, epochs, w0, b0) -> (w, b, losses)`` and compare with Keras's SGD rule."""
    xs, ys, lr, epochs, w0, b0 = _read_settings(x, y, lr, epochs, w0, b0, "mean", "check_momentum_fit")
    momentum = to_float(momentum, "momentum")
    if not 0.0 <= momentum < 1.0:
        fail(f"check_momentum_fit cannot run: momentum must be in [0, 1), got {momentum!r}.")
    name = _function_name(fit)
    arguments = f"x, y, lr={lr:g}, momentum={momentum:g}, epochs={epochs}, w0={w0:g}, b0={b0:g}"
    result, warned = _call(fit, name, arguments, to_framework(xs, framework), to_framework(ys, framework),
                           lr, momentum, epochs, w0, b0)
    w, b, losses = _unpack(result, 3, f"{name}({arguments})", "(w, b, losses)")
    w, b = to_float(w, f"{name}'s w"), to_float(b, f"{name}'s b")
    history = to_array(losses, f"{name}'s losses")
    settings = dict(lr=lr, momentum=momentum, epochs=epochs, w0=w0, b0=b0)
    exp_w, exp_b, exp_losses = momentum_run(xs, ys, **settings)
    param_atol = RTOL * (1.0 + max(abs(exp_w), abs(exp_b), abs(w0), abs(b0)))
    loss_atol = RTOL * LOSS_FLOOR * float(_mean(_asarray(ys, dtype=_float64) ** 2))

    def same(run):
        run_w, run_b, run_losses = run
        right = _close([w, b], [run_w, run_b], param_atol)
        return right and (len(history) != epochs or _close(history, run_losses, loss_atol))

    params_ok = _close([w, b], [exp_w, exp_b], param_atol)
    losses_ok = len(history) == epochs and _close(history, exp_losses, loss_atol)
    if params_ok and losses_ok:
        print(f"✓ check_momentum_fit: w = {_fmt(w)}, b = {_fmt(b)} and all {epochs} losses match Keras's "
              f"SGD(momentum={momentum:g}) (lr={lr:g}).")
        return
    lines = [f"{name}({arguments}) returned w = {_fmt(w, exp_w)}, b = {_fmt(b, exp_b)}; SGD with momentum "
             f"ends at w = {_fmt(exp_w, w)}, b = {_fmt(exp_b, b)}."]
    if len(history) != epochs:
        lines.append(f"losses should hold one loss per epoch: expected {epochs} values, received {len(history)}.")
    elif not losses_ok:
        first = next(i for i, (got, want) in enumerate(zip(history, exp_losses))
                     if not _close([got], [want], loss_atol))
        lines.append(f"losses differ from epoch {first} on: expected losses[{first}] = "
                     f"{_fmt(exp_losses[first], history[first])}, received {_fmt(history[first], exp_losses[first])}.")
    found = [Diagnosis(mistake_id, dict(momentum=momentum, lr=lr)) for mistake_id, rule in _SLIPS.items()
             if same(momentum_run(xs, ys, rule=rule, **settings))]
    hint = ("Keras's rule, for each variable, with v starting at 0: v ← momentum·v − lr·g, then w ← w + v "
            "(the velocity is kept from one epoch to the next).")
    _fail_with(_verdict(lines, found, hint, style="tf"), warned)


__all__ = ["check_momentum_fit", "momentum_run"]
