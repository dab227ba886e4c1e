"""Checks of the small functions a loop is built from: predict, mse, gradients, step, and
Keras's Glorot limit."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): nothing a learner rebinds in their
# session (``abs``, ``np.isclose``, ``print``…) can change a verdict.  Nothing is looked up
# in ``__main__``.
from builtins import (
    ValueError, abs, all, dict, enumerate, float, int, isinstance, max, min, print, round,
)
from dataclasses import dataclass

from numpy import abs as _np_abs
from numpy import all as _np_all
from numpy import argmin as _argmin
from numpy import asarray as _asarray
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import isfinite as _isfinite
from numpy import sqrt as _sqrt
from numpy.random import default_rng as _default_rng

from ..convert import to_array, to_float, to_framework
from ..data import make_line as _make_line
from ..defaults import keras_kernel_limit as _keras_kernel_limit
from ..mistakes import RTOL, Diagnosis, values_match
from ..reference import gradients as _gradients
from .common import (
    _EXERCISE_POINTS, _fmt, _verdict, _fail_with, _call, _unpack, _check_framework,
)


# ---------------------------------------------------------------------------------------------
# The small functions: predict, mse, gradients, step.


@dataclass(frozen=True)
class Exercise:
    """The inputs of a function check: a noisy line ``x, y`` (float32 values), a point ``(w, b)``, an lr."""

    x: object
    y: object
    w: float
    b: float
    lr: float

    @property
    def n(self) -> int:
        return int(self.x.size)

    @property
    def y_pred(self):
        return self.w * self.x + self.b


def exercise_data(seed: int = 0) -> Exercise:
    """The fresh inputs the function checks use for ``seed``.

    ``seed=0`` is what the visible test cells use; hidden tests pass other
    seeds so that a number copied from the visible output cannot pass.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    rng = _default_rng(seed)
    line_w, line_b = rng.uniform(1.0, 3.0) * rng.choice([-1.0, 1.0]), rng.uniform(-2.0, 2.0)
    line = _make_line(_EXERCISE_POINTS, w=line_w, b=line_b, noise=0.5, seed=seed, x_low=-2.0, x_high=3.0)
    # A point clearly off the line, with w and b far apart, so that every named mistake
    # (swapped, sign, factor 2, ×n) moves the answer far beyond the tolerance.
    while True:
        w, b = rng.uniform(-2.5, 2.5), rng.uniform(-2.5, 2.5)
        if min(abs(w), abs(b)) > 0.3 and abs(w - b) > 0.7 and abs(w - line_w) > 0.7:
            break
    # The learner's function gets float32 x, y: the expected values use exactly those numbers.
    return Exercise(x=_asarray(line.x, dtype=_float64), y=_asarray(line.y, dtype=_float64),
                    w=round(float(w), 3), b=round(float(b), 3), lr=round(float(rng.uniform(0.02, 0.08)), 3))


def _style(framework):
    """The style a fix is written in for a function check's framework (NumPy's, PyTorch's or TensorFlow's)."""
    return {"numpy": "numpy", "torch": "torch", "tf": "tf"}.get(framework, "numpy")


def _square_of_mean_gradient(ex):
    """(∂/∂w, ∂/∂b) of mean(e)², the mean error squared: (2·ē·x̄, 2·ē)."""
    e = float((ex.y_pred - ex.y).mean())
    return _asarray([2.0 * e * float(ex.x.mean()), 2.0 * e])


def _inputs(ex, framework, requires_grad):
    """``x, y, w, b`` of an exercise as the learner's framework holds them."""
    x = to_framework(ex.x, framework)
    y = to_framework(ex.y, framework)
    w = to_framework(ex.w, framework, variable=True, requires_grad=requires_grad)
    b = to_framework(ex.b, framework, variable=True, requires_grad=requires_grad)
    return x, y, w, b


def _judge_numbers(received, expected, candidates, *, scale):
    """Compare ``received`` with ``expected`` (same shapes); a diagnosis if a candidate matches."""
    atol = RTOL * max(scale, 1e-12)
    limit = 1e8 * max(scale, 1e-12)
    same = values_match(received, expected, atol, limit)[0]
    if _np_all(same):
        return None
    found = []
    for mistake_id, values, details in candidates:
        cand_same, informative = values_match(received, values, atol, limit)
        if _np_all(cand_same) and bool((informative & ~same).any()):
            found.append(Diagnosis(mistake_id, details))
    return found


def check_predict(predict, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``predict(x, w, b)`` returns ``w·x + b`` for every x."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"predict(x, w={ex.w:g}, b={ex.b:g})"
    x, _, w, b = _inputs(ex, framework, requires_grad)
    result, warned = _call(predict, "predict", f"x, w={ex.w:g}, b={ex.b:g}", x, w, b)
    received = to_array(result, call_text)
    expected = ex.y_pred
    if received.size != expected.size:
        _fail_with([f"{call_text} should return one prediction per point of x ({expected.size}), "
                    f"but returned {received.size} value{'s' if received.size != 1 else ''}."], warned)
    found = _judge_numbers(received, expected, [("swapped", ex.b * ex.x + ex.w, {})],
                           scale=float(_np_abs(expected).max()))
    if found is None:
        print(f"✓ predict is right on {ex.n} points (seed {seed}).")
        return
    same = values_match(received, expected, RTOL * float(_np_abs(expected).max()), 1e300)[0]
    first = int(_argmin(same))
    _fail_with(_verdict([f"{call_text} is wrong at x = {_fmt(ex.x[first])}: expected "
                         f"{_fmt(expected[first], received[first])}, received {_fmt(received[first], expected[first])} "
                         f"(the prediction is w·x + b)."], found, style=_style(framework)), warned)


def check_mse(mse, *, seed=0, framework="numpy"):
    """Check ``mse(y_pred, y)`` returns the mean of the squared errors."""
    _check_framework(framework)
    ex = exercise_data(seed)
    y_pred, y = ex.y_pred, ex.y
    result, warned = _call(mse, "mse", "y_pred, y", to_framework(y_pred, framework), to_framework(y, framework))
    received = to_float(result, "mse(y_pred, y)")
    errors = y_pred - y
    expected = float((errors * errors).mean())
    candidates = [
        ("sum_reduction", float((errors * errors).sum()), dict(n=ex.n)),
        ("rmse", float(_sqrt(expected)), {}),
        ("abs_error", float(_np_abs(errors).mean()), {}),
        ("half_loss", 0.5 * expected, {}),
        ("square_of_mean", float(errors.mean()) ** 2, {}),
    ]
    found = _judge_numbers(received, expected, candidates, scale=abs(expected))
    if found is None:
        print(f"✓ mse is right (seed {seed}).")
        return
    _fail_with(_verdict([f"mse(y_pred, y) is wrong on {ex.n} points: expected {_fmt(expected, received)}, "
                         f"received {_fmt(received, expected)} (the mean of (y_pred − y)²)."], found,
                        style=_style(framework)), warned)


def check_gradients(gradients, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``gradients(x, y, w, b) -> (dw, db)`` of the mean squared error."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"gradients(x, y, w={ex.w:g}, b={ex.b:g})"
    result, warned = _call(gradients, "gradients", f"x, y, w={ex.w:g}, b={ex.b:g}",
                           *_inputs(ex, framework, requires_grad))
    dw, db = _unpack(result, 2, call_text, "(dw, db)")
    received = _asarray([to_float(dw, f"{call_text}'s dw"), to_float(db, f"{call_text}'s db")])
    expected = _asarray(_gradients(ex.x, ex.y, ex.w, ex.b, "mean"), dtype=_float64)
    candidates = [
        ("sum_reduction", expected * ex.n, dict(n=ex.n)),
        ("grad_x2", expected * 2.0, {}),
        ("grad_half", expected * 0.5, {}),
        ("sign_flip", -expected, {}),
        ("swapped", expected[::-1].copy(), {}),
        ("square_of_mean", _square_of_mean_gradient(ex), {}),
    ]
    found = _judge_numbers(received, expected, candidates, scale=float(_np_abs(expected).max()))
    if found is None:
        print(f"✓ gradients is right (seed {seed}).")
        return
    _fail_with(_verdict([f"{call_text} is wrong: expected dw = {_fmt(expected[0], received[0])} and "
                         f"db = {_fmt(expected[1], received[1])}, received dw = {_fmt(received[0], expected[0])} and "
                         f"db = {_fmt(received[1], expected[1])} (the gradient of the mean squared error)."], found,
                        style=_style(framework)), warned)


def check_step(step, *, seed=0, framework="numpy", requires_grad=False):
    """Check ``step(x, y, w, b, lr) -> (w_new, b_new)``: one gradient-descent update on the MSE."""
    _check_framework(framework)
    ex = exercise_data(seed)
    call_text = f"step(x, y, w={ex.w:g}, b={ex.b:g}, lr={ex.lr:g})"
    x, y, w, b = _inputs(ex, framework, requires_grad)
    result, warned = _call(step, "step", f"x, y, w={ex.w:g}, b={ex.b:g}, lr={ex.lr:g}", x, y, w, b, ex.lr)
    w_new, b_new = _unpack(result, 2, call_text, "(w_new, b_new)")
    received = _asarray([to_float(w_new, f"{call_text}'s w_new"), to_float(b_new, f"{call_text}'s b_new")])
    grad = _asarray(_gradients(ex.x, ex.y, ex.w, ex.b, "mean"), dtype=_float64)
    start = _asarray([ex.w, ex.b])
    expected = start - ex.lr * grad
    candidates = [
        ("sign_flip", start + ex.lr * grad, {}),
        ("sum_reduction", start - ex.lr * ex.n * grad, dict(n=ex.n)),
        ("grad_x2", start - 2.0 * ex.lr * grad, {}),
        ("grad_half", start - 0.5 * ex.lr * grad, {}),
        ("only_w", _asarray([expected[0], ex.b]), dict(b0=ex.b)),
        ("only_b", _asarray([ex.w, expected[1]]), dict(w0=ex.w)),
        ("swapped", expected[::-1].copy(), {}),
        ("no_update", start, dict(w0=ex.w, b0=ex.b)),
        ("crossed_grad", start - ex.lr * _asarray([grad[0], grad[0]]),
         dict(which="b was updated with w's gradient (b − lr·dw), so b's step is the size of w's")),
        ("crossed_grad", start - ex.lr * _asarray([grad[1], grad[1]]),
         dict(which="w was updated with b's gradient (w − lr·db), so w's step is the size of b's")),
        ("crossed_grad", start - ex.lr * grad[::-1],
         dict(which="the gradients were swapped: w moved by db and b by dw")),
        ("b_from_new_w", _asarray([expected[0], ex.b - ex.lr * _gradients(ex.x, ex.y, expected[0], ex.b, "mean")[1]]),
         {}),
        ("square_of_mean", start - ex.lr * _square_of_mean_gradient(ex), {}),
    ]
    # One step with a different learning rate: both parameters moved by the same multiple of lr.
    with _errstate(divide="ignore", invalid="ignore"):
        used = (start - received) / grad
    # (Multiples ×2, ×½, ×n of lr are the named mistakes above, not a stray learning rate.)
    named = [2.0 * ex.lr, 0.5 * ex.lr, ex.n * ex.lr]
    if (_np_all(_isfinite(used)) and used[0] > 0 and abs(used[0] - used[1]) <= 1e-3 * abs(used[0])
            and all(abs(used[0] - value) > 1e-3 * value for value in named)):
        candidates.append(("wrong_lr", start - used.mean() * grad, dict(lr_used=float(used.mean()), lr=ex.lr)))
    scale = float(max(_np_abs(start).max(), _np_abs(expected).max()))
    found = _judge_numbers(received, expected, candidates, scale=scale)
    if found is None:
        print(f"✓ step is right (seed {seed}).")
        return
    _fail_with(_verdict([f"{call_text} is wrong: expected w_new = {_fmt(expected[0], received[0])} and "
                         f"b_new = {_fmt(expected[1], received[1])}, received w_new = "
                         f"{_fmt(received[0], expected[0])} and b_new = {_fmt(received[1], expected[1])} "
                         f"(one update: w − lr·dw, b − lr·db)."], found, style=_style(framework)), warned)


def check_glorot_limit(glorot_limit, *, fans=((1, 1), (4, 2))):
    """Check ``glorot_limit(fan_in, fan_out)``: the half-width of the range Keras's Dense draws its kernel from.

    Expected values are read from Keras's own default initialiser
    (:func:`course.defaults.keras_kernel_limit`).  A wrong answer is named
    when it matches one known mistake at every ``(fan_in, fan_out)`` tried.
    """
    received, expected = [], []
    warned_all = []
    for fan_in, fan_out in fans:
        call_text = f"glorot_limit({fan_in}, {fan_out})"
        result, warned = _call(glorot_limit, "glorot_limit", f"{fan_in}, {fan_out}", int(fan_in), int(fan_out))
        warned_all += warned
        received.append(to_float(result, call_text))
        expected.append(_keras_kernel_limit(fan_in, fan_out))
    candidates = {
        "glorot_variance": [2.0 / (i + o) for i, o in fans],
        "glorot_std": [float(_sqrt(2.0 / (i + o))) for i, o in fans],
        "glorot_no_sqrt": [6.0 / (i + o) for i, o in fans],
        "glorot_full_width": [2.0 * float(_sqrt(6.0 / (i + o))) for i, o in fans],
        "torch_linear_bound": [1.0 / float(_sqrt(i)) for i, o in fans],
    }
    for formula, factor in (("√(3 / fan_in)", 3.0), ("√(6 / fan_in)", 6.0)):
        candidates[f"glorot_fan_in:{formula}"] = [float(_sqrt(factor / i)) for i, o in fans]

    def close(values, targets):
        return all(abs(v - t) <= RTOL * abs(t) for v, t in zip(values, targets))

    if close(received, expected):
        shown = ", ".join(f"glorot_limit({i}, {o}) = {_fmt(v)}" for (i, o), v in zip(fans, received))
        print(f"✓ {shown}: the range Keras's GlorotUniform draws from.")
        return
    first = next(k for k, (v, t) in enumerate(zip(received, expected)) if abs(v - t) > RTOL * abs(t))
    fan_in, fan_out = fans[first]
    lines = [f"glorot_limit({fan_in}, {fan_out}) is wrong: expected {_fmt(expected[first], received[first])}, "
             f"received {_fmt(received[first], expected[first])} (Keras's Dense draws its kernel uniformly "
             f"from [−limit, limit])."]
    found = []
    for key, values in candidates.items():
        if close(received, values) and not close(values, expected):
            mistake_id, _, formula = key.partition(":")
            found.append(Diagnosis(mistake_id, dict(formula=formula) if formula else {}))
    _fail_with(_verdict(lines, found, "A uniform distribution on [−ℓ, ℓ] has variance ℓ²/3, and Glorot "
                                      "sets the variance to 2 / (fan_in + fan_out).", style="keras"), warned_all)
