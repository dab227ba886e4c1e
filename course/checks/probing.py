"""Probe a learner's wrong ``fit``: call it again on short runs and read what each update does.

Only a fit that already failed is probed.  Every probe is a plain call on the
learner's function with data arguments (``epochs`` = 1, 2, 3 from the
exercise's start, ``epochs`` = 1 from a second start, and the first call
once more to see whether the function is deterministic), so it works the same
through a proxy of a function that lives in another process.  A probe that
raises or returns something unreadable ends the probing quietly: the verdict
then rests on the exercise's own call.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import AssertionError, Exception, bool, dict, float, len, round

from numpy import median as _median

from ..convert import to_array, to_float, to_framework
from ..mistakes.catalog import Diagnosis
from ..mistakes.matching import values_match
from ..mistakes.steps import diagnose_steps, first_step_text
from .common import _unpack

_PROBE_EPOCHS = (1, 2, 3)


def _one(fit, framework, xs, ys, lr, epochs, w0, b0):
    """``(w, b, loss count)`` of one probe call, ``None`` if it raised or returned something unreadable."""
    from warnings import catch_warnings, simplefilter

    try:
        with catch_warnings():
            simplefilter("ignore")
            result = fit(to_framework(xs, framework), to_framework(ys, framework), lr, epochs, w0, b0)
        w, b, losses = _unpack(result, 3, "probe", "(w, b, losses)")
        count = None
        if losses is not None:
            try:
                count = len(to_array(losses, "losses"))
            except AssertionError:
                count = None
        return to_float(w, "w"), to_float(b, "b"), count
    except (AssertionError, Exception):
        return None


def second_start(xs, w0, b0):
    """A start where about half the predictions are positive (a ReLU then cuts some, not all)."""
    return 1.0, -round(float(_median(xs)), 3) + 0.25


def probe_fit(fit, *, framework, style, xs, ys, lr, epochs, w0, b0, reduction, tol):
    """``(diagnoses, what_is_right)`` from short probe runs of ``fit`` (both empty when probing fails)."""
    probes = {}
    for k in _PROBE_EPOCHS:
        got = _one(fit, framework, xs, ys, lr, k, w0, b0)
        if got is None:
            return [], ""
        probes[("main", k)] = got
    alt = second_start(xs, w0, b0)
    got = _one(fit, framework, xs, ys, lr, 1, *alt)
    if got is not None:
        probes[("alt", 1)] = got
    again = _one(fit, framework, xs, ys, lr, 1, w0, b0)
    if again is not None:
        first = probes[("main", 1)]
        same = values_match([again[0], again[1]], [first[0], first[1]], tol.param_atol * 1e-2, tol.param_limit)[0]
        if not bool(same.all()):
            n = len(xs)
            if style == "keras":
                return [Diagnosis("shuffled_minibatches", dict(batch_size=f"fewer than {n}", batches="several",
                                                                n=n))], ""
            return [], ("Your function gives different w and b on two identical calls (epochs=1, same start): "
                        "something in it is random.")
    settings = dict(x=xs, y=ys, lr=lr, w0=w0, b0=b0, reduction=reduction, tol=tol)
    found = diagnose_steps(probes, alt_start=alt, epochs=epochs, style=style, **settings)
    return found, ("" if found else first_step_text(probes, **settings))

