"""What a learner's fit does step by step, read from probe calls (:func:`diagnose_steps`).

A check calls the learner's ``fit`` again with ``epochs`` = 1, 2, 3 from the
exercise's start and once from a second start, and hands the results here.
Each candidate *rule* (the right update, the gradient used on the wrong
parameter, the error squared after averaging, gradients zeroed before the
update or on one parameter only, b's gradient taken after w moved, a ReLU on
the output, in-order mini-batches of any size, an epoch count shifted or
doubled…) predicts all of those states; a rule is named when it predicts every
probe and the right update does not.  Several short probes tell apart what one
long trajectory cannot: a run that converged looks the same whatever its
epoch count was.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import (
    abs, bool, dict, enumerate, float, int, len, list, max, range, str, tuple,
)

from numpy import asarray as _asarray
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import where as _where

from .catalog import Diagnosis
from .matching import values_match


def _grad(x, y, w, b, reduction, relu=False):
    p = w * x + b
    scale = 2.0 / x.size if reduction == "mean" else 2.0
    if relu:
        mask = p > 0
        r = _where(mask, p, 0.0) - y
        r = _where(mask, r, 0.0)
    else:
        r = p - y
    return scale * float((r * x).sum()), scale * float(r.sum())


def _rules(x, y, reduction, n):
    """name -> one epoch's update ``(w, b, memory) -> (w, b, memory)`` (``memory``: summed gradients)."""
    g = lambda w, b: _grad(x, y, w, b, reduction)  # noqa: E731
    x_bar = float(x.mean())

    def plain(transform):
        def update(w, b, lr, memory):
            gw, gb = transform(w, b, *g(w, b))
            return w - lr * gw, b - lr * gb, memory
        return update

    def accumulate(on_w, on_b):
        def update(w, b, lr, memory):
            gw, gb = g(w, b)
            mw, mb = memory
            mw, mb = (mw + gw if on_w else gw), (mb + gb if on_b else gb)
            return w - lr * mw, b - lr * mb, (mw, mb)
        return update

    def b_from_new_w(w, b, lr, memory):
        gw, _ = g(w, b)
        w_new = w - lr * gw
        return w_new, b - lr * g(w_new, b)[1], memory

    def square_of_mean(w, b, lr, memory):
        e = float((w * x + b - y).mean())
        return w - lr * 2.0 * e * x_bar, b - lr * 2.0 * e, memory

    def relu(w, b, lr, memory):
        gw, gb = _grad(x, y, w, b, reduction, relu=True)
        return w - lr * gw, b - lr * gb, memory

    rules = {
        "right": plain(lambda w, b, gw, gb: (gw, gb)),
        "zero": plain(lambda w, b, gw, gb: (0.0, 0.0)),
        "sum": plain(lambda w, b, gw, gb: (n * gw, n * gb)),
        "x2": plain(lambda w, b, gw, gb: (2 * gw, 2 * gb)),
        "half": plain(lambda w, b, gw, gb: (0.5 * gw, 0.5 * gb)),
        "sign": plain(lambda w, b, gw, gb: (-gw, -gb)),
        "only_w": plain(lambda w, b, gw, gb: (gw, 0.0)),
        "only_b": plain(lambda w, b, gw, gb: (0.0, gb)),
        "crossed_b": plain(lambda w, b, gw, gb: (gw, gw)),
        "crossed_w": plain(lambda w, b, gw, gb: (gb, gb)),
        "swapped_grads": plain(lambda w, b, gw, gb: (gb, gw)),
        "accumulate": accumulate(True, True),
        "accumulate_b": accumulate(False, True),
        "accumulate_w": accumulate(True, False),
        "b_from_new_w": b_from_new_w,
        "square_of_mean": square_of_mean,
        "relu": relu,
    }
    if reduction == "mean":
        for size in range(1, n):
            rules[f"minibatch:{size}"] = _minibatch_rule(x, y, size)
    return rules


def _minibatch_rule(x, y, size):
    def update(w, b, lr, memory):
        for start in range(0, x.size, size):
            w, b = (lambda gw_gb: (w - lr * gw_gb[0], b - lr * gw_gb[1]))(
                _grad(x[start:start + size], y[start:start + size], w, b, "mean"))
        return w, b, memory
    return update


def _simulate(update, lr, w0, b0, epochs):
    w, b, memory, states = float(w0), float(b0), (0.0, 0.0), []
    with _errstate(all="ignore"):
        for _ in range(epochs):
            w, b, memory = update(w, b, lr, memory)
            states.append((w, b))
    return states


def _diagnosis(rule, *, style, n, w0, b0, epochs):
    torch_like = style in ("torch", "optim")
    if rule == "zero":
        return Diagnosis("zero_before_update" if torch_like else "no_update", dict(w0=w0, b0=b0))
    simple = {"sum": "sum_reduction", "x2": "grad_x2", "half": "grad_half", "sign": "sign_flip",
              "accumulate": "no_zero_grad", "square_of_mean": "square_of_mean", "b_from_new_w": "b_from_new_w",
              "relu": "relu_activation"}
    if rule in simple:
        return Diagnosis(simple[rule], dict(n=n))
    if rule == "only_w":
        return Diagnosis("only_w", dict(b0=b0))
    if rule == "only_b":
        return Diagnosis("only_b", dict(w0=w0))
    crossed = {
        "crossed_b": "b was updated with w's gradient (b − lr·∂L/∂w), so b's step is the size of w's",
        "crossed_w": "w was updated with b's gradient (w − lr·∂L/∂b), so w's step is the size of b's",
        "swapped_grads": "the gradients were swapped: w moved by b's gradient and b by w's",
    }
    if rule in crossed:
        return Diagnosis("crossed_grad", dict(which=crossed[rule]))
    if rule in ("accumulate_b", "accumulate_w"):
        kept, piled = ("w", "b") if rule == "accumulate_b" else ("b", "w")
        return Diagnosis("zero_one_grad", dict(which=f"only {kept}'s gradient was zeroed, {piled}'s never was"))
    if rule.startswith("minibatch:"):
        size = int(rule.split(":")[1])
        return Diagnosis("minibatches", dict(batch_size=size, batches=-(-n // size), n=n))
    return None


def diagnose_steps(probes, *, x, y, lr, w0, b0, alt_start, reduction, epochs, tol, style) -> list:
    """The rules every probe agrees with, as diagnoses (empty when the right rule explains them).

    ``probes``: ``{(start, k): (w, b, loss_count)}`` with ``start`` "main" (``w0, b0``) or "alt"
    (``alt_start``) and ``k`` the ``epochs`` the learner's function was called with.
    """
    x = _asarray(x, dtype=_float64).reshape(-1)
    y = _asarray(y, dtype=_float64).reshape(-1)
    n = x.size
    if not probes:
        return []
    starts = {"main": (float(w0), float(b0)), "alt": alt_start}
    longest = max(k for _, k in probes)

    def predicted(update):
        paths = {name: _simulate(update, lr, *start, 2 * longest + 2) for name, start in starts.items()}
        return lambda name, steps: starts[name] if steps == 0 else paths[name][steps - 1]

    def agrees(state_of, mapping=lambda k: k):
        same_all, informative_any = True, False
        for (name, k), (w, b, _) in probes.items():
            want = state_of(name, mapping(k))
            same, informative = values_match([w, b], list(want), tol.param_atol, tol.param_limit)
            if not bool(same.all()):
                return None
            right = values_match([w, b], list(right_state(name, k)), tol.param_atol, tol.param_limit)[0]
            informative_any |= bool((informative & ~right).any())
        return same_all and informative_any

    rules = _rules(x, y, reduction, n)
    right_state = predicted(rules["right"])
    found = []
    # The epoch count: every probe lands where the right run is after k + c (or 2k) epochs.
    counts = [k for (_, k) in probes]
    for label, mapping in (("-1", lambda k: k - 1), ("+1", lambda k: k + 1), ("x2", lambda k: 2 * k)):
        if min(mapping(k) for k in counts) < 0:
            continue
        if agrees(right_state, mapping):
            run = {"-1": epochs - 1, "+1": epochs + 1, "x2": 2 * epochs}[label]
            if label == "x2" and style == "keras":
                found.append(Diagnosis("fit_twice", dict(epochs_run=run, epochs=epochs)))
            else:
                found.append(Diagnosis("epochs_off", dict(epochs_run=run, epochs=epochs)))
            return found
    for rule, update in rules.items():
        if rule == "right":
            continue
        if agrees(predicted(update)):
            diagnosis = _diagnosis(rule, style=style, n=n, w0=w0, b0=b0, epochs=epochs)
            if diagnosis is not None and all_ids_differ(found, diagnosis):
                found.append(diagnosis)
    return found


def all_ids_differ(found, diagnosis) -> bool:
    return all(d.id != diagnosis.id for d in found)


def first_step_text(probes, *, x, y, lr, w0, b0, reduction, tol) -> str:
    """What is right and what is not in the learner's first update from ``(w0, b0)`` (``""`` unknown)."""
    if ("main", 1) not in probes:
        return ""
    x = _asarray(x, dtype=_float64).reshape(-1)
    y = _asarray(y, dtype=_float64).reshape(-1)
    w1, b1, _ = probes[("main", 1)]
    gw, gb = _grad(x, y, float(w0), float(b0), reduction)
    step_w, step_b = float(w0) - w1, float(b0) - b1
    parts, right = [], []
    for name, step, grad in (("w", step_w, gw), ("b", step_b, gb)):
        want = lr * grad
        ok = bool(values_match([step + float(w0 if name == "w" else b0)], [want + float(w0 if name == "w" else b0)],
                               tol.param_atol, tol.param_limit)[0].all())
        if ok:
            right.append(name)
            continue
        ratio = step / want if want else None
        multiple = f" = {_nice(ratio, x.size)}·lr·∂L/∂{name}" if ratio is not None and _nice(ratio, x.size) else ""
        cross = (lr * gb if name == "w" else lr * gw)
        other = "b" if name == "w" else "w"
        if cross and abs(step / cross - 1.0) <= 1e-3:
            multiple += f" = lr·∂L/∂{other}, {other}'s step"
        parts.append(f"{name} moved by {-step:.5g} instead of {-want:.5g}{multiple}")
    if not parts:
        return (f"The first epoch's update is right (epochs=1 gives the reference's w and b); "
                f"what goes wrong comes later.")
    lead = (f"{' and '.join(right)} {'is' if len(right) == 1 else 'are'} right after one epoch; " if right else
            "After one epoch from (w0, b0): ")
    return lead + "; ".join(parts) + "."


def _nice(ratio, n):
    """``ratio`` as one of the multiples slips give (2, −1, ½, n…), or ``""``."""
    if ratio is None:
        return ""
    for candidate in (1, -1, 2, -2, 0.5, -0.5, 4, 0.25, n, -n):
        if abs(ratio - candidate) <= 1e-3 * abs(candidate):
            return str(int(candidate)) if float(candidate).is_integer() else str(candidate)
    return ""
