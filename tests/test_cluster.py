"""``autograde --cluster``: a real Dask scheduler and two worker processes on 127.0.0.1.

The scheduler and the workers are started with the ``dask scheduler`` and
``dask worker`` commands an instructor would use (loopback only).  The same
class is graded on the cluster and with ``--jobs 2``; the gradebooks, status
records and autograded notebooks must be the same (the cluster's results are
entered in bulk, :mod:`autograder.executors.recording`).  A worker is killed
with SIGKILL while it grades: nobody is lost and nobody is graded twice.  The
instructor's process is killed with SIGKILL in the middle of a batch: the
next run grades the students it had not recorded, and the gradebook has
everyone once.  The sandbox must be in force on the workers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import catalogue, synthetic
from autograder.demo.run import write_class
from autograder.status import load as load_status
from gradebook_rows import gradebook_rows

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
SOURCE_NB = nbformat.read(str(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
ALL = {v.student: v for v in catalogue.class_variants(ASSIGNMENT) + catalogue.hostile_variants()}
#: Correct, mistaken, broken and hostile students (kept small: the machine has two cores).
CLASS = ["correct", "partial", "mistake-sum-mse", "mistake-swapped", "broken-json", "hostile-os-exit",
         "hostile-monkeypatch", "hostile-infinite-loop"]
LATE = "partial"  # submitted after the due date
GRADING = ["--timeout", "8", "--memory-mb", "1500", "--no-progress"]
DASK = str(Path(sys.executable).with_name("dask"))


# ----------------------------------------------------------------------------------------------
# a cluster on the loopback
# ----------------------------------------------------------------------------------------------
def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(isolated_jupyter, tmp_path_factory):
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1``, both on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    logs = [open(folder / "scheduler.log", "wb"), open(folder / "workers.log", "wb")]
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(scheduler_file)], cwd=folder, env=env,
                                 stdout=logs[0], stderr=subprocess.STDOUT)
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = subprocess.Popen([DASK, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                    "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)],
                                   cwd=folder, env=env, stdout=logs[1], stderr=subprocess.STDOUT)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        if workers is not None:
            _stop(workers)
        _stop(scheduler)
        for log in logs:
            log.close()


# ----------------------------------------------------------------------------------------------
# what a run leaves behind
# ----------------------------------------------------------------------------------------------
def _class_root(root: Path, names: list[str]) -> Course:
    assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
    course = Course(Settings.from_env(root=root))
    variants = [ALL[n] if n in ALL else replace(ALL[n.rsplit("-", 1)[0]], student=n) for n in names]
    write_class(course, ASSIGNMENT, variants, root / "class.zip")
    assert main(["collect", ASSIGNMENT, str(root / "class.zip"), "--root", str(root)]) == 0
    return course


def _gradebook(course: Course) -> dict:
    """Everything nbgrader keeps per submission: timestamps, late penalties, scores, comments."""
    with course.gradebook() as gb:
        out = {}
        for sub in gb.assignment_submissions(ASSIGNMENT):
            row = {"timestamp": str(sub.timestamp), "seconds_late": sub.total_seconds_late,
                   "score": sub.score, "needs_manual_grade": sub.needs_manual_grade}
            for nb in sub.notebooks:
                row[nb.name] = {
                    "late_penalty": nb.late_submission_penalty, "flagged": nb.flagged,
                    "grades": sorted((g.name, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                                     for g in nb.grades),
                    "comments": sorted((c.name, c.auto_comment, c.manual_comment) for c in nb.comments)}
            out[sub.student.id] = row
        return out


def _records(course: Course) -> dict:
    """The status records, without what the grading process measured (its time, its peak memory)."""
    out = {}
    for student in course.submissions(ASSIGNMENT):
        record = load_status(course, ASSIGNMENT, student).to_json()
        record.pop("seconds")
        record.pop("grader_peak_mb", None)
        out[student] = record
    return out


def _stable(nb: dict) -> dict:
    """A notebook without what differs from one run to the next, wherever it runs: execution
    times, widget model ids, the random ids of cells the grader adds (notes, a rebuilt
    notebook), where the kernel's stream output happened to be cut into messages, and the
    execution count of the cell a kernel died in (set or not, depending on which message won)."""
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell.pop("execution_count", None)
        cell.get("metadata", {}).pop("execution", None)
        outputs = []
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
            if isinstance(output.get("text"), list):
                output["text"] = "".join(output["text"])
            if outputs and output.get("output_type") == "stream" == outputs[-1].get("output_type") \
                    and output.get("name") == outputs[-1].get("name"):
                outputs[-1]["text"] += output["text"]
            else:
                outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return nb


def _autograded(course: Course) -> dict:
    """The autograded folders: file modes and contents (notebooks as :func:`_stable` has them)."""
    base = course.step_dir("autograded")
    out = {}
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        key = str(path.relative_to(base))
        if path.suffix == ".ipynb":
            content = json.dumps(_stable(json.loads(path.read_text())), sort_keys=True)
        else:
            content = path.read_bytes()
        out[key] = (oct(path.stat().st_mode), content)
    return out


def _gradings(course: Course, student: str) -> int:
    """How many times the student was graded (one header per grading in the student's log)."""
    log = course.settings.work_dir / "logs" / ASSIGNMENT / f"{student}.log"
    return log.read_text().count("===== ") if log.exists() else 0


# ----------------------------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(cluster, tmp_path_factory):
    """The same class (one student late) graded locally with --jobs 2 and on the cluster."""
    on_cluster = _class_root(tmp_path_factory.mktemp("cluster") / "course", CLASS)
    with on_cluster.gradebook() as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2026, 1, 10, 12, 0))
    (on_cluster.step_dir("submitted") / LATE / ASSIGNMENT / "timestamp.txt").write_text("2026-01-11 08:30:00.000000")
    local = Course(Settings.from_env(root=on_cluster.root.with_name("local")))
    shutil.copytree(on_cluster.root, local.root)
    (local.root / "nbgrader_config.py").unlink()  # names its own root: written again
    assert main(["autograde", ASSIGNMENT, "--root", str(local.root), "--jobs", "2", *GRADING]) == 0
    assert main(["autograde", ASSIGNMENT, "--root", str(on_cluster.root), "--cluster", cluster, *GRADING]) == 0
    return local, on_cluster


def test_the_cluster_gives_exactly_the_grades_of_a_local_run(two_runs):
    local, on_cluster = two_runs
    gradebook = _gradebook(on_cluster)
    assert set(gradebook) == set(CLASS)
    assert gradebook[LATE]["seconds_late"] > 0
    assert gradebook == _gradebook(local)
    # every row nbgrader keeps (students, submissions, notebooks, grades, comments), column by column
    assert gradebook_rows(on_cluster, ASSIGNMENT) == gradebook_rows(local, ASSIGNMENT)
    records = _records(on_cluster)
    assert records == _records(local)
    for student in CLASS:
        assert records[student]["state"] == "graded"
        assert records[student]["score"] == synthetic.expected_score(ALL[student], SOURCE_NB), student
        assert {n["kind"] for n in records[student]["notes"]} == set(ALL[student].notes), student


def test_the_autograded_notebooks_and_feedback_are_the_same(two_runs):
    local, on_cluster = two_runs
    assert _autograded(on_cluster) == _autograded(local)
    for course in two_runs:
        assert main(["feedback", ASSIGNMENT, "--root", str(course.root), "--student", "mistake-sum-mse",
                     "--student", "broken-json", "--no-progress"]) == 0
    for student in ("mistake-sum-mse", "broken-json"):
        ours, theirs = (_visible(c.feedback_file(ASSIGNMENT, student, ASSIGNMENT).read_text()) for c in two_runs)
        assert ours == theirs


def _visible(html: str) -> str:
    """What a student reads in a feedback page: the text without markup, scripts (widget state)
    or layout (a stream output cut into two messages is two blocks of markup)."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_second_cluster_run_skips_everyone(two_runs, cluster, capsys):
    _, on_cluster = two_runs
    before = _gradebook(on_cluster)
    assert main(["autograde", ASSIGNMENT, "--root", str(on_cluster.root), "--cluster", cluster, *GRADING]) == 0
    assert capsys.readouterr().out.count("skipped") == len(CLASS)
    assert _gradebook(on_cluster) == before
    assert all(_gradings(on_cluster, s) == 1 for s in CLASS)


def test_an_unreachable_scheduler_is_a_clear_error(two_runs, capsys, monkeypatch):
    _, on_cluster = two_runs
    monkeypatch.setenv("GD_CLUSTER_WAIT", "5")
    code = main(["autograde", ASSIGNMENT, "--root", str(on_cluster.root), "--force",
                 "--cluster", "tcp://127.0.0.1:9", *GRADING])
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_a_worker_killed_mid_run_loses_no_student_and_grades_none_twice(cluster, tmp_path):
    from distributed import Client

    names = [f"{base}-{i}" for i, base in enumerate(["correct", "partial", "mistake-sum-mse"] * 2)]
    course = _class_root(tmp_path / "course", names)
    killed: list[str] = []

    def kill_one_busy_worker() -> None:
        with Client(cluster, timeout="30s") as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not killed:
                busy = [worker for worker, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(3)  # well into a student's grading (its kernel is running)
                    pids = client.run(os.getpid, workers=busy[:1])
                    if pids:
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        killed.append(busy[0])
                        return
                time.sleep(0.3)

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    code = main(["autograde", ASSIGNMENT, "--root", str(course.root), "--cluster", cluster, *GRADING])
    killer.join(timeout=60)
    assert killed, "no worker was killed while it graded"
    assert code == 0
    with course.gradebook() as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(ASSIGNMENT)) == sorted(names)
    for name in names:
        record = load_status(course, ASSIGNMENT, name)
        assert record.state == "graded", (name, record.reason)
        assert record.score == synthetic.expected_score(ALL[name.rsplit("-", 1)[0]], SOURCE_NB)
        assert _gradings(course, name) == 1, name
    with Client(cluster, timeout="30s") as client:  # the nanny restarted it: two workers again
        client.wait_for_workers(2, timeout=120)


#: ``autograde --cluster`` in a process of its own, whose recorder waits 10 s before its first
#: batch (results pile up meanwhile), then kills the process with SIGKILL in the first batch of two
#: or more, half-way through it: its rows flushed, not committed.
KILLED_CLIENT = """
import json, os, signal, sys, time
from autograder.cli import main
from autograder.executors import recording

marker, args = sys.argv[1], sys.argv[2:]
enter, late_penalties = recording.BulkRecorder.enter, recording.BulkRecorder._late_penalties
batches, done = [], []

def slow_enter(self, batch):
    batches.append([item.student for item in batch])
    if len(batches) == 1:
        time.sleep(10)
    return enter(self, batch)

def killing_late_penalties(self, db, staged, *rest):
    late_penalties(self, db, staged, *rest)
    done.append(staged.returned.student)
    if len(batches[-1]) >= 2 and len(set(done) & set(batches[-1])) == 2:
        with open(marker, "w") as handle:
            json.dump({"batches": batches}, handle)
        os.kill(os.getpid(), signal.SIGKILL)

recording.BulkRecorder.enter, recording.BulkRecorder._late_penalties = slow_enter, killing_late_penalties
sys.exit(main(args))
"""


def test_an_instructor_killed_in_the_middle_of_a_batch_resumes_without_duplicates_or_losses(cluster, tmp_path):
    names = [f"{base}-{i}" for i, base in enumerate(["correct", "partial", "mistake-sum-mse"] * 2)]
    course = _class_root(tmp_path / "course", names)
    marker = tmp_path / "killed.json"
    command = ["autograde", ASSIGNMENT, "--root", str(course.root), "--cluster", cluster, *GRADING]
    done = subprocess.run([sys.executable, "-c", KILLED_CLIENT, str(marker), *command], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    in_batch = json.loads(marker.read_text())["batches"][-1]
    assert len(in_batch) >= 2, in_batch
    recorded = {n for n in names if load_status(course, ASSIGNMENT, n) is not None}
    with course.gradebook() as gb:
        entered = {s.student.id for s in gb.assignment_submissions(ASSIGNMENT)}
    assert not set(in_batch) & (recorded | entered), "the killed batch was not rolled back"
    assert recorded == entered and recorded, (recorded, entered)

    assert main(command) == 0  # the next run grades everyone not recorded, and only them
    rows = gradebook_rows(course, ASSIGNMENT)
    assert rows["counts"]["submissions"] == len(names) and sorted(rows["submissions"]) == sorted(names)
    for name in names:
        record = load_status(course, ASSIGNMENT, name)
        assert record.state == "graded", (name, record.reason)
        assert record.score == synthetic.expected_score(ALL[name.rsplit("-", 1)[0]], SOURCE_NB), name
        assert rows["submissions"][name]["score"] == record.score, name
        # recorded before the kill: not graded again; in the killed batch: graded again, once;
        # the others had or had not reached the instructor's log when it was killed
        expected = {1} if name in recorded else {2} if name in in_batch else {1, 2}
        assert _gradings(course, name) in expected, (name, _gradings(course, name))


#: A student's own cell that looks for the course and the network from inside the kernel.
PROBE = """\
import socket as _s
_probe = {}
for _path in ("../../../gradebook.db", "../../../source/01_numpy_by_hand/01_numpy_by_hand.ipynb"):
    try:
        with open(_path, "rb") as _f:
            _f.read(1)
        _probe[_path] = "read"
    except Exception as _e:
        _probe[_path] = type(_e).__name__
try:
    _s.create_connection(("127.0.0.1", PORT), timeout=3).close()
    _probe["tcp"] = "connected"
except Exception as _e:
    _probe["tcp"] = type(_e).__name__
print("SANDBOX-PROBE", _probe)
"""


def _sandbox_missing() -> str:
    try:
        from autograder.sandbox import diagnose
    except ImportError:
        return "autograder.sandbox is not there yet"
    if "sandbox" not in Settings.__dataclass_fields__:
        return "Settings has no sandbox switch yet"
    return " ".join(diagnose())


def _probe_output(course: Course, student: str) -> str:
    nb = nbformat.read(str(course.autograded_notebook(ASSIGNMENT, student, ASSIGNMENT)), 4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "SANDBOX-PROBE" in output.get("text", ""):
                return output["text"]
    raise AssertionError("the probe cell printed nothing")


def test_the_sandbox_is_in_force_on_the_workers(cluster, tmp_path, monkeypatch):
    missing = _sandbox_missing()
    if missing:
        pytest.skip(f"sandbox not usable here: {missing}")
    port = int(cluster.rsplit(":", 1)[1])
    probe = synthetic.Variant("sandbox-probe", "looks for the gradebook, the solutions and the network",
                              change=catalogue._insert_after_setup(PROBE.replace("PORT", str(port))))
    ALL["sandbox-probe"] = probe
    seen = {}
    for sandbox in ("1", "0"):
        monkeypatch.setenv("GD_SANDBOX", sandbox)
        course = _class_root(tmp_path / f"sandbox-{sandbox}", ["sandbox-probe"])
        assert main(["autograde", ASSIGNMENT, "--root", str(course.root), "--cluster", cluster, *GRADING]) == 0
        seen[sandbox] = _probe_output(course, "sandbox-probe")
        assert load_status(course, ASSIGNMENT, "sandbox-probe").score == synthetic.expected_score(probe, SOURCE_NB)
    # Without the sandbox the probe reaches the worker's private course root and the scheduler:
    # the paths are right.  With it, none of them.
    assert "'read'" in seen["0"] and "'connected'" in seen["0"], seen["0"]
    assert "'read'" not in seen["1"] and "'connected'" not in seen["1"], seen["1"]
