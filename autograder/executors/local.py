"""Run grading tasks in N worker processes, each student under a wall-clock cap.

nbgrader grades one student after another in one process.  Here N
long-lived workers (:mod:`autograder.executors.worker`) take students from a shared
queue, so N kernels run at once.  Each worker runs in its own session; when
a student overruns ``task_timeout`` or the worker dies, the supervisor kills
the worker with everything it started (the student's kernel included),
records the student through :func:`autograder.grading.record_failure`, and
starts a fresh worker for the next student.

The SQLite gradebook is shared: nbgrader's writes are short transactions,
and the busy timeout in the database URL (see
:func:`autograder.config.gradebook_url`) makes a writer wait for the other
instead of failing; :func:`autograder.grading.autograde_student` retries
the rare write that still gives up.  PostgreSQL needs neither.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..sandbox import cgroups
from .worker import RESULT_PREFIX


@dataclass
class TaskOutcome:
    task: dict
    ok: bool
    value: object = None
    #: Why the task has no value: a traceback, or what the supervisor saw (timeout, crash).
    error: str = ""
    #: True when the worker had to be killed or died (the task never reported back).
    lost: bool = False


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a worker and every process it started (kernels run in their own sessions)."""
    try:
        import psutil

        try:
            parent = psutil.Process(process.pid)
            family = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            family = []
        for member in family:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(family, timeout=10)
    except ImportError:  # psutil comes with Jupyter; without it, at least the worker goes
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class _Worker:
    """One worker process and the thread that reads its results."""

    def __init__(self, settings: Settings, log_path: Path):
        env = dict(os.environ)
        bin_dir = os.path.dirname(sys.executable)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        # Sandboxed grading as root: the worker runs under a memory cap of its own (its kernels are
        # moved into their slots' cgroups as they start).
        self.cgroup = cgroups.worker_group(settings.memory_mb) if settings.sandbox else None
        prefix = cgroups.launcher(self.cgroup.procs_files) if self.cgroup is not None else []
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "autograder.executors.worker", json.dumps(settings.to_json())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            cwd=str(settings.root), env=env, start_new_session=True, text=True, bufsize=1,
        )
        self.results: queue.Queue = queue.Queue()
        self._unanswered_warmups = 0
        threading.Thread(target=self._read, daemon=True).start()

    def warm_up(self, assignment: str) -> None:
        """Ask the worker to get ready for ``assignment`` (its sandbox's fork server) before its
        first student; nobody waits for the answer, which is dropped."""
        try:
            self._unanswered_warmups += 1
            self.process.stdin.write(json.dumps({"task": "warm", "assignment": assignment}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(RESULT_PREFIX):
                if self._unanswered_warmups:  # answers come in order: the first ones are the warm-ups'
                    self._unanswered_warmups -= 1
                    continue
                self.results.put(json.loads(line[len(RESULT_PREFIX):]))
        self.results.put(None)  # end of stream: the worker exited

    def run(self, task: dict, timeout: float) -> dict | None:
        """Send ``task``; its outcome, or ``None`` if the worker died or overran ``timeout``."""
        try:
            self.process.stdin.write(json.dumps(task) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, kill: bool = False) -> None:
        if kill:
            kill_tree(self.process)
        else:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                kill_tree(self.process)
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        self._log.close()


def _worker_log(settings: Settings, number: int) -> Path:
    return settings.work_dir / "logs" / f"worker-{number}.log"


def start_workers(settings: Settings, count: int, assignment: str | None = None) -> list[_Worker]:
    """Start ``count`` workers now, to hand to :func:`run_tasks` later.

    A worker needs ~3 s to import Python, nbgrader and nbformat before its
    first student, and (``assignment`` given) a few more to start its sandbox's
    fork server; started early, that overlaps the supervisor's own checks.
    """
    workers = [_Worker(settings, _worker_log(settings, number)) for number in range(max(0, count))]
    if assignment:
        for worker in workers:
            worker.warm_up(assignment)
    return workers


def stop_workers(workers: list[_Worker]) -> None:
    """Stop the workers :func:`run_tasks` did not take (an early error, nothing to do)."""
    while workers:
        workers.pop().stop()


def run_tasks(settings: Settings, tasks: list[dict], *, jobs: int, task_timeout: float,
              recover: Callable[[dict, str], object] | None = None,
              on_outcome: Callable[[TaskOutcome], None] | None = None,
              workers: list[_Worker] | None = None) -> list[TaskOutcome]:
    """Run ``tasks`` on ``jobs`` workers; outcomes in completion order.

    ``recover(task, error)`` runs (in the supervisor) for a task whose worker
    died or overran, and its return value becomes the outcome's value.
    ``on_outcome`` sees each outcome as it arrives (progress bars).
    ``workers`` (from :func:`start_workers`) are used first and emptied: this
    function stops every worker it took.
    """
    started_early = list(workers or [])
    if workers is not None:
        workers.clear()
    pending: queue.Queue = queue.Queue()
    for task in tasks:
        pending.put(task)
    outcomes: list[TaskOutcome] = []
    lock = threading.Lock()
    live: set[_Worker] = set()

    def slot(number: int) -> None:
        worker: _Worker | None = started_early[number] if number < len(started_early) else None
        previous = ""  # the student this worker graded last (a failure right after may be theirs)
        if worker is not None:
            with lock:
                live.add(worker)
        try:
            while True:
                try:
                    task = pending.get_nowait()
                except queue.Empty:
                    return
                if worker is None or not worker.alive():
                    if worker is not None:  # died since it was started: close its log, replace it
                        worker.stop(kill=True)
                        with lock:
                            live.discard(worker)
                    worker = _Worker(settings, _worker_log(settings, number))
                    previous = ""
                    with lock:
                        live.add(worker)
                started = time.monotonic()
                reply = worker.run(task, task_timeout)
                if reply is None:
                    alive = worker.alive()
                    worker.stop(kill=True)
                    with lock:
                        live.discard(worker)
                    worker = None
                    waited = time.monotonic() - started
                    error = (f"grading took longer than {task_timeout:.0f} s and was stopped"
                             if alive and waited >= task_timeout else
                             "the grading process crashed (killed for memory, or a fatal error)")
                    outcome = TaskOutcome(task, ok=False, error=error, lost=True)
                    if recover is not None:
                        try:
                            outcome.value = recover(task, error)
                        except Exception as failure:  # noqa: BLE001 - reported with the outcome
                            outcome.error += f"; recording it failed too: {failure!r}"
                else:
                    outcome = TaskOutcome(task, ok=bool(reply.get("ok")), value=reply.get("value"),
                                          error=reply.get("error", ""))
                    if isinstance(outcome.value, dict) and previous:
                        outcome.value["graded_after"] = previous
                previous = str(task.get("student", "")) if worker is not None else ""
                with lock:
                    outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
        finally:
            if worker is not None:
                worker.stop()

    for extra in started_early[max(1, jobs):]:  # more started than slots: not needed
        extra.stop()
    threads = [threading.Thread(target=slot, args=(n,), daemon=True) for n in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        # Workers run in their own sessions: Ctrl-C does not reach them, so stop them here.
        while not pending.empty():
            pending.get_nowait()
        with lock:
            doomed = list(live)
        for worker in doomed:
            kill_tree(worker.process)
        raise
    return outcomes
