"""Entering returned gradings in the instructor's gradebook in batches, one transaction per batch.

The cluster's workers send back, per student, the autograded folder that
nbgrader wrote there and the worker's summary (:mod:`autograder.executors.remote`).
:class:`BulkRecorder` enters a batch of them with nbgrader's own SQLAlchemy
models (``nbgrader.api``) in one session and one commit, instead of one
nbgrader ``Autograde`` run per student (which opens the gradebook about
twelve times and commits once per cell).  What it writes is what those runs
wrote, step by step after nbgrader's converter:

* the files: the returned folder staged, then copied the way
  ``Autograde.init_assignment`` copies it (nbgrader's ``find_all_files`` with
  the course's ``ignore`` globs, the source folder's other files over them),
  the assignment's notebooks written as nbgrader's exporter writes them, and
  the permissions set by nbgrader's own ``set_permissions``;
* the rows: the student, the submission with its ``timestamp.txt``
  (``update_or_create_submission``), its notebooks, grades and comments
  mirrored from the assignment (``add_submission``); each grade cell's
  ``auto_score`` and ``needs_manual_grade`` and each solution or task cell's
  "No response." comment (``SaveAutoGrades``); each notebook's late penalty
  from the course's late-submission plugin (``AssignLatePenalties``); the
  nbgrader metadata validated (``CheckCellMetadata``).

Resumable: the status records are written only after the batch committed.
A run killed in the middle of a batch leaves its rows uncommitted (the
database rolls them back) and its students without a record, so the next run
grades them again; a run killed after the commit but before a record leaves
rows that the next run updates in place (nbgrader keeps one submission per
student and assignment), never a duplicate.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import status
from ..course_dir import Course
from ..status import StudentResult
from .remote import INCOMING, _remove_tree, _write_tree, append_log

#: The most returned gradings entered in one transaction.
BATCH_SIZE = 64
#: nbgrader's message when ``CheckCellMetadata`` refuses a notebook.
INVALID_METADATA = "Notebook failed to validate; the nbgrader metadata may be corrupted."

_log = logging.getLogger(__name__)


@dataclass
class Returned:
    """One student's grading as a worker sent it back."""

    assignment: str
    student: str
    reply: dict
    fingerprint: str


@dataclass
class Entered:
    """What became of a returned grading: its summary, or the error that stopped it."""

    returned: Returned
    summary: StudentResult | None = None
    error: str = ""


class _Rejected(Exception):
    """The returned grading cannot be entered as it is; the fallback records why."""


@dataclass
class _Staged:
    returned: Returned
    remote: StudentResult
    notebooks: dict  # notebook id -> NotebookNode
    timestamp: object  # datetime or None


class BulkRecorder:
    """Enters returned gradings of one assignment, a batch per transaction."""

    def __init__(self, course: Course, assignment: str):
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import AssignLatePenalties

        self.course, self.assignment = course, assignment
        api = course.api
        self.coursedir = api.coursedir
        self.converter = Autograde(coursedir=api.coursedir, parent=api)  # its permissions and ignore globs
        self.late = AssignLatePenalties(parent=api)
        self.late.init_plugin()
        self.notebooks = course.notebook_ids(assignment)
        source = Path(course.settings.source) / assignment
        self.source_files = self._other_files(source, exclude=self.converter.exclude_overwriting.get(assignment, []))

    # -- files --------------------------------------------------------------------------------
    def _other_files(self, folder: Path, exclude=()) -> list[Path]:
        from nbgrader.utils import find_all_files

        excluded = {os.path.join(str(folder), name) for name in exclude}
        return [Path(p) for p in find_all_files(str(folder), self.coursedir.ignore + ["*.ipynb"])
                if p not in excluded]

    def _stage(self, item: Returned, remote: StudentResult) -> _Staged:
        """Write one returned folder into ``autograded/<student>/<assignment>`` as nbgrader would."""
        from nbgrader.nbgraderformat import MetadataValidator, ValidationError

        course, student = self.course, item.student
        staged = course.root / INCOMING / student / self.assignment
        if staged.exists():
            _remove_tree(staged)
        _write_tree(staged, item.reply["files"])
        destination = course.step_dir("autograded") / student / self.assignment
        try:
            if destination.exists():
                _remove_tree(destination)
            destination.mkdir(parents=True)
            for path in self._other_files(staged):  # Converter.init_assignment
                target = destination / path.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
            for path in self.source_files:  # Autograde.init_assignment: the master versions
                target = destination / path.relative_to(Path(course.settings.source) / self.assignment)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)
                shutil.copy(path, target)
            notebooks = {}
            for notebook in self.notebooks:
                nb = nbformat.reads((staged / f"{notebook}.ipynb").read_text(encoding="utf-8"), as_version=4)
                try:
                    MetadataValidator().validate_nb(nb)
                except ValidationError:
                    raise _Rejected(INVALID_METADATA) from None
                text = nbformat.writes(nb)  # what nbgrader's NotebookExporter writes
                (destination / f"{notebook}.ipynb").write_text(text if text.endswith("\n") else text + "\n",
                                                              encoding="utf-8")
                notebooks[notebook] = nb
            self.converter.set_permissions(self.assignment, student)
            timestamp = self.coursedir.get_existing_timestamp(str(staged))
        finally:
            _remove_tree(staged)
        return _Staged(item, remote, notebooks, timestamp)

    # -- rows ---------------------------------------------------------------------------------
    def _submission(self, db, staged: _Staged):
        """``update_or_create_student`` and ``update_or_create_submission``, without their commits."""
        from nbgrader import utils
        from nbgrader.api import Assignment, Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook

        student = db.get(Student, staged.returned.student)
        if student is None:
            student = Student(id=staged.returned.student)
            db.add(student)
        assignment = db.query(Assignment).filter(Assignment.name == self.assignment).one()
        submission = db.query(SubmittedAssignment).filter(
            SubmittedAssignment.assignment_id == assignment.id,
            SubmittedAssignment.student_id == student.id).one_or_none()
        timestamp = utils.parse_utc(staged.timestamp) if staged.timestamp else None
        if submission is None:  # add_submission: the assignment's whole structure
            submission = SubmittedAssignment(assignment=assignment, student=student,
                                             **({"timestamp": timestamp} if timestamp else {}))
            for notebook in assignment.notebooks:
                nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                for cell in notebook.grade_cells:
                    Grade(cell_id=cell.id, notebook=nb)
                for cell in notebook.solution_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                for cell in notebook.task_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                    Grade(cell_id=cell.id, notebook=nb)
            db.add(submission)
        elif timestamp:
            submission.timestamp = timestamp
        db.flush()
        return submission

    def _enter_rows(self, db, staged: _Staged) -> None:
        """One student's rows: SaveAutoGrades then AssignLatePenalties, per notebook."""
        from nbgrader import utils

        submission = self._submission(db, staged)
        by_name = {nb.name: nb for nb in submission.notebooks}
        for name, nb in staged.notebooks.items():
            row = by_name.get(name)
            if row is None:
                raise _Rejected(f"No such submitted notebook: {self.assignment}/{name}")
            grades = {g.name: g for g in row.grades}
            comments = {c.name: c for c in row.comments}
            for cell in nb.cells:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if utils.is_grade(cell):
                    if grade_id not in grades:
                        raise _Rejected(f"No such grade: {grade_id}/{name}/{self.assignment}")
                    grade = grades[grade_id]
                    grade.auto_score, _ = utils.determine_grade(cell, _log)
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
                if utils.is_solution(cell) or utils.is_task(cell):
                    if grade_id not in comments:
                        raise _Rejected(f"No such comment: {grade_id}/{name}/{self.assignment}")
                    no_response = (cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell)
                                   and not utils.is_task(cell))
                    comments[grade_id].auto_comment = "No response." if no_response else None
            db.flush()
            db.expire(row, ["score"])
            row.late_submission_penalty = None
            seconds_late = submission.total_seconds_late
            if seconds_late > 0:
                penalty = self.late.plugin_inst.late_submission_penalty(staged.returned.student, row.score,
                                                                        seconds_late)
                if penalty is not None:
                    row.late_submission_penalty = min(max(penalty, 0), row.score)
        db.flush()

    def _summary(self, db, staged: _Staged) -> StudentResult:
        """What :func:`autograder.grading.summarize` reads, from this session and the notebooks."""
        from nbgrader.api import Assignment, Student, SubmittedAssignment

        from ..grading import _mistake_ids
        from ..notes import read_notes

        db.expire_all()
        submission = db.query(SubmittedAssignment).join(Assignment).join(Student).filter(
            Assignment.name == self.assignment, Student.id == staged.returned.student).one()
        summary = StudentResult(assignment=self.assignment, student=staged.returned.student, state="graded")
        summary.score, summary.max_score = float(submission.score), float(submission.max_score)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.max_score:
                    summary.tests[grade.name] = [float(grade.score or 0.0), float(grade.max_score)]
        for notebook in self.notebooks:
            nb = staged.notebooks[notebook]
            summary.notes += read_notes(nb)
            for cell in nb.cells:
                if not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                    continue
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        summary.mistakes += [m for m in _mistake_ids(output.get("evalue", ""))
                                             if m not in summary.mistakes]
        return summary

    def _transaction(self, batch: list[_Staged]) -> dict[str, StudentResult]:
        """All of ``batch``'s rows in one transaction; rolled back entirely when one fails."""
        with warnings.catch_warnings():  # nbgrader's SQLAlchemy warnings (a local worker logs them)
            warnings.simplefilter("ignore")
            with self.course.gradebook() as gb:
                db = gb.db
                try:
                    for staged in batch:
                        self._enter_rows(db, staged)
                    summaries = {s.returned.student: self._summary(db, s) for s in batch}
                    db.commit()
                except BaseException:
                    db.rollback()
                    raise
        return summaries

    # -- a batch ------------------------------------------------------------------------------
    def enter(self, batch: list[Returned]) -> list[Entered]:
        """Enter ``batch``: files, then one transaction, then the fallbacks, then the status records."""
        from ..grading import record_failure

        course, started = self.course, time.monotonic()
        staged, failures, entered = [], {}, {}
        for item in batch:
            status.forget(course, item.assignment, item.student)
            append_log(course, item.assignment, item.student, item.reply.get("log", ""))
            remote = StudentResult.from_json(item.reply["summary"])
            missing = [nb for nb in self.notebooks if f"{nb}.ipynb" not in item.reply["files"]]
            if remote.state != "graded" or missing:
                failures[item.student] = (remote, remote.reason or (
                    f"nbgrader wrote no autograded notebook for {', '.join(missing)}" if missing
                    else "nbgrader failed"))
                continue
            try:
                staged.append(self._stage(item, remote))
            except (_Rejected, OSError, ValueError) as why:
                failures[item.student] = (remote, f"recording failed: {why}"[:300])
        try:
            entered.update(self._transaction(staged))
        except Exception:  # noqa: BLE001 - one student's rows spoil the batch: enter them one by one
            for one in staged:
                try:
                    entered.update(self._transaction([one]))
                except Exception as why:  # noqa: BLE001 - this student goes through the fallback
                    failures[one.returned.student] = (one.remote, f"recording failed: {why}"[:300])
        remotes = {s.returned.student: s.remote for s in staged}
        results = []
        for item in batch:
            try:
                if item.student in failures:
                    remote, reason = failures[item.student]
                    summary = record_failure(course, item.assignment, item.student, reason)
                else:
                    remote, summary = remotes[item.student], entered[item.student]
                summary.seconds, summary.fingerprint = remote.seconds, item.fingerprint
                summary.grader_peak_mb = remote.grader_peak_mb
                results.append(Entered(item, summary))
            except Exception:  # noqa: BLE001 - the pipeline records the fallback
                results.append(Entered(item, error=traceback.format_exc()))
        per_student = (time.monotonic() - started) / max(1, len(batch))
        for result in results:  # after the commit: a record means the rows are in
            if result.summary is not None:
                status.save(course, result.summary)
            append_log(course, result.returned.assignment, result.returned.student,
                       f"----- entered in the instructor's gradebook in {per_student:.3f} s "
                       f"(a batch of {len(batch)})\n")
        return results
