"""Issue 28: how fast the instructor's process enters the cluster's results in the gradebook.

Every distinct student of the synthetic class (``autograder.demo.catalogue``)
is graded once the way a cluster worker grades it (``remote.grade_payload`` in
one long-lived grading process).  A course root then holds a class of
``students`` submissions (the same students repeated under new names, as the
other class-size benches build them), and each student's returned grading is
the one of the student they copy (the same notebook gives the same grading).
They are entered:

* in bulk (:class:`autograder.executors.recording.BulkRecorder`, batches of
  ``BATCH_SIZE``, what ``--cluster`` uses): ``recording_students_per_s``;
* one at a time through nbgrader's ``Autograde`` converter
  (:class:`autograder.executors.remote.Recorder`, the path before issue 28),
  on the first ``before`` students of a copy of the same root:
  ``recording_students_per_s_before``.

Both counts include everything entering does: the files, the rows, the late
penalty, the summary and the status record.  The bench raises unless every
student ends in the gradebook once with the score of the student they copy.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .autograde import ASSIGNMENT, _class_root, _scores
from .common import Timing


def _graded_replies(course) -> dict:
    """One returned grading per distinct student (``correct``, ``partial``, ...)."""
    from autograder.executors import remote
    from autograder.executors.local import _Worker

    bundle = remote.assignment_bundle(course, ASSIGNMENT)
    scratch = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    grader = _Worker(remote.private_settings(bundle, scratch), scratch / "grader.log")
    private = remote.PrivateRoot(bundle, scratch)
    replies = {}
    try:
        for student in course.submissions(ASSIGNMENT):
            base = student.rsplit("-", 1)[0]
            if base not in replies:
                replies[base] = remote.grade_payload(bundle, remote.student_payload(course, ASSIGNMENT, student),
                                                     grader, 300, scratch, private)
                if replies[base]["kind"] != "graded":
                    raise AssertionError(f"{student}: {replies[base]}")
    finally:
        grader.stop()
        private.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return replies


def _returned(course, replies: dict, students: list[str]) -> list:
    from autograder import status
    from autograder.executors.recording import Returned

    return [Returned(ASSIGNMENT, s, replies[s.rsplit("-", 1)[0]], status.submission_fingerprint(course, ASSIGNMENT, s))
            for s in students]


def _check(root: Path, replies: dict, students: list[str]) -> None:
    scores = _scores(root)
    wrong = {s: scores.get(s) for s in students
             if scores.get(s) != replies[s.rsplit("-", 1)[0]]["summary"]["score"]}
    if len(scores) != len(students) or wrong:
        raise AssertionError(f"{root}: {len(scores)} of {len(students)} entered; wrong scores {wrong}")


def measure(students: int = 240, before: int = 20) -> dict:
    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.executors import remote
    from autograder.executors.recording import BATCH_SIZE, BulkRecorder

    bulk_root = _class_root(students)
    old_root = bulk_root.with_name(bulk_root.name + "-per-student")
    shutil.copytree(bulk_root, old_root)
    try:
        bulk, old = Course(Settings.from_env(root=bulk_root)), Course(Settings.from_env(root=old_root))
        names = bulk.submissions(ASSIGNMENT)
        for course in (bulk, old):
            course.prepare()
            with course.gradebook() as gb:  # as autograde does before grading
                for student in names:
                    gb.update_or_create_student(student)
        replies = _graded_replies(bulk)

        items = _returned(bulk, replies, names)
        started = time.perf_counter()
        recorder = BulkRecorder(bulk, ASSIGNMENT)
        for start in range(0, len(items), BATCH_SIZE):
            errors = [e.error for e in recorder.enter(items[start:start + BATCH_SIZE]) if e.error]
            if errors:
                raise AssertionError(errors[0])
        recorder.close()
        bulk_seconds = time.perf_counter() - started
        _check(bulk_root, replies, names)

        first = names[:before]
        items = _returned(old, replies, first)
        started = time.perf_counter()
        recorder = remote.Recorder(old)
        for item in items:
            recorder.record(ASSIGNMENT, item.student, item.reply, item.fingerprint)
        old_seconds = time.perf_counter() - started
        _check(old_root, replies, first)
    finally:
        shutil.rmtree(bulk_root, ignore_errors=True)
        shutil.rmtree(old_root, ignore_errors=True)
    rows = [Timing(f"entering {len(names)} returned gradings in bulk (batches of {BATCH_SIZE})", [bulk_seconds]),
            Timing(f"entering {len(first)} returned gradings one at a time (nbgrader's Autograde)", [old_seconds])]
    return {"rows": [r.row() for r in rows],
            "recording_students_per_s": len(names) / bulk_seconds,
            "recording_students_per_s_before": len(first) / old_seconds,
            "recording_results_entered": len(names)}
