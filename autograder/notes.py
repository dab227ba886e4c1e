"""Notes from the autograder to the student, kept in one markdown cell at the top of the notebook.

Every problem the grader handles on the student's behalf (a restored test
cell, an unreadable file, a dead kernel, an undone monkeypatch, a use of
``course.reference``) becomes one note.  The note cell is part of the
autograded notebook, so nbgrader's ``generate_feedback`` shows it first, and
:func:`read_notes` lets the CLI collect the same notes for its report.
"""

from __future__ import annotations

import nbformat

#: Cell-metadata key that marks the autograder's own cells.
META_KEY = "gd_autograder"

#: Short labels for the report, by note kind.
KIND_LABELS = {
    "unreadable": "unreadable notebook",
    "restored-cells": "deleted graded cells restored",
    "edited-cells": "edited read-only cells restored",
    "moved-cells": "graded cells put back in order",
    "reference": "uses course.reference",
    "monkeypatch": "monkeypatching undone",
    "guard": "grader protections unavailable",
    "timeout": "cell timeout",
    "memory": "memory limit",
    "output-cut": "output cut",
    "kernel-died": "kernel died",
    "kernel-stuck": "kernel stopped responding",
    "kernel-flood": "kernel stopped for flooding the grader",
    "traffic-cap": "output or widget cap reached",
    "slot-tampering": "changed the grading slot",
    "grader-failure": "could not be graded",
    "unsandboxed": "graded WITHOUT the sandbox",
}


def _note_cell(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "notes" in cell.get("metadata", {}).get(META_KEY, {}):
            return cell
    return None


def _render(notes: list[dict]) -> str:
    lines = ["### Notes from the autograder", ""]
    lines += [f"- **{KIND_LABELS.get(n['kind'], n['kind'])}**: {n['text']}" for n in notes]
    return "\n".join(lines)


def add_note(nb, kind: str, text: str) -> None:
    """Add one note (``kind`` is a key of :data:`KIND_LABELS`) to the notebook's note cell."""
    cell = _note_cell(nb)
    if cell is None:
        cell = nbformat.v4.new_markdown_cell(source="", metadata={META_KEY: {"notes": []}})
        nb.cells.insert(0, cell)
    notes = cell.metadata[META_KEY]["notes"]
    if {"kind": kind, "text": text} not in notes:
        notes.append({"kind": kind, "text": text})
    cell.source = _render(notes)


def read_notes(nb) -> list[dict]:
    """The notes of a notebook (``[]`` when the grader had nothing to say)."""
    cell = _note_cell(nb)
    return list(cell.metadata[META_KEY]["notes"]) if cell is not None else []


def is_autograder_cell(cell, kind: str | None = None) -> bool:
    data = cell.get("metadata", {}).get(META_KEY)
    if not isinstance(data, dict):
        return False
    return kind is None or data.get("kind") == kind
