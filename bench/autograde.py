"""Goals 2 and 5 (class size): the CLI's parallel autograde against stock serial ``nbgrader autograde``.

Both grade the same synthetic class (``autograder.demo.catalogue``: correct,
partial, each named mistake, broken; repeated under new names to reach the
class size) in two copies of one course root, so neither run finds work the
other did.  The scores must be identical: a speed-up that changes a grade
is a bug, and the bench raises.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .common import Timing, scratch_home

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"


def _class_root(students: int) -> Path:
    """A course root with ``students`` submissions of ``ASSIGNMENT``, collected by nbgrader."""
    from autograder import pipeline
    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.demo.run import write_class
    from autograder.demo.catalogue import class_variants

    root = Path(tempfile.mkdtemp(prefix="bench-class-"))
    course = Course(Settings.from_env(root=root))
    pipeline.release(course, [ASSIGNMENT])
    base = class_variants(ASSIGNMENT)
    variants = [replace(base[i % len(base)], student=f"{base[i % len(base)].student}-{i:02d}")
                for i in range(students)]
    zip_path = root / "lms.zip"
    write_class(course, ASSIGNMENT, variants, zip_path)
    pipeline.collect(course, ASSIGNMENT, zip_path)
    zip_path.unlink()
    return root


def _scores(root: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from autograder.config import gradebook_url

    with Gradebook(gradebook_url(root)) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}


def _env() -> dict:
    home = scratch_home()
    # A fresh home keeps the user's Jupyter configuration out; the user's cache stays what an
    # instructor's commands see (the cluster's empty-gradebook template, made by their first run).
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    env = dict(os.environ, HOME=home, JUPYTER_CONFIG_DIR=f"{home}/.jupyter",
               JUPYTER_DATA_DIR=f"{home}/.local/share/jupyter", XDG_CACHE_HOME=cache, PYTHONWARNINGS="ignore")
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def _run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 4):  # 4: some submission needed the fallback (still graded)
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def _stock(root: Path) -> float:
    return _run([str(ROOT / ".venv" / "bin" / "nbgrader"), "autograde", ASSIGNMENT, "--force"], root)


def _ours(root: Path, jobs: int) -> float:
    return _run([sys.executable, "-m", "autograder", "autograde", ASSIGNMENT, "--jobs", str(jobs), "--force",
                 "--no-progress", "--root", str(root)], root)


def measure(students: int = 20, runs: int = 2) -> dict:
    from .cost import as_shipped, check_same_scores, run_stock

    stock_root = _class_root(students)
    ours_root = stock_root.with_name(stock_root.name + "-jobs2")
    shutil.copytree(stock_root, ours_root)
    as_shipped(stock_root)  # stock: nbgrader as shipped (its preprocessors and kernel, no sandbox)
    stock, ours = Timing(f"stock nbgrader autograde, {students} students, serial"), \
        Timing(f"python -m autograder autograde --jobs 2, {students} students")
    try:
        for _ in range(runs):  # alternate, so load on the machine hits both alike
            stock.seconds.append(run_stock(stock_root, ASSIGNMENT)[0])  # exit 1: files it cannot read
            ours.seconds.append(_ours(ours_root, 2))
        check_same_scores(stock_root, ours_root, ASSIGNMENT, students)
    finally:
        shutil.rmtree(stock_root, ignore_errors=True)
        shutil.rmtree(ours_root, ignore_errors=True)
    return {"rows": [stock.row(), ours.row()], "autograde_speedup": stock.median / ours.median,
            "autograde_scores_identical": True, "autograde_students": students}


def class_scaling(sizes=(10, 20, 40)) -> dict:
    """Time of one ``--jobs 2`` run against class size; seconds per student should stay flat."""
    rows, per_student = [], {}
    for size in sizes:
        root = _class_root(size)
        try:
            t = Timing(f"autograde --jobs 2, {size} students")
            t.seconds.append(_ours(root, 2))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        rows.append(t.row())
        per_student[str(size)] = t.median / size
    return {"rows": rows, "autograde_seconds_per_student": per_student}


# ----------------------------------------------------------------------------------------------
# the Dask cluster path (autograde --cluster)
# ----------------------------------------------------------------------------------------------
def _start_cluster(folder: Path, workers: int = 2):
    """``dask scheduler`` + ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1; returns (address, stop)."""
    import json

    dask = str(ROOT / ".venv" / "bin" / "dask")
    env = _env()
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "dask.log", "wb")
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(scheduler_file)], cwd=folder, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    pool = subprocess.Popen([dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                             "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=120)

    def stop():
        for process in (pool, scheduler):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
    return address, stop


def _on_cluster(root: Path, address: str) -> float:
    return _run([sys.executable, "-m", "autograder", "autograde", ASSIGNMENT, "--cluster", address, "--force",
                 "--no-progress", "--root", str(root)], root)


def _costs(root: Path) -> tuple[float, float]:
    """Median seconds per student: grading on a worker (status records), entering it here (logs)."""
    import json
    import re
    import statistics

    graded = [json.loads(p.read_text())["seconds"]
              for p in (root / "nbgrader_work" / "status" / ASSIGNMENT).glob("*.json")]
    entered = [float(m) for p in (root / "nbgrader_work" / "logs" / ASSIGNMENT).glob("*.log")
               for m in re.findall(r"entered in the instructor's gradebook in ([0-9.]+) s", p.read_text())]
    return statistics.median(graded), (statistics.median(entered) if entered else float("nan"))


def cluster_overhead(students: int = 20) -> dict:
    """One class graded by ``--jobs 2`` and on a loopback cluster of 2 one-thread workers (same cores)."""
    local_root = _class_root(students)
    cluster_root = local_root.with_name(local_root.name + "-cluster")
    shutil.copytree(local_root, cluster_root)
    folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    address, stop = _start_cluster(folder)
    local, remote = Timing(f"autograde --jobs 2, {students} students"), \
        Timing(f"autograde --cluster (2 workers x 1 thread), {students} students")
    try:
        local.seconds.append(_ours(local_root, 2))
        remote.seconds.append(_on_cluster(cluster_root, address))
        if _scores(local_root) != _scores(cluster_root) or len(_scores(cluster_root)) != students:
            raise AssertionError(f"scores differ between local and cluster runs:\n"
                                 f"{_scores(local_root)}\n{_scores(cluster_root)}")
        grading, entering = _costs(cluster_root)
    finally:
        stop()
        for path in (local_root, cluster_root, folder):
            shutil.rmtree(path, ignore_errors=True)
    return {"rows": [local.row(), remote.row()], "cluster_overhead": remote.median / local.median,
            "cluster_scores_identical": True, "cluster_seconds_per_student_on_a_worker": grading,
            "cluster_seconds_per_student_entering_the_gradebook": entering}


def _check_every_student_graded(root: Path, students: int) -> None:
    """A timing counts only when every student is in the gradebook and copies of one variant agree."""
    import nbformat

    from autograder.demo.synthetic import test_points

    full = sum(test_points(nbformat.read(str(ROOT / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)).values())
    scores = _scores(root)
    by_variant: dict[str, set] = {}
    for student, score in scores.items():
        by_variant.setdefault(student.rsplit("-", 1)[0], set()).add(score)
    if len(scores) != students or any(len(s) != 1 for s in by_variant.values()) \
            or by_variant.get("correct") != {full}:
        raise AssertionError(f"{root}: {len(scores)} of {students} students graded, scores {by_variant}")


def cluster_scaling(sizes=(10, 40)) -> dict:
    """Time of one ``--cluster`` run (2 one-thread workers) against class size."""
    folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    address, stop = _start_cluster(folder)
    rows, per_student = [], {}
    try:
        for size in sizes:
            root = _class_root(size)
            try:
                t = Timing(f"autograde --cluster (2 workers x 1 thread), {size} students")
                t.seconds.append(_on_cluster(root, address))
                _check_every_student_graded(root, size)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            rows.append(t.row())
            per_student[str(size)] = t.median / size
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {"rows": rows, "cluster_seconds_per_student": per_student}


def cluster_throughput(workers=(1, 2, 4), students: int = 20) -> dict:
    """Students graded per second by a loopback cluster of 1, 2, 4 one-thread worker processes."""
    rows, per_s, on_a_worker = [], {}, {}
    for count in workers:
        folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
        address, stop = _start_cluster(folder, workers=count)
        root = _class_root(students)
        try:
            t = Timing(f"autograde --cluster ({count} workers x 1 thread), {students} students")
            t.seconds.append(_on_cluster(root, address))
            _check_every_student_graded(root, students)
            on_a_worker[str(count)] = _costs(root)[0]
        finally:
            stop()
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(t.row())
        per_s[str(count)] = students / t.median
    return {"rows": rows, "cluster_students_per_s_graded": per_s,
            "cluster_seconds_per_student_on_a_worker_by_workers": on_a_worker}
