"""Results entered in bulk (:mod:`autograder.executors.recording`), against nbgrader's own path.

One class (correct, mistaken, broken and hostile students, one of them late)
is graded once the way a cluster worker grades it (``remote.grade_payload``
in one long-lived grading process, reusing one private course root for every
student).  The same returned gradings are then entered in two copies of the
course: one student at a time through nbgrader's ``Autograde`` converter
(:class:`remote.Recorder`), and in one batch by :class:`BulkRecorder`.  Every
gradebook row, every autograded file (mode and content) and every status
record must be the same.  Then a recorder process is killed with SIGKILL in
the middle of a batch (inside the transaction, and after the commit while it
writes the status records), on SQLite and on PostgreSQL: the students without
a record are entered again, and the gradebook ends with every student once,
exactly as if nothing had happened.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from autograder import status
from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import catalogue, synthetic
from autograder.demo.run import write_class
from autograder.executors import remote
from autograder.executors.local import _Worker
from autograder.executors.recording import BulkRecorder, Returned
from gradebook_rows import gradebook_rows
from test_autograder_postgres import postgres_url  # noqa: F401 - the PostgreSQL server fixture

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
SOURCE_NB = nbformat.read(str(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
ALL = {v.student: v for v in catalogue.class_variants(ASSIGNMENT) + catalogue.hostile_variants()}
CLASS = ["correct", "partial", "mistake-sum-mse", "mistake-swapped", "broken-json", "hostile-monkeypatch"]
LATE = "partial"
LIMITS = {"cell_timeout": 8, "memory_mb": 1500}


def _collected(root: Path) -> Course:
    assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
    course = Course(Settings.from_env(root=root, **LIMITS))
    write_class(course, ASSIGNMENT, [ALL[n] for n in CLASS], root / "class.zip")
    assert main(["collect", ASSIGNMENT, str(root / "class.zip"), "--root", str(root)]) == 0
    with course.gradebook() as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2026, 1, 10, 12, 0))
    (course.step_dir("submitted") / LATE / ASSIGNMENT / "timestamp.txt").write_text("2026-01-11 08:30:00.000000")
    return course


def _copy(course: Course, root: Path, db_url: str | None = None) -> Course:
    shutil.copytree(course.root, root)
    (root / "nbgrader_config.py").unlink()  # names its own root: written again
    if db_url:
        (root / "gradebook.db").unlink()
        assert main(["release", ASSIGNMENT, "--root", str(root), "--db-url", db_url]) == 0
    copy = Course(Settings.from_env(root=root, db_url=db_url, **LIMITS))
    copy.prepare()
    with copy.gradebook() as gb:  # what autograde does before grading
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2026, 1, 10, 12, 0))
        for student in CLASS:
            gb.update_or_create_student(student)
    return copy


def _returned(course: Course, replies: dict, students=CLASS) -> list[Returned]:
    return [Returned(ASSIGNMENT, s, replies[s], status.submission_fingerprint(course, ASSIGNMENT, s))
            for s in students]


@pytest.fixture(scope="module")
def graded(isolated_jupyter, tmp_path_factory):
    """The class collected, and every student graded as a cluster worker grades them."""
    course = _collected(tmp_path_factory.mktemp("collected") / "course")
    bundle = remote.assignment_bundle(course, ASSIGNMENT)
    scratch = tmp_path_factory.mktemp("worker")
    grader = _Worker(remote.private_settings(bundle, scratch), scratch / "grader.log")
    private = remote.PrivateRoot(bundle, scratch)
    replies = {}
    try:
        for student in CLASS:
            replies[student] = remote.grade_payload(bundle, remote.student_payload(course, ASSIGNMENT, student),
                                                    grader, 120, scratch, private)
            # Between students the private root holds the assignment and a fresh gradebook only.
            assert sorted(p.name for p in private.root.iterdir()) == ["gradebook.db", "source"], student
    finally:
        grader.stop()
        private.close()
    return course, replies


def test_one_private_root_grades_every_student_as_a_fresh_one_would(graded):
    _, replies = graded
    for student in CLASS:
        reply = replies[student]
        assert reply["kind"] == "graded", (student, reply.get("error"))
        summary = reply["summary"]
        assert summary["state"] == "graded", (student, summary["reason"])
        assert summary["score"] == synthetic.expected_score(ALL[student], SOURCE_NB), student
        # the worker's log names this student only: nothing of the one before
        assert reply["log"].count("===== ") == 1 and f" {student}\n" in reply["log"].splitlines()[0] + "\n"


def _bundle_gradebook(bundle: dict, folder: Path) -> dict:
    """Schema, alembic stamp and row count of every table of a bundle's gradebook, and the names
    of its assignment's cells (the ids are random)."""
    import gzip
    import sqlite3

    path = folder / "gradebook.db"
    path.write_bytes(gzip.decompress(bundle["gradebook_gz"]))
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        return {"schema": sorted(db.execute("select type, name, sql from sqlite_master")),
                "alembic": db.execute("select version_num from alembic_version").fetchall(),
                "rows": {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables},
                "cells": sorted(db.execute("select name from base_cell"))}


def test_a_bundles_gradebook_is_copied_from_one_nbgrader_made_once(graded, tmp_path, monkeypatch):
    """nbgrader makes a new gradebook with an `alembic heads` subprocess (~2 s a run): the bundle
    copies an empty one it made once, and gets what nbgrader would have made itself."""
    course, _ = graded
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = remote.assignment_bundle(course, ASSIGNMENT)
    template = remote.empty_gradebook_template()
    assert template.parent == tmp_path / "cache" / "gd-five-ways"
    made = template.stat().st_mtime_ns
    second = remote.assignment_bundle(course, ASSIGNMENT)
    assert template.stat().st_mtime_ns == made and os.listdir(template.parent) == [template.name]
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))  # no cache: nbgrader's own
    fresh = remote.assignment_bundle(course, ASSIGNMENT)
    read = []
    for number, bundle in enumerate((first, second, fresh)):
        (tmp_path / str(number)).mkdir()
        read.append(_bundle_gradebook(bundle, tmp_path / str(number)))
    assert read[0] == read[1] == read[2]
    assert read[0]["rows"]["grade_cells"] > 0 and read[0]["rows"]["submitted_assignment"] == 0


def test_a_warmed_up_dask_thread_grades_its_first_student_in_the_process_it_started(graded, tmp_path, monkeypatch):
    """The warm-up task a cluster run sends each worker first: the thread's grading process is
    started and asked to get ready; the first student is then graded by it, and the warm-up's own
    answer is never taken for the student's."""
    from autograder.executors import dask

    course, replies = graded
    monkeypatch.setenv("GD_SCRATCH", str(tmp_path))
    assert dask.warm_up_on_worker(remote.warm_up_payload(course, ASSIGNMENT))
    grader = dask._thread.grader
    try:
        assert grader.alive()
        bundle = remote.assignment_bundle(course, ASSIGNMENT)
        for student in ("mistake-sum-mse", "correct"):
            reply = dask.grade_on_worker(bundle, remote.student_payload(course, ASSIGNMENT, student), 120)
            assert dask._thread.grader is grader
            assert reply["kind"] == "graded", reply.get("error")
            assert reply["summary"]["student"] == student
            assert reply["summary"]["score"] == replies[student]["summary"]["score"], student
    finally:
        grader.stop()
        dask._thread.private.close()
        del dask._thread.grader, dask._thread.private


@pytest.fixture(scope="module")
def entered(graded, tmp_path_factory):
    """The same returned gradings entered by nbgrader's converter, one by one, and in one batch."""
    course, replies = graded
    base = tmp_path_factory.mktemp("entered")
    by_nbgrader, in_bulk = _copy(course, base / "nbgrader"), _copy(course, base / "bulk")
    recorder = remote.Recorder(by_nbgrader)
    for item in _returned(by_nbgrader, replies):
        recorder.record(ASSIGNMENT, item.student, item.reply, item.fingerprint)
    bulk = BulkRecorder(in_bulk, ASSIGNMENT)
    results = bulk.enter(_returned(in_bulk, replies))
    bulk.close()
    assert [r.error for r in results] == [""] * len(CLASS)
    return by_nbgrader, in_bulk


def _autograded(course: Course) -> dict:
    base = course.step_dir("autograded")
    return {str(p.relative_to(base)): (oct(p.stat().st_mode), p.read_bytes() if p.is_file() else None)
            for p in sorted(base.rglob("*"))}


def _records(course: Course) -> dict:
    return {s: status.load(course, ASSIGNMENT, s).to_json() for s in CLASS}


def test_bulk_entering_writes_every_row_file_and_record_of_nbgraders_autograde(entered):
    by_nbgrader, in_bulk = entered
    rows = gradebook_rows(in_bulk, ASSIGNMENT)
    assert rows == gradebook_rows(by_nbgrader, ASSIGNMENT)
    assert rows["counts"]["submissions"] == len(CLASS)
    assert rows["submissions"][LATE]["seconds_late"] > 0
    comments = [c["auto_comment"] for c in rows["comments"].values()]
    assert "No response." in comments and None in comments  # broken-json left its answers blank
    assert _autograded(in_bulk) == _autograded(by_nbgrader)
    records = _records(in_bulk)
    assert records == _records(by_nbgrader)
    for student in CLASS:
        assert records[student]["state"] == "graded"
        assert records[student]["score"] == synthetic.expected_score(ALL[student], SOURCE_NB), student
        assert status.is_done(in_bulk, ASSIGNMENT, student)


#: A recorder process that enters the first two students, then the others in one batch, and is
#: killed with SIGKILL at the given point of that second batch.
KILLED_RECORDER = """
import os, pickle, signal, sys
from autograder import status
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.executors import recording

root, db_url, replies_file, where = sys.argv[1:5]
course = Course(Settings.from_env(root=root, db_url=db_url or None))
batches = pickle.loads(open(replies_file, "rb").read())
recorder = recording.BulkRecorder(course, batches[0][0].assignment)
recorder.enter(batches[0])
calls = []
if where == "rows":  # inside the transaction: the batch's rows flushed, not committed
    original = recorder._late_penalties
    def late_penalties(db, staged, *args):
        original(db, staged, *args)
        calls.append(staged)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    recorder._late_penalties = late_penalties
else:  # after the commit: the second status record is never written
    original = status.save
    def save(course, result):
        calls.append(result)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        original(course, result)
    status.save = save
recorder.enter(batches[1])
"""


def _postgres_database(postgres_url: str, name: str) -> str:
    import psycopg2

    server, _ = postgres_url.rsplit("/", 1)
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    connection.cursor().execute(f"CREATE DATABASE {name}")
    connection.close()
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    if request.param == "sqlite":
        return None
    postgres_url = request.getfixturevalue("postgres_url")
    return _postgres_database(postgres_url, f"killed_{os.getpid()}_{request.node.callspec.id.replace('-', '_')}")


@pytest.mark.parametrize("where", ["rows", "records"])
def test_a_recorder_killed_in_the_middle_of_a_batch_resumes_without_duplicates_or_losses(
        graded, entered, database, where, tmp_path):
    course, replies = graded
    _, reference = entered
    killed = _copy(course, tmp_path / "course", db_url=database)
    first, rest = CLASS[:2], CLASS[2:]
    replies_file = tmp_path / "replies.pkl"
    replies_file.write_bytes(pickle.dumps([_returned(killed, replies, first), _returned(killed, replies, rest)]))
    done = subprocess.run([sys.executable, "-c", KILLED_RECORDER, str(killed.root), database or "",
                           str(replies_file), where], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]

    rows = gradebook_rows(killed, ASSIGNMENT)
    in_gradebook = set(rows["submissions"])
    recorded = {s for s in CLASS if status.is_done(killed, ASSIGNMENT, s)}
    if where == "rows":  # the batch was rolled back: its students are neither in the gradebook nor recorded
        assert in_gradebook == set(first) and recorded == set(first)
    else:  # the batch committed; one record was written before the kill
        assert in_gradebook == set(CLASS) and recorded == set(first) | {rest[0]}

    # The next run grades (here: enters) the students without a record, and only those.
    again = [s for s in CLASS if s not in recorded]
    resumed = BulkRecorder(killed, ASSIGNMENT)
    results = resumed.enter(_returned(killed, replies, again))
    resumed.close()
    assert [r.error for r in results] == [""] * len(again)
    rows = gradebook_rows(killed, ASSIGNMENT)
    assert rows == gradebook_rows(reference, ASSIGNMENT)  # every student once, every row as in one go
    assert rows["counts"]["submissions"] == len(CLASS)
    assert _records(killed) == _records(reference)
    assert _autograded(killed) == _autograded(reference)
