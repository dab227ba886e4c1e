"""Check of notebook 6's Exercise 1 (:func:`check_left_out`): for six programs that each leave some settings
out, the default that makes the program's run differ from NumPy's, or ``None`` where no default does.

The expected answer is worked out here from the defaults of the installed versions (the same values
:func:`course.defaults.framework_defaults` prints), not typed in: a left-out setting is the cause when its
default is not what NumPy's run uses *and* it changes this run (a default batch of 32 changes nothing on six
points, and float32 only moves the last digits).  ``tests/test_defaults.py`` runs the six programs for real.
"""

from __future__ import annotations

# Bound at import time on purpose (see course.convert).
from builtins import (
    RuntimeError, dict, float, isinstance, iter, len, max, next, print, round, sorted, str, type,
)

from ..convert import describe, fail
from ..mistakes import Diagnosis
from .common import _verdict, _fail_with

#: The names a cause may be given by, and the spellings each also accepts.
SETTINGS = {
    "lr": ("learning_rate", "learning rate", "lr"),
    "batch_size": ("batch_size", "batch size", "batch", "batches"),
    "shuffle": ("shuffle", "shuffling"),
    "start": ("start", "initial weights", "init", "initialiser", "initializer", "weights", "w0"),
    "optimizer": ("optimizer", "optimiser"),
    "reduction": ("reduction", "loss"),
    "dtype": ("dtype", "float type", "float32", "precision", "float"),
}

#: NumPy's run that every program means to reproduce: reference.fit_numpy(x, y, lr=RUN_LR, epochs=RUN_EPOCHS).
RUN_LR, RUN_EPOCHS = 0.05, 20

#: The six programs of the exercise: framework, points, what each writes out and what it leaves out.
PROGRAMS = {
    "A": dict(framework="keras", n=100, writes=("start", "optimizer", "batch_size", "shuffle"),
              leaves=("lr", "reduction", "dtype")),
    "B": dict(framework="keras", n=100, writes=("start", "optimizer", "lr", "shuffle"),
              leaves=("batch_size", "reduction", "dtype")),
    "C": dict(framework="keras", n=6, writes=("start", "optimizer", "lr"),
              leaves=("batch_size", "shuffle", "reduction", "dtype")),
    "D": dict(framework="keras", n=100, writes=("optimizer", "lr", "batch_size", "shuffle"),
              leaves=("start", "reduction", "dtype")),
    "E": dict(framework="pytorch", n=100, writes=("start", "optimizer", "lr", "batch_size", "shuffle"),
              leaves=("reduction", "dtype")),
    "F": dict(framework="keras", n=100, writes=("start", "batch_size", "shuffle"),
              leaves=("optimizer", "lr", "reduction", "dtype")),
}

_MEAN = ("mean", "sum_over_batch_size")


def installed_defaults() -> dict:
    """The defaults the programs leave to their framework, read from the installed versions."""
    import inspect

    from ..defaults import keras_kernel_limit
    from ..reference import quiet_tensorflow
    from .batches import _measured

    quiet_tensorflow()
    import keras
    from torch import nn

    fit = inspect.signature(keras.Model.fit).parameters
    return dict(
        keras_lr=round(float(keras.optimizers.get("sgd").learning_rate), 9),
        keras_optimizer=inspect.signature(keras.Model.compile).parameters["optimizer"].default,
        keras_batch=max(_measured(100, (None,))[None]),
        keras_shuffle=fit["shuffle"].default,
        keras_kernel=f"{type(keras.layers.Dense(1).kernel_initializer).__name__}, |w| ≤ {keras_kernel_limit():.3f}",
        keras_reduction=keras.losses.MeanSquaredError().reduction,
        torch_reduction=nn.MSELoss().reduction,
    )


def _causes(program, found) -> dict:
    """``setting -> (its default, what NumPy's run uses)`` for each left-out setting that changes the run."""
    spec, causes = PROGRAMS[program], {}
    keras = spec["framework"] == "keras"
    leaves, n = spec["leaves"], spec["n"]
    if "optimizer" in leaves and keras and found["keras_optimizer"] != "sgd":
        causes["optimizer"] = (f"'{found['keras_optimizer']}'", "plain gradient descent")
    elif "lr" in leaves and keras and found["keras_lr"] != RUN_LR:
        causes["lr"] = (f"{found['keras_lr']:g}", f"{RUN_LR:g}")
    if "batch_size" in leaves and keras and found["keras_batch"] < n:
        causes["batch_size"] = (f"batches of {found['keras_batch']}", f"one batch of all {n} points")
    elif "shuffle" in leaves and "batch_size" in spec["writes"] and keras and found["keras_shuffle"]:
        causes["shuffle"] = ("shuffle=True", "the points in order")
    if "start" in leaves and keras and not found["keras_kernel"].startswith("Zeros"):
        causes["start"] = (f"a random kernel ({found['keras_kernel']})", "w = 0")
    reduction = found["keras_reduction" if keras else "torch_reduction"]
    if "reduction" in leaves and reduction not in _MEAN:
        causes["reduction"] = (f"'{reduction}'", "the mean")
    return causes


def expected_causes(found=None) -> dict:
    """``program -> the setting whose default makes it differ from NumPy's run, or None``."""
    found = installed_defaults() if found is None else found
    expected = {}
    for program in PROGRAMS:
        causes = _causes(program, found)
        if len(causes) > 1:  # the exercise asks for one cause per program: keep it answerable
            raise RuntimeError(f"program {program} now has several causes: {sorted(causes)}")
        expected[program] = next(iter(causes), None)
    return expected


def _normalised(value, program):
    if value is None:
        return None
    if not isinstance(value, str):
        fail(f"left_out[{program!r}] should be a setting's name (a string) or None, but is {describe(value)}.")
    text = " ".join(value.strip().lower().replace("_", " ").replace("-", " ").split())
    if text in ("none", "", "nothing"):
        return None
    for name, spellings in SETTINGS.items():
        if text in {s.replace("_", " ") for s in spellings}:
            return name
    fail(f"left_out[{program!r}] = {value!r} is not one of the names the exercise lists: "
         + ", ".join(f"'{name}'" for name in SETTINGS) + ", or None.")


def _slip(program, answer, expected, found, causes):
    """The named mistake of one wrong entry, or None."""
    spec = PROGRAMS[program]
    if answer is None and expected is not None:
        default, ours = causes[expected]
        return Diagnosis("default_missed", dict(program=program, setting=expected, value=default, ours=ours))
    if answer == "dtype":
        return Diagnosis("float32_blamed", {})
    if answer == "reduction":
        return Diagnosis("reduction_default_mean", {})
    if answer in spec["writes"]:
        return Diagnosis("default_written", dict(program=program, setting=answer))
    if answer in ("batch_size", "shuffle") and found["keras_batch"] >= spec["n"]:
        return Diagnosis("default_batch_holds_all", dict(batch=found["keras_batch"], n=spec["n"]))
    if answer == "lr" and expected == "optimizer":
        return Diagnosis("lr_not_optimizer", dict(optimizer=causes["optimizer"][0]))
    return None


def check_left_out(left_out):
    """Check ``left_out``: a dict ``program -> the default that makes it differ from NumPy's run, or None``."""
    if not isinstance(left_out, dict):
        fail(f"left_out should be a dict such as {{'A': 'lr', 'B': None, …}}, but is {describe(left_out)}.")
    keys = {str(key).strip().upper(): value for key, value in left_out.items()}
    missing = [program for program in PROGRAMS if program not in keys]
    if missing:
        fail(f"left_out has no entry for program{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
             f"give one for each of {', '.join(PROGRAMS)} (None where the run agrees with NumPy's).")
    found = installed_defaults()
    expected = expected_causes(found)
    answers = {program: _normalised(keys[program], program) for program in PROGRAMS}
    wrong = [program for program in PROGRAMS if answers[program] != expected[program]]
    if not wrong:
        differ = [program for program in PROGRAMS if expected[program]]
        print(f"✓ left_out is right: {', '.join(differ)} differ from NumPy's run, each through one default; "
              f"{', '.join(p for p in PROGRAMS if p not in differ)} agree with it.")
        return
    lines = [f"{len(wrong)} of {len(PROGRAMS)} programs wrong: "
             + "; ".join(f"{p}: expected {expected[p]!r}, received {answers[p]!r}" for p in wrong) + "."]
    named = []
    for program in wrong:
        slip = _slip(program, answers[program], expected[program], found, _causes(program, found))
        if slip is not None and slip.id not in [d.id for d in named]:
            named.append(slip)
    _fail_with(_verdict(lines, named, "For each program, list what it leaves out; a left-out setting is the "
                        "cause only if its default (the table above) is not what NumPy's run uses and it "
                        "changes this run."))


__all__ = ["check_left_out", "expected_causes", "installed_defaults", "PROGRAMS", "SETTINGS"]
