"""Helpers the course's nbgrader preprocessors share: where a cell's assignment lives, what a test shows."""

from __future__ import annotations

import os





#: Mimetype of the re-arm cells' machine-readable report.
GUARD_MIMETYPE = "application/vnd.gd-autograder.guard+json"


def _coursedir(component):
    """The ``CourseDirectory`` of the nbgrader converter that owns ``component``."""
    while component is not None:
        coursedir = getattr(component, "coursedir", None)
        if coursedir is not None:
            return coursedir
        component = getattr(component, "parent", None)
    return None


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _source_notebook_path(component, assignment: str, notebook: str) -> str | None:
    coursedir = _coursedir(component)
    if coursedir is None:
        return None
    path = os.path.join(coursedir.format_path(coursedir.source_directory, ".", assignment),
                        f"{notebook}.ipynb")
    return path if os.path.exists(path) else None


def visible_test_source(source: str) -> str:
    """A test cell as released: without its ``BEGIN/END HIDDEN TESTS`` region."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _code_list(names) -> str:
    return ", ".join(f"`{name}`" for name in names)
