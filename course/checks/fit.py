"""Checks of a whole run: final ``w``, ``b`` and the loss history (:func:`check_fit`,
:func:`check_fit_function`)."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    Exception, all, enumerate, getattr, isinstance, len, list, print, str,
)

from numpy import all as _np_all

from ..convert import _is_history, to_array, to_float, to_framework
from ..mistakes import Diagnosis, find_mistakes, tolerance_for, values_match
from ..mistakes.fixes import STYLES, style_of
from ..reference import fit_numpy as _fit_numpy
from .common import (
    _fmt, _settings_text, _NO_MISTAKE_HINT, _verdict, _fail_with, _read_settings, _call,
    _unpack, _check_framework,
)
from .probing import probe_fit


# ---------------------------------------------------------------------------------------------
# A whole run: final w, b and the loss history.


def _judge_fit(w, b, losses, settings, *, subject, check, style="numpy", probe=None):
    """``None`` when right, else the verdict's lines.  ``probe(reference, tol)`` -> ``(diagnoses, text)``
    looks at the learner's function on short runs (only once the answer is wrong)."""
    x, y, lr, epochs, w0, b0, reduction = settings
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
        return None
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
        if lines and subject:  # the call is named once
            loss_line = loss_line[len(subject):]
            loss_line = loss_line[:1].upper() + loss_line[1:]
        elif w_ok and b_ok:
            loss_line = (subject + "w and b are right, but " + loss_line[len(subject):][:1].lower()
                         + loss_line[len(subject) + 1:])
        lines.append(loss_line)
    found = find_mistakes(w_value, b_value, history, x=x, y=y, lr=lr, epochs=epochs, w0=w0, b0=b0,
                          reduction=reduction, reference=reference, style=style)
    probed, right_text = probe(reference, tol) if probe is not None else ([], "")
    found = _merge(probed, found)
    if found and loss_line and len(lines) == 2:  # w or b wrong too: the named mistake explains the losses
        lines[1] = lines[1].split(": expected", 1)[0] + "."
    context = (f"(Expected values come from the reference NumPy run on the same data with "
               f"{_settings_text(lr, epochs, w0, b0, reduction)}.)")
    extra = [right_text] if right_text and not found else []
    return _verdict(lines, found, _NO_MISTAKE_HINT + " " + context, style=style, extra=extra)


def _merge(probed, found):
    """The probes' diagnoses first (they read each update), then the trajectory's; "diverged" leads."""
    # Shuffled batches explain many end points by chance: once a probe has read the updates, they are noise.
    found = [d for d in found if not (probed and d.id == "shuffled_minibatches")]
    merged = list(probed) + [d for d in found if all(p.id != d.id for p in probed)]
    diverged = [d for d in merged if d.id == "diverged"]
    return diverged + [d for d in merged if d.id != "diverged"]


def _style_for(losses, style):
    if style is not None:
        return style if style in STYLES else "numpy"
    return "keras" if _is_history(losses) else "numpy"


def check_fit(w, b, losses=None, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean", style=None):
    """Check a learner's final ``w``, ``b`` (and ``losses``, one per epoch, before each update).

    The settings are the ones the exercise asked for; the expected values
    come from :func:`course.reference.fit_numpy` on the same inputs.
    ``style`` (numpy, torch, optim, keras, tf) picks the framework a fix is
    written for; a Keras ``History`` as ``losses`` says keras.
    """
    settings = _read_settings(x, y, lr, epochs, w0, b0, reduction, "check_fit") + (reduction,)
    lines = _judge_fit(w, b, losses, settings, subject="", check="check_fit", style=_style_for(losses, style))
    if lines:
        _fail_with(lines)


def _function_name(fit) -> str:
    """The learner's name for its function (``fit_torch``), read as data; ``fit`` when it has none."""
    try:
        name = getattr(fit, "__name__", None)
    except Exception:
        name = None
    return name if isinstance(name, str) and name.isidentifier() and len(name) <= 40 else "fit"


def check_fit_function(fit, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean", framework="numpy",
                       style=None):
    """Call the learner's ``fit(x, y, lr, epochs, w0, b0) -> (w, b, losses)`` and check what it returns.

    ``reduction`` is the loss the exercise's ``fit`` is meant to use.  A wrong
    answer is diagnosed by calling ``fit`` again on short runs (see
    :mod:`course.checks.probing`).  ``style`` (numpy, torch, optim, keras, tf)
    picks the framework a fix is written for; by default the function's name
    says it (``fit_keras`` → keras), else ``framework``.
    """
    _check_framework(framework)
    settings = _read_settings(x, y, lr, epochs, w0, b0, reduction, "check_fit_function") + (reduction,)
    xs, ys, lr_value, epochs_value, w0_value, b0_value, _ = settings
    name = _function_name(fit)
    style = style if style in STYLES else style_of(name, framework)
    arguments_text = f"x, y, lr={lr_value:g}, epochs={epochs_value}, w0={w0_value:g}, b0={b0_value:g}"
    result, warned = _call(fit, name, arguments_text, to_framework(xs, framework), to_framework(ys, framework),
                           lr_value, epochs_value, w0_value, b0_value)
    w, b, losses = _unpack(result, 3, f"{name}({arguments_text})", "(w, b, losses)")
    if _is_history(losses):
        found = [Diagnosis("history_object", {})]
        _fail_with(_verdict([f"{name}({arguments_text}) returned a Keras History as losses, not the list of "
                             f"losses."], found, style=style), warned)

    def probe(reference, tol):
        return probe_fit(fit, framework=framework, style=style, xs=xs, ys=ys, lr=lr_value, epochs=epochs_value,
                         w0=w0_value, b0=b0_value, reduction=reduction, tol=tol)

    lines = _judge_fit(w, b, losses, settings, subject=f"{name}({arguments_text}) returned: ",
                       check="check_fit_function", style=style, probe=probe)
    if lines:
        _fail_with(lines, warned)
