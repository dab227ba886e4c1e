"""The synthetic classes: which students the demo, the bench and the end-to-end tests grade.

* :func:`class_variants` - the demo's class for one assignment: correct,
  partially correct, one student per named mistake, broken ones;
* :func:`hostile_variants` - one student per hostile case (an infinite loop,
  a memory hog, ``os._exit``, a killed kernel, tampered tests,
  monkeypatching, ``course.reference``, unreadable files, huge output);
  generic, so they work on any assignment.

How a :class:`~autograder.demo.synthetic.Variant` becomes a notebook, and what
the grader must make of it, is :mod:`autograder.demo.synthetic`.
"""

from __future__ import annotations

import ast
import json
from typing import Callable

import nbformat

from .synthetic import (
    AFTER_LAST_SOLUTION, ALL, Edit, Variant, _nbgrader,
    solution_ids, test_ids,
)


# ----------------------------------------------------------------------------------------------
# Whole-notebook changes
# ----------------------------------------------------------------------------------------------
def _index(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if _nbgrader(c).get("grade_id") == grade_id)


def _first_test(nb) -> str:
    return test_ids(nb)[0]


def _last_test(nb) -> str:
    return test_ids(nb)[-1]


def _last_solution(nb) -> str:
    return solution_ids(nb)[-1]


def _prepend_to_last_answer(code: str):
    """Put ``code`` at the top of the last answer cell (so earlier tests are unaffected)."""
    def change(nb):
        cell = nb.cells[_index(nb, _last_solution(nb))]
        cell.source = code + "\n" + cell.source
    return change


def _insert_after_setup(code: str):
    """A cell of the student's own, right after the locked set-up cells."""
    def change(nb):
        first_answer = _index(nb, solution_ids(nb)[0])
        nb.cells.insert(first_answer, nbformat.v4.new_code_cell(code))
    return change


def _delete_first_test(nb) -> None:
    del nb.cells[_index(nb, _first_test(nb))]


def _blank_last_test(nb) -> None:
    nb.cells[_index(nb, _last_test(nb))].source = "pass  # the test was in the way"


def _move_first_test_up(nb) -> None:
    """Move the first test cell above its answer cell (it would then test an undefined name)."""
    test = nb.cells.pop(_index(nb, _first_test(nb)))
    nb.cells.insert(_index(nb, solution_ids(nb)[0]), test)


def _poison(value: str):
    """Replace every answer by one that defines the same names with ``value`` (NaN, wrong types)."""
    def change(nb):
        for gid in solution_ids(nb):
            cell = nb.cells[_index(nb, gid)]
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            lines = []
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    lines.append(f"def {node.name}(*args, **kwargs):\n    return {value}")
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        names = target.elts if isinstance(target, ast.Tuple) else [target]
                        lines += [f"{n.id} = {value}" for n in names if isinstance(n, ast.Name)]
            cell.source = "\n".join(lines) or cell.source
    return change


_FAKE_CHECKS = """\
# Make every check pass, whatever the answers are.
import builtins, sys, types
import numpy
import course
import course.checks

def _always_fine(*args, **kwargs):
    return None

fake = types.ModuleType("course.checks")
for _name in dir(course.checks):
    if _name.startswith("check_"):
        setattr(fake, _name, _always_fine)
        setattr(course.checks, _name, _always_fine)
sys.modules["course.checks"] = fake
course.checks = fake
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
builtins.abs = lambda value: 0.0"""

_HOG = """\
hog = []
while True:  # grow until the grader's memory cap stops it
    hog.append(bytearray(50_000_000))"""

_UNSTOPPABLE = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignores the grader's interrupt
while True:
    try:
        sum(range(10_000))
    except BaseException:
        pass"""

_HUGE_OUTPUT = """\
for _i in range(200_000):
    print("line", _i)
print("x" * 3_000_000)"""

_EMPTY_NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# ----------------------------------------------------------------------------------------------
# The variants
# ----------------------------------------------------------------------------------------------
def generic_variants() -> list[Variant]:
    """Students that fit any assignment."""
    return [
        Variant("correct", "the instructor's solution: full marks, no notes"),
        Variant("partial", "first half of the answers done, the rest left as the stub",
                unsolved="second-half", failing="second-half"),
        Variant("blank", "nothing answered: zero, and nbgrader's 'No response'", unsolved="all", failing=ALL),
        Variant("broken-syntax", "a syntax error in the last answer: its tests fail, earlier ones pass",
                change=_prepend_to_last_answer("def oops(:"), failing=AFTER_LAST_SOLUTION),
        Variant("broken-nan", "every answer is NaN: the checks fail with a message, never crash",
                change=_poison('float("nan")'), failing=ALL),
        Variant("broken-types", "every answer is a string: the checks say so instead of crashing",
                change=_poison('"not a number"'), failing=ALL),
        Variant("broken-json", "the file is not JSON: graded as the blank assignment, with a note",
                file_text="{ this is not a notebook", failing=ALL, notes=("unreadable",)),
    ]


def hostile_variants() -> list[Variant]:
    """One student per hostile case of the issue (generic over assignments)."""
    return [
        Variant("hostile-infinite-loop", "an endless loop in the last answer: the cell timeout stops it",
                change=_prepend_to_last_answer("while True:\n    pass"),
                failing=AFTER_LAST_SOLUTION, notes=("timeout",)),
        Variant("hostile-unstoppable-loop", "a loop that ignores the grader's interrupt (SIGINT ignored): "
                "the kernel is given up on", change=_prepend_to_last_answer(_UNSTOPPABLE),
                failing=AFTER_LAST_SOLUTION, notes=("timeout", "kernel-stuck")),
        Variant("hostile-memory-hog", "allocates until the per-kernel memory cap raises MemoryError",
                change=_prepend_to_last_answer(_HOG), failing=AFTER_LAST_SOLUTION, notes=("memory",)),
        Variant("hostile-os-exit", "os._exit kills the kernel: later tests zero, earlier ones kept",
                change=_prepend_to_last_answer("import os\nos._exit(3)"), failing=AFTER_LAST_SOLUTION,
                notes=("kernel-died",)),
        Variant("hostile-sys-exit", "sys.exit in an answer: IPython turns it into an error in that cell",
                change=_prepend_to_last_answer("import sys\nsys.exit('bye')"), failing=AFTER_LAST_SOLUTION),
        Variant("hostile-kill-kernel", "the kernel kills itself with SIGKILL",
                change=_prepend_to_last_answer("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
                failing=AFTER_LAST_SOLUTION, notes=("kernel-died",)),
        Variant("hostile-deleted-test", "the first test cell deleted: restored from the gradebook",
                change=_delete_first_test, notes=("restored-cells",)),
        Variant("hostile-edited-test", "the last answer not done and its test replaced by `pass`",
                unsolved=("__last__",), change=_blank_last_test, failing=AFTER_LAST_SOLUTION,
                notes=("edited-cells",)),
        Variant("hostile-reordered-test", "the first test cell moved above its answer: put back in order",
                change=_move_first_test_up, notes=("moved-cells",)),
        Variant("hostile-monkeypatch", "no answers, but course.checks, numpy.allclose and builtins.abs "
                "replaced so every check would pass: the guard restores them",
                unsolved="all", change=_insert_after_setup(_FAKE_CHECKS), failing=ALL, notes=("monkeypatch",)),
        Variant("hostile-reference", "imports course.reference (the answers): flagged, score unchanged",
                change=_insert_after_setup("from course.reference import fit_numpy as copied_answer"),
                notes=("reference",)),
        Variant("hostile-no-cells", "a valid notebook with no cells: graded as blank, with a note",
                file_text=_EMPTY_NOTEBOOK, failing=ALL, notes=("unreadable",)),
        Variant("hostile-huge-output", "prints 200 000 lines and a 3 MB line: output cut, score unchanged",
                change=_insert_after_setup(_HUGE_OUTPUT), notes=("output-cut",)),
    ]


def _notebook_01() -> list[Variant]:
    """Named mistakes in 01_numpy_by_hand (the ids are the checks' own)."""
    later = ("test-ex6-fit",)
    # Exercise 8 runs the learner's fit on standardised x: only a fit that never converges fails it too.
    broken_fit = later + ("test-ex8-scale-back",)
    return [
        Variant("mistake-sum-mse", "mse sums instead of averaging", failing=("test-ex2-mse",) + later,
                edits=(Edit("ex2-mse", r"np\.mean\(", "np.sum("),), mistakes=("sum_reduction",)),
        Variant("mistake-rmse", "mse takes a square root (the fastbook RMSE slip)",
                failing=("test-ex2-mse",) + later,
                edits=(Edit("ex2-mse", r"return np\.mean\((.*)\)$", r"return np.sqrt(np.mean(\1))"),),
                mistakes=("rmse",)),
        Variant("mistake-grad-half", "the factor 2 dropped from both gradients",
                failing=("test-ex4-gradients", "test-ex5-step") + later,
                edits=(Edit("ex4-gradients", r"2 \* ", ""),), mistakes=("grad_half",)),
        Variant("mistake-sign-flip", "the update climbs: w + lr·dw", failing=("test-ex5-step",) + broken_fit,
                edits=(Edit("ex5-step", r"w - lr \* dw, b - lr \* db", "w + lr * dw, b + lr * db"),),
                mistakes=("sign_flip",)),
        Variant("mistake-only-w", "the update forgets b", failing=("test-ex5-step",) + broken_fit,
                edits=(Edit("ex5-step", r"w - lr \* dw, b - lr \* db", "w - lr * dw, b"),),
                mistakes=("only_w",)),
        Variant("mistake-loss-shifted", "the loss recorded after the update instead of before",
                failing=later,
                edits=(Edit("ex6-fit",
                            r"( +)losses\.append\(mse\(predict\(x, w, b\), y\)\)\n( +)w, b = step\(x, y, w, b, lr\)",
                            r"\2w, b = step(x, y, w, b, lr)\n\1losses.append(mse(predict(x, w, b), y))"),),
                mistakes=("loss_shifted",)),
        Variant("mistake-swapped", "w and b swapped when mapping the scaled fit back (Exercise 8)",
                failing=("test-ex8-scale-back",),
                edits=(Edit("ex8-scale-back", r"w_003 = (.*)\nb_003 = (.*)", r"b_003 = \1\nw_003 = \2"),),
                mistakes=("swapped",)),
    ]


def _notebook_02() -> list[Variant]:
    return [
        Variant("mistake-no-zero-grad", "gradients never zeroed: .grad accumulates",
                failing=("test-ex3-fit-torch",),
                edits=(Edit("ex3-fit-torch", r"\n *w\.grad\.zero_\(\)\n *b\.grad\.zero_\(\)", ""),),
                mistakes=("no_zero_grad",)),
        Variant("mistake-sign-flip", "the manual update climbs",
                failing=("test-ex3-fit-torch",),
                edits=(Edit("ex3-fit-torch", r"w -= lr \* w\.grad\n( +)b -= lr \* b\.grad",
                            r"w += lr * w.grad\n\1b += lr * b.grad"),),
                mistakes=("sign_flip",)),
        Variant("mistake-sum-loss", "the loss summed instead of averaged",
                failing=("test-ex2-gradients", "test-ex3-fit-torch"),
                edits=(Edit("ex2-gradients", r"\)\.mean\(\)", ").sum()"),
                       Edit("ex3-fit-torch", r"\)\.mean\(\)", ").sum()")),
                mistakes=("sum_reduction",)),
    ]


def _notebook_03() -> list[Variant]:
    return [
        Variant("mistake-no-zero-grad", "optimizer.zero_grad() forgotten",
                failing=("test-ex2-fit-optim", "test-ex3-validation-loss"),
                edits=(Edit("ex2-fit-optim", r"\n *optimizer\.zero_grad\(\)", ""),), mistakes=("no_zero_grad",)),
        Variant("mistake-sum-loss", "nn.MSELoss(reduction='sum')",
                failing=("test-ex2-fit-optim", "test-ex3-validation-loss"),
                edits=(Edit("ex2-fit-optim", r"nn\.MSELoss\(\)", 'nn.MSELoss(reduction="sum")'),),
                mistakes=("sum_reduction",)),
    ]


def _notebook_04() -> list[Variant]:
    return [
        Variant("mistake-wrong-lr", "SGD's learning rate left at Keras's default",
                failing=("test-ex1-make-model", "test-ex2-fit-keras"),
                edits=(Edit("ex1-make-model", r"SGD\(learning_rate=lr\)", "SGD()"),)),
    ]


def _notebook_05() -> list[Variant]:
    return [
        Variant("mistake-sign-flip", "assign_add instead of assign_sub",
                failing=("test-ex3-fit-tape",),
                edits=(Edit("ex3-fit-tape", r"assign_sub", "assign_add"),), mistakes=("sign_flip",)),
        Variant("mistake-not-watched", "a tf.constant never watched: tape.gradient returns None",
                failing=("test-ex1-cube-gradient",),
                edits=(Edit("ex1-cube-gradient", r"\n *tape\.watch\(v\)", ""),), mistakes=("not_watched",)),
        Variant("mistake-velocity-reset", "the momentum's velocity started again at 0 every epoch",
                failing=("test-ex4-fit-momentum",),
                edits=(Edit("ex4-fit-momentum", r"( +)losses = \[\]\n( +)for epoch in range\(epochs\):\n",
                            r"\1losses = []\n\1for epoch in range(epochs):\n\2    velocity_w.assign(0.0)\n"
                            r"\2    velocity_b.assign(0.0)\n"),), mistakes=("velocity_reset",)),
    ]


#: Named-mistake students per assignment (assignments not listed get the generic ones only).
NAMED_MISTAKES: dict[str, Callable[[], list[Variant]]] = {
    "01_numpy_by_hand": _notebook_01,
    "02_torch_manual": _notebook_02,
    "03_torch_optim": _notebook_03,
    "04_keras_sequential": _notebook_04,
    "05_gradient_tape": _notebook_05,
}


def class_variants(assignment: str) -> list[Variant]:
    """The demo class of one assignment: correct, partial, named mistakes, broken."""
    generic = generic_variants()
    named = NAMED_MISTAKES.get(assignment, lambda: [])()
    return generic[:2] + named + generic[2:]


__all__ = ["class_variants", "hostile_variants", "generic_variants", "NAMED_MISTAKES"]
