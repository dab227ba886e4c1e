"""Check of notebook 6's function for one epoch of mini-batch gradient descent (:func:`check_minibatch_epoch`).

It calls the learner's function on the exercise's inputs and on a few more
(other batch sizes) and names the slip every call agrees with: the last
partial batch dropped, every gradient taken at the epoch's start, the batch's
gradient divided by n, b's gradient taken after w moved, the factor 2 dropped.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import (
    AssertionError, abs, all, dict, max, next, print, range, zip,
)

from ..convert import to_array, to_float
from ..mistakes import Diagnosis
from .common import _fmt, _verdict, _fail_with, _call, _unpack


# ---------------------------------------------------------------------------------------------
# One epoch of mini-batches.


def _epoch(x, y, lr, w0, b0, batch_size, *, drop_last=False, stale=False, divisor=None, b_after_w=False,
           factor=2.0, sign=1.0):
    """One in-order mini-batch epoch in float64, with the named slips as switches."""
    w, b = float(w0), float(b0)
    n = x.size
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        at_w, at_b = (float(w0), float(b0)) if stale else (w, b)
        size = divisor if divisor is not None else xb.size
        r = at_w * xb + at_b - yb
        w_new = w - sign * lr * factor * float((r * xb).sum()) / size
        if b_after_w:
            r = w_new * xb + at_b - yb
        b = b - sign * lr * factor * float(r.sum()) / size
        w = w_new
    return w, b


def _epoch_candidates(x, y, lr, w0, b0, batch_size):
    n = x.size
    run = lambda **slip: _epoch(x, y, lr, w0, b0, batch_size, **slip)  # noqa: E731
    return [
        ("floor_batches", run(drop_last=True), {}),
        ("stale_gradients", run(stale=True), {}),
        ("divisor_n", run(divisor=n), dict(n=n)),
        ("b_from_new_w", run(b_after_w=True), {}),
        ("grad_half", run(factor=1.0), {}),
        ("grad_x2", run(factor=4.0), {}),
        ("sign_flip", run(sign=-1.0), {}),
        ("sum_reduction", run(divisor=1), dict(n=batch_size)),
        ("full_batch_count", _epoch(x, y, lr, w0, b0, n), {}),
        ("one_per_sample", _epoch(x, y, lr, w0, b0, 1), {}),
    ]


def _close(received, expected, rtol, scale):
    return all(abs(r - e) <= rtol * abs(e) + rtol * 1e-2 * scale for r, e in zip(received, expected))


def check_minibatch_epoch(minibatch_epoch, *, x, y, lr, w0, b0, batch_size, expected=None, rtol=1e-5):
    """Check ``minibatch_epoch(x, y, lr, w0, b0, batch_size=…) -> (w, b)``: one epoch of in-order mini-batches.

    ``expected``: the ``(w, b)`` a real Keras epoch gave (float32), else the
    float64 reference.  A wrong answer is diagnosed by also calling the
    function with other batch sizes.
    """
    xs, ys = to_array(x, "x"), to_array(y, "y")
    lr, w0, b0 = to_float(lr, "lr"), to_float(w0, "w0"), to_float(b0, "b0")
    n = xs.size
    reference = _epoch(xs, ys, lr, w0, b0, batch_size)
    want = reference if expected is None else (to_float(expected[0], "expected w"), to_float(expected[1], "expected b"))
    scale = max(abs(want[0]), abs(want[1]), abs(w0), abs(b0), 1.0)
    text = f"x, y, lr={lr:g}, w0={w0:g}, b0={b0:g}, batch_size={batch_size}"

    def call(size):
        result, warned = _call(minibatch_epoch, "minibatch_epoch", text, xs.copy(), ys.copy(), lr, w0, b0, size)
        pair = _unpack(result, 2, f"minibatch_epoch({text})", "the pair (w, b)")
        return (to_float(pair[0], "w"), to_float(pair[1], "b")), warned

    got, warned = call(batch_size)
    w_ok = _close([got[0]], [want[0]], rtol, scale)
    b_ok = _close([got[1]], [want[1]], rtol, scale)
    if w_ok and b_ok:
        print(f"✓ minibatch_epoch({text}) = (w = {_fmt(got[0])}, b = {_fmt(got[1])}) matches one Keras epoch.")
        return
    numbers = [f"After one epoch (batch_size={batch_size}): w = {_fmt(got[0], want[0])} "
               f"({'right' if w_ok else f'expected {_fmt(want[0], got[0])}'}), b = {_fmt(got[1], want[1])} "
               f"({'right' if b_ok else f'expected {_fmt(want[1], got[1])}'})."]
    # Probes: batch sizes that leave a partial batch and that make one batch.
    partial = next((s for s in (n // 3 + 1, n // 2 + 1, 3) if 1 < s < n and n % s and s != batch_size), None)
    seen = {batch_size: got}
    for size in [s for s in (partial, n) if s is not None and s != batch_size]:
        try:
            seen[size] = call(size)[0]
        except AssertionError:
            break
    found = []
    for mistake_id, _, details in _epoch_candidates(xs, ys, lr, w0, b0, batch_size):
        agrees, informative = True, False
        for size, value in seen.items():
            candidate = dict((m, v) for m, v, _ in _epoch_candidates(xs, ys, lr, w0, b0, size))[mistake_id]
            right = _epoch(xs, ys, lr, w0, b0, size)
            tolerance = 1e-6 if size != batch_size or expected is None else rtol
            if not _close(value, candidate, tolerance * 10, scale):
                agrees = False
                break
            informative |= not _close(candidate, right, tolerance * 10, scale)
        if agrees and informative and all(d.id != mistake_id for d in found):
            found.append(Diagnosis(mistake_id, details))
    extra = []
    if not found and n in seen:
        full_right = _close(seen[n], _epoch(xs, ys, lr, w0, b0, n), 1e-5, scale)
        extra.append(f"With batch_size={n} (one batch of all the points) your function is "
                     + ("right: the slip is in how the batches are cut or chained." if full_right else
                        "wrong too: check one update, w − lr·2·mean(r·x), b − lr·2·mean(r)."))
    _fail_with(_verdict(numbers, found, "These values match none of the mistakes this check knows: each batch "
                        "x[i:i + batch_size] updates w and b once, from the current w and b.", extra=extra), warned)
