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

from ..mistakes import MISTAKES, diagnose
from .common import FRAMEWORKS, mistake_ids
from .fit import check_fit, check_fit_function
from .functions import Exercise, check_glorot_limit, check_gradients, check_mse, check_predict, check_step, exercise_data
from .keras_model import check_make_model
from .batches import check_full_batch_size, check_updates_per_epoch
from .left_out import check_left_out
from .loops import check_minibatch_epoch
from .momentum import check_momentum_fit
from .pitfalls import check_forgotten_zeroing, check_summed_bound, check_validation_loss
from .rates import check_diverging
from .retrace import check_retrace, retrace_calls
from .tape import check_tape_gradient
from .values import check_value

__all__ = [
    "check_fit", "check_fit_function", "check_predict", "check_mse", "check_gradients", "check_step",
    "check_glorot_limit", "check_value", "check_diverging", "check_minibatch_epoch",
    "check_updates_per_epoch", "check_full_batch_size", "check_left_out",
    "check_tape_gradient", "check_retrace", "retrace_calls", "check_momentum_fit",
    "check_forgotten_zeroing", "check_validation_loss", "check_summed_bound",
    "check_make_model", "diagnose", "mistake_ids", "exercise_data", "Exercise", "MISTAKES",
    "FRAMEWORKS",
]
