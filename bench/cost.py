"""Grading cost (issue 15): CPU per student against stock nbgrader, for the whole course.

* ``course_autograde_speedup``: every notebook of the course, ``students`` each,
  graded by stock serial ``nbgrader autograde`` (nbgrader as shipped: its own
  preprocessors, the notebook's own kernel, no sandbox) and by ``python -m
  autograder autograde --jobs 2`` (sandboxed), alternating; the ratio of the
  summed wall times.  Scores must be identical (the bench raises otherwise).
* ``grading_cpu_per_student``: core-seconds per student of both, from a
  ``cpuacct`` cgroup around each command (as root; the whole process tree, the
  sandboxed kernels included), else from ``RUSAGE_CHILDREN`` (which misses
  kernels that are not the command's own children: marked ``approximate``).
* ``grading_breakdown``: where one grader's CPU goes per student, from one
  process grading a few students of notebook 1 (``python -m bench.cost
  breakdown ROOT``): the kernel's start (interpreter + ipykernel), the course's
  imports (the hidden arm cell and the locked set-up cells before the first
  answer), executing the other cells, nbgrader's own work (the grader process:
  sanitising, validation, gradebook, export, messaging) and the sandbox
  (bubblewrap, prlimit, setpriv, the copy into the kernel's home: whatever the
  cgroup counted beyond the grader and the kernel).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import Timing

ROOT = Path(__file__).resolve().parents[1]
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
NOTEBOOKS = ("01_numpy_by_hand", "02_torch_manual", "03_torch_optim", "04_keras_sequential",
             "05_gradient_tape", "06_side_by_side")

STOCK_CONFIG = """\
# nbgrader as shipped: only where the course lives (written by bench/cost.py)
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.source_directory = {source!r}
c.CourseDirectory.db_url = {db_url!r}
"""


def as_shipped(root: Path) -> Path:
    """Make ``root``'s ``nbgrader_config.py`` stock nbgrader's: no course preprocessors, no sandbox."""
    from autograder.config import COURSE_ID, DEFAULT_SOURCE, gradebook_url

    path = Path(root) / "nbgrader_config.py"
    path.write_text(STOCK_CONFIG.format(course_id=COURSE_ID, root=str(root), source=str(DEFAULT_SOURCE),
                                        db_url=gradebook_url(root)))
    return path


# ----------------------------------------------------------------------------------------------
# CPU of a whole process tree
# ----------------------------------------------------------------------------------------------
def _cgroup_usable() -> bool:
    return os.geteuid() == 0 and (CPUACCT / "cpuacct.usage").exists()


def run_measured(cmd: list[str], cwd: Path, env: dict | None = None,
                 ok_codes=(0, 4)) -> tuple[float, float, bool]:
    """(wall s, CPU core-s of the command's whole tree, exact?) of one command that must succeed."""
    from .autograde import _env

    env = env or _env()
    exact = _cgroup_usable()
    group = CPUACCT / f"gd-bench-{os.getpid()}-{time.monotonic_ns()}" if exact else None
    if group is not None:
        group.mkdir()
        # The child joins the cgroup before it execs: everything it starts is counted.
        cmd = ["/bin/sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "gd-bench", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if group is not None:
        for _ in range(50):  # a kernel killed at the end may still be leaving
            if not (group / "cgroup.procs").read_text().split():
                break
            time.sleep(0.1)
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
        try:
            group.rmdir()
        except OSError:
            pass
    if done.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, cpu, exact


def _stock_cmd(assignment: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "nbgrader"), "autograde", assignment, "--force"]


def _ours_cmd(assignment: str, root: Path, jobs: int = 2) -> list[str]:
    return [sys.executable, "-m", "autograder", "autograde", assignment, "--jobs", str(jobs), "--force",
            "--no-progress", "--root", str(root)]


def _unreadable(root: Path, assignment: str) -> set[str]:
    """Students whose submitted notebook is not JSON: stock nbgrader fails them (exit 1), we grade them."""
    bad = set()
    for path in (Path(root) / "submitted").glob(f"*/{assignment}/*.ipynb"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            bad.add(path.parts[-3])
    return bad


def run_stock(root: Path, assignment: str) -> tuple[float, float, bool]:
    """Stock serial ``nbgrader autograde``; its exit 1 is accepted when only unreadable files failed."""
    return run_measured(_stock_cmd(assignment), root, ok_codes=(0, 1) if _unreadable(root, assignment) else (0,))


def check_same_scores(stock_root: Path, ours_root: Path, assignment: str, students: int) -> None:
    """Every student stock nbgrader graded has our score; the ones it could not read score 0 with us."""
    stock, ours = _scores(stock_root, assignment), _scores(ours_root, assignment)
    unreadable = _unreadable(stock_root, assignment)
    same = {k: v for k, v in stock.items() if k not in unreadable} == \
        {k: v for k, v in ours.items() if k not in unreadable}
    if not same or len(ours) != students or any(ours.get(s) != 0 or stock.get(s, 0) != 0 for s in unreadable):
        raise AssertionError(f"{assignment}: scores differ between stock nbgrader and autograde:\n{stock}\n{ours}")


def _scores(root: Path, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from autograder.config import gradebook_url

    with Gradebook(gradebook_url(root)) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(assignment)}


def _class(assignment: str, students: int) -> Path:
    from . import autograde

    saved, autograde.ASSIGNMENT = autograde.ASSIGNMENT, assignment
    try:
        return autograde._class_root(students)
    finally:
        autograde.ASSIGNMENT = saved


def measure_course(students: int = 10, notebooks=NOTEBOOKS) -> dict:
    """Every notebook graded by stock serial nbgrader and by ``--jobs 2``; summed wall and CPU."""
    rows, cpu, exact = [], {"stock": 0.0, "ours": 0.0}, True
    stock_total, ours_total = Timing(f"stock nbgrader autograde, 6 notebooks x {students} students, serial"), \
        Timing(f"python -m autograder autograde --jobs 2, 6 notebooks x {students} students")
    walls = {"stock": 0.0, "ours": 0.0}
    per_notebook = {}
    for assignment in notebooks:
        stock_root = _class(assignment, students)
        ours_root = stock_root.with_name(stock_root.name + "-jobs2")
        shutil.copytree(stock_root, ours_root)
        as_shipped(stock_root)
        try:
            s_wall, s_cpu, s_exact = run_stock(stock_root, assignment)
            o_wall, o_cpu, o_exact = run_measured(_ours_cmd(assignment, ours_root), ours_root)
            check_same_scores(stock_root, ours_root, assignment, students)
        finally:
            shutil.rmtree(stock_root, ignore_errors=True)
            shutil.rmtree(ours_root, ignore_errors=True)
        exact = exact and s_exact and o_exact
        walls["stock"] += s_wall
        walls["ours"] += o_wall
        cpu["stock"] += s_cpu
        cpu["ours"] += o_cpu
        per_notebook[assignment] = {"stock_s": round(s_wall, 2), "ours_s": round(o_wall, 2),
                                    "speedup": round(s_wall / o_wall, 2),
                                    "stock_cpu_per_student": round(s_cpu / students, 3),
                                    "ours_cpu_per_student": round(o_cpu / students, 3)}
        print(f"  {assignment}: {json.dumps(per_notebook[assignment])}", flush=True)
        for who, wall, c in (("stock nbgrader autograde (serial)", s_wall, s_cpu),
                             ("autograde --jobs 2", o_wall, o_cpu)):
            rows.append({"name": f"{assignment}: {who}, {students} students, core-s per student",
                         "unit": "s", "median": c / students, "min": c / students, "max": c / students,
                         "runs": 1})
    stock_total.seconds.append(walls["stock"])
    ours_total.seconds.append(walls["ours"])
    n = students * len(notebooks)
    return {"rows": [stock_total.row(), ours_total.row()] + rows,
            "course_autograde_speedup": walls["stock"] / walls["ours"],
            "course_autograde_scores_identical": True, "course_autograde_students": students,
            "course_cpu_per_student": {"stock": cpu["stock"] / n, "ours": cpu["ours"] / n,
                                       "exact": exact},
            "course_autograde_per_notebook": per_notebook}


# ----------------------------------------------------------------------------------------------
# Where one grader's CPU goes (run in a process of its own: python -m bench.cost breakdown ...)
# ----------------------------------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    """utime + stime (+ reaped children) of ``pid``, in s (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _kernel_pid(root_pid: int, connection_file: str | None = None) -> int | None:
    """The ipykernel process at or below ``root_pid`` (the sandbox's launcher, or the kernel itself),
    else (a kernel forked by the fork server is no child of the process jupyter_client started)
    the one whose command line names ``connection_file``."""
    found = _kernel_below(root_pid)
    if found is None and connection_file:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        argv = handle.read().split(b"\0")
                except OSError:
                    continue
                if b"ipykernel_launcher" in argv[1:4] and connection_file.encode() in argv:
                    return int(entry.name)
    return found


def _kernel_below(root_pid: int) -> int | None:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            if b"ipykernel_launcher" in argv[1:4]:  # the interpreter, not a launcher naming it
                return pid
        except OSError:
            pass
        todo += children.get(pid, [])
    return None


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cgroup_cpu(group: Path | None) -> float | None:
    return int((group / "cpuacct.usage").read_text()) / 1e9 if group is not None else None


def breakdown_main(root: str, assignment: str, mode: str, students: int) -> dict:
    """Grade ``students`` (after one warm-up) in this process; core-seconds per student per part."""
    import nbclient.client as client_module
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.grading import autograde_student

    group = None
    if _cgroup_usable():
        group = CPUACCT / f"gd-breakdown-{os.getpid()}"
        group.mkdir(exist_ok=True)
        (group / "cgroup.procs").write_text(str(os.getpid()))

    from autograder.preprocessors.execute import SafeExecute

    state: dict = {}
    cls = client_module.NotebookClient
    # nbclient's sync methods (what nbgrader calls) wrap the async ones at class creation: patch those,
    # and SafeExecute's own start_new_kernel_client (its kernel-ready wait) where it has one.
    orig_exec, orig_cleanup = cls.execute_cell, cls._cleanup_kernel
    orig_starts = {klass: klass.__dict__["start_new_kernel_client"] for klass in (cls, SafeExecute)
                   if "start_new_kernel_client" in klass.__dict__}

    def start(self, *args, **kwargs):
        own = next(klass for klass in type(self).__mro__ if klass in orig_starts)
        result = orig_starts[own](self, *args, **kwargs)
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        state["pid"] = _kernel_pid(process.pid, self.km.connection_file) if process is not None else None
        state["marks"] = [("start", _proc_cpu(state["pid"]) if state["pid"] else 0.0)]
        state["first_answer"] = next((i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"
                                      and not c.get("metadata", {}).get("nbgrader", {}).get("locked")
                                      and c.get("metadata", {}).get("gd_autograder", {}).get("kind") != "arm"),
                                     None)
        return result

    def execute(self, cell, cell_index, *args, **kwargs):
        try:
            return orig_exec(self, cell, cell_index, *args, **kwargs)
        finally:
            if state.get("pid"):
                first = state.get("first_answer")
                part = "imports" if first is None or cell_index < first else "cells"
                state["marks"].append((part, _proc_cpu(state["pid"])))

    def cleanup(self, *args, **kwargs):
        if state.get("pid") and "kernel_total" not in state:
            state["marks"].append(("cells", _proc_cpu(state["pid"])))
            state["kernel_total"] = state["marks"][-1][1]
        return orig_cleanup(self, *args, **kwargs)

    cls.execute_cell, cls._cleanup_kernel = execute, cleanup
    for klass in orig_starts:
        klass.start_new_kernel_client = start

    course = Course(Settings.from_env(root=root))
    if mode == "stock":
        # nbgrader as shipped (the course root's nbgrader_config.py was rewritten by as_shipped)
        config = Config()
        exec(compile((Path(root) / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"),
             {"get_config": lambda: config})
        course.__dict__["api"] = NbGraderAPI(config=config)
    names = sorted(p.name for p in (Path(root) / "submitted").iterdir())[: students + 1]
    totals = {"kernel start": 0.0, "imports (set-up cells)": 0.0, "executing the cells": 0.0,
              "nbgrader and the grader process": 0.0, "sandbox and the rest (kernel exit)": 0.0, "total": 0.0}
    for i, student in enumerate(names):
        state.clear()
        self_before, group_before = _self_cpu(), _cgroup_cpu(group)
        autograde_student(course, assignment, student)
        self_used = _self_cpu() - self_before
        if i == 0:
            continue  # warm-up: the grader's own imports and first-use costs
        parts = {"start": 0.0, "imports": 0.0, "cells": 0.0}
        previous = 0.0
        for part, mark in state.get("marks", []):
            parts[part] += mark - previous
            previous = mark
        kernel = state.get("kernel_total", previous)
        totals["kernel start"] += parts["start"]
        totals["imports (set-up cells)"] += parts["imports"]
        totals["executing the cells"] += parts["cells"]
        totals["nbgrader and the grader process"] += self_used
        if group is not None:
            # the kernel process has exited by now: its CPU is in the cgroup; the rest is the sandbox's
            used = _cgroup_cpu(group) - group_before
            totals["total"] += used
            totals["sandbox and the rest (kernel exit)"] += max(used - self_used - kernel, 0.0)
        else:
            totals["total"] += self_used + kernel
    count = max(len(names) - 1, 1)
    return {"mode": mode, "students": count, "exact": group is not None,
            "per_student": {k: round(v / count, 3) for k, v in totals.items()}}


def breakdown(students: int = 4, assignment: str = "01_numpy_by_hand", key: str = "grading_breakdown") -> dict:
    """The per-student breakdown of stock nbgrader and of one sandboxed grader process, rows included."""
    from .autograde import _env

    root = _class(assignment, students + 1)
    stock_root = root.with_name(root.name + "-stock")
    shutil.copytree(root, stock_root)
    as_shipped(stock_root)
    result, rows = {}, []
    try:
        for mode, where in (("stock", stock_root), ("ours", root)):
            done = subprocess.run([sys.executable, "-m", "bench.cost", "breakdown", str(where), assignment, mode,
                                   str(students)], cwd=ROOT, env=_env(), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"breakdown ({mode}) failed:\n{done.stderr[-3000:]}")
            data = json.loads(done.stdout.strip().splitlines()[-1])
            result[mode] = data
            who = "stock nbgrader" if mode == "stock" else "autograde (sandboxed)"
            for part, value in data["per_student"].items():
                rows.append({"name": f"{assignment}, {who}: {part}, core-s per student", "unit": "s",
                             "median": value, "min": value, "max": value, "runs": data["students"]})
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(stock_root, ignore_errors=True)
    return {"rows": rows, key: result}


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "breakdown":
        sys.path.insert(0, str(ROOT))
        out = breakdown_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        sys.stdout.flush()
        print(json.dumps(out))
    else:
        print(json.dumps({k: v for k, v in breakdown().items() if k != "rows"}, indent=1))
