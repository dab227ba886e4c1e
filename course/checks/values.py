"""Checks of "predict the number" exercises: a number the learner worked out, against code's."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    abs, bool, dict, float, getattr, int, isinstance, len, max, min, print, type,
)

from numpy import abs as _np_abs
from numpy import all as _np_all
from numpy import argmin as _argmin
from numpy import asarray as _asarray
from numpy import errstate as _errstate
from numpy import generic as _np_generic
from numpy import isfinite as _isfinite
from numpy import round as _np_round

from ..convert import fail, to_array, to_float
from ..mistakes import RTOL, Diagnosis
from .common import (
    _fmt, _verdict,
)


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


def _style_of_value(value) -> str:
    """The framework a learner's number came from (a tf or torch tensor), for the fix's wording."""
    module = getattr(type(value), "__module__", "") or ""
    return "tf" if module.startswith(("tensorflow", "keras")) else "torch" if module.startswith("torch") else "numpy"


def _is_whole_count(expected_values, received_values) -> bool:
    """A whole-number answer (a count) received as a fraction within 1 of it (``100 / 32`` for 4)."""
    with _errstate(invalid="ignore"):
        whole = _np_all(_isfinite(expected_values)) and _np_all(expected_values == _np_round(expected_values))
        fraction = _np_all(_isfinite(received_values)) and not _np_all(received_values == _np_round(received_values))
        near = _np_all(_np_abs(received_values - expected_values) < 1.0)
    return bool(whole and fraction and near)


def check_value(received, expected, *, name, rtol=RTOL, digits=None, slips=(), whole=False, style=None):
    """Check a number (or array) the learner worked out against one computed by code.

    ``digits``: the exercise asks for a hand-computed number to at least this many
    significant digits; a value rounded (or cut) to that many passes, a close one with
    fewer is told "close — give at least N significant digits".  ``slips``: the classic
    wrong numbers of the exercise, ``(mistake_id, value)`` or ``(mistake_id, value,
    details)``; a received value that matches one is named.  ``whole``: the answer is a count,
    and a fraction near it (``100 / 32`` for 4) is named as not a whole number.
    ``style``: the framework whose words the fix uses (numpy, torch, optim…; default: the
    received value's own).
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
    if whole and not found and _is_whole_count(expected_values, received_values):
        found.append(Diagnosis("not_whole", dict(received=_fmt(received_values[first]))))
    if found:
        fail("\n".join(_verdict([line], found, style=style or _style_of_value(received))))
    if digits:
        # Right to the digits given, but fewer than asked for: say how precise it must be.
        given = min(_significant_digits(v) for v in received_values)
        coarse = close_to(expected_values, tolerance_digits=max(min(given, digits - 1), 1))
        if given < digits and _np_all(coarse):
            fail(f"{name}{where} is close, but too rounded: expected {_fmt(expected_values[first])}, received "
                 f"{_fmt(received_values[first])}. Close — give at least {digits} significant digits.")
    fail(line)
