"""Grade one student with nbgrader, and what to do when nbgrader cannot.

:func:`autograde_student` is what each worker process runs per student:
nbgrader's own ``autograde`` (through ``NbGraderAPI``), a retry when the
SQLite gradebook was locked by another worker for too long, and, when
nbgrader still fails, :func:`record_failure`: the student is entered with
zero points and an autograded notebook that says why, so that
``generate_feedback``, ``export`` and the formgrader treat them like
everyone else.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import time
import traceback
from pathlib import Path

import nbformat

from . import status
from .course_dir import Course
from .notes import META_KEY, add_note, read_notes
from .preprocessors import RestoreCellOrder, read_submission
from .status import StudentResult

#: Attempts when nbgrader failed because the gradebook stayed locked.
DB_ATTEMPTS = 4
#: Fallback reasons that are the student's doing (their code overran the wall-clock cap); every
#: other fallback is the grader's failure, which a re-run grades again.
STUDENT_CAUSED = ("grading took longer than",)


def is_grader_failure(reason: str) -> bool:
    return not any(reason.startswith(prefix) for prefix in STUDENT_CAUSED)


def _is_db_lock(result: dict) -> bool:
    text = (result.get("error") or "") + (result.get("log") or "")
    return "database is locked" in text or "error accessing the nbgrader database" in text


def _failure_reason(result: dict) -> str:
    """One readable line out of nbgrader's log and traceback."""
    for text in (result.get("log") or "", result.get("error") or ""):
        for line in text.splitlines():
            if "[ERROR]" in line and "There was an error processing" not in line \
                    and "Please see" not in line:
                return line.split("[ERROR]", 1)[1].strip()[:300]
    lines = [line for line in (result.get("error") or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "nbgrader failed without a message"


def write_log(course: Course, assignment: str, student: str, text: str) -> Path:
    """Append nbgrader's log of one grading to the student's log file (earlier runs are kept)."""
    path = course.settings.work_dir / "logs" / assignment / f"{student}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"===== {time.strftime('%Y-%m-%d %H:%M:%S')} autograde {assignment} {student}\n{text}\n")
    return path


def summary_of_run(course: Course, assignment: str, student: str, result: dict,
                   failure_prefix: str = "") -> StudentResult:
    """The student's summary after nbgrader's autograde returned ``result``; a zero with the reason
    when it failed or wrote no autograded notebook."""
    missing = [nb for nb in course.notebook_ids(assignment)
               if not course.autograded_notebook(assignment, student, nb).exists()]
    if result.get("success") and not missing:
        return summarize(course, assignment, student, state="graded")
    reason = _failure_reason(result) if not result.get("success") else \
        f"nbgrader wrote no autograded notebook for {', '.join(missing)}"
    return record_failure(course, assignment, student, failure_prefix + reason)


def _prepare_sandboxed_kernels(course: Course, assignment: str) -> None:
    """Tell the sandbox's provisioner (in this process) whether, and with what, to fork kernels
    (and byte-compile the environment the sandbox shows read-only, the first time)."""
    from .config import precompile_environment
    from .sandbox import forkserver, preload

    if course.settings.sandbox:
        precompile_environment()  # once per installed set of packages; a stamp check otherwise
    if course.settings.sandbox and course.settings.fork_server:
        modules = preload.for_assignment(str(course.settings.source), assignment)
        os.environ[forkserver.ENV] = json.dumps(list(modules))
    else:
        os.environ.pop(forkserver.ENV, None)


def warm_up(course: Course, assignment: str) -> dict:
    """Before the first student: byte-code and the fork server, as the first kernel would start them."""
    _prepare_sandboxed_kernels(course, assignment)
    from .sandbox import forkserver

    preload = forkserver.requested_preload()
    if preload is None:
        return {"fork_server": False}
    limits = forkserver.provisioner_limits(course.settings.memory_mb)
    env = forkserver.kernel_env()
    server = forkserver.acquire(limits, preload, env)
    if server is not None:
        forkserver.release(server)
    return {"fork_server": server is not None}


def autograde_student(course: Course, assignment: str, student: str) -> StudentResult:
    """Run nbgrader's autograde for one student; never raises for a bad submission."""
    started = time.monotonic()
    _prepare_sandboxed_kernels(course, assignment)
    fingerprint = status.submission_fingerprint(course, assignment, student)
    status.forget(course, assignment, student)
    result: dict = {}
    for attempt in range(DB_ATTEMPTS):
        result = course.api.autograde(assignment, student, force=True, create=True)
        if result.get("success") or not _is_db_lock(result):
            break
        time.sleep(0.5 * 2 ** attempt)
    write_log(course, assignment, student, (result.get("log") or "") + (result.get("error") or ""))
    summary = summary_of_run(course, assignment, student, result)
    summary.seconds = round(time.monotonic() - started, 2)
    summary.fingerprint = fingerprint
    summary.grader_peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    status.save(course, summary)
    return summary


def _remove_tree(path: Path) -> None:
    """Delete a folder nbgrader made read-only (files are 444)."""
    def make_writable(func, target, _exc):
        os.chmod(target, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(target)
    if path.exists():
        shutil.rmtree(path, onerror=make_writable)


def _error_output(ename: str, message: str):
    return nbformat.from_dict({"output_type": "error", "ename": ename, "evalue": message,
                               "traceback": [f"{ename}: {message}"]})


def record_failure(course: Course, assignment: str, student: str, reason: str) -> StudentResult:
    """Enter the student with zero points and a notebook that explains ``reason``.

    Used when nbgrader itself gave up on the submission, or when the worker
    grading it had to be stopped (wall-clock cap, crash).  The notebook is
    the student's own answers (when readable) in the assignment's cells,
    every test marked "not graded"; nbgrader's ``SaveAutoGrades`` stores the
    zeros, so the gradebook and the feedback stay nbgrader's own.
    """
    from nbgrader.preprocessors import ClearOutput, OverwriteCells, SaveAutoGrades

    api = course.api
    db_url = course.settings.resolved_db_url
    with course.gradebook() as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
    destination = course.step_dir("autograded") / student / assignment
    _remove_tree(destination)
    destination.mkdir(parents=True)
    for notebook in course.notebook_ids(assignment):
        submitted = course.submitted_notebook(assignment, student, notebook)
        try:
            nb, _problem = read_submission(submitted.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            nb = nbformat.v4.new_notebook()
        resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": student,
                                  "db_url": db_url}}
        nb, resources = ClearOutput(parent=api).preprocess(nb, resources)
        nb, resources = RestoreCellOrder(parent=api).preprocess(nb, resources)
        nb, resources = OverwriteCells(parent=api).preprocess(nb, resources)
        nb.metadata.pop(META_KEY, None)
        for cell in nb.cells:
            nbgrader = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
                cell.outputs = [_error_output("NotGraded", f"not graded: {reason}")]
        add_note(nb, "grader-failure",
                 f"The grader could not run this notebook ({reason}). Every test scores zero; "
                 "your instructor sees this note and can grade it by hand.")
        nb, resources = SaveAutoGrades(parent=api).preprocess(nb, resources)
        nbformat.write(nb, str(destination / f"{notebook}.ipynb"))
    summary = summarize(course, assignment, student, state="fallback")
    summary.reason = reason
    summary.grader_failed = is_grader_failure(reason)
    return summary


def _mistake_ids(message: str) -> list[str]:
    try:
        from course.checks import mistake_ids
    except ImportError:  # a course without checks: no named mistakes
        return []
    return mistake_ids(message)


def summarize(course: Course, assignment: str, student: str, state: str) -> StudentResult:
    """Score, per-test points, notes and named mistakes of an autograded submission."""
    summary = StudentResult(assignment=assignment, student=student, state=state)
    with course.gradebook() as gb:
        submission = gb.find_submission(assignment, student)
        summary.score, summary.max_score = float(submission.score), float(submission.max_score)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.max_score:
                    summary.tests[grade.name] = [float(grade.score or 0.0), float(grade.max_score)]
    for notebook in course.notebook_ids(assignment):
        path = course.autograded_notebook(assignment, student, notebook)
        try:
            nb = nbformat.read(str(path), as_version=4)
        except (OSError, ValueError):
            continue
        add_findings(summary, nb)
    return summary


def add_findings(summary: StudentResult, nb) -> None:
    """Add an autograded notebook's grader notes and the mistakes its grade cells named to ``summary``."""
    summary.notes += read_notes(nb)
    for cell in nb.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                summary.mistakes += [m for m in _mistake_ids(output.get("evalue", ""))
                                     if m not in summary.mistakes]


def feedback_student(course: Course, assignment: str, student: str) -> dict:
    """nbgrader's ``generate_feedback`` for one student."""
    result = course.api.generate_feedback(assignment, student, force=True)
    missing = [nb for nb in course.notebook_ids(assignment)
               if not course.feedback_file(assignment, student, nb).exists()]
    ok = bool(result.get("success")) and not missing
    return {"assignment": assignment, "student": student, "ok": ok,
            "reason": "" if ok else _failure_reason(result)}


def safe_call(function, *args) -> dict:
    """Run a task, turning an unexpected exception into a result the supervisor can record."""
    try:
        return {"ok": True, "value": function(*args)}
    except Exception:  # noqa: BLE001 - reported to the supervisor, which records a fallback
        return {"ok": False, "error": traceback.format_exc()}
