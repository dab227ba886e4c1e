"""Static scan of a submission for uses of ``course.reference`` (the reference solutions).

The course's own cells use ``course.reference`` for plots and comparisons,
so a plain search would flag every student.  Only lines the *student*
wrote count: lines of editable cells that appear nowhere in the
instructor's source notebook (solutions included: where the official
solution itself calls ``course.reference``, that use is sanctioned).  Comments are ignored; strings are
not (``importlib.import_module("course.reference")`` counts).

A static scan can be evaded (``getattr(course, "refer" + "ence")``); it
catches the ordinary copy-the-answer shortcut, and the instructor decides
what it means.  It never changes a score.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

_REFERENCE = re.compile(r"\breference\b")


@dataclass(frozen=True)
class ReferenceUse:
    cell_index: int
    grade_id: str | None
    line: str


def _lines_without_comments(source: str) -> list[tuple[str, str]]:
    """``(line, line without its comment)`` pairs; broken code falls back to cutting at ``#``."""
    raw = source.split("\n")
    code = list(raw)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                row, col = token.start
                code[row - 1] = code[row - 1][:col]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        code = [line.split("#", 1)[0] for line in raw]
    return list(zip(raw, code))


def instructor_lines(sources) -> set[str]:
    """Every stripped line of the instructor's cells (stubs, solutions and the rest)."""
    lines: set[str] = set()
    for source in sources:
        lines.update(line.strip() for line in source.splitlines())
    return lines


def find_reference_uses(cells, known_lines: set[str]) -> list[ReferenceUse]:
    """Lines written by the student, in editable code cells, that use ``course.reference``.

    ``cells`` are notebook cells; locked and test cells are skipped (their
    source is the instructor's and is restored anyway).
    """
    uses = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("locked") or (nbgrader.get("grade") and not nbgrader.get("solution")):
            continue
        for line, code in _lines_without_comments(cell.get("source", "")):
            if line.strip() not in known_lines and _REFERENCE.search(code):
                uses.append(ReferenceUse(index, nbgrader.get("grade_id"), line.strip()))
    return uses
