"""The mistakes learners make when fitting a line by gradient descent, and how to recognise them.

A learner's ``w``, ``b`` (and loss history) are compared with what
gradient descent gives on the same inputs with one known bug injected:
the loss summed instead of averaged, gradients never zeroed, the sign
flipped, a factor 2 too many or too few, one parameter left alone, an
``[N, 1]`` prediction broadcast against an ``[N]`` target, and so on
(:data:`MISTAKES`).  The buggy runs come from :func:`run_variants`, a
float64 NumPy gradient descent that runs many variants side by side; other
mistakes are transforms of the correct run (``w`` and ``b`` swapped, the
state after another number of epochs, the loss history shifted by one) or
the correct algorithm on other inputs (learning rate, start, dataset).

A mistake is named only when the learner's values match its trajectory
within float32 tolerance, the correct trajectory does not match, and at
least one compared number tells the two apart: a right answer is never
called a mistake and an unknown wrong one is never given a false name.
"""

from __future__ import annotations

from .catalog import BLOWUP, LOSS_FLOOR, MISTAKES, RTOL, Diagnosis, Mistake
from .matching import Tolerance, tolerance_for, values_match
from .runs import Run, Variant, buggy_fit, run_variants
from .search import KERAS_BATCH_SIZE, diagnose, find_mistakes

__all__ = [
    "RTOL", "LOSS_FLOOR", "BLOWUP", "Mistake", "MISTAKES", "Variant", "Run", "Diagnosis", "Tolerance",
    "run_variants", "buggy_fit", "tolerance_for", "find_mistakes", "diagnose", "values_match",
    "KERAS_BATCH_SIZE",
]
