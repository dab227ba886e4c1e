"""Synthetic students, made from the source notebooks, for the demo and the end-to-end tests.

A student notebook is the *released* notebook with each answer cell filled
in: the instructor's solution (``### BEGIN/END SOLUTION`` lines removed),
optionally with a bug injected by a text edit, or left as the stub.  Some
variants then change the notebook as a whole (delete or move a test cell,
add a cell that monkeypatches the checks) or write something that is not a
notebook at all.

Each :class:`Variant` says what it exercises and what the grader must make
of it: which test cells fail (the points come from the notebook, never
typed in), which named mistakes (ids of :data:`course.mistakes.MISTAKES`)
the feedback must name, and which notes the autograder must add.

The classes themselves (correct, partial, one student per named mistake,
broken, hostile) are in :mod:`autograder.demo.catalogue`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Callable

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"

#: Expected outcome selectors (see :func:`expected_failing`).
ALL, NONE = "all", "none"
AFTER_LAST_SOLUTION = "after-last-solution"


class VariantError(Exception):
    """A variant no longer fits the notebook (its edit pattern is gone): update the variant."""


@dataclass(frozen=True)
class Edit:
    """Replace ``pattern`` (a regex) by ``replacement`` in the solution of answer cell ``grade_id``."""

    grade_id: str
    pattern: str
    replacement: str


@dataclass(frozen=True)
class Variant:
    student: str
    #: What this student exercises (shown by the demo, kept next to the definition on purpose).
    exercises: str
    edits: tuple[Edit, ...] = ()
    #: Answer cells left as the released stub: grade_ids, or "all" / "second-half".
    unsolved: tuple[str, ...] | str = ()
    #: Whole-notebook change after the answers are filled in.
    change: Callable[[nbformat.NotebookNode], None] | None = None
    #: Replaces the file's text entirely (a submission that is not a notebook).
    file_text: str | None = None
    #: Test cells expected to fail: grade_ids, ALL, NONE or AFTER_LAST_SOLUTION.
    failing: tuple[str, ...] | str = NONE
    #: Named mistakes the feedback must show (ids of course.mistakes.MISTAKES).
    mistakes: tuple[str, ...] = ()
    #: Note kinds (autograder.notes.KIND_LABELS) the autograded notebook must carry.
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# Reading the source notebook
# ----------------------------------------------------------------------------------------------
def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_ids(nb) -> list[str]:
    return [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c).get("solution")]


def test_ids(nb) -> list[str]:
    return [_nbgrader(c)["grade_id"] for c in nb.cells
            if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")]


def test_points(nb) -> dict[str, float]:
    return {_nbgrader(c)["grade_id"]: float(_nbgrader(c)["points"]) for c in nb.cells
            if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}


def _solved_source(source: str, edits: list[Edit], grade_id: str) -> str:
    """The answer cell as a student who wrote the solution has it, with ``edits`` applied to it."""
    lines = source.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if BEGIN_SOLUTION in line)
        end = next(i for i, line in enumerate(lines) if END_SOLUTION in line)
    except StopIteration:
        raise VariantError(f"answer cell {grade_id!r} has no BEGIN/END SOLUTION region") from None
    region = "\n".join(lines[start + 1:end])
    for edit in edits:
        region, count = re.subn(edit.pattern, edit.replacement, region)
        if count == 0:
            raise VariantError(f"edit {edit.pattern!r} does not apply to the solution of {grade_id!r}")
    return "\n".join(lines[:start] + [region] + lines[end + 1:])


def build_student(source_nb, release_nb, variant: Variant) -> str:
    """The text of ``variant``'s submission of this notebook."""
    if variant.file_text is not None:
        return variant.file_text
    nb = copy.deepcopy(release_nb)
    source_cells = {_nbgrader(c).get("grade_id"): c for c in source_nb.cells if _nbgrader(c).get("solution")}
    answers = solution_ids(release_nb)
    unsolved = _unsolved(variant.unsolved, answers)
    unknown = {e.grade_id for e in variant.edits} - set(answers)
    if unknown:
        raise VariantError(f"{variant.student}: no answer cells {sorted(unknown)} in this notebook")
    for cell in nb.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in source_cells and grade_id not in unsolved:
            edits = [e for e in variant.edits if e.grade_id == grade_id]
            cell.source = _solved_source(source_cells[grade_id].source, edits, grade_id)
    if variant.change is not None:
        variant.change(nb)
    return nbformat.writes(nb)


def _unsolved(spec, answers: list[str]) -> set[str]:
    if spec == "all":
        return set(answers)
    if spec == "second-half":
        return set(answers[(len(answers) + 1) // 2:])
    return set(spec)


def expected_failing(variant: Variant, source_nb) -> set[str]:
    """The test cells this student must fail, by the variant's own declaration."""
    tests = test_ids(source_nb)
    if variant.failing == ALL:
        return set(tests)
    if variant.failing == NONE:
        return set()
    if variant.failing == AFTER_LAST_SOLUTION:
        last = max(i for i, c in enumerate(source_nb.cells) if _nbgrader(c).get("solution"))
        return {_nbgrader(c)["grade_id"] for c in source_nb.cells[last:]
                if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}
    if variant.failing == "second-half":
        answers = solution_ids(source_nb)
        first_unsolved = answers[(len(answers) + 1) // 2]
        start = next(i for i, c in enumerate(source_nb.cells) if _nbgrader(c).get("grade_id") == first_unsolved)
        return {_nbgrader(c)["grade_id"] for c in source_nb.cells[start:]
                if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}
    missing = set(variant.failing) - set(tests)
    if missing:
        raise VariantError(f"{variant.student}: no test cells {sorted(missing)} in this notebook")
    return set(variant.failing)


def expected_score(variant: Variant, source_nb) -> float:
    points = test_points(source_nb)
    failing = expected_failing(variant, source_nb)
    return sum(p for gid, p in points.items() if gid not in failing)


def resolve(variant: Variant, source_nb) -> Variant:
    """Fill in placeholders that depend on the notebook (``__last__`` = the last answer cell)."""
    if isinstance(variant.unsolved, tuple) and "__last__" in variant.unsolved:
        last = solution_ids(source_nb)[-1]
        return Variant(**{**variant.__dict__,
                          "unsolved": tuple(last if u == "__last__" else u for u in variant.unsolved)})
    return variant


def usable(variant: Variant, source_nb, release_nb) -> bool:
    """Whether the variant's edits still apply to this notebook (the demo skips those that do not)."""
    try:
        build_student(source_nb, release_nb, resolve(variant, source_nb))
        expected_failing(variant, source_nb)
    except VariantError:
        return False
    return True


__all__ = ["Variant", "Edit", "VariantError", "build_student", "expected_failing", "expected_score",
           "resolve", "usable",
           "solution_ids", "test_ids", "test_points", "ALL", "NONE", "AFTER_LAST_SOLUTION"]
