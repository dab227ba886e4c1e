"""When a learner's number counts as the same as a trajectory's (:func:`values_match`), and the
learner's numbers with their tolerance (``_Learner``)."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): a learner who rebinds
# a builtin or a NumPy function in their session cannot change a diagnosis.
from builtins import (
    Exception, abs, bool, float, len, max,
)
from dataclasses import dataclass

from numpy import abs as _np_abs
from numpy import any as _np_any
from numpy import all as _np_all
from numpy import asarray as _asarray
from numpy import concatenate as _concatenate
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import isfinite as _isfinite

from ..reference import closed_form as _closed_form
from .catalog import BLOWUP, LOSS_FLOOR, RTOL


# ---------------------------------------------------------------------------------------------
# Matching.


@dataclass(frozen=True)
class Tolerance:
    """How close a learner's number must be to count as the same (see RTOL, LOSS_FLOOR, BLOWUP)."""

    param_atol: float
    param_limit: float
    loss_atol: float
    loss_limit: float


def tolerance_for(x, y, reference, w0=0.0, b0=0.0, reduction="mean") -> Tolerance:
    """The tolerance for one exercise, scaled by the sizes its own numbers have."""
    y = _asarray(y, dtype=_float64).reshape(-1)
    # The sizes a healthy run's parameters have: its start and where it is heading (not the
    # reference's end point, which is astronomically large when the exercise asks to diverge).
    sizes = [abs(float(w0)), abs(float(b0))]
    try:
        sizes += [abs(value) for value in _closed_form(x, y) if _isfinite(value)]
    except Exception:  # a degenerate x (all equal) has no unique line: the start suffices
        pass
    param_scale = max(max(sizes), 1e-12)
    y_square = float((y * y).sum()) / (y.size if reduction == "mean" else 1)
    start_loss = float(reference.losses[0]) if len(reference.losses) and _isfinite(reference.losses[0]) else 0.0
    loss_scale = max(y_square, start_loss, 1e-300)
    # The blow-up limits never go below BLOWUP itself: on degenerate data (y all zero) the
    # natural scale is 0, and a plain wrong answer there is wrong, not "diverged".
    return Tolerance(
        param_atol=RTOL * param_scale,
        param_limit=BLOWUP * max(param_scale, 1.0),
        loss_atol=RTOL * LOSS_FLOOR * max(y_square, 1e-300),
        loss_limit=BLOWUP * BLOWUP * max(loss_scale, 1.0),
    )


def _blown(values, limit):
    with _errstate(invalid="ignore"):
        return ~_isfinite(values) | (_np_abs(values) > limit)


def values_match(received, expected, atol, limit):
    """Elementwise: ``(same, informative)``.

    Two numbers are the same when both are finite and within
    ``RTOL·|expected| + atol``, or when both blew up (NaN, inf or beyond
    ``limit``).  ``informative`` marks the finite, not blown-up comparisons:
    only those can tell two trajectories apart.
    """
    received = _asarray(received, dtype=_float64)
    expected = _asarray(expected, dtype=_float64)
    both_finite = _isfinite(received) & _isfinite(expected)
    with _errstate(invalid="ignore", over="ignore"):
        close = both_finite & (_np_abs(received - expected) <= RTOL * _np_abs(expected) + atol)
    blown_r, blown_e = _blown(received, limit), _blown(expected, limit)
    return close | (blown_r & blown_e), both_finite & ~blown_r & ~blown_e


class _Learner:
    """The learner's numbers and the tolerance they are judged with."""

    def __init__(self, w, b, losses, tolerance: Tolerance):
        self.w, self.b, self.losses, self.tol = w, b, losses, tolerance

    def compare(self, w, b, losses):
        """``(same, informative)`` over ``[w, b, *losses]``; ``None`` when the loss counts differ."""
        same_p, info_p = values_match([self.w, self.b], [w, b], self.tol.param_atol, self.tol.param_limit)
        if self.losses is None:
            return same_p, info_p
        if losses is None or len(losses) != len(self.losses):
            return None
        same_l, info_l = values_match(self.losses, losses, self.tol.loss_atol, self.tol.loss_limit)
        return _concatenate([same_p, same_l]), _concatenate([info_p, info_l])

    def matches(self, w, b, losses, correct_same=None) -> bool:
        """All numbers agree, and at least one informative one disagrees with the correct run."""
        result = self.compare(w, b, losses)
        if result is None or not _np_all(result[0]):
            return False
        informative = result[1]
        if correct_same is not None and len(correct_same) == len(informative):
            informative = informative & ~correct_same
        return bool(_np_any(informative))
