"""``sandbox_overhead``: the same class autograded in the OS sandbox and without it (``--no-sandbox``).

Both runs grade two copies of one course root with ``--jobs 2``, alternating
so that load on the machine hits both alike; the ratio is sandboxed ÷
unsandboxed median wall time, and the scores must be identical (the bench
raises otherwise).
"""

from __future__ import annotations

import shutil
import sys

from .autograde import ASSIGNMENT, _class_root, _run, _scores
from .common import Timing


def _grade(root, sandbox: bool) -> float:
    cmd = [sys.executable, "-m", "autograder", "autograde", ASSIGNMENT, "--jobs", "2", "--force",
           "--no-progress", "--root", str(root)]
    return _run(cmd if sandbox else cmd + ["--no-sandbox"], root)


def measure(students: int = 20, runs: int = 2) -> dict:
    sandboxed_root = _class_root(students)
    plain_root = sandboxed_root.with_name(sandboxed_root.name + "-plain")
    shutil.copytree(sandboxed_root, plain_root)
    sandboxed = Timing(f"autograde --jobs 2 in the sandbox, {students} students")
    plain = Timing(f"autograde --jobs 2 --no-sandbox, {students} students")
    try:
        for _ in range(runs):
            plain.seconds.append(_grade(plain_root, sandbox=False))
            sandboxed.seconds.append(_grade(sandboxed_root, sandbox=True))
        if _scores(plain_root) != _scores(sandboxed_root):
            raise AssertionError(f"the sandbox changed scores:\n{_scores(plain_root)}\n{_scores(sandboxed_root)}")
    finally:
        shutil.rmtree(sandboxed_root, ignore_errors=True)
        shutil.rmtree(plain_root, ignore_errors=True)
    return {"rows": [plain.row(), sandboxed.row()], "sandbox_overhead": sandboxed.median / plain.median,
            "sandbox_scores_identical": True}
