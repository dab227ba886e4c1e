"""Checks of a whole run: final ``w``, ``b`` and the loss history (:func:`check_fit`,
:func:`check_fit_function`)."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    enumerate, len, print,
)

from numpy import all as _np_all

from ..convert import to_array, to_float, to_framework
from ..mistakes import find_mistakes, tolerance_for, values_match
from ..reference import fit_numpy as _fit_numpy
from .common import (
    _fmt, _settings_text, _NO_MISTAKE_HINT, _mistake_lines, _fail_with, _read_settings, _call,
    _unpack, _check_framework,
)


# ---------------------------------------------------------------------------------------------
# A whole run: final w, b and the loss history.


def _judge_fit(w, b, losses, settings, *, subject, check):
    x, y, lr, epochs, w0, b0, reduction = settings
    context = (f"(Expected values come from the reference NumPy run on the same data with "
               f"{_settings_text(lr, epochs, w0, b0, reduction)}.)")
    w_value = to_float(w, f"{subject}w")
    b_value = to_float(b, f"{subject}b")
    history = None if losses is None else to_array(losses, f"{subject}losses")
    reference = _fit_numpy(x, y, lr=lr, epochs=epochs, w0=w0, b0=b0, reduction=reduction)
    tol = tolerance_for(x, y, reference, w0, b0, reduction)
    w_ok = bool(values_match(w_value, reference.w, tol.param_atol, tol.param_limit)[0])
    b_ok = bool(values_match(b_value, reference.b, tol.param_atol, tol.param_limit)[0])
    losses_ok = True
    loss_line = None
    if history is not None:
        if len(history) != epochs:
            losses_ok = False
            loss_line = (f"{subject}losses should hold one loss per epoch: expected {epochs} values, "
                         f"received {len(history)}.")
        else:
            same = values_match(history, reference.losses, tol.loss_atol, tol.loss_limit)[0]
            losses_ok = bool(_np_all(same))
            if not losses_ok:
                bad = [index for index, ok in enumerate(same) if not ok]
                first = bad[0]
                loss_line = (f"{subject}losses are wrong from epoch {first} on ({len(bad)} of {epochs} differ): "
                             f"expected losses[{first}] = {_fmt(reference.losses[first], history[first])}, "
                             f"received {_fmt(history[first], reference.losses[first])}.")
    if w_ok and b_ok and losses_ok:
        tail = "" if history is None or epochs == 0 else (
            " and the loss" if epochs == 1 else f" and all {epochs} losses")
        print(f"✓ {check}: w = {_fmt(w_value)}, b = {_fmt(b_value)}{tail} match the reference "
              f"(lr={lr:g}, epochs={epochs}).")
        return
    lines = []
    exp_w, got_w = _fmt(reference.w, w_value), _fmt(w_value, reference.w)
    exp_b, got_b = _fmt(reference.b, b_value), _fmt(b_value, reference.b)
    if not w_ok and not b_ok:
        lines.append(f"{subject}w and b are wrong: expected w = {exp_w} and b = {exp_b}, "
                     f"received w = {got_w} and b = {got_b}.")
    elif not w_ok:
        lines.append(f"{subject}w is wrong: expected {exp_w}, received {got_w} (b = {got_b} is right).")
    elif not b_ok:
        lines.append(f"{subject}b is wrong: expected {exp_b}, received {got_b} (w = {got_w} is right).")
    if loss_line:
        lines.append(("w and b are right, but " + loss_line[0].lower() + loss_line[1:])
                     if (w_ok and b_ok and not subject) else loss_line)
    lines.append(context)
    found = find_mistakes(w_value, b_value, history, x=x, y=y, lr=lr, epochs=epochs, w0=w0, b0=b0,
                          reduction=reduction, reference=reference)
    return lines + _mistake_lines(found, _NO_MISTAKE_HINT)


def check_fit(w, b, losses=None, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean"):
    """Check a learner's final ``w``, ``b`` (and ``losses``, one per epoch, before each update).

    The settings are the ones the exercise asked for; the expected values
    come from :func:`course.reference.fit_numpy` on the same inputs.
    """
    settings = _read_settings(x, y, lr, epochs, w0, b0, reduction, "check_fit") + (reduction,)
    lines = _judge_fit(w, b, losses, settings, subject="", check="check_fit")
    if lines:
        _fail_with(lines)


def check_fit_function(fit, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean", framework="numpy"):
    """Call the learner's ``fit(x, y, lr, epochs, w0, b0) -> (w, b, losses)`` and check what it returns.

    ``reduction`` is the loss the exercise's ``fit`` is meant to use.
    """
    _check_framework(framework)
    settings = _read_settings(x, y, lr, epochs, w0, b0, reduction, "check_fit_function") + (reduction,)
    xs, ys, lr_value, epochs_value, w0_value, b0_value, _ = settings
    arguments_text = f"x, y, lr={lr_value:g}, epochs={epochs_value}, w0={w0_value:g}, b0={b0_value:g}"
    result, warned = _call(fit, "fit", arguments_text, to_framework(xs, framework), to_framework(ys, framework),
                           lr_value, epochs_value, w0_value, b0_value)
    w, b, losses = _unpack(result, 3, f"fit({arguments_text})", "(w, b, losses)")
    lines = _judge_fit(w, b, losses, settings, subject=f"fit({arguments_text}) returned: ",
                       check="check_fit_function")
    if lines:
        _fail_with(lines, warned)
