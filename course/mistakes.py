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

# Bound at import time on purpose (see course.convert): a learner who rebinds
# a builtin or a NumPy function in their session cannot change a diagnosis.
from builtins import (
    AssertionError, Exception, KeyError, ValueError, abs, all, any, bool, dict, enumerate, float, int,
    isinstance, len, list, max, range, sorted, str, tuple,
)
from dataclasses import dataclass, field
import sys as _sys

from numpy import abs as _np_abs
from numpy import any as _np_any
from numpy import all as _np_all
from numpy import array as _array
from numpy import asarray as _asarray
from numpy import concatenate as _concatenate
from numpy import einsum as _einsum
from numpy import empty as _empty
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import full as _full
from numpy import isfinite as _isfinite
from numpy.linalg import matrix_power as _matrix_power
from numpy import where as _where
from numpy import zeros as _zeros

from . import data as _data
from .convert import to_array, to_float
from .reference import closed_form as _closed_form
from .reference import fit_numpy as _fit_numpy
from .reference import stability_bound as _stability_bound

__all__ = [
    "RTOL", "LOSS_FLOOR", "BLOWUP", "Mistake", "MISTAKES", "Variant", "Diagnosis", "Tolerance",
    "run_variants", "buggy_fit", "tolerance_for", "find_mistakes", "diagnose", "values_match",
]

# ---------------------------------------------------------------------------------------------
# Tolerances.  Learners run in float32 (PyTorch, TensorFlow, Keras); the reference runs in
# float64.  float32 carries ~7 significant digits and hundreds of epochs of it drift by ~1e-6
# relative (tests/test_reference.py sees < 1e-5), so 1e-4 passes every correct float32 run
# with margin, while each named mistake moves the numbers by far more than that.
RTOL = 1e-4
# Near the minimum a float32 loss is the small difference of numbers the size of y, so its
# absolute precision is set by y's scale (mean of y² for the mean loss), not by the loss:
# losses get an absolute slack of RTOL · LOSS_FLOOR · mean(y²).
LOSS_FLOOR = 1e-2
# A run whose numbers are 1e8 times larger than anything a healthy run holds has diverged:
# float32 and float64 overflow at different epochs, so past this every value (huge, inf or
# NaN) counts as "blown up" and matches any other blown-up value.
BLOWUP = 1e8


@dataclass(frozen=True)
class Mistake:
    """One named mistake: a stable id for reports, a title, why it gives these numbers, the fix."""

    id: str
    title: str
    why: str  # a template: {n}, {lr}, {bound}, {epochs}, … come from the diagnosis details
    fix: str


MISTAKES = {m.id: m for m in [
    Mistake("sum_reduction", "loss summed instead of averaged",
            "with a summed loss (reduction='sum', or the old MSELoss(size_average=False)) every gradient is "
            "n = {n} times larger, as if the learning rate were {n}× larger",
            "average the loss: nn.MSELoss() (reduction='mean'), np.mean(...) or tf.reduce_mean(...)"),
    Mistake("mean_reduction", "loss averaged instead of summed",
            "this exercise uses the summed loss (reduction='sum'); the mean makes every step n = {n} times smaller",
            "sum the squared errors: reduction='sum', .sum() or tf.reduce_sum(...)"),
    Mistake("no_zero_grad", "gradients never zeroed",
            "backward() adds the new gradient to .grad, so without zeroing every step uses the sum of all "
            "gradients so far and the steps keep growing",
            "zero the gradients once per epoch: optimizer.zero_grad(), or w.grad.zero_() and b.grad.zero_() "
            "after the update"),
    Mistake("sign_flip", "gradient sign flipped",
            "adding the gradient moves uphill, so the loss grows instead of shrinking",
            "step against the gradient: w = w - lr * dw and b = b - lr * db"),
    Mistake("grad_x2", "gradient twice as large",
            "every step is exactly twice the right one: the gradient has an extra factor 2 "
            "(4/n instead of 2/n), or the learning rate was doubled",
            "dw = (2/n)·Σ(w·x + b − y)·x and db = (2/n)·Σ(w·x + b − y), with the lr you were given"),
    Mistake("grad_half", "the factor 2 dropped from the gradient",
            "every step is exactly half the right one: the 2 from differentiating the square is missing "
            "(that is the gradient of ½·MSE), or the learning rate was halved",
            "dw = (2/n)·Σ(w·x + b − y)·x and db = (2/n)·Σ(w·x + b − y), with the lr you were given"),
    Mistake("only_w", "only w is updated",
            "b never moved from its start b0 = {b0}",
            "update b as well: b = b - lr * db (in PyTorch b needs requires_grad=True and must be given to "
            "the optimizer)"),
    Mistake("only_b", "only b is updated",
            "w never moved from its start w0 = {w0}",
            "update w as well: w = w - lr * dw (in PyTorch w needs requires_grad=True and must be given to "
            "the optimizer)"),
    Mistake("no_update", "the parameters never changed",
            "w and b are still the starting values w0 = {w0}, b0 = {b0}: no update reached them",
            "keep the updated values (update in place under torch.no_grad(), or assign and return the new "
            "w and b) and make sure the loop runs"),
    Mistake("swapped", "w and b swapped",
            "your w is the expected b and your b the expected w",
            "keep the order (w, b): Keras get_weights() is [kernel = w, bias = b]; nn.Linear has .weight = w "
            "and .bias = b"),
    Mistake("broadcast_nxn", "[N, 1] predictions against [N] targets",
            "subtracting an [N] target from an [N, 1] prediction broadcasts to an N×N table of every "
            "prediction minus every target, so the loss pulls every prediction towards the mean of y "
            "(PyTorch warns about the target size, NumPy says nothing)",
            "give predictions and targets the same shape before the loss: y.reshape(-1, 1), "
            "or pred.reshape(-1)"),
    Mistake("diverged", "learning rate too large: the run diverged",
            "the steps grew until the numbers overflowed; on this data gradient descent is stable only for "
            "lr < {bound} (2 / the largest eigenvalue of the loss's Hessian, reduction='{reduction}'), "
            "and the exercise's lr = {lr} is {stability}",
            "use the lr you were given, average the loss and step against the gradient"),
    Mistake("epochs_off", "wrong number of epochs",
            "your w and b are what the reference reaches after {epochs_run} epochs, not {epochs}",
            "run exactly {epochs} updates, one per epoch: for epoch in range(epochs)"),
    Mistake("loss_shifted", "loss history off by one",
            "w and b are right but {shift}",
            "record one loss per epoch, computed before that epoch's update, so losses[0] is the loss "
            "at the start (w0, b0)"),
    Mistake("wrong_lr", "a different learning rate",
            "your values match lr = {lr_used} instead of lr = {lr}",
            "use the lr you were given (inside a function: its lr argument, not a variable from elsewhere)"),
    Mistake("wrong_start", "a different starting point",
            "your values match starting from w0 = {w0_used}, b0 = {b0_used} instead of w0 = {w0}, b0 = {b0}",
            "start from the w0 and b0 you were given (inside a function: its w0, b0 arguments)"),
    Mistake("wrong_data", "trained on different data",
            "your values match training on {dataset} instead of the x and y you were given",
            "train on the x and y passed in (inside a function: its arguments, not variables from elsewhere)"),
    # Keras fit's defaults (batch_size=32, shuffle=True): several updates per epoch.
    Mistake("minibatches", "mini-batches instead of one full batch",
            "your w and b are what {batches} updates per epoch on in-order batches of {batch_size} give: "
            "model.fit's default batch_size is 32 and this data has {n} points",
            "train full batch: model.fit(..., batch_size=len(x), shuffle=False), one update per epoch"),
    Mistake("shuffled_minibatches", "mini-batches in shuffled order",
            "your w and b lie among the runs of model.fit's defaults, batch_size=32 and shuffle=True: "
            "{batches} updates per epoch on batches drawn in a random order (this data has {n} points)",
            "train full batch: model.fit(..., batch_size=len(x), shuffle=False), one update per epoch"),
    # Slips of the "predict the number" exercises (check_value's slips).
    Mistake("n_minus_1", "divided by n − 1",
            "the sum of the squared errors was divided by n − 1 = {n_minus_1} (the sample-variance habit) "
            "instead of n = {n}",
            "the mean squared error divides by n: sum of squared errors / {n}"),
    Mistake("one_backward", "only one backward() counted",
            "that is the gradient of a single backward() call; backward() adds into .grad, so after two "
            "calls without zeroing .grad holds the sum of both",
            "add the two gradients: .grad accumulates until you zero it"),
    Mistake("grad_reset", "gradient assumed to reset",
            "backward() does not replace .grad, and it never sets it to zero: it adds the new gradient",
            "add the two gradients: .grad accumulates until you zero it"),
    Mistake("floor_batches", "the last, smaller batch left out",
            "that counts only the full batches; fit also trains on the last, smaller one",
            "count the batches rounding up: ceil(n / batch_size)"),
    Mistake("one_per_sample", "one update per sample",
            "that is plain SGD, one update per point; fit updates once per batch",
            "count the batches: ceil(n / batch_size), batch_size=32 by default"),
    Mistake("full_batch_count", "one update per epoch",
            "one update per epoch is full-batch gradient descent; fit's default batch_size is 32",
            "count the batches: ceil(n / batch_size), batch_size=32 by default"),
    Mistake("lr_divided", "divided where it should multiply",
            "the mean's gradient is n = {n} times smaller than the sum's, so its learning rate must be n times "
            "larger, not smaller",
            "multiply by n: lr_mean = n · lr_sum"),
    Mistake("least_squares_b", "the intercept of the right fit",
            "that is the b of the correct least-squares line; with [N, 1] predictions against [N] targets "
            "the loss compares every prediction with every target",
            "every prediction is pulled towards every target: the best constant is the mean of y"),
    Mistake("b_stays_zero", "b assumed to stay at zero",
            "b does move: with every prediction compared with every target, w goes to 0 and b to the mean of y",
            "the best constant prediction for all targets at once is their mean"),
    # Mistakes of the small functions (check_mse) rather than of a whole run.
    Mistake("rmse", "square root of the MSE",
            "the value is the root mean squared error (the square root of the MSE)",
            "leave out the square root: mean((y_pred - y) ** 2)"),
    Mistake("abs_error", "absolute instead of squared errors",
            "the value is the mean absolute error, mean(|y_pred − y|)",
            "square the errors: mean((y_pred - y) ** 2)"),
    Mistake("half_loss", "an extra factor ½",
            "the value is ½·MSE (a convention some books use to simplify the gradient)",
            "leave out the 0.5: mean((y_pred - y) ** 2)"),
    # Mistakes of the Glorot-range exercise (check_glorot_limit).
    Mistake("glorot_variance", "the variance, not the limit",
            "the value is Glorot's variance 2 / (fan_in + fan_out), not the half-width of the range",
            "a uniform distribution on [−ℓ, ℓ] has variance ℓ²/3: solve ℓ²/3 = 2 / (fan_in + fan_out) for ℓ"),
    Mistake("glorot_std", "the standard deviation, not the limit",
            "the value is the standard deviation √(2 / (fan_in + fan_out)) (Glorot *normal*'s), "
            "√3 times smaller than the uniform range's half-width",
            "a uniform distribution on [−ℓ, ℓ] has standard deviation ℓ/√3: ℓ = √3 · √(2 / (fan_in + fan_out))"),
    Mistake("glorot_no_sqrt", "the square root left out",
            "the value is 6 / (fan_in + fan_out), the square of the limit",
            "take the square root: ℓ = √(6 / (fan_in + fan_out))"),
    Mistake("glorot_full_width", "the full width, not the half-width",
            "the value is twice the limit ℓ: the width 2ℓ of the range [−ℓ, ℓ]",
            "return ℓ, half the width: the variance of a uniform [−ℓ, ℓ] is (2ℓ)²/12 = ℓ²/3"),
    Mistake("glorot_fan_in", "fan_in alone instead of the average of the fans",
            "the value uses fan_in only ({formula}), as LeCun's or He's initialisers do; Glorot averages "
            "fan_in and fan_out",
            "use the average of the fans: variance 2 / (fan_in + fan_out), so ℓ = √(6 / (fan_in + fan_out))"),
    Mistake("torch_linear_bound", "PyTorch's range, not Keras's",
            "the value is 1/√fan_in, the range nn.Linear draws its weights from (kaiming_uniform_ with a = √5)",
            "Keras's Dense uses Glorot uniform: ℓ = √(6 / (fan_in + fan_out))"),
]}


class _Defaults(dict):
    """Fills a template field the details do not provide with '?' instead of failing."""

    def __missing__(self, key):
        return "?"


@dataclass(frozen=True)
class Diagnosis:
    """A mistake the learner's values match, with the numbers that explain it."""

    id: str
    details: dict = field(default_factory=dict)

    @property
    def mistake(self) -> Mistake:
        return MISTAKES[self.id]

    def explain(self) -> str:
        """``title: why. Fix: fix.`` with the details filled in."""
        values = _Defaults({key: _short(value) for key, value in self.details.items()})
        why = self.mistake.why.format_map(values)
        fix = self.mistake.fix.format_map(values)
        return f"*{self.mistake.title}*: {why}. Fix: {fix}."


def _short(value):
    """Numbers in messages: 5 significant digits, ``0.01`` not ``0.010000000000000002``."""
    if isinstance(value, float):
        return f"{value:.5g}"
    return value


# ---------------------------------------------------------------------------------------------
# The buggy gradient descent.


@dataclass(frozen=True)
class Variant:
    """One run of full-batch gradient descent on MSE, with bug flags (all off: the correct run)."""

    lr: float
    w0: float = 0.0
    b0: float = 0.0
    reduction: str = "mean"
    sign: float = 1.0  # -1: steps uphill
    grad_factor: float = 1.0  # 2: gradient twice as large; 0.5: the factor 2 dropped
    accumulate: bool = False  # gradients never zeroed: each step uses the running sum
    update_w: bool = True
    update_b: bool = True
    broadcast: bool = False  # [N, 1] prediction against [N] target: loss over the N×N table


@dataclass(frozen=True)
class Run:
    """What :func:`run_variants` gives back for K variants over ``epochs`` epochs."""

    w: object  # (K,) final w
    b: object  # (K,) final b
    losses: object  # (K, epochs): the loss before each update
    w_path: object = None  # (K, epochs + 1) when recorded: w after k updates
    b_path: object = None


def run_variants(x, y, variants, epochs: int, *, record_path: bool = False) -> Run:
    """Run every variant for ``epochs`` epochs side by side, in float64.

    The broadcast bug's loss is the mean (or sum) of ``(p_i − y_j)²`` over all
    pairs ``i, j``; since ``Σ_j (p_i − y_j)² = n·(p_i − ȳ)² + Σ_j (y_j − ȳ)²``,
    it equals the ordinary loss against the constant target ``ȳ`` plus the
    spread of ``y``, and its gradient is the ordinary one with ``y`` replaced
    by ``ȳ`` (and a factor ``n`` more for the sum).
    """
    x = _asarray(x, dtype=_float64).reshape(-1)
    y = _asarray(y, dtype=_float64).reshape(-1)
    n = x.size
    count = len(variants)
    mean = _array([v.reduction == "mean" for v in variants])
    broadcast = _array([bool(v.broadcast) for v in variants])
    y_bar = float(y.sum()) / n
    spread = float(((y - y_bar) ** 2).sum())
    target = _where(broadcast[:, None], y_bar, y[None, :])
    loss_scale = _where(mean, 1.0 / n, _where(broadcast, float(n), 1.0))
    loss_const = _where(broadcast, _where(mean, spread / n, n * spread), 0.0)
    grad_scale = _where(mean, 2.0 / n, _where(broadcast, 2.0 * n, 2.0))
    step = _array([v.lr * v.sign * v.grad_factor for v in variants]) * grad_scale
    update_w = _array([bool(v.update_w) for v in variants])
    update_b = _array([bool(v.update_b) for v in variants])
    accumulate = _array([bool(v.accumulate) for v in variants])
    w = _array([float(v.w0) for v in variants])
    b = _array([float(v.b0) for v in variants])
    sum_w, sum_b = _zeros(count), _zeros(count)
    losses = _empty((count, epochs))
    w_path = _empty((count, epochs + 1)) if record_path else None
    b_path = _empty((count, epochs + 1)) if record_path else None
    # Blowing up is a lesson (the learning rate too large), not an error.
    with _errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(epochs):
            if record_path:
                w_path[:, epoch], b_path[:, epoch] = w, b
            residual = w[:, None] * x[None, :] + b[:, None] - target
            losses[:, epoch] = loss_scale * _einsum("ij,ij->i", residual, residual) + loss_const
            grad_w, grad_b = residual @ x, residual.sum(axis=1)
            # where(), not multiplication by 0/1 flags: 0 · inf would be NaN.
            sum_w = _where(accumulate, sum_w + grad_w, grad_w)
            sum_b = _where(accumulate, sum_b + grad_b, grad_b)
            w = _where(update_w, w - step * sum_w, w)
            b = _where(update_b, b - step * sum_b, b)
    if record_path:
        w_path[:, epochs], b_path[:, epochs] = w, b
    return Run(w, b, losses, w_path, b_path)


#: The bug flags behind each mistake that is a change to the algorithm itself.
_BUG_FLAGS = {
    "sum_reduction": dict(reduction="sum"),
    "mean_reduction": dict(reduction="mean"),
    "no_zero_grad": dict(accumulate=True),
    "sign_flip": dict(sign=-1.0),
    "grad_x2": dict(grad_factor=2.0),
    "grad_half": dict(grad_factor=0.5),
    "only_w": dict(update_b=False),
    "only_b": dict(update_w=False),
    "broadcast_nxn": dict(broadcast=True),
}


def _variant(bug, *, lr, w0, b0, reduction) -> Variant:
    flags = dict(reduction=reduction)
    flags.update(_BUG_FLAGS.get(bug, {}))
    return Variant(lr=float(lr), w0=float(w0), b0=float(b0), **flags)


def buggy_fit(x, y, *, lr, epochs, w0=0.0, b0=0.0, reduction="mean", bug=None):
    """Gradient descent in float64 with one named bug injected (``bug=None``: the correct run).

    ``bug`` is one of ``sum_reduction``, ``mean_reduction``, ``no_zero_grad``,
    ``sign_flip``, ``grad_x2``, ``grad_half``, ``only_w``, ``only_b``,
    ``broadcast_nxn``.  Returns a :class:`course.reference.FitResult`.
    """
    from .reference import FitResult

    if bug is not None and bug not in _BUG_FLAGS:
        raise ValueError(f"unknown bug {bug!r}; choose one of {sorted(_BUG_FLAGS)}")
    run = run_variants(x, y, [_variant(bug, lr=lr, w0=w0, b0=b0, reduction=reduction)], int(epochs))
    return FitResult(f"buggy:{bug}", float(run.w[0]), float(run.b[0]), run.losses[0].copy(),
                     float(lr), int(epochs), _BUG_FLAGS.get(bug, {}).get("reduction", reduction))


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


# ---------------------------------------------------------------------------------------------
# Candidates.

# Learning rates a learner may have typed instead of the one asked for.  Factors 2 and ½ are
# left out: they are exactly the grad_x2 / grad_half trajectories and are reported as those.
_LR_FACTORS = (10.0, 0.1, 100.0, 0.01, 5.0, 0.2)
_COMMON_LRS = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.003, 0.002, 0.001, 1e-4)
# The articles' own settings for their datasets (see shared/seeds/README.md), for a learner
# who ran an article's example instead of the exercise.
_ARTICLE_SETTINGS = {
    "tiny_line": [dict(lr=0.01, epochs=500, reduction="sum"), dict(lr=0.01, epochs=500, reduction="mean")],
    "normal_line": [dict(lr=0.5, epochs=10, reduction="mean")],
    "noisy_line": [dict(lr=0.01, epochs=1000, reduction="mean", start="article")],
    "xy_table": [dict(lr=0.001, reduction="mean")],
}
# Epoch counts a learner may have typed (or left in a global variable) instead of the one asked.
_COMMON_EPOCHS = (10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10_000)
_DATASET_CACHE: dict = {}


def _other_lrs(lr):
    near = (lr, 2.0 * lr, 0.5 * lr)
    seen = []
    for value in [lr * f for f in _LR_FACTORS] + list(_COMMON_LRS):
        if all(abs(value - other) > 1e-9 * other for other in near + tuple(seen)):
            seen.append(value)
    return seen


def _named_datasets():
    """The course's named datasets; noisy_line only once PyTorch is imported (it draws with torch)."""
    for name, make in _data.DATASETS.items():
        if name == "noisy_line" and "torch" not in _sys.modules:
            continue
        if name not in _DATASET_CACHE:
            try:
                _DATASET_CACHE[name] = make()
            except Exception:  # a dataset that cannot be built here cannot be the one they used
                continue
        yield name, _DATASET_CACHE[name]


def _same_data(a, b):
    return a.shape == b.shape and bool(_np_all(a == b))


#: ``model.fit``'s default batch size (Keras 2 and 3).
KERAS_BATCH_SIZE = 32
_SHUFFLED_RUNS = 64


def _minibatch_runs(x, y, orders, batch_size, *, lr, epochs, w0, b0, reduction):
    """Final ``(w, b)`` arrays of mini-batch gradient descent, one run per row of ``orders``
    (``orders[run, epoch]`` is that epoch's order of the points), float64."""

    runs = orders.shape[0]
    w, b = _full(runs, w0, dtype=_float64), _full(runs, b0, dtype=_float64)
    for epoch in range(epochs):
        order = orders[:, epoch, :]
        for start in range(0, x.size, batch_size):
            idx = order[:, start:start + batch_size]
            xb, yb = x[idx], y[idx]
            residual = w[:, None] * xb + b[:, None] - yb
            scale = 2.0 / idx.shape[1] if reduction == "mean" else 2.0
            dw, db = scale * (residual * xb).sum(axis=1), scale * residual.sum(axis=1)
            w, b = w - lr * dw, b - lr * db
    return w, b


def _minibatch_diagnoses(w, b, losses, tol, x, y, epochs, reference, *, lr, w0, b0, reduction) -> list:
    from numpy import arange as _arange
    from numpy import broadcast_to as _broadcast_to
    from numpy.random import default_rng as _rng

    n = x.size
    batches = -(-n // KERAS_BATCH_SIZE)
    details = dict(batches=batches, batch_size=KERAS_BATCH_SIZE, n=n)
    settings = dict(lr=lr, epochs=epochs, w0=w0, b0=b0, reduction=reduction)
    learner = _Learner(w, b, None, tol)
    correct_same = learner.compare(reference.w, reference.b, None)[0]
    in_order = _broadcast_to(_arange(n), (1, epochs, n))
    with _errstate(all="ignore"):
        mw, mb = _minibatch_runs(x, y, in_order, KERAS_BATCH_SIZE, **settings)
    if learner.matches(mw[0], mb[0], None, correct_same):
        return [Diagnosis("minibatches", details)]
    rng = _rng(0)
    orders = rng.permuted(_broadcast_to(_arange(n), (_SHUFFLED_RUNS, epochs, n)).copy(), axis=2)
    with _errstate(all="ignore"):
        sw, sb = _minibatch_runs(x, y, orders, KERAS_BATCH_SIZE, **settings)
    if not (_np_all(_isfinite(sw)) and _np_all(_isfinite(sb))) or bool(_np_all(correct_same)):
        return []
    # Shuffled batches give a cloud of outcomes: name it only when the learner sits in the cloud,
    # the cloud lies clearly away from the full-batch answer, and (when a loss history came)
    # the first epoch's loss is below the start's, as fit's average over the epoch's batches is.
    # Distances are Mahalanobis distances to the cloud (w and b are correlated in it): a new
    # shuffled run lies within 4 of the 64 sampled ones (chi-square, 2 dof: all but 0.03 %);
    # the nearest-sample rule this replaces missed about one shuffled run in eight.
    from numpy import cov as _cov
    from numpy import eye as _eye
    from numpy import vstack as _vstack
    from numpy.linalg import inv as _inv

    spread = _cov(_vstack([sw, sb])) + _eye(2) * tol.param_atol ** 2
    inverse, centre = _inv(spread), (float(sw.mean()), float(sb.mean()))

    def distance(pw, pb) -> float:
        dw, db = float(pw) - centre[0], float(pb) - centre[1]
        return (dw * (inverse[0, 0] * dw + inverse[0, 1] * db) + db * (inverse[1, 0] * dw + inverse[1, 1] * db)) ** 0.5

    loss_ok = True
    if losses is not None and len(losses) and len(reference.losses):
        loss_ok = float(losses[0]) < float(reference.losses[0]) * (1 - 1e-3)
    if distance(w, b) <= 4.0 and distance(reference.w, reference.b) > 6.0 and loss_ok:
        return [Diagnosis("shuffled_minibatches", details)]
    return []



def find_mistakes(w, b, losses, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean",
                  reference=None) -> list:
    """The :class:`Diagnosis` of every known mistake the learner's values match, most likely first.

    ``w``, ``b`` are floats, ``losses`` a float array or ``None``; ``x``, ``y``
    the exercise's data.  Empty when the values are right or match no known
    mistake.
    """
    x = _asarray(x, dtype=_float64).reshape(-1)
    y = _asarray(y, dtype=_float64).reshape(-1)
    lr, epochs, w0, b0 = float(lr), int(epochs), float(w0), float(b0)
    n = x.size
    reference = reference if reference is not None else _fit_numpy(x, y, lr=lr, epochs=epochs, w0=w0, b0=b0,
                                                                  reduction=reduction)
    tol = tolerance_for(x, y, reference, w0, b0, reduction)
    learner = _Learner(w, b, losses, tol)
    correct = learner.compare(reference.w, reference.b, reference.losses)
    if correct is not None and _np_all(correct[0]):
        return []
    correct_same = correct[0] if correct is not None else None
    found: list = []

    def consider(mistake_id, cand_w, cand_b, cand_losses, **details):
        if any(d.id == mistake_id for d in found):
            return
        if learner.matches(cand_w, cand_b, cand_losses, correct_same):
            found.append(Diagnosis(mistake_id, details))

    settings = dict(lr=lr, w0=w0, b0=b0, reduction=reduction)

    # 1. One bug in the algorithm, same inputs.
    bug_ids = [bug for bug in _BUG_FLAGS if _BUG_FLAGS[bug].get("reduction", "") != reduction]
    # 2. The correct algorithm from another start or with another learning rate.
    starts = []
    if (w0, b0) != (0.0, 0.0):
        starts.append((0.0, 0.0))
    if w0 != b0:
        starts.append((b0, w0))
    other_lrs = _other_lrs(lr)
    variants = [_variant(bug, **settings) for bug in bug_ids]
    variants += [Variant(lr=lr, w0=s_w, b0=s_b, reduction=reduction) for s_w, s_b in starts]
    variants += [Variant(lr=value, w0=w0, b0=b0, reduction=reduction) for value in other_lrs]
    run = run_variants(x, y, variants, epochs)
    for index, bug in enumerate(bug_ids):
        consider(bug, run.w[index], run.b[index], run.losses[index], n=n, w0=w0, b0=b0)

    # 3. Transforms of the correct run: swapped, another epoch count, a shifted loss history.
    recorded = max(epochs, 0 if losses is None else len(losses)) + 2
    path = run_variants(x, y, [Variant(**settings)], recorded, record_path=True)
    w_path, b_path, full_losses = path.w_path[0], path.b_path[0], path.losses[0]
    consider("swapped", reference.b, reference.w, reference.losses)
    _consider_loss_history(learner, consider, reference, full_losses, epochs)
    _consider_epochs(learner, consider, x, y, Variant(**settings), w_path, b_path, full_losses, epochs)

    offset = len(bug_ids)
    for index, (s_w, s_b) in enumerate(starts):
        consider("wrong_start", run.w[offset + index], run.b[offset + index], run.losses[offset + index],
                 w0_used=s_w, b0_used=s_b, w0=w0, b0=b0)
    offset += len(starts)
    for index, value in enumerate(other_lrs):
        consider("wrong_lr", run.w[offset + index], run.b[offset + index], run.losses[offset + index],
                 lr_used=value, lr=lr)

    # 4. The correct algorithm on other data.
    _consider_other_data(learner, consider, x, y, epochs, settings)

    # 5. Keras fit's defaults: mini-batches of 32, in order or shuffled (w and b only: fit's loss
    # history then averages the batches' losses, which no other exercise records).
    if n > KERAS_BATCH_SIZE and epochs > 0 and not found:
        found += _minibatch_diagnoses(w, b, losses, tol, x, y, epochs, reference, **settings)

    # A run that blew up while the right one did not: say so first, with the stability bound.
    if _np_any(_blown(_array([w, b]), tol.param_limit)) and not reference.diverged:
        bound = _stability_bound(x, reduction)
        found.insert(0, Diagnosis("diverged", dict(
            bound=bound, lr=lr, reduction=reduction,
            stability="below it, so your steps were larger than the exercise's" if lr < bound
            else "above it")))
    return found


def _consider_loss_history(learner, consider, reference, full_losses, epochs):
    """w, b right but the history recorded after each update, or with one entry too many/few."""
    if learner.losses is None:
        return
    shifts = [
        (full_losses[1:epochs + 1], "your losses are the loss after each update (one epoch late)"),
        (full_losses[:epochs + 1], f"your losses hold {epochs + 1} values for {epochs} epochs "
                                   "(the loss at the start and after every update)"),
        (full_losses[1:epochs], f"your losses hold {max(epochs - 1, 0)} values for {epochs} epochs "
                                "(the first loss is missing)"),
        (full_losses[:max(epochs - 1, 0)], f"your losses hold {max(epochs - 1, 0)} values for {epochs} "
                                           "epochs (the last loss is missing)"),
    ]
    for shifted, text in shifts:
        consider("loss_shifted", reference.w, reference.b, shifted, shift=text)


def _epoch_counts(epochs, learner):
    """The epoch counts a learner plausibly ran instead of ``epochs``.

    Only these are tried, not every count: w and b are two numbers, and a long
    enough path passes near almost any point, so an open search would "explain"
    unrelated wrong answers.  A loss history says the count outright.
    """
    if learner.losses is not None:
        counts = {len(learner.losses)}
    else:
        counts = {epochs - 2, epochs - 1, epochs + 1, epochs + 2, 2 * epochs, epochs // 2, 10 * epochs,
                  epochs // 10, *_COMMON_EPOCHS}
    return sorted(k for k in counts if 0 < k and k != epochs)


def _states_after(x, y, variant, counts):
    """``(w, b)`` of the correct run after each of ``counts`` epochs, without running them all.

    One update is the affine map ``θ ← (I − lr·H)·θ + lr·c`` of ``θ = (w, b)``,
    so ``k`` updates are the ``k``-th power of its 3×3 matrix: a few matrix
    products even for 10,000 epochs.
    """
    n = x.size
    scale = variant.lr * (2.0 / n if variant.reduction == "mean" else 2.0)
    sx, sxx, sy, sxy = float(x.sum()), float(x @ x), float(y.sum()), float(x @ y)
    step = _array([[1.0 - scale * sxx, -scale * sx, scale * sxy],
                   [-scale * sx, 1.0 - scale * n, scale * sy],
                   [0.0, 0.0, 1.0]])
    start = _array([variant.w0, variant.b0, 1.0])
    with _errstate(over="ignore", invalid="ignore"):
        states = [_matrix_power(step, count) @ start for count in counts]
    return [float(state[0]) for state in states], [float(state[1]) for state in states]


def _consider_epochs(learner, consider, x, y, variant, w_path, b_path, full_losses, epochs):
    """The learner's w, b are the correct run's state after 0 (no update) or another number of epochs."""
    stuck = None if learner.losses is None else _full(len(learner.losses), full_losses[0])
    consider("no_update", variant.w0, variant.b0, stuck, w0=variant.w0, b0=variant.b0)
    counts = _epoch_counts(epochs, learner)
    if learner.losses is not None:  # the count is their loss count, within the recorded path
        for count in counts:
            for history in (full_losses[:count], full_losses[1:count + 1]):
                consider("epochs_off", w_path[count], b_path[count], history, epochs_run=count, epochs=epochs)
        return
    ws, bs = _states_after(x, y, variant, counts)
    hits = [index for index, count in enumerate(counts) if learner.matches(ws[index], bs[index], None)]
    if not hits:
        return
    first = hits[0]
    # Once the run has converged every larger count gives the same w, b: say "or more".
    more = len(hits) > 1 and hits == list(range(first, len(counts)))
    consider("epochs_off", ws[first], bs[first], None,
             epochs_run=f"{counts[first]} or more" if more else counts[first], epochs=epochs)


def _consider_other_data(learner, consider, x, y, epochs, settings):
    """The correct run on swapped x/y, on another named dataset, or an article's own example."""
    groups = []  # (x, y, [(description, variant, epochs)]): one run per dataset
    if not _same_data(x, y):
        groups.append((y, x, [("x and y swapped (fitting x from y)", Variant(**settings), epochs)]))
    for name, dataset in _named_datasets():
        dx = _asarray(dataset.x, dtype=_float64)
        dy = _asarray(dataset.y, dtype=_float64)
        if _same_data(dx, x) and _same_data(dy, y):
            continue
        trials = [(f"the {name} dataset", Variant(**settings), epochs)]
        for article in _ARTICLE_SETTINGS.get(name, []):
            start = (settings["w0"], settings["b0"])
            if article.get("start") == "article":
                start = (dataset.extra.get("article_w0", 0.0), dataset.extra.get("article_b0", 0.0))
            variant = Variant(lr=article["lr"], w0=start[0], b0=start[1], reduction=article["reduction"])
            trials.append((f"the {name} dataset with its article's settings", variant,
                           article.get("epochs", epochs)))
        groups.append((dx, dy, trials))
    for dx, dy, trials in groups:
        longest = max(count for _, _, count in trials)
        run = run_variants(dx, dy, [variant for _, variant, _ in trials], longest, record_path=True)
        for index, (description, _, count) in enumerate(trials):
            consider("wrong_data", run.w_path[index, count], run.b_path[index, count],
                     run.losses[index, :count], dataset=description)


def diagnose(w, b, losses=None, *, x, y, lr, epochs, w0=0.0, b0=0.0, reduction="mean") -> list:
    """The ids of the known mistakes a learner's final values match (empty if right or unknown).

    Accepts the same kinds of values as :func:`course.checks.check_fit`;
    values that cannot be read as numbers give an empty list.
    """
    try:
        w_value, b_value = to_float(w, "w"), to_float(b, "b")
        history = None if losses is None else to_array(losses, "losses")
        x_values, y_values = to_array(x, "x"), to_array(y, "y")
        found = find_mistakes(w_value, b_value, history, x=x_values, y=y_values, lr=to_float(lr, "lr"),
                              epochs=int(epochs), w0=to_float(w0, "w0"), b0=to_float(b0, "b0"),
                              reduction=reduction)
    except (AssertionError, ValueError, KeyError):
        return []
    return [d.id for d in found]
