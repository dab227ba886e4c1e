"""The instructor's steps, each a thin layer over nbgrader: release, students, collect,
autograde (parallel), feedback, export."""

from __future__ import annotations

import csv
import fcntl
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from . import status
from .course_dir import EXIT_NOTHING, Course, CourseError
from .status import StudentResult

#: Student ids become folder names: keep them to safe characters.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: LMS download file names ``<student>_<notebook>.ipynb`` (nbgrader zip_collect's named_regexp).
DEFAULT_ZIP_REGEXP = r".*/(?P<student_id>[A-Za-z0-9.@-]+)_(?P<file_id>[^/]+\.ipynb)$"


def _progress(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="student", file=sys.stderr,
                disable=not enabled or total == 0, dynamic_ncols=True)


@contextmanager
def exclusive_run(course: Course, what: str):
    """One grading run per course root at a time (a killed run releases the lock by itself)."""
    course.settings.work_dir.mkdir(parents=True, exist_ok=True)
    path = course.settings.work_dir / "run.lock"
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseError(f"another {what} run is using {course.root} (lock {path}); "
                              "wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------
# release
# ----------------------------------------------------------------------------------------------
def release(course: Course, assignments: list[str] | None = None) -> list[str]:
    """``nbgrader generate_assignment`` for the given assignments (default: all)."""
    course.prepare()
    names = assignments or course.assignments()
    if not names:
        raise CourseError(f"no assignments in the source directory {course.settings.source}")
    for name in names:
        course.require_assignment(name)
    for name in names:
        result = course.api.generate_assignment(name, force=True)
        if not result.get("success"):
            detail = (result.get("error") or result.get("log") or "").strip().splitlines()
            raise CourseError(f"nbgrader could not release {name!r}: {detail[-1] if detail else 'no message'}")
    return names


# ----------------------------------------------------------------------------------------------
# students
# ----------------------------------------------------------------------------------------------
def add_students(course: Course, csv_path: Path) -> list[str]:
    """Add or update students from a CSV with an ``id`` column (optional first_name, last_name, email)."""
    course.prepare()
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise CourseError(f"cannot read {csv_path}: {error.strerror}") from None
    if not rows or "id" not in rows[0]:
        raise CourseError(f"{csv_path} needs a header row with an 'id' column "
                          "(and optionally first_name, last_name, email)")
    added = []
    with course.gradebook() as gb:
        for number, row in enumerate(rows, start=2):
            student = (row.get("id") or "").strip()
            if not STUDENT_ID.fullmatch(student):
                raise CourseError(f"{csv_path}, line {number}: {student!r} is not a usable student id "
                                  "(letters, digits, . _ @ -)")
            details = {key: (row.get(key) or "").strip() or None
                       for key in ("first_name", "last_name", "email")}
            gb.update_or_create_student(student, **details)
            added.append(student)
    return added


# ----------------------------------------------------------------------------------------------
# collect
# ----------------------------------------------------------------------------------------------
def collect(course: Course, assignment: str, source: Path, *, regexp: str | None = None) -> list[str]:
    """Take in submissions: an LMS zip (or a folder of ``<student>_<notebook>.ipynb`` files)
    through nbgrader's ``zip_collect``, or a folder with one sub-folder per student."""
    course.prepare()
    course.require_released(assignment)
    source = Path(source)
    if not source.exists():
        raise CourseError(f"{source} does not exist")
    flat = source.is_file() or any(p.suffix in (".ipynb", ".zip", ".gz") for p in source.iterdir()
                                   if p.is_file())
    if flat:
        collected = _zip_collect(course, assignment, source, regexp or DEFAULT_ZIP_REGEXP)
    else:
        collected = _copy_student_folders(course, assignment, source)
    if not collected:
        raise CourseError(f"no submissions of {assignment!r} were found in {source}", EXIT_NOTHING)
    return collected


def _zip_collect(course: Course, assignment: str, source: Path, regexp: str) -> list[str]:
    """nbgrader's zip_collect; returns the students whose files it (re)wrote."""
    started = time.time() - 1
    archive = course.root / "downloaded" / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    if source.is_file():
        shutil.copy(source, archive / source.name)
    else:
        for item in source.iterdir():
            if item.is_file():
                shutil.copy(item, archive / item.name)
    command = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force",
               f"--FileNameCollectorPlugin.named_regexp={regexp}"]
    done = subprocess.run(command, cwd=course.root, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise CourseError(f"nbgrader zip_collect failed: {' | '.join(tail)}")
    submitted = course.step_dir("submitted")
    return [student for student in course.submissions(assignment)
            if any(p.stat().st_mtime >= started for p in (submitted / student / assignment).rglob("*.ipynb"))]


def _copy_student_folders(course: Course, assignment: str, source: Path) -> list[str]:
    """``source/<student>/<assignment>/*`` or ``source/<student>/*.ipynb`` -> ``submitted/``."""
    copied = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        if not STUDENT_ID.fullmatch(folder.name):
            print(f"skipping {folder}: not a usable student id", file=sys.stderr)
            continue
        files = folder / assignment if (folder / assignment).is_dir() else folder
        if not any(files.glob("*.ipynb")):
            continue
        target = course.step_dir("submitted") / folder.name / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(files, target)
        copied.append(folder.name)
    return copied


# ----------------------------------------------------------------------------------------------
# autograde
# ----------------------------------------------------------------------------------------------
def _graded_in_gradebook(course: Course, assignment: str) -> set[str]:
    """Students whose submission has a score for every graded cell."""
    done = set()
    with course.gradebook() as gb:
        for submission in gb.assignment_submissions(assignment):
            grades = [g for nb in submission.notebooks for g in nb.grades]
            if grades and all(g.auto_score is not None or g.manual_score is not None for g in grades):
                done.add(submission.student.id)
    return done


def missing_from_gradebook(course: Course, assignment: str, students: list[str] | None = None) -> list[str]:
    """Submitted students (or ``students``) without a complete score in the gradebook.

    Checked after every autograde run: a student must end it graded, or entered with zero and
    the reason, never silently missing.
    """
    wanted = students or course.submissions(assignment)
    graded = _graded_in_gradebook(course, assignment)
    return [s for s in wanted if s not in graded]


def autograde(course: Course, assignment: str, *, students: list[str] | None = None, jobs: int = 1,
              force: bool = False, student_timeout: float = 900, progress: bool = True,
              on_result: Callable[[StudentResult], None] | None = None,
              cluster: str | None = None,
              before_grading: Callable[[], None] | None = None) -> list[StudentResult]:
    """Autograde every submission of ``assignment`` (or ``students``) on ``jobs`` processes,
    or on the workers of the Dask scheduler at ``cluster`` (``jobs`` is then unused).

    ``before_grading`` (e.g. the sandbox check) runs once the local workers are starting, so
    their imports overlap it; if it raises, the workers are stopped and nothing is graded.

    Students completely graded by an earlier run (same submission, grades in
    the gradebook, autograded notebook present) are skipped unless ``force``.
    Returns one :class:`StudentResult` per student, graded or skipped.
    """
    from .executors.local import start_workers, stop_workers

    course.prepare()
    course.require_assignment(assignment)
    submitted = course.submissions(assignment)
    if students:
        unknown = sorted(set(students) - set(submitted))
        if unknown:
            raise CourseError(f"no submission of {assignment!r} from: {', '.join(unknown)}", EXIT_NOTHING)
        submitted = [s for s in submitted if s in set(students)]
    if cluster:
        from .executors.dask import Cluster

        if before_grading is not None:
            before_grading()
        _require_submissions(course, assignment, submitted)
        connection = Cluster(cluster, sandbox=course.settings.sandbox, course=course, assignment=assignment)
        try:
            return _autograde(course, assignment, submitted, [], jobs=jobs, force=force,
                              student_timeout=student_timeout, progress=progress, on_result=on_result,
                              cluster=connection)
        finally:
            connection.close()
    # Start the workers before the checks: their imports (1-2 s) then overlap the sandbox check
    # and the supervisor's own import of nbgrader (for the gradebook).
    workers = start_workers(course.settings, min(max(1, jobs), len(submitted)), assignment) if submitted else []
    try:
        if before_grading is not None:
            before_grading()
        _require_submissions(course, assignment, submitted)
        return _autograde(course, assignment, submitted, workers, jobs=jobs, force=force,
                          student_timeout=student_timeout, progress=progress, on_result=on_result)
    finally:
        stop_workers(workers)  # those _autograde did not use (an error, or nothing left to grade)


def _require_submissions(course: Course, assignment: str, submitted: list[str]) -> None:
    if not submitted:
        course.require_released(assignment)  # the first thing to fix, if it is not
        raise CourseError(f"no submissions for {assignment!r} in {course.step_dir('submitted')} "
                          f"(collect them first: python -m autograder collect {assignment} FOLDER_OR_ZIP)",
                          EXIT_NOTHING)


def _autograde(course: Course, assignment: str, submitted: list[str], workers: list, *, jobs: int,
               force: bool, student_timeout: float, progress: bool,
               on_result: Callable[[StudentResult], None] | None, cluster=None) -> list[StudentResult]:
    from .grading import record_failure
    from .executors.local import run_tasks

    course.require_released(assignment)
    with exclusive_run(course, "autograde"):
        in_gradebook = _graded_in_gradebook(course, assignment)
        results: dict[str, StudentResult] = {}
        todo = []
        for student in submitted:
            if not force and student in in_gradebook and status.is_done(course, assignment, student):
                record = status.load(course, assignment, student)
                record.state = "skipped" if record.state == "graded" else record.state
                results[student] = record
            else:
                todo.append(student)
        with course.gradebook() as gb:  # create them up front: fewer concurrent writes later
            for student in todo:
                gb.update_or_create_student(student)

        def recover(task: dict, error: str) -> dict:
            try:
                summary = record_failure(course, task["assignment"], task["student"], error)
            except Exception as failure:  # noqa: BLE001 - never lose the others; the final check names them
                return StudentResult(assignment=task["assignment"], student=task["student"], state="missing",
                                     reason=f"{error}; recording the zero failed too: {failure}"[:300]).to_json()
            summary.fingerprint = status.submission_fingerprint(course, task["assignment"], task["student"])
            status.save(course, summary)
            return summary.to_json()

        bar = _progress(len(todo), f"autograde {assignment}", progress)

        def arrived(outcome) -> None:
            bar.update(1)
            if outcome.value is None and not outcome.lost:
                # The worker reported an unexpected exception: record the student anyway.
                outcome.value = recover(outcome.task, outcome.error.strip().splitlines()[-1][:300]
                                        if outcome.error.strip() else "unexpected grader error")
            if outcome.value is not None:
                result = StudentResult.from_json(outcome.value)
                results[result.student] = result
                if on_result is not None:
                    on_result(result)

        tasks = [{"task": "autograde", "assignment": assignment, "student": s} for s in todo]
        try:
            if cluster is not None:
                cluster.run_tasks(course, tasks, task_timeout=student_timeout, recover=recover,
                                  on_outcome=arrived)
            else:
                run_tasks(course.settings, tasks, jobs=jobs, task_timeout=student_timeout,
                          recover=recover, on_outcome=arrived, workers=workers)
        finally:
            bar.close()
    return [results[s] for s in submitted if s in results]


# ----------------------------------------------------------------------------------------------
# feedback
# ----------------------------------------------------------------------------------------------
def feedback(course: Course, assignment: str, *, students: list[str] | None = None, jobs: int = 1,
             progress: bool = True) -> dict[str, str]:
    """nbgrader's ``generate_feedback`` per autograded student; returns student -> problem ('' if none)."""
    from .executors.local import run_tasks

    course.prepare()
    course.require_released(assignment)
    autograded = course.step_dir("autograded")
    graded = sorted(p.name for p in autograded.iterdir() if (p / assignment).is_dir()) \
        if autograded.is_dir() else []
    if students:
        graded = [s for s in graded if s in set(students)]
    if not graded:
        raise CourseError(f"nothing autograded for {assignment!r} yet: run autograde first", EXIT_NOTHING)
    problems: dict[str, str] = {}
    bar = _progress(len(graded), f"feedback {assignment}", progress)

    def arrived(outcome) -> None:
        bar.update(1)
        value = outcome.value or {}
        problems[outcome.task["student"]] = "" if value.get("ok") else (value.get("reason") or outcome.error)

    tasks = [{"task": "feedback", "assignment": assignment, "student": s} for s in graded]
    try:
        run_tasks(course.settings, tasks, jobs=jobs, task_timeout=300, on_outcome=arrived)
    finally:
        bar.close()
    return problems


# ----------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------
def export(course: Course, destination: Path, *, assignments: list[str] | None = None) -> Path:
    """nbgrader's CSV export of the gradebook (one row per student and assignment)."""
    from nbgrader.plugins import CsvExportPlugin

    course.prepare()
    for name in assignments or []:
        course.require_released(name)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    plugin = CsvExportPlugin(to=str(destination), assignment=list(assignments or []))
    with course.gradebook() as gb:
        plugin.export(gb)
    return destination

