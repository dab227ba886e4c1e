"""Goals 2 and 5 (class size): the CLI's parallel autograde against stock serial ``nbgrader autograde``.

Both grade the same synthetic class (``autograder.demo.synthetic``: correct,
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

from .common import Timing

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"


def _class_root(students: int) -> Path:
    """A course root with ``students`` submissions of ``ASSIGNMENT``, collected by nbgrader."""
    from autograder import pipeline
    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.demo.run import write_class
    from autograder.demo.synthetic import class_variants

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
    home = tempfile.mkdtemp(prefix="bench-home-")
    env = dict(os.environ, HOME=home, JUPYTER_CONFIG_DIR=f"{home}/.jupyter",
               JUPYTER_DATA_DIR=f"{home}/.local/share/jupyter", PYTHONWARNINGS="ignore")
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
    stock_root = _class_root(students)
    ours_root = stock_root.with_name(stock_root.name + "-jobs2")
    shutil.copytree(stock_root, ours_root)
    stock, ours = Timing(f"stock nbgrader autograde, {students} students, serial"), \
        Timing(f"python -m autograder autograde --jobs 2, {students} students")
    try:
        for _ in range(runs):  # alternate, so load on the machine hits both alike
            stock.seconds.append(_stock(stock_root))
            ours.seconds.append(_ours(ours_root, 2))
        stock_scores, our_scores = _scores(stock_root), _scores(ours_root)
        if stock_scores != our_scores or len(our_scores) != students:
            raise AssertionError(f"scores differ between stock and parallel runs:\n{stock_scores}\n{our_scores}")
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
