"""Which known mistakes a learner's values match (:func:`find_mistakes`, :func:`diagnose`): the
candidate trajectories tried, most likely first."""

from __future__ import annotations

# Bound at import time on purpose (see course.convert): a learner who rebinds
# a builtin or a NumPy function in their session cannot change a diagnosis.
from builtins import (
    AssertionError, Exception, KeyError, ValueError, abs, all, any, bool, dict, enumerate, float,
    int, len, list, max, range, sorted, tuple,
)
import sys as _sys

from numpy import any as _np_any
from numpy import all as _np_all
from numpy import array as _array
from numpy import asarray as _asarray
from numpy import errstate as _errstate
from numpy import float64 as _float64
from numpy import full as _full
from numpy import isfinite as _isfinite
from numpy.linalg import matrix_power as _matrix_power

from .. import data as _data
from ..convert import to_array, to_float
from ..reference import fit_numpy as _fit_numpy
from ..reference import stability_bound as _stability_bound
from .catalog import Diagnosis
from .matching import _blown, _Learner, tolerance_for
from .runs import _BUG_FLAGS, Variant, _variant, run_variants


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
#: Batch sizes a Keras learner may have typed (tried in order, smallest first).
_KERAS_SIZES = (1, 2, 3, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128)
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


def _minibatch_diagnoses(w, b, losses, tol, x, y, epochs, reference, *, sizes, lr, w0, b0, reduction) -> list:
    from numpy import arange as _arange
    from numpy import broadcast_to as _broadcast_to

    n = x.size
    settings = dict(lr=lr, epochs=epochs, w0=w0, b0=b0, reduction=reduction)
    learner = _Learner(w, b, None, tol)
    correct_same = learner.compare(reference.w, reference.b, None)[0]
    in_order = _broadcast_to(_arange(n), (1, epochs, n))
    for size in sizes:
        with _errstate(all="ignore"):
            mw, mb = _minibatch_runs(x, y, in_order, size, **settings)
        if learner.matches(mw[0], mb[0], None, correct_same):
            return [Diagnosis("minibatches", dict(batches=-(-n // size), batch_size=size, n=n))]
    for size in sizes:
        found = _shuffled_diagnosis(w, b, losses, tol, x, y, epochs, reference, correct_same, size, settings)
        if found:
            return found
    return []


def _shuffled_diagnosis(w, b, losses, tol, x, y, epochs, reference, correct_same, size, settings) -> list:
    from numpy import arange as _arange
    from numpy import broadcast_to as _broadcast_to
    from numpy.random import default_rng as _rng

    n = x.size
    details = dict(batches=-(-n // size), batch_size=size, n=n)
    rng = _rng(0)
    orders = rng.permuted(_broadcast_to(_arange(n), (_SHUFFLED_RUNS, epochs, n)).copy(), axis=2)
    with _errstate(all="ignore"):
        sw, sb = _minibatch_runs(x, y, orders, size, **settings)
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
                  reference=None, style="numpy") -> list:
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
    bug_ids = [bug for bug in _BUG_FLAGS if _BUG_FLAGS[bug].get("reduction", "") != reduction
               and (bug != "relu_activation" or style == "keras")]  # a ReLU: only Keras's Dense offers one
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
    # Fewer losses than epochs: a shorter run (range(1, epochs), epochs=199) is likelier than a lost loss.
    shorter = losses is not None and len(losses) < epochs
    if not shorter:
        _consider_loss_history(learner, consider, reference, full_losses, epochs)
    _consider_epochs(learner, consider, x, y, Variant(**settings), w_path, b_path, full_losses, epochs)
    if shorter:
        _consider_loss_history(learner, consider, reference, full_losses, epochs)

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
    sizes = [size for size in _KERAS_SIZES if size < n] if style == "keras" else (
        [KERAS_BATCH_SIZE] if n > KERAS_BATCH_SIZE else [])
    if sizes and epochs > 0 and not found:
        found += _minibatch_diagnoses(w, b, losses, tol, x, y, epochs, reference, sizes=sizes, **settings)

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
