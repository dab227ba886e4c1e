"""Grading a student on a machine that shares no files with the instructor's.

Three steps, one function each:

* :func:`assignment_bundle` and :func:`student_payload` (instructor's side)
  pack what one student's grading needs: the assignment's source folder, a
  small SQLite gradebook holding only the assignment's rows (notebooks, grade,
  solution, task and source cells with their checksums, the due date), and
  the student's submitted files.
* :func:`grade_payload` (grading machine) unpacks them into a private
  course root (:class:`PrivateRoot`: built once per grading process and
  assignment, emptied of the previous student before each one), runs the
  same :func:`autograder.grading.autograde_student` as the local pool
  (nbgrader's own ``autograde`` with the course's configuration) in a
  long-lived grading process under the wall-clock cap, and sends back the
  autograded folder, the worker's summary and nbgrader's log.  No student's
  files or rows are kept there.
* The instructor's side enters the returned notebooks in batches
  (:class:`autograder.executors.recording.BulkRecorder`, what ``--cluster``
  uses).  :class:`Recorder` is the per-student reference it is checked and
  measured against: nbgrader's own ``Autograde`` converter with
  execution left out: its sanitizing step is empty (the notebook was
  sanitized where it ran) and its grading step keeps only ``SaveAutoGrades``,
  ``AssignLatePenalties`` and ``CheckCellMetadata``.  nbgrader therefore
  creates the student and the submission (with the timestamp), copies the
  files, stores the scores and the "No response." comments, applies the late
  penalty and sets the file permissions exactly as in a local run; only the
  kernel did its work elsewhere.  The gradebook (SQLite or PostgreSQL) is only
  ever written here.
"""

from __future__ import annotations

import copy
import gzip
import os
import shutil
import stat
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from .. import status
from ..config import COURSE_ID, WORK_DIR_NAME, Settings
from ..course_dir import Course
from ..status import StudentResult

#: Where the recorder stages a returned submission (relative to the course root).
INCOMING = f"{WORK_DIR_NAME}/cluster-incoming"
#: nbgrader's grading steps that only write the gradebook (they are re-run on the instructor's side).
RECORDING_PREPROCESSORS = ("SaveAutoGrades", "AssignLatePenalties", "CheckCellMetadata")


# ----------------------------------------------------------------------------------------------
# instructor's side: what a task carries
# ----------------------------------------------------------------------------------------------
def _read_tree(folder: Path, skip=()) -> dict[str, bytes]:
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if any(part in skip for part in relative.parts):
            continue
        files[str(relative)] = path.read_bytes()
    return files


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        target = (folder / relative).resolve()
        if folder.resolve() not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _copy_assignment_rows(source, target, assignment: str) -> None:
    """The rows nbgrader's autograde reads, from one gradebook into another (no students)."""
    found = source.find_assignment(assignment)
    target.update_or_create_assignment(assignment, duedate=found.duedate)
    for nb in found.notebooks:
        target.update_or_create_notebook(nb.name, assignment, kernelspec=nb.kernelspec)
        for cell in nb.grade_cells:
            target.update_or_create_grade_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
        for cell in nb.solution_cells:
            target.update_or_create_solution_cell(cell.name, nb.name, assignment)
        for cell in nb.task_cells:
            target.update_or_create_task_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                              cell_type=cell.cell_type)
        for cell in nb.source_cells:
            target.update_or_create_source_cell(cell.name, nb.name, assignment, cell_type=cell.cell_type,
                                                locked=cell.locked, source=cell.source, checksum=cell.checksum)


def _source_files(course: Course, assignment: str) -> dict[str, bytes]:
    return _read_tree(Path(course.settings.source) / assignment, skip={".ipynb_checkpoints"})


def write_source(root: Path, assignment: str, files: dict[str, bytes]) -> None:
    """``root/source/assignment`` holding exactly ``files`` (what was there before removed)."""
    source = root / "source"
    if source.exists():
        _remove_tree(source)
    _write_tree(source / assignment, files)


def empty_gradebook_template() -> Path:
    """An empty gradebook of this nbgrader version, made once per machine and user by nbgrader.

    nbgrader makes a new gradebook by running ``alembic heads`` in a subprocess: about 2 s of
    CPU, which every cluster run paid before its first task could go out.  A copy of this file
    is the same empty gradebook (the tables, the alembic stamp, the course row).
    """
    import nbgrader
    from nbgrader.api import Gradebook

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gd-five-ways"
    template = cache / f"empty-gradebook-{COURSE_ID}-nbgrader-{nbgrader.__version__}.db"
    if not template.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".empty-gradebook-", dir=cache) as tmp:
            made = Path(tmp) / "gradebook.db"
            with Gradebook(f"sqlite:///{made}", COURSE_ID):
                pass
            os.replace(made, template)  # whole or not at all, if two runs make it at once
    return template


def _new_gradebook(path: Path) -> None:
    try:
        shutil.copyfile(empty_gradebook_template(), path)
    except OSError:  # no cache folder to write: nbgrader makes this one itself
        path.unlink(missing_ok=True)


def assignment_bundle(course: Course, assignment: str) -> dict:
    """What every student's task of ``assignment`` shares: source files, gradebook rows, settings."""
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="gd-bundle-") as tmp:
        _new_gradebook(Path(tmp) / "gradebook.db")
        url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        with course.gradebook() as source, Gradebook(url, COURSE_ID) as target:
            _copy_assignment_rows(source, target, assignment)
        gradebook = gzip.compress((Path(tmp) / "gradebook.db").read_bytes())
    source = _source_files(course, assignment)
    settings = course.settings.to_json()
    return {
        "assignment": assignment,
        "key": uuid.uuid4().hex,  # this run's bundle: a worker builds one private root per key
        "source": source,
        "gradebook_gz": gradebook,
        "settings": settings,
        "notebooks": course.notebook_ids(assignment),
    }


def warm_up_payload(course: Course, assignment: str) -> dict:
    """What a worker needs to get ready for ``assignment`` before its first student: the settings
    and the source folder (which the fork server's imports are read from), no gradebook."""
    return {"assignment": assignment, "settings": course.settings.to_json(),
            "source": _source_files(course, assignment)}


def student_payload(course: Course, assignment: str, student: str) -> dict:
    return {"student": student,
            "files": _read_tree(course.step_dir("submitted") / student / assignment)}


# ----------------------------------------------------------------------------------------------
# grading machine: a private course root per student
# ----------------------------------------------------------------------------------------------
def _remove_tree(path: Path) -> None:
    def make_writable(func, target, _exc):
        os.chmod(target, stat.S_IRWXU)
        func(target)
    shutil.rmtree(path, onerror=make_writable)


def private_settings(bundle: dict, root: Path) -> Settings:
    """The instructor's settings (limits, sandbox) with this private root, source and gradebook."""
    data = dict(bundle["settings"], root=str(root), source=str(root / "source"), db_url=None)
    return Settings.from_json(data)


class PrivateRoot:
    """A private course root on a grading machine, built once per grading process and assignment.

    The source folder is unpacked and the assignment's gradebook decompressed
    once, into a template file beside the root.  Before each student,
    :meth:`reset` removes every folder a grading writes (``submitted``,
    ``autograded``, ``feedback``, the work folder), writes the source folder
    again and copies the template over ``gradebook.db``: the student starts
    from the same root as a fresh one would be, and nothing of the previous
    student (files, gradebook rows, logs, status records) is left in it.
    """

    STUDENT_FOLDERS = ("submitted", "autograded", "feedback", WORK_DIR_NAME)

    def __init__(self, bundle: dict, scratch: Path):
        self.key, self.assignment = bundle["key"], bundle["assignment"]
        self.bundle = bundle
        scratch.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="course-", dir=scratch))
        self.template = self.root.with_name(self.root.name + "-gradebook.db")
        self.template.write_bytes(gzip.decompress(bundle["gradebook_gz"]))
        self.settings = private_settings(bundle, self.root)

    def reset(self) -> None:
        for name in self.STUDENT_FOLDERS:
            if (self.root / name).exists():
                _remove_tree(self.root / name)
        write_source(self.root, self.assignment, self.bundle["source"])
        for leftover in self.root.iterdir():  # anything else a grading left at the top
            if leftover.name != "source":
                _remove_tree(leftover) if leftover.is_dir() else leftover.unlink()
        shutil.copyfile(self.template, self.root / "gradebook.db")

    def close(self) -> None:
        if self.root.exists():
            _remove_tree(self.root)
        self.template.unlink(missing_ok=True)


def grade_payload(bundle: dict, payload: dict, grader, timeout: float, scratch: Path,
                  private: PrivateRoot | None = None) -> dict:
    """Grade one student in a private course root; returns what the instructor needs.

    ``private`` is a :class:`PrivateRoot` for ``bundle`` kept by the caller
    between students (reset here before the student); without it, one is
    built under ``scratch`` for this student and removed afterwards.
    ``grader`` is a long-lived grading process (:class:`autograder.executors.local._Worker`)
    whose ``run(task, timeout)`` answers ``None`` when it died or overran.
    Returns ``{"kind": "graded", ...}`` (nbgrader ran, or gave up and the
    worker's summary says why), ``{"kind": "lost", "error": ...}`` (the
    grading process crashed or overran the cap) or ``{"kind": "error", ...}``
    (an unexpected exception, with its traceback).
    """
    assignment, student = bundle["assignment"], payload["student"]
    own = private is None
    private = private or PrivateRoot(bundle, scratch)
    root, settings = private.root, private.settings
    try:
        private.reset()
        _write_tree(root / "submitted" / student / assignment, payload["files"])
        started = time.monotonic()
        reply = grader.run({"task": "autograde", "assignment": assignment, "student": student,
                            "settings": settings.to_json()}, timeout)
        if reply is None:
            overran = grader.alive() and time.monotonic() - started >= timeout
            return {"kind": "lost", "overran": overran, "error": (
                f"grading took longer than {timeout:.0f} s and was stopped" if overran else
                "the grading process crashed (killed for memory, or a fatal error)")}
        if not reply.get("ok"):
            return {"kind": "error", "error": reply.get("error") or "unexpected grader error"}
        log = settings.work_dir / "logs" / assignment / f"{student}.log"
        autograded = root / "autograded" / student / assignment
        return {"kind": "graded", "summary": reply["value"],
                "files": _read_tree(autograded) if autograded.is_dir() else {},
                "log": log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""}
    finally:
        if own:
            private.close()
        else:  # the student's files leave with the student
            for name in PrivateRoot.STUDENT_FOLDERS:
                if (root / name).exists():
                    _remove_tree(root / name)


# ----------------------------------------------------------------------------------------------
# instructor's side: entering a returned submission in the gradebook
# ----------------------------------------------------------------------------------------------
def append_log(course: Course, assignment: str, student: str, text: str) -> None:
    path = course.settings.work_dir / "logs" / assignment / f"{student}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") or not text else text + "\n")


class Recorder:
    """nbgrader's ``Autograde`` without execution, reading the notebooks a grading machine returned."""

    def __init__(self, course: Course):
        from nbgrader.apps import NbGraderAPI

        self.course = course
        config = copy.deepcopy(course.config)
        config.CourseDirectory.submitted_directory = INCOMING
        config.Autograde.sanitize_preprocessors = []
        config.Autograde.autograde_preprocessors = [
            p for p in course.config.Autograde.autograde_preprocessors
            if getattr(p, "__name__", str(p).rsplit(".", 1)[-1]) in RECORDING_PREPROCESSORS]
        self.api = NbGraderAPI(config=config)

    def record(self, assignment: str, student: str, reply: dict, fingerprint: str) -> StudentResult:
        """Enter one student's returned grading; the status record is written last."""
        from ..grading import record_failure, summary_of_run

        course = self.course
        status.forget(course, assignment, student)
        append_log(course, assignment, student, reply.get("log", ""))
        remote = StudentResult.from_json(reply["summary"])
        staged = course.root / INCOMING / student / assignment
        if staged.exists():
            _remove_tree(staged)
        missing = [nb for nb in course.notebook_ids(assignment) if f"{nb}.ipynb" not in reply["files"]]
        if remote.state == "graded" and not missing:
            _write_tree(staged, reply["files"])
            started = time.monotonic()
            try:
                with warnings.catch_warnings():  # nbgrader's SQLAlchemy warnings (a local worker logs them)
                    warnings.simplefilter("ignore")
                    result = self.api.autograde(assignment, student, force=True, create=True)
            finally:
                _remove_tree(staged)
            append_log(course, assignment, student, "----- entered in the instructor's gradebook "
                       f"in {time.monotonic() - started:.2f} s\n"
                       + (result.get("log") or "") + (result.get("error") or ""))
            summary = summary_of_run(course, assignment, student, result, "recording failed: ")
        else:
            reason = remote.reason or (f"nbgrader wrote no autograded notebook for {', '.join(missing)}"
                                       if missing else "nbgrader failed")
            summary = record_failure(course, assignment, student, reason)
        summary.seconds, summary.grader_peak_mb = remote.seconds, remote.grader_peak_mb
        summary.fingerprint = fingerprint
        status.save(course, summary)
        return summary
