"""Checks of what ``Model.fit`` does with ``batch_size`` (notebook 4, Exercise 3): the number of updates one
epoch makes (:func:`check_updates_per_epoch`) and a ``batch_size`` that makes ``fit`` full-batch gradient
descent (:func:`check_full_batch_size`).

The expected counts are measured, not typed in: a real ``fit`` counts the batches it feeds a model
(:func:`course.defaults.keras_fit_batches`).  A wrong count is named when the learner's function agrees,
at every batch size tried, with one known slip: rounding down (the last, smaller batch left out), a
fraction, rounding to the nearest, one batch too many, one update per point or per epoch, or
``batch_size=None`` read as one full batch.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import (
    Exception, abs, all, any, bool, dict, int, isinstance, len, max, print, round, str, tuple,
)

from ..convert import describe, fail, to_float
from ..mistakes import Diagnosis
from .common import _fmt, _verdict, _fail_with, _call


_MEASURED: dict = {}  # (n, batch_size) -> the batches a real fit fed: measured once per session


def _measured(n, batch_sizes):
    from ..defaults import keras_fit_batches

    new = tuple(size for size in batch_sizes if (n, size) not in _MEASURED)
    if new:
        for size, batches in keras_fit_batches(n, new).items():
            _MEASURED[(n, size)] = batches
    return {size: list(_MEASURED[(n, size)]) for size in batch_sizes}


def _ceil_div(n, size):
    return -(-n // size)


def _slip_counts(n, size, default):
    """``mistake_id -> (count, details)`` of each known slip for ``n`` points and ``batch_size=size``."""
    used = default if size is None else size
    return {
        "floor_batches": n // used,
        "not_whole": n / used,
        "rounded_batches": round(n / used),
        "extra_batch": n // used + 1,
        "one_per_sample": n,
        "full_batch_count": 1,
        "none_as_full_batch": 1 if size is None else _ceil_div(n, size),
    }


def _count(value, call_text):
    """The learner's count as a float (a whole float such as 4.0 is a count too)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        fail(f"{call_text} should return a number of updates, but returned {describe(value)}.")
    return to_float(value, call_text)


def check_updates_per_epoch(updates_per_epoch, *, n, batch_sizes=(None, 10, 60, 250)):
    """Check ``updates_per_epoch(n, batch_size)``: the updates one epoch of ``fit(..., batch_size=…)`` makes on
    ``n`` points, against the batches a real ``fit`` feeds a model for each of ``batch_sizes``."""
    n = int(n)
    measured = _measured(n, batch_sizes)
    default = max(measured[None]) if None in measured else max(_measured(n, (None,))[None])
    received, warned_all = {}, []
    for size in batch_sizes:
        text = f"{n}, {size}"
        result, warned = _call(updates_per_epoch, "updates_per_epoch", text, n, size)
        warned_all += warned
        received[size] = _count(result, f"updates_per_epoch({text})")
    wrong = [size for size in batch_sizes if received[size] != len(measured[size])]
    if not wrong:
        shown = ", ".join(f"{'None' if s is None else s} → {int(received[s])}" for s in batch_sizes)
        print(f"✓ updates_per_epoch({n}, batch_size): {shown}, the batches a real fit made.")
        return
    size = wrong[0]
    batches = measured[size]
    shown_batches = f"{batches}" if len(batches) <= 6 else f"[{batches[0]}, {batches[1]}, …, {batches[-1]}]"
    lines = [f"updates_per_epoch({n}, {size}) is wrong: expected {len(batches)} (a real fit on {n} points fed "
             f"{len(batches)} batches: {shown_batches}), received {_fmt(received[size])}."]
    found = []
    for mistake_id in _slip_counts(n, None, default):
        values = {s: _slip_counts(n, s, default)[mistake_id] for s in batch_sizes}
        agrees = all(abs(received[s] - values[s]) <= 1e-9 * max(abs(values[s]), 1.0) for s in batch_sizes)
        if agrees and any(values[s] != len(measured[s]) for s in batch_sizes):
            found.append(Diagnosis(mistake_id, dict(received=_fmt(received[size]), n=n, batch=default)))
    _fail_with(_verdict(lines, found, "One epoch makes one update per batch: fit cuts the n points into batches of "
                        "batch_size (32 when it is None), and the last batch holds whatever is left over.",
                        style="keras"), warned_all)


def check_full_batch_size(full_batch_size, *, n):
    """Check ``full_batch_size``: a ``batch_size`` with which ``fit`` on ``n`` points makes one batch of every
    point (full-batch gradient descent).  Any whole number ≥ n is right; a real ``fit`` confirms it."""
    n = int(n)
    name = "full_batch_size"
    if full_batch_size is None:
        default = _measured(n, (None,))[None]
        found = [Diagnosis("batch_size_default", dict(n=n, batches=len(default), batch=max(default)))]
        _fail_with(_verdict([f"{name} = None: fit then fed {len(default)} batches of at most {max(default)} "
                             f"points per epoch on these {n} points, not one."], found, style="keras"))
    if isinstance(full_batch_size, bool) or isinstance(full_batch_size, str):
        fail(f"{name} should be a whole number of points, but received {describe(full_batch_size)}.")
    try:
        size = int(full_batch_size.__index__())
    except Exception:
        value = to_float(full_batch_size, name)
        if 0 < value <= 1:
            found = [Diagnosis("batch_fraction", dict(received=repr(value), n=n))]
            _fail_with(_verdict([f"{name} = {value!r} is a fraction; batch_size counts points."], found,
                                style="keras"))
        fail(f"{name} = {value!r} is a float: fit refuses a float batch_size (TypeError). "
             f"Give it the number of points as an int, such as len(x).")
    if size < 1:
        fail(f"{name} = {size}: a batch needs at least one point.")
    if size >= n:
        batches = _measured(n, (size,))[size]
        if batches == [n]:
            print(f"✓ {name} = {size}: fit fed one batch of all {n} points per epoch — full-batch gradient descent.")
            return
        fail(f"{name} = {size}: fit fed the batches {batches} per epoch, not one batch of all {n} points.")
    batches = _ceil_div(n, size)
    last = n - (batches - 1) * size
    line = (f"{name} = {size} cuts the {n} points into {batches} batches (the last holds {last}): "
            f"{batches} updates per epoch, not one.")
    default = max(_measured(n, (None,))[None])
    if size == 1:
        found = [Diagnosis("batch_size_one", dict(n=n))]
    elif size == default:
        found = [Diagnosis("batch_size_default", dict(n=n, batches=batches, batch=default))]
    else:
        found = [Diagnosis("batch_too_small", dict(n=n, batches=batches, batch_size=size, last=last))]
    _fail_with(_verdict([line], found, style="keras"))


__all__ = ["check_updates_per_epoch", "check_full_batch_size"]
