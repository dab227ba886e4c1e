"""The checks the notebooks' test cells call: right answers get one line, wrong ones a named mistake.

Every check compares a learner's numbers with :mod:`course.reference` run
on the same inputs, accepts the number in whatever form the learner holds
it (see :mod:`course.convert`) and, on a wrong answer, raises
``AssertionError`` with what was expected, what was received and, when the
values match a known mistake (see :mod:`course.mistakes`), its name and the
fix.  The message then ends with a line ``[mistake: <id>, …]`` that the
autograder's report reads back with :func:`mistake_ids`.

Learner functions are called with the inputs their notebook works with:
``framework="numpy"`` (float32 arrays, Python floats), ``"torch"`` (float32
tensors, ``requires_grad`` on request) or ``"tf"`` (``tf.constant`` data and
``tf.Variable`` parameters).
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    Exception, NotImplementedError, ValueError, abs, all, callable, dict, enumerate,
    float, int, isinstance, len, list, max, min, print, range, round, str, tuple, type,
)
from dataclasses import dataclass
import re as _re
from warnings import catch_warnings as _catch_warnings
from warnings import simplefilter as _simplefilter

from numpy import abs as _np_abs
from numpy import all as _np_all
from numpy import argmin as _argmin
from numpy import asarray as _asarray
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import generic as _np_generic
from numpy import isfinite as _isfinite
from numpy import sqrt as _sqrt
from numpy.random import default_rng as _default_rng

from .convert import describe, fail, to_array, to_float, to_framework
from .data import make_line as _make_line
from .defaults import keras_kernel_limit as _keras_kernel_limit
from .mistakes import MISTAKES, RTOL, Diagnosis, diagnose, find_mistakes, tolerance_for, values_match
from .reference import fit_numpy as _fit_numpy
from .reference import gradients as _gradients
from .reference import REDUCTIONS as _REDUCTIONS

__all__ = [
    "check_fit", "check_fit_function", "check_predict", "check_mse", "check_gradients", "check_step",
    "check_glorot_limit", "check_value", "diagnose", "mistake_ids", "exercise_data", "Exercise", "MISTAKES",
]

FRAMEWORKS = ("numpy", "torch", "tf")
_DIGITS = 5  # significant digits of the numbers a message shows
_EXERCISE_POINTS = 7  # points in a function check's data: odd and > 2, so ×n never looks like ×2
_MISTAKE_LINE = _re.compile(r"^\[mistake: ([a-z0-9_, ]+)\]$", _re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# Wording.


def _fmt(value, other=None) -> str:
    """``value`` to 5 significant digits, more if that is what tells it apart from ``other``."""
    value = float(value)
    if not _isfinite(value):
        return str(value)
    text = f"{value:.{_DIGITS}g}"
    # Only a difference the check counts is worth more digits.
    if other is not None and _isfinite(other) and abs(value - float(other)) > RTOL * abs(float(other)):
        for digits in range(_DIGITS, 13):
            text = f"{value:.{digits}g}"
            if text != f"{float(other):.{digits}g}":
                break
    return "0" if text == "-0" else text


def _settings_text(lr, epochs, w0, b0, reduction) -> str:
    return f"lr={lr:g}, epochs={epochs}, w0={w0:g}, b0={b0:g}, reduction='{reduction}'"


_NO_MISTAKE_HINT = ("These values match none of the mistakes this check knows: compare your loop with "
                    "w ← w − lr·∂L/∂w and b ← b − lr·∂L/∂b, one update per epoch.")


def _mistake_lines(found, hint=None) -> list:
    """The explanation of the mistakes found (else the hint), and the machine-readable last line."""
    if not found:
        return [hint] if hint else []
    lines = [f"This matches a known mistake, {found[0].explain()}"]
    rest = found[1:]
    if found[0].id == "diverged" and rest:
        lines.append(f"The cause: {rest[0].explain()}")
        rest = rest[1:]
    if rest:
        lines.append("It is also consistent with: " + "; ".join(d.mistake.title for d in rest) + ".")
    lines.append(f"[mistake: {', '.join(d.id for d in found)}]")
    return lines


def mistake_ids(message) -> list:
    """The mistake ids named in a check's failure message (``[]`` if none): for the autograder's report."""
    match = _MISTAKE_LINE.search(str(message))
    return [part.strip() for part in match.group(1).split(",") if part.strip()] if match else []


def _fail_with(lines, warned=()):
    if warned:
        lines = list(lines)
        note = f"(While running, your code warned: {warned[0]})"
        # Keep the machine-readable mistake line last.
        if lines and _MISTAKE_LINE.match(lines[-1]):
            lines.insert(len(lines) - 1, note)
        else:
            lines.append(note)
    fail("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Inputs.


def _read_settings(x, y, lr, epochs, w0, b0, reduction, check):
    """The exercise's settings as plain numbers; ``AssertionError`` when they make no sense."""
    x_values, y_values = to_array(x, "x"), to_array(y, "y")
    lr_value = to_float(lr, "lr")
    if isinstance(epochs, float) and epochs == int(epochs):
        epochs = int(epochs)
    try:
        epochs_value = int(epochs.__index__())
    except Exception:
        fail(f"{check} needs a whole number of epochs, but received {describe(epochs)}.")
    w0_value, b0_value = to_float(w0, "w0"), to_float(b0, "b0")
    problem = None
    if x_values.size != y_values.size:
        problem = f"x and y hold different numbers of points ({x_values.size} and {y_values.size})"
    elif x_values.size == 0:
        problem = "x and y are empty"
    elif not (_np_all(_isfinite(x_values)) and _np_all(_isfinite(y_values))):
        problem = "x or y holds NaN or inf"
    elif not (_isfinite(lr_value) and lr_value > 0):
        problem = f"lr must be a positive number, got {lr_value!r}"
    elif epochs_value < 0:
        problem = f"epochs must be 0 or more, got {epochs_value}"
    elif not (_isfinite(w0_value) and _isfinite(b0_value)):
        problem = "w0 and b0 must be finite"
    elif reduction not in _REDUCTIONS:
        problem = f"reduction must be 'mean' or 'sum', got {reduction!r}"
    if problem:
        fail(f"{check} cannot run: {problem}.")
    return x_values, y_values, lr_value, epochs_value, w0_value, b0_value


def _call(function, name, arguments_text, *arguments):
    """Call a learner's function; its exceptions become messages.  Returns ``(result, warnings)``."""
    if not callable(function):
        fail(f"{name} should be a function, but received {describe(function)}.")
    with _catch_warnings(record=True) as caught:
        # Recorded, not printed: nbgrader scores a test cell 0 when it writes to stderr.
        _simplefilter("always")
        try:
            result = function(*arguments)
        except NotImplementedError:
            fail(f"You have not written {name} yet (the cell still raises NotImplementedError).")
        except Exception as error:
            fail(f"Calling {name}({arguments_text}) raised {type(error).__name__}: {error}", learner_error=error)
    warned = [f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught]
    return result, warned


def _unpack(result, count, call_text, names):
    if isinstance(result, (tuple, list)) and len(result) == count:
        return list(result)
    # The same numbers in one array or tensor of shape (count,): np.array([dw, db]), torch.stack(...).
    shape = getattr(result, "shape", None)
    if shape is not None and not isinstance(result, (str, bytes)):
        try:
            dims = tuple(int(d) for d in shape)
        except Exception:
            dims = ()
        if dims == (count,) or (count > 1 and len(dims) == 2 and count in dims and 1 in dims):
            values = to_array(result, call_text)
            return [float(v) for v in values]
    fail(f"{call_text} should return {names}, but returned {describe(result)}.")


def _check_framework(framework):
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")


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


# ---------------------------------------------------------------------------------------------
# The small functions: predict, mse, gradients, step.


@dataclass(frozen=True)
class Exercise:
    """The inputs of a function check: a noisy line ``x, y`` (float32 values), a point ``(w, b)``, an lr."""

    x: object
    y: object
    w: float
    b: float
    lr: float

    @property
    def n(self) -> int:
        return int(self.x.size)

    @property
    def y_pred(self):
        return self.w * self.x + self.b


def exercise_data(seed: int = 0) -> Exercise:
    """The fresh inputs the function checks use for ``seed``.

    ``seed=0`` is what the visible test cells use; hidden tests pass other
    seeds so that a number copied from the visible output cannot pass.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    rng = _default_rng(seed)
    line_w, line_b = rng.uniform(1.0, 3.0) * rng.choice([-1.0, 1.0]), rng.uniform(-2.0, 2.0)
    line = _make_line(_EXERCISE_POINTS, w=line_w, b=line_b, noise=0.5, seed=seed, x_low=-2.0, x_high=3.0)
    # A point clearly off the line, with w and b far apart, so that every named mistake
    # (swapped, sign, factor 2, ×n) moves the answer far beyond the tolerance.
    while True:
        w, b = rng.uniform(-2.5, 2.5), rng.uniform(-2.5, 2.5)
        if min(abs(w), abs(b)) > 0.3 and abs(w - b) > 0.7 and abs(w - line_w) > 0.7:
            break
    # The learner's function gets float32 x, y: the expected values use exactly those numbers.
    return Exercise(x=_asarray(line.x, dtype=_float64), y=_asarray(line.y, dtype=_float64),
                    w=round(float(w), 3), b=round(float(b), 3), lr=round(float(rng.uniform(0.02, 0.08)), 3))


def _inputs(ex, framework, requires_grad):
    """``x, y, w, b`` of an exercise as the learner's framework holds them."""
    x = to_framework(ex.x, framework)
    y = to_framework(ex.y, framework)
    w = to_framework(ex.w, framework, variable=True, requires_grad=requires_grad)
    b = to_framework(ex.b, framework, variable=True, requires_grad=requires_grad)
    return x, y, w, b


def _judge_numbers(received, expected, candidates, *, scale):
    """Compare ``received`` with ``expected`` (same shapes); a diagnosis if a candidate matches."""
    atol = RTOL * max(scale, 1e-12)
    limit = 1e8 * max(scale, 1e-12)
    same = values_match(received, expected, atol, limit)[0]
    if _np_all(same):
        return None
    found = []
    for mistake_id, values, details in candidates:
        cand_same, informative = values_match(received, values, atol, limit)
        if _np_all(cand_same) and bool((informative & ~same).any()):
            found.append(Diagnosis(mistake_id, details))
    return found


def check_predict(predict, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``predict(x, w, b)`` returns ``w·x + b`` for every x."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"predict(x, w={ex.w:g}, b={ex.b:g})"
    x, _, w, b = _inputs(ex, framework, requires_grad)
    result, warned = _call(predict, "predict", f"x, w={ex.w:g}, b={ex.b:g}", x, w, b)
    received = to_array(result, call_text)
    expected = ex.y_pred
    if received.size != expected.size:
        _fail_with([f"{call_text} should return one prediction per point of x ({expected.size}), "
                    f"but returned {received.size} value{'s' if received.size != 1 else ''}."], warned)
    found = _judge_numbers(received, expected, [("swapped", ex.b * ex.x + ex.w, {})],
                           scale=float(_np_abs(expected).max()))
    if found is None:
        print(f"✓ predict is right on {ex.n} points (seed {seed}).")
        return
    same = values_match(received, expected, RTOL * float(_np_abs(expected).max()), 1e300)[0]
    first = int(_argmin(same))
    _fail_with([f"{call_text} is wrong at x = {_fmt(ex.x[first])}: expected {_fmt(expected[first], received[first])}, "
                f"received {_fmt(received[first], expected[first])} (the prediction is w·x + b)."]
               + _mistake_lines(found), warned)


def check_mse(mse, *, seed=0, framework="numpy"):
    """Check ``mse(y_pred, y)`` returns the mean of the squared errors."""
    _check_framework(framework)
    ex = exercise_data(seed)
    y_pred, y = ex.y_pred, ex.y
    result, warned = _call(mse, "mse", "y_pred, y", to_framework(y_pred, framework), to_framework(y, framework))
    received = to_float(result, "mse(y_pred, y)")
    errors = y_pred - y
    expected = float((errors * errors).mean())
    candidates = [
        ("sum_reduction", float((errors * errors).sum()), dict(n=ex.n)),
        ("rmse", float(_sqrt(expected)), {}),
        ("abs_error", float(_np_abs(errors).mean()), {}),
        ("half_loss", 0.5 * expected, {}),
    ]
    found = _judge_numbers(received, expected, candidates, scale=abs(expected))
    if found is None:
        print(f"✓ mse is right (seed {seed}).")
        return
    _fail_with([f"mse(y_pred, y) is wrong on {ex.n} points: expected {_fmt(expected, received)}, "
                f"received {_fmt(received, expected)} (the mean of (y_pred − y)²)."]
               + _mistake_lines(found), warned)


def check_gradients(gradients, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``gradients(x, y, w, b) -> (dw, db)`` of the mean squared error."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"gradients(x, y, w={ex.w:g}, b={ex.b:g})"
    result, warned = _call(gradients, "gradients", f"x, y, w={ex.w:g}, b={ex.b:g}",
                           *_inputs(ex, framework, requires_grad))
    dw, db = _unpack(result, 2, call_text, "(dw, db)")
    received = _asarray([to_float(dw, f"{call_text}'s dw"), to_float(db, f"{call_text}'s db")])
    expected = _asarray(_gradients(ex.w, ex.b, ex.x, ex.y, "mean"), dtype=_float64)
    candidates = [
        ("sum_reduction", expected * ex.n, dict(n=ex.n)),
        ("grad_x2", expected * 2.0, {}),
        ("grad_half", expected * 0.5, {}),
        ("sign_flip", -expected, {}),
        ("swapped", expected[::-1].copy(), {}),
    ]
    found = _judge_numbers(received, expected, candidates, scale=float(_np_abs(expected).max()))
    if found is None:
        print(f"✓ gradients is right (seed {seed}).")
        return
    _fail_with([f"{call_text} is wrong: expected dw = {_fmt(expected[0], received[0])} and "
                f"db = {_fmt(expected[1], received[1])}, received dw = {_fmt(received[0], expected[0])} and "
                f"db = {_fmt(received[1], expected[1])} (the gradient of the mean squared error)."]
               + _mistake_lines(found), warned)


def check_step(step, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``step(x, y, w, b, lr) -> (w_new, b_new)``: one gradient-descent update on the MSE."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"step(x, y, w={ex.w:g}, b={ex.b:g}, lr={ex.lr:g})"
    x, y, w, b = _inputs(ex, framework, requires_grad)
    result, warned = _call(step, "step", f"x, y, w={ex.w:g}, b={ex.b:g}, lr={ex.lr:g}", x, y, w, b, ex.lr)
    w_new, b_new = _unpack(result, 2, call_text, "(w_new, b_new)")
    received = _asarray([to_float(w_new, f"{call_text}'s w_new"), to_float(b_new, f"{call_text}'s b_new")])
    grad = _asarray(_gradients(ex.w, ex.b, ex.x, ex.y, "mean"), dtype=_float64)
    start = _asarray([ex.w, ex.b])
    expected = start - ex.lr * grad
    candidates = [
        ("sign_flip", start + ex.lr * grad, {}),
        ("sum_reduction", start - ex.lr * ex.n * grad, dict(n=ex.n)),
        ("grad_x2", start - 2.0 * ex.lr * grad, {}),
        ("grad_half", start - 0.5 * ex.lr * grad, {}),
        ("only_w", _asarray([expected[0], ex.b]), dict(b0=ex.b)),
        ("only_b", _asarray([ex.w, expected[1]]), dict(w0=ex.w)),
        ("swapped", expected[::-1].copy(), {}),
        ("no_update", start, dict(w0=ex.w, b0=ex.b)),
    ]
    # One step with a different learning rate: both parameters moved by the same multiple of lr.
    with _errstate(divide="ignore", invalid="ignore"):
        used = (start - received) / grad
    # (Multiples ×2, ×½, ×n of lr are the named mistakes above, not a stray learning rate.)
    named = [2.0 * ex.lr, 0.5 * ex.lr, ex.n * ex.lr]
    if (_np_all(_isfinite(used)) and used[0] > 0 and abs(used[0] - used[1]) <= 1e-3 * abs(used[0])
            and all(abs(used[0] - value) > 1e-3 * value for value in named)):
        candidates.append(("wrong_lr", start - used.mean() * grad, dict(lr_used=float(used.mean()), lr=ex.lr)))
    scale = float(max(_np_abs(start).max(), _np_abs(expected).max()))
    found = _judge_numbers(received, expected, candidates, scale=scale)
    if found is None:
        print(f"✓ step is right (seed {seed}).")
        return
    _fail_with([f"{call_text} is wrong: expected w_new = {_fmt(expected[0], received[0])} and "
                f"b_new = {_fmt(expected[1], received[1])}, received w_new = {_fmt(received[0], expected[0])} and "
                f"b_new = {_fmt(received[1], expected[1])} (one update: w − lr·dw, b − lr·db)."]
               + _mistake_lines(found), warned)


def check_glorot_limit(glorot_limit, *, fans=((1, 1), (4, 2))):
    """Check ``glorot_limit(fan_in, fan_out)``: the half-width of the range Keras's Dense draws its kernel from.

    Expected values are read from Keras's own default initialiser
    (:func:`course.defaults.keras_kernel_limit`).  A wrong answer is named
    when it matches one known mistake at every ``(fan_in, fan_out)`` tried.
    """
    received, expected = [], []
    warned_all = []
    for fan_in, fan_out in fans:
        call_text = f"glorot_limit({fan_in}, {fan_out})"
        result, warned = _call(glorot_limit, "glorot_limit", f"{fan_in}, {fan_out}", int(fan_in), int(fan_out))
        warned_all += warned
        received.append(to_float(result, call_text))
        expected.append(_keras_kernel_limit(fan_in, fan_out))
    candidates = {
        "glorot_variance": [2.0 / (i + o) for i, o in fans],
        "glorot_std": [float(_sqrt(2.0 / (i + o))) for i, o in fans],
        "glorot_no_sqrt": [6.0 / (i + o) for i, o in fans],
        "glorot_full_width": [2.0 * float(_sqrt(6.0 / (i + o))) for i, o in fans],
        "torch_linear_bound": [1.0 / float(_sqrt(i)) for i, o in fans],
    }
    for formula, factor in (("√(3 / fan_in)", 3.0), ("√(6 / fan_in)", 6.0)):
        candidates[f"glorot_fan_in:{formula}"] = [float(_sqrt(factor / i)) for i, o in fans]

    def close(values, targets):
        return all(abs(v - t) <= RTOL * abs(t) for v, t in zip(values, targets))

    if close(received, expected):
        shown = ", ".join(f"glorot_limit({i}, {o}) = {_fmt(v)}" for (i, o), v in zip(fans, received))
        print(f"✓ {shown}: the range Keras's GlorotUniform draws from.")
        return
    first = next(k for k, (v, t) in enumerate(zip(received, expected)) if abs(v - t) > RTOL * abs(t))
    fan_in, fan_out = fans[first]
    lines = [f"glorot_limit({fan_in}, {fan_out}) is wrong: expected {_fmt(expected[first], received[first])}, "
             f"received {_fmt(received[first], expected[first])} (Keras's Dense draws its kernel uniformly "
             f"from [−limit, limit])."]
    found = []
    for key, values in candidates.items():
        if close(received, values) and not close(values, expected):
            mistake_id, _, formula = key.partition(":")
            found.append(Diagnosis(mistake_id, dict(formula=formula) if formula else {}))
    _fail_with(lines + _mistake_lines(found, "A uniform distribution on [−ℓ, ℓ] has variance ℓ²/3, and Glorot "
                                      "sets the variance to 2 / (fan_in + fan_out)."), warned_all)


# ---------------------------------------------------------------------------------------------
# "Predict the number" exercises.


def _is_scalar(value) -> bool:
    return isinstance(value, (int, float, _np_generic)) or (getattr(value, "shape", None) == ())


def _digits_tolerance(expected_values, digits):
    """One unit in the ``digits``-th significant digit of each expected value (so a value rounded
    or cut to ``digits`` significant digits passes)."""
    from numpy import floor as _floor
    from numpy import log10 as _log10
    from numpy import maximum as _maximum

    with _errstate(divide="ignore", invalid="ignore"):
        magnitude = _floor(_log10(_np_abs(expected_values)))
    magnitude = _asarray([m if _isfinite(m) else -12.0 for m in magnitude])
    return _maximum(10.0 ** (magnitude - digits + 1), 0.0)


def _significant_digits(value) -> int:
    """How many significant digits a hand-typed number carries (``15.67`` → 4, ``94`` → 2)."""
    text = f"{abs(float(value)):.12g}"
    if "e" in text:
        text = text.split("e")[0]
    digits = text.replace(".", "").lstrip("0")
    return max(len(digits.rstrip("0")) if "." not in text else len(digits), 1)


def check_value(received, expected, *, name, rtol=RTOL, digits=None, slips=()):
    """Check a number (or array) the learner worked out against one computed by code.

    ``digits``: the exercise asks for a hand-computed number to at least this many
    significant digits; a value rounded (or cut) to that many passes, a close one with
    fewer is told "close — give at least N significant digits".  ``slips``: the classic
    wrong numbers of the exercise, ``(mistake_id, value)`` or ``(mistake_id, value,
    details)``; a received value that matches one is named.
    """
    # A lone number (Python or NumPy scalar, 0-d array) becomes a one-element array.
    expected_values = to_array([to_float(expected, "expected")] if _is_scalar(expected) else expected, "expected")
    if expected_values.size == 1:
        received_values = _asarray([to_float(received, name)])
    else:
        received_values = to_array(received, name)
        if received_values.size != expected_values.size:
            fail(f"{name} should hold {expected_values.size} numbers, but received {received_values.size}.")

    def close_to(values, tolerance_digits=digits):
        with _errstate(invalid="ignore", over="ignore"):
            scale = float(_np_abs(values[_isfinite(values)]).max(initial=0.0))
            slack = rtol * _np_abs(values) + rtol * 1e-3 * scale
            if tolerance_digits:
                slack = slack + _digits_tolerance(values, tolerance_digits) * (1 + 1e-9)
            return (_np_abs(received_values - values) <= slack) | (received_values == values)

    ok = close_to(expected_values)
    if _np_all(ok):
        shown = _fmt(received_values[0]) if received_values.size == 1 else f"all {received_values.size} values"
        print(f"✓ {name} = {shown} is right." if received_values.size == 1 else f"✓ {name}: {shown} are right.")
        return
    first = int(_argmin(ok))
    where = f"[{first}]" if expected_values.size > 1 else ""
    line = (f"{name}{where} is wrong: expected {_fmt(expected_values[first], received_values[first])}, "
            f"received {_fmt(received_values[first], expected_values[first])}.")
    found = []
    for slip in slips:
        mistake_id, value = slip[0], slip[1]
        details = slip[2] if len(slip) > 2 else {}
        values = to_array([to_float(value, mistake_id)] if _is_scalar(value) else value, mistake_id)
        if values.size == expected_values.size and _np_all(close_to(values)) and not _np_all(close_to(expected_values)):
            if not any(d.id == mistake_id for d in found):
                found.append(Diagnosis(mistake_id, dict(details)))
    if found:
        fail("\n".join([line] + _mistake_lines(found)))
    if digits:
        # Right to the digits given, but fewer than asked for: say how precise it must be.
        given = min(_significant_digits(v) for v in received_values)
        coarse = close_to(expected_values, tolerance_digits=max(min(given, digits - 1), 1))
        if given < digits and _np_all(coarse):
            fail(f"{name}{where} is close, but too rounded: expected {_fmt(expected_values[first])}, received "
                 f"{_fmt(received_values[first])}. Close — give at least {digits} significant digits.")
    fail(line)
