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

from .. import status
from ..course_dir import Course
from ..status import StudentResult
from .remote import INCOMING, _remove_tree, _write_tree, append_log
from .returned_notebooks import read_notebook, remembering_validator

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
        self.validator = remembering_validator()
        self._gradebook = None
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
        from nbgrader.nbgraderformat import ValidationError

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
                text = (staged / f"{notebook}.ipynb").read_text(encoding="utf-8")
                nb = read_notebook(text)
                try:
                    self.validator.validate_nb(nb)
                except ValidationError:
                    raise _Rejected(INVALID_METADATA) from None
                # nbgrader's exporter wrote these bytes on the worker (nbformat.writes of the graded
                # notebook); reading and writing them again here gives the same bytes
                (destination / f"{notebook}.ipynb").write_text(text if text.endswith("\n") else text + "\n",
                                                              encoding="utf-8")
                notebooks[notebook] = nb
            self.converter.set_permissions(self.assignment, student)
            timestamp = self.coursedir.get_existing_timestamp(str(staged))
        finally:
            _remove_tree(staged)
        return _Staged(item, remote, notebooks, timestamp)

    # -- rows ---------------------------------------------------------------------------------
    def _rows(self, db, batch: list[_Staged]) -> dict[str, tuple]:
        """``update_or_create_student`` and ``update_or_create_submission`` for the whole batch,
        without their commits: per student, the submission and, per notebook, its row and its
        grades and comments by cell name."""
        from nbgrader import utils
        from nbgrader.api import (Assignment, BaseCell, Comment, Grade, Student, SubmittedAssignment,
                                  SubmittedNotebook)

        names = [s.returned.student for s in batch]
        assignment = db.query(Assignment).filter(Assignment.name == self.assignment).one()
        students = {row.id: row for row in db.query(Student).filter(Student.id.in_(names))}
        existing = {row.student_id: row for row in db.query(SubmittedAssignment).filter(
            SubmittedAssignment.assignment_id == assignment.id, SubmittedAssignment.student_id.in_(names))}
        out = {}
        for staged in batch:
            name = staged.returned.student
            if name not in students:
                students[name] = Student(id=name)
                db.add(students[name])
            timestamp = utils.parse_utc(staged.timestamp) if staged.timestamp else None
            submission = existing.get(name)
            notebooks = {}
            if submission is None:  # add_submission: the assignment's whole structure
                submission = SubmittedAssignment(assignment=assignment, student=students[name],
                                                 **({"timestamp": timestamp} if timestamp else {}))
                for notebook in assignment.notebooks:
                    nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                    grades, comments = {}, {}
                    for cell in notebook.grade_cells:
                        grades[cell.name] = Grade(cell_id=cell.id, notebook=nb)
                    for cell in notebook.solution_cells:
                        comments[cell.name] = Comment(cell_id=cell.id, notebook=nb)
                    for cell in notebook.task_cells:
                        comments[cell.name] = Comment(cell_id=cell.id, notebook=nb)
                        grades[cell.name] = Grade(cell_id=cell.id, notebook=nb)
                    notebooks[notebook.name] = (nb, grades, comments)
                db.add(submission)
            else:
                if timestamp:
                    submission.timestamp = timestamp
                for nb in submission.notebooks:
                    grades = dict(db.query(BaseCell.name, Grade).join(Grade, Grade.cell_id == BaseCell.id)
                                  .filter(Grade.notebook_id == nb.id).all())
                    comments = dict(db.query(BaseCell.name, Comment).join(Comment, Comment.cell_id == BaseCell.id)
                                    .filter(Comment.notebook_id == nb.id).all())
                    notebooks[nb.notebook.name] = (nb, grades, comments)
            out[name] = (submission, notebooks)
        return out

    def _scores(self, staged: _Staged, notebooks: dict) -> None:
        """``SaveAutoGrades``: each grade cell's score, each solution or task cell's comment."""
        from nbgrader import utils

        for name, nb in staged.notebooks.items():
            if name not in notebooks:
                raise _Rejected(f"No such submitted notebook: {self.assignment}/{name}")
            _, grades, comments = notebooks[name]
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

    def _late_penalties(self, db, staged: _Staged, submission, notebooks: dict) -> None:
        """``AssignLatePenalties``: each notebook's penalty from the course's plugin (after a flush)."""
        from nbgrader.api import SubmittedNotebook

        seconds_late = submission.total_seconds_late
        for name in staged.notebooks:
            row = notebooks[name][0]
            row.late_submission_penalty = None
            if seconds_late > 0:
                score = db.query(SubmittedNotebook.score).filter(SubmittedNotebook.id == row.id).scalar()
                penalty = self.late.plugin_inst.late_submission_penalty(staged.returned.student, score,
                                                                        seconds_late)
                if penalty is not None:
                    row.late_submission_penalty = min(max(penalty, 0), score)

    def _enter_rows(self, db, batch: list[_Staged]) -> None:
        """The batch's rows, in three flushes whatever its size."""
        rows = self._rows(db, batch)
        for staged in batch:
            self._scores(staged, rows[staged.returned.student][1])
        db.flush()
        for staged in batch:
            self._late_penalties(db, staged, *rows[staged.returned.student])
        db.flush()

    def _summaries(self, db, batch: list[_Staged]) -> dict[str, StudentResult]:
        """What :func:`autograder.grading.summarize` reads, for the whole batch: two queries, and the
        notebooks for the notes and the named mistakes."""
        from nbgrader.api import (Assignment, BaseCell, Grade, Student, SubmittedAssignment,
                                  SubmittedNotebook)

        from ..grading import add_findings

        students = [s.returned.student for s in batch]
        mine = (Assignment.name == self.assignment, Student.id.in_(students))
        totals = {student: (score, max_score) for student, score, max_score in
                  db.query(Student.id, SubmittedAssignment.score, SubmittedAssignment.max_score)
                  .join(SubmittedAssignment, SubmittedAssignment.student_id == Student.id)
                  .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id).filter(*mine)}
        tests: dict[str, dict] = {student: {} for student in students}
        for student, name, score, max_score in (
                db.query(Student.id, BaseCell.name, Grade.score, Grade.max_score)
                .join(SubmittedAssignment, SubmittedAssignment.student_id == Student.id)
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
                .join(BaseCell, BaseCell.id == Grade.cell_id).filter(*mine)):
            if max_score:
                tests[student][name] = [float(score or 0.0), float(max_score)]
        out = {}
        for staged in batch:
            student = staged.returned.student
            summary = StudentResult(assignment=self.assignment, student=student, state="graded")
            summary.score, summary.max_score = (float(v) for v in totals[student])
            summary.tests = tests[student]
            for notebook in self.notebooks:
                add_findings(summary, staged.notebooks[notebook])
            out[student] = summary
        return out

    def _transaction(self, batch: list[_Staged]) -> dict[str, StudentResult]:
        """All of ``batch``'s rows in one transaction; rolled back entirely when one fails."""
        from nbgrader.api import Gradebook

        from ..config import COURSE_ID

        with warnings.catch_warnings():  # nbgrader's SQLAlchemy warnings (a local worker logs them)
            warnings.simplefilter("ignore")
            if self._gradebook is None:  # opened once: no engine, schema check and course row per batch
                self._gradebook = Gradebook(self.course.settings.resolved_db_url, COURSE_ID)
            db = self._gradebook.db
            try:
                self._enter_rows(db, batch)
                summaries = self._summaries(db, batch)
                db.commit()
            except BaseException:
                db.rollback()
                raise
        return summaries

    def close(self) -> None:
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None

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
            entered.update(self._transaction(staged) if staged else {})
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
