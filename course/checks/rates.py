"""Checks of notebook 1's learning-rate exercise: which rates of a given list diverge."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``sorted``, ``print``…) can change a verdict.
from builtins import (
    abs, any, bool, dict, enumerate, float, frozenset, isinstance, len, list, print, range, set, sorted, tuple,
)

from numpy import bool_ as _np_bool

from ..convert import fail, to_array
from ..mistakes import RTOL, Diagnosis
from .common import _fmt, _verdict


def _rates_text(rates) -> str:
    return "[" + ", ".join(_fmt(rate) for rate in sorted(rates)) + "]"


def check_diverging(received, candidates, bound, *, name, slips=()):
    """Check the learning rates of ``candidates`` that the learner says diverge (any order).

    Gradient descent on the MSE diverges for ``lr > bound`` (``bound`` = 2 / λ_max).
    ``slips``: ``(mistake_id, wrong_bound)`` or ``(mistake_id, wrong_bound, details)``: a list
    that holds the rates above a wrong bound is named; a list of the rates at or below
    ``bound`` (the stable ones) is named ``stable_listed``.
    """
    candidates = [float(rate) for rate in candidates]
    if isinstance(received, (bool, _np_bool)) or (isinstance(received, (list, tuple))
                                                   and any(isinstance(v, (bool, _np_bool)) for v in received)):
        fail(f"{name} should be a list of learning rates taken from lr_candidates (the ones that diverge), "
             f"not True/False values.")
    values = to_array(list(received) if isinstance(received, (set, frozenset)) else received, name)
    chosen = set()
    for value in values:
        match = [i for i, rate in enumerate(candidates) if abs(value - rate) <= RTOL * abs(rate)]
        if not match:
            fail(f"{name} holds {_fmt(value)}, which is not one of lr_candidates "
                 f"{_rates_text(candidates)}: list the candidates that diverge.")
        chosen.add(match[0])

    def above(limit) -> set:
        return {i for i, rate in enumerate(candidates) if rate > limit}

    expected = above(bound)
    if chosen == expected:
        print(f"✓ {name} = {_rates_text(candidates[i] for i in chosen)} is right.")
        return
    line = (f"{name} is wrong: expected the rates above 2/λ_max = {_fmt(bound)}, "
            f"{_rates_text(candidates[i] for i in expected)}; received {_rates_text(candidates[i] for i in chosen)}.")
    found = []
    for slip in slips:
        mistake_id, limit = slip[0], float(slip[1])
        details = slip[2] if len(slip) > 2 else {}
        if above(limit) == chosen and not any(d.id == mistake_id for d in found):
            found.append(Diagnosis(mistake_id, dict(details)))
    if chosen == set(range(len(candidates))) - expected and chosen:
        found.append(Diagnosis("stable_listed", {}))
    if found:
        fail("\n".join(_verdict([line], found)))
    fail(line)


__all__ = ["check_diverging"]
