"""A grading worker: one long-lived process that grades the students it is sent, one at a time.

Started by :mod:`autograder.executors.local` as ``python -m autograder.executors.worker
SETTINGS_JSON``.  It reads one JSON task per line on stdin and answers one
JSON line per task on its original stdout; everything else it or nbgrader
prints goes to stderr (the worker's log file), so a student's output can
never be mistaken for a result.  Keeping the process alive between students
saves the Python + nbgrader start-up (~1-2 s) that a process per student
would pay every time; the supervisor replaces a worker that dies or
overruns.
"""

from __future__ import annotations

import json
import os
import sys

RESULT_PREFIX = "@@gd-result@@ "


def _result_stream():
    """Keep the real stdout for results; point fd 1 at stderr for everything else."""
    result_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(result_fd, "w", buffering=1)


def _die_with_parent() -> None:
    """Linux: if the supervisor is killed (even with -9), this worker is killed too.

    Otherwise an orphaned worker could keep grading a student while a new
    run grades the same student.  (Its kernel follows it: ipykernel exits
    when its parent process goes away.)
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the supervisor was already gone before the call
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    results = _result_stream()
    from ..config import Settings
    from ..course_dir import Course
    from ..grading import autograde_student, feedback_student, safe_call, warm_up

    course = Course(Settings.from_json(json.loads(argv[0])))
    private: dict[str, Course] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        # A task may name its own course root (a grading machine's private root, the same for
        # every student of an assignment there): its Course (nbgrader's API, the config) is kept.
        if task.get("settings"):
            key = json.dumps(task["settings"], sort_keys=True)
            if key not in private:  # a new run, or another assignment: only the latest is kept
                private.clear()
                private[key] = Course(Settings.from_json(task["settings"]))
            here = private[key]
        else:
            here = course
        if task["task"] == "autograde":
            outcome = safe_call(lambda a, s: autograde_student(here, a, s).to_json(),
                                task["assignment"], task["student"])
        elif task["task"] == "warm":
            outcome = safe_call(lambda a: warm_up(here, a), task["assignment"])
        elif task["task"] == "feedback":
            outcome = safe_call(lambda a, s: feedback_student(here, a, s),
                                task["assignment"], task["student"])
        else:
            outcome = {"ok": False, "error": f"unknown task {task['task']!r}"}
        results.write(RESULT_PREFIX + json.dumps(outcome) + "\n")
        results.flush()
    return 0


def _leave(code: int) -> None:
    """Exit after the exit handlers (they stop the fork servers and remove their cgroups), without
    tearing down every module nbgrader imported: ~0.5 s at the end of each run, for nothing."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(main())
