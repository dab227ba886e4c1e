"""The autograder's record of each graded submission, for resuming, skipping and the report.

One JSON file per student and assignment under ``nbgrader_work/status/``,
written atomically (temporary file + rename) only *after* nbgrader saved
the grades.  A run killed at any moment therefore leaves either a complete
record or none; a student without a complete record for the current
submission (same files, same hash) is graded again, with ``--force``
semantics, by the next run.  The gradebook itself never holds duplicates:
nbgrader updates the one submission row per student and assignment.
"""

from __future__ import annotations

import glob
import hashlib
import json
import sys
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course_dir import Course


@dataclass
class StudentResult:
    """What one student's autograde produced."""

    assignment: str
    student: str
    #: "graded" (nbgrader finished), "fallback" (nbgrader could not: graded zero by us), "skipped".
    state: str
    score: float = 0.0
    max_score: float = 0.0
    notes: list[dict] = field(default_factory=list)
    #: Named mistakes (ids from ``course.checks``) found in the failed tests' messages.
    mistakes: list[str] = field(default_factory=list)
    #: Per test cell: grade_id -> (score, max_score).
    tests: dict[str, list[float]] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    #: A zero the grader is to blame for (not the student's code): never "done", a re-run retries it.
    grader_failed: bool = False
    #: The student graded just before, by the same grading process (to name a kernel that broke it).
    graded_after: str = ""
    #: The grading process's peak memory so far (MiB), to show that no kernel made it grow.
    grader_peak_mb: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "StudentResult":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def submission_fingerprint(course: Course, assignment: str, student: str) -> str:
    """A hash of every file the student submitted for the assignment (names and contents)."""
    folder = course.step_dir("submitted") / student / assignment
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def record_path(course: Course, assignment: str, student: str) -> Path:
    return course.settings.work_dir / "status" / assignment / f"{student}.json"


def save(course: Course, result: StudentResult) -> None:
    path = record_path(course, result.assignment, result.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not named *.json: a write cut short by SIGKILL leaves a file nobody reads as a student's record.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    with os.fdopen(fd, "w") as handle:
        json.dump(result.to_json(), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.partial"):  # left by an earlier write that was killed
        if "." not in stale.name[len(path.stem) + 2:-len(".partial")]:  # this student's, not "<student>.x"'s
            stale.unlink(missing_ok=True)


def load(course: Course, assignment: str, student: str) -> StudentResult | None:
    path = record_path(course, assignment, student)
    try:
        return StudentResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget(course: Course, assignment: str, student: str) -> None:
    record_path(course, assignment, student).unlink(missing_ok=True)


def is_done(course: Course, assignment: str, student: str) -> bool:
    """Whether the current submission was completely graded by an earlier run."""
    record = load(course, assignment, student)
    if record is None or record.state not in ("graded", "fallback") or record.grader_failed:
        return False
    if record.fingerprint != submission_fingerprint(course, assignment, student):
        return False
    return all(course.autograded_notebook(assignment, student, nb).exists()
               for nb in course.notebook_ids(assignment))


def print_table(results: list[StudentResult], out=None) -> None:
    """The grade table: one line per student."""
    out = out or sys.stdout
    if not results:
        return
    width = max(len("student"), *(len(r.student) for r in results))
    print(f"{'student':<{width}}  {'score':>11}  {'state':<8}  notes / named mistakes", file=out)
    for r in results:
        kinds = sorted({n["kind"] for n in r.notes})
        extra = ", ".join(kinds + [f"mistake:{m}" for m in r.mistakes]) or "-"
        print(f"{r.student:<{width}}  {r.score:5.1f} / {r.max_score:<4.1f}  {r.state:<8}  {extra}", file=out)
