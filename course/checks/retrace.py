"""Notebook 5's "predict a retrace" exercise: which calls of a ``tf.function`` trace it (:func:`check_retrace`).

The calls are :data:`RETRACE_CALLS`.  The answer is checked against what
TensorFlow does, counted here by running the calls through a fresh
``tf.function`` whose Python body records each trace (a Python side effect
runs only while tracing).  The classic wrong beliefs are simulated on the
same calls (every call traces, tensor values matter, a Python number is a
tensor, the dtype does not count…) and named when the answer matches one.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import (
    Exception, bool, dict, enumerate, float, hasattr, int, isinstance, len, list, print, range, set, sorted, str,
    tuple, type,
)

from ..convert import describe, fail
from ..mistakes import Diagnosis
from .common import _verdict

#: The calls of the exercise, in order: ``double(<code>)``, with a builder of the argument.
RETRACE_CALLS = (
    ("tf.constant([1.0, 2.0, 3.0])", lambda tf, np: tf.constant([1.0, 2.0, 3.0])),
    ("tf.constant([4.0, 5.0, 6.0])", lambda tf, np: tf.constant([4.0, 5.0, 6.0])),
    ("tf.constant([1.0, 2.0])", lambda tf, np: tf.constant([1.0, 2.0])),
    ("tf.constant([1.0, 2.0, 3.0], dtype=tf.float64)", lambda tf, np: tf.constant([1.0, 2.0, 3.0], dtype=tf.float64)),
    ("np.array([7.0, 8.0, 9.0])", lambda tf, np: np.array([7.0, 8.0, 9.0])),
    ("1.5", lambda tf, np: 1.5),
    ("1.5", lambda tf, np: 1.5),
    ("2.5", lambda tf, np: 2.5),
    ("tf.constant(2.5)", lambda tf, np: tf.constant(2.5)),
    ("2", lambda tf, np: 2),
)


def retrace_calls() -> list:
    """The exercise's calls as the notebook shows them: ``["tf.constant([1.0, 2.0, 3.0])", …]``."""
    return [code for code, _ in RETRACE_CALLS]


def _arguments():
    from numpy import asarray

    from ..reference import quiet_tensorflow

    tf = quiet_tensorflow()
    import numpy as np

    built = [build(tf, np) for _, build in RETRACE_CALLS]
    return tf, built, asarray


def traced_by_tensorflow() -> list:
    """The numbers (from 1) of the calls that trace a fresh ``tf.function``: TensorFlow's own answer."""
    tf, built, _ = _arguments()
    traced, current = [], [0]

    def double(v):
        traced.append(current[0])  # Python: runs only while TensorFlow traces
        return 2 * v

    compiled = tf.function(double)
    for number, argument in enumerate(built, start=1):
        current[0] = number
        compiled(argument)
    return sorted(set(traced))


def _descriptions() -> list:
    """Each call's argument as the beliefs below see it."""
    _, built, asarray = _arguments()
    found = []
    for argument in built:
        if isinstance(argument, (int, float)):
            found.append(dict(python=True, numpy=False, type=type(argument).__name__, value=argument))
        else:
            values = asarray(argument.numpy() if hasattr(argument, "numpy") else argument)
            found.append(dict(python=False, numpy=not hasattr(argument, "numpy"), dtype=str(values.dtype),
                              shape=tuple(values.shape), value=tuple(values.reshape(-1).tolist())))
    return found


def _signature(call):
    """What TensorFlow keys its traces on: a tensor's dtype and shape, a Python number's value."""
    return ("python", call["value"]) if call["python"] else ("tensor", call["dtype"], call["shape"])


#: A wrong belief: mistake id -> the signature it keys the traces on (None: each call is new).
_BELIEFS = {
    "every_call_traces": lambda call, number: number,
    "tensor_values_retrace": lambda call, number: _signature(call) + (() if call["python"] else (call["value"],)),
    "python_numbers_by_type": lambda call, number: ("python", call["type"]) if call["python"] else _signature(call),
    "dtype_ignored": lambda call, number: ("python", call["value"]) if call["python"] else ("tensor", call["shape"]),
    "numpy_by_value": lambda call, number: ("numpy", call["value"]) if call["numpy"] else _signature(call),
    "scalar_tensor_as_python": lambda call, number: (
        ("python", call["value"][0]) if not call["python"] and call["shape"] == () else _signature(call)),
}


def _traces_under(key) -> list:
    seen, traced = set(), []
    for number, call in enumerate(_descriptions(), start=1):
        signature = key(call, number)
        if signature not in seen:
            seen.add(signature)
            traced.append(number)
    return traced


def _why(number: int, calls: list) -> str:
    """Why call ``number`` traces or not, in the words of the rule."""
    call, earlier = calls[number - 1], calls[:number - 1]
    same = [i for i, other in enumerate(earlier, start=1) if _signature(other) == _signature(call)]
    if same:
        what = "Python value" if call["python"] else f"dtype ({call['dtype']}) and shape {call['shape']}"
        return f"call {number} has the same {what} as call {same[0]}: the graph is reused"
    if not earlier:
        return f"call {number} is the first: it traces"
    if call["python"]:
        return f"call {number} passes the Python number {call['value']!r}, a value not seen before: it traces"
    tensors = [other for other in earlier if not other["python"]]
    if any(other["shape"] == call["shape"] for other in tensors):
        return f"call {number} has a shape already seen but a new dtype ({call['dtype']}): it traces"
    return f"call {number} is a tensor of a new shape {call['shape']}: it traces"


def _read(traced_calls) -> list:
    """The learner's answer as a sorted list of call numbers; ``AssertionError`` when it is something else."""
    count = len(RETRACE_CALLS)
    if isinstance(traced_calls, bool) or isinstance(traced_calls, (int, float)):
        fail(f"traced_calls should be a list of call numbers (1 to {count}), the calls that trace, but received "
             f"the single number {traced_calls!r}: list the calls, e.g. [1, 2], not how many there are.")
    if traced_calls is None or isinstance(traced_calls, (str, bytes, dict)):
        fail(f"traced_calls should be a list of call numbers (1 to {count}), but received {describe(traced_calls)}.")
    try:
        items = list(traced_calls)
    except Exception:
        fail(f"traced_calls should be a list of call numbers (1 to {count}), but received {describe(traced_calls)}.")
    numbers = []
    for item in items:
        try:
            whole = not isinstance(item, bool) and float(item) == int(item)
        except Exception:
            whole = False
        if not whole:
            fail(f"traced_calls should hold whole call numbers (1 to {count}), but it holds {describe(item)}.")
        numbers.append(int(item))
    if len(set(numbers)) != len(numbers):
        fail("traced_calls names a call twice: list each call that traces once.")
    outside = [n for n in numbers if n < 0 or n > count]
    if outside:
        fail(f"traced_calls holds {outside[0]}, but the calls are numbered 1 to {count}.")
    return sorted(numbers)


def check_retrace(traced_calls):
    """Check which of :data:`RETRACE_CALLS` trace a ``tf.function`` (call numbers from 1) against TensorFlow."""
    received = _read(traced_calls)
    expected = traced_by_tensorflow()
    count = len(RETRACE_CALLS)
    if received == expected:
        print(f"✓ traced_calls = {received} is right: {len(expected)} traces in {count} calls.")
        return
    calls = _descriptions()
    found = []
    slips = {mistake_id: _traces_under(key) for mistake_id, key in _BELIEFS.items()}
    slips["first_call_not_counted"] = expected[1:]
    slips["numbered_from_zero"] = [n - 1 for n in expected]
    for mistake_id, traced in slips.items():
        if traced == received and traced != expected:
            found.append(Diagnosis(mistake_id, dict(count=count, traces=len(expected))))
    wrong = [n for n in range(1, count + 1) if (n in received) != (n in expected)]
    lines = [f"traced_calls = {received} is wrong about {len(wrong)} of the {count} calls "
             f"({len(received)} traces listed, TensorFlow traces {len(expected)} times)."]
    if not found:
        lines += [_why(n, calls) + "." for n in wrong[:3]]
    lines.append("A tf.function traces again for a tensor of a new dtype or shape, and for each new Python value.")
    fail("\n".join(_verdict(lines[:1], found, style="tf", extra=lines[1:])))


__all__ = ["RETRACE_CALLS", "retrace_calls", "traced_by_tensorflow", "check_retrace"]
