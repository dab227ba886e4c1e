"""``verdict_overhead``: a class graded with trusted verdicts (the checker) ÷ the same class with in-kernel tests.

Two copies of one course root are autograded with ``--jobs 2``: one with the
grade cells run in the student's kernel (``GD_CHECKER=0``), one with them run
by the checker process (``GD_CHECKER=1``, :mod:`autograder.checker`).  The
runs alternate, so that load on the machine hits both alike; the ratio is the
checker's median wall time over the in-kernel one, and the scores must be
identical (the bench raises otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from .autograde import ASSIGNMENT, _class_root, _env, _scores
from .common import Timing


def _grade(root, checker: bool) -> float:
    cmd = [sys.executable, "-m", "autograder", "autograde", ASSIGNMENT, "--jobs", "2", "--force",
           "--no-progress", "--root", str(root)]
    env = dict(_env(), GD_CHECKER="1" if checker else "0")
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 4):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def measure(students: int = 20, runs: int = 1) -> dict:
    kernel_root = _class_root(students)
    checker_root = kernel_root.with_name(kernel_root.name + "-checker")
    shutil.copytree(kernel_root, checker_root)
    in_kernel = Timing(f"autograde --jobs 2, tests in the student's kernel, {students} students")
    checked = Timing(f"autograde --jobs 2, tests in the checker (GD_CHECKER=1), {students} students")
    try:
        for _ in range(runs):
            in_kernel.seconds.append(_grade(kernel_root, checker=False))
            checked.seconds.append(_grade(checker_root, checker=True))
        if _scores(kernel_root) != _scores(checker_root) or len(_scores(checker_root)) != students:
            raise AssertionError(f"the checker changed scores:\n{_scores(kernel_root)}\n{_scores(checker_root)}")
    finally:
        shutil.rmtree(kernel_root, ignore_errors=True)
        shutil.rmtree(checker_root, ignore_errors=True)
    return {"rows": [in_kernel.row(), checked.row()], "verdict_overhead": checked.median / in_kernel.median,
            "verdict_scores_identical": True}
