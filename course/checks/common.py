"""What every check shares: the wording of verdicts and mistakes, and reading the learner's inputs
and calls."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    Exception, NotImplementedError, ValueError, abs, callable, float, int, isinstance, len, list,
    range, str, tuple, type,
)
import re as _re
from warnings import catch_warnings as _catch_warnings
from warnings import simplefilter as _simplefilter

from numpy import all as _np_all
from numpy import isfinite as _isfinite

from ..convert import describe, fail, to_array, to_float
from ..mistakes import RTOL
from ..reference import REDUCTIONS as _REDUCTIONS


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


def _sentence(text: str) -> str:
    """``text`` as a sentence: a capital (unless it starts with a name from code: b, backward()…) and a stop."""
    word = text.split(" ", 1)[0]
    if len(word) > 1 and word.isalpha() and word.islower():
        text = text[:1].upper() + text[1:]
    return text + ("" if text.endswith(".") else ".")


def _mistake_lines(found, hint=None, style="numpy") -> list:
    """The named mistake and its fix first (then why), or ``hint``; the machine-readable line comes last.

    Use :func:`_verdict` to put a check's numbers between the two.
    """
    head, tail = _named_parts(found, style)
    return head + tail if found else ([hint] if hint else [])


def _named_parts(found, style):
    """``(lines that open the verdict, lines that close it)`` for the mistakes ``found``."""
    if not found:
        return [], []
    first, rest = found[0], list(found[1:])
    if first.id == "diverged" and rest:
        cause = rest.pop(0)
        bound = first.details.get("bound")
        blew = ("The steps then grew until the numbers overflowed" +
                (f" (gradient descent on this data is stable only for lr < {bound:.5g})." if bound else "."))
        head = [f"This matches a known mistake, *{first.mistake.title}*. The cause: *{cause.mistake.title}*. "
                f"Fix: {cause.fix(style)}.", _sentence(cause.why()), blew]
    else:
        head = [f"This matches a known mistake, *{first.mistake.title}*. Fix: {first.fix(style)}.",
                _sentence(first.why())]
    tail = []
    if rest:
        tail.append("It is also consistent with: " + "; ".join(d.mistake.title for d in rest) + ".")
    tail.append(f"[mistake: {', '.join(d.id for d in found)}]")
    return head, tail


def _verdict(numbers, found, hint=None, style="numpy", extra=()) -> list:
    """A failed check's lines: the named mistake and fix first, then ``numbers`` (what was expected and
    received) and ``extra``; with nothing named, the numbers, ``extra`` and ``hint``."""
    head, tail = _named_parts(found, style)
    if found:
        return head + list(numbers) + list(extra) + tail
    return list(numbers) + list(extra) + ([hint] if hint else [])


def mistake_ids(message) -> list:
    """The mistake ids named in a check's failure message (``[]`` if none): for the autograder's report."""
    match = _MISTAKE_LINE.search(str(message))
    return [part.strip() for part in match.group(1).split(",") if part.strip()] if match else []


def _fail_with(lines, warned=()):
    if warned:
        lines = list(lines)
        first = warned[0] if len(warned[0]) <= 110 else warned[0][:107].rstrip() + "…"
        note = f"(While running, your code warned: {first})"
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
