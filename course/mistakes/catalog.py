"""The named mistakes (:data:`MISTAKES`), the tolerances a learner's numbers are judged with, and a
:class:`Diagnosis`: a mistake matched, with the numbers that explain it."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): a learner who rebinds
# a builtin or a NumPy function in their session cannot change a diagnosis.
from builtins import (
    dict, float, isinstance, str,
)
from dataclasses import dataclass, field

from .exercise_mistakes import EXERCISE_MISTAKES
from .mistake import Mistake

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


MISTAKES = {m.id: m for m in [
    Mistake("sum_reduction", "loss summed instead of averaged",
            "with a summed loss (reduction='sum', or the old MSELoss(size_average=False)) every gradient is "
            "n = {n} times larger, as if the learning rate were {n}× larger",
            "average the loss: np.mean((y_pred - y) ** 2), not np.sum(...)"),
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
            "your w and b are what {batches} updates per epoch on in-order batches of {batch_size} points give "
            "(this data has {n}; model.fit's default batch_size is 32)",
            "train full batch: model.fit(..., batch_size=len(x), shuffle=False), one update per epoch"),
    Mistake("shuffled_minibatches", "mini-batches in shuffled order",
            "your w and b are what {batches} updates per epoch on batches of {batch_size} drawn in a random order "
            "give (shuffle=True is model.fit's default; this data has {n} points)",
            "train full batch: model.fit(..., batch_size=len(x), shuffle=False), one update per epoch"),
    # Slips a second class made (issue 27): found by probing the learner's function.
    Mistake("square_of_mean", "the loss squared in the wrong place",
            "the mean of the errors was squared, mean(e)², instead of the mean of the squared errors, mean(e²): "
            "errors of opposite signs cancel before the square",
            "square each error, then average: np.mean((y_pred - y) ** 2)"),
    Mistake("zero_before_update", "gradients zeroed before the update",
            "w and b never moved from w0 = {w0}, b0 = {b0}: every update used a gradient that had just been "
            "zeroed (zeroing between backward() and the update clears the gradient the update needs)",
            "zero the gradients after the update (or before backward()), never between backward() and the update"),
    Mistake("zero_one_grad", "only one parameter's gradient zeroed",
            "{which}: backward() adds into .grad, so the gradient that is never zeroed piles up and its steps grow",
            "zero both gradients after each update: w.grad.zero_() and b.grad.zero_()"),
    Mistake("crossed_grad", "a parameter updated with another's gradient",
            "{which}",
            "update each parameter with its own gradient: w = w - lr * dw and b = b - lr * db"),
    Mistake("b_from_new_w", "b's gradient taken after w was updated",
            "b's gradient was computed from the new w (w updated first, then the error recomputed), so b's step "
            "is not the gradient at the point where w's was taken",
            "compute both gradients from the same (w, b) first, then update both: w, b = w - lr * dw, b - lr * db"),
    Mistake("relu_activation", "a ReLU on the output",
            "the model's output went through max(0, ·): predictions below 0 are cut to 0 and give no gradient, "
            "so the fit is not a line's (a linear regression has no activation)",
            "leave the output linear: keras.layers.Dense(1) with no activation (activation=None)"),
    Mistake("fit_twice", "training continued by a second fit",
            "your w and b are what {epochs_run} epochs give, not {epochs}: a second model.fit on the same model "
            "continues from where the first stopped",
            "build the model and call model.fit once, with epochs=epochs"),
    Mistake("history_object", "the History object returned as losses",
            "model.fit returns a History object; the losses are the list in its history['loss'] "
            "(len(history) raises TypeError)",
            "return history.history['loss'] as losses"),
    Mistake("other_function", "the gradient of another function",
            "that is the gradient of {function}, not of {wanted}",
            "differentiate {wanted}: {rule}"),
    Mistake("not_whole", "a count that is not a whole number",
            "{received} is not a whole number of updates: an epoch makes one update per batch, and the last, "
            "smaller batch counts as one",
            "round the division up: math.ceil(n / batch_size), or -(-n // batch_size)"),
    Mistake("stale_gradients", "every batch's gradient taken at the epoch's start",
            "each batch's gradient was computed at the epoch's starting (w, b) instead of at the current one, so "
            "the updates do not build on each other",
            "compute each batch's residual from the current w and b, inside the loop over batches"),
    Mistake("divisor_n", "the batch's gradient divided by n",
            "each batch's summed gradient was divided by the full n = {n} instead of by the batch's own size, so "
            "every step is batch_size / n times too small",
            "average over the batch: np.mean over the batch, or .sum() / len(x_batch)"),
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
            "only the full batches were counted or trained on; an epoch also trains on the last, smaller batch",
            "go over every batch, the last smaller one too: ceil(n / batch_size) batches, "
            "for start in range(0, n, batch_size)"),
    Mistake("one_per_sample", "one update per sample",
            "that is plain SGD, one update per point; fit updates once per batch",
            "count the batches: ceil(n / batch_size), batch_size=32 by default"),
    Mistake("full_batch_count", "one update per epoch",
            "one update per epoch is full-batch gradient descent; a mini-batch epoch makes one update per batch "
            "(fit's default batch_size is 32)",
            "update once per batch: ceil(n / batch_size) updates, batch_size=32 by default"),
    *EXERCISE_MISTAKES,
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

    def _filled(self, template: str) -> str:
        return template.format_map(_Defaults({key: _short(value) for key, value in self.details.items()}))

    def why(self) -> str:
        return self._filled(self.mistake.why)

    def fix(self, style: str = "numpy") -> str:
        """The fix in the words of ``style``'s framework (numpy, torch, optim, keras, tf)."""
        from .fixes import fix_for

        return self._filled(fix_for(self.id, style, self.mistake.fix))

    def explain(self, style: str = "numpy") -> str:
        """``title: why. Fix: fix.`` with the details filled in."""
        return f"*{self.mistake.title}*: {self.why()}. Fix: {self.fix(style)}."


def _short(value):
    """Numbers in messages: 5 significant digits, ``0.01`` not ``0.010000000000000002``."""
    if isinstance(value, float):
        return f"{value:.5g}"
    return value
