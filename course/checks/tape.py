"""Notebook 5's tape exercise: the gradient of mean(v³) by ``tf.GradientTape`` (:func:`check_tape_gradient`).

The learner's function is called on a fresh float32 ``tf.constant`` (a
length and values no printed cell shows), so only a tape that watches its
input, or the right formula, passes.  A gradient of ``None`` is told apart:
if the same function answers right for a ``tf.Variable`` (which a tape
watches unasked), the constant was not watched; if not, the loss was not
recorded on the tape at all.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import Exception, dict, float, isinstance, round

from numpy import allclose as _allclose
from numpy import asarray as _asarray
from numpy import float64 as _float64
from numpy.random import default_rng as _default_rng

from ..convert import describe, fail, to_array, to_framework
from ..mistakes import RTOL, Diagnosis
from .common import _call, _verdict
from .fit import _function_name
from .values import check_value

#: The example of the notebook, x = [1, 2, 3]: a function that ignores its input returns its gradient.
_EXAMPLE = _asarray([1.0, 2.0, 3.0])
_LENGTHS = (5, 4, 6)


def tape_input(seed: int = 0):
    """The float64 copy of the float32 vector ``v`` the check passes for ``seed`` (0: the visible test)."""
    rng = _default_rng(700 + seed)
    n = _LENGTHS[seed % len(_LENGTHS)]
    values = [round(float(v), 2) for v in rng.uniform(-2.0, 3.0, n)]
    return _asarray(_asarray(values, dtype="float32"), dtype=_float64)


def _answer(function, name, v, variable):
    result, _ = _call(function, name, "v", to_framework(v, "tf", variable=variable))
    return result


def _matches(result, expected) -> bool:
    if result is None:
        return False
    try:
        values = to_array(result, "the result")
    except (AssertionError, Exception):
        return False
    return values.size == expected.size and bool(_allclose(values, expected, rtol=1e-3, atol=1e-5))


def check_tape_gradient(function, *, seed: int = 0):
    """Call ``function(v)`` on a float32 ``tf.constant`` and compare with d mean(v³)/dv = 3·v² / n."""
    name = _function_name(function)
    v = tape_input(seed)
    n = v.size
    expected = 3 * v ** 2 / n
    call = f"{name}(v) for v = tf.constant({[float(f'{value:g}') for value in v]})"
    result = _answer(function, name, v, variable=False)
    if result is None:
        # A tf.Variable is watched unasked: right for it means the constant was not watched.
        found = "not_watched" if _matches(_answer(function, name, v, variable=True), expected) else "outside_tape"
        line = f"{call} returned None instead of the gradient."
        fail("\n".join(_verdict([line], [Diagnosis(found, dict(n=n))], style="tf")))
    values = to_array(result, f"{name}(v)")
    if values.size != n:
        if values.size == _EXAMPLE.size and _allclose(values, 3 * _EXAMPLE ** 2 / _EXAMPLE.size, rtol=RTOL):
            line = f"{call} returned 3 numbers: the gradient at the example's [1, 2, 3], not at v."
            fail("\n".join(_verdict([line], [Diagnosis("example_input", dict(n=n))], style="tf")))
        fail(f"{call} should return {n} numbers, one ∂/∂v_i per entry of v, but returned {describe(result)}.")
    check_value(result, expected, name=f"{name}(v)", slips=[
        ("sum_reduction", 3 * v ** 2, dict(n=n)),
        ("other_function", 2 * v / n, dict(function="mean(x²)", wanted="mean(x³)", rule="3·x_i² / n")),
        ("other_function", v ** 2 / n, dict(function="mean(x³) / 3 (the power rule's factor 3 left out)",
                                            wanted="mean(x³)", rule="3·x_i² / n")),
        ("fixed_n", 3 * v ** 2 / _EXAMPLE.size, dict(n=n)),
    ])


__all__ = ["check_tape_gradient", "tape_input"]
