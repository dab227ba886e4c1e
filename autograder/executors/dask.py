"""Grade a class on a Dask distributed cluster (``autograde A --cluster tcp://host:8786``).

The instructor's process is a Dask client.  It sends one task per student
(:func:`grade_on_worker`), carrying everything that student's grading needs
(:mod:`autograder.executors.remote`): no file system is shared with the
workers.  On a worker, each Dask thread keeps one long-lived grading process
(the local pool's :mod:`autograder.executors.worker`), which grades the student
in a private course root (built once per thread and assignment, emptied of
the previous student before each one) under the wall-clock cap; a process that
overruns or dies is killed with everything it started and replaced.  Results
come back to the client, which enters every result that has arrived in one
transaction (:class:`autograder.executors.recording.BulkRecorder`), so the
gradebook is written by the instructor's process only, and entering keeps up
with many workers.

What the local pool guarantees holds here too:

* the wall-clock cap per student is enforced on the worker; an overrun or a
  crash comes back as a *lost* outcome and the student is recorded through the
  fallback with the same reason as locally;
* a Dask worker that dies mid-task (machine lost, OOM-killed) makes the
  scheduler run the task again elsewhere; after ``distributed.scheduler.allowed-failures``
  deaths (3 by default) the student is recorded with the reason.  A result is
  accepted once per student (each task has its own key), so nobody is lost or
  graded twice;
* a killed client writes nothing more; the scheduler forgets its tasks, and
  the next run resumes from the status records like a local run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .. import status
from ..course_dir import EXIT_SANDBOX, Course, CourseError
from .local import TaskOutcome, _Worker
from .recording import BATCH_SIZE, BulkRecorder, Returned
from .remote import (PrivateRoot, assignment_bundle, grade_payload, private_settings, student_payload,
                     warm_up_payload, write_source)

#: How long to wait for the cluster's first worker (s); ``$GD_CLUSTER_WAIT`` overrides.
WAIT_FOR_WORKERS_S = 120
#: How long to wait for the scheduler to answer (s); never longer than the wait for workers.
CONNECT_S = 30

_thread = threading.local()


# ----------------------------------------------------------------------------------------------
# on a Dask worker
# ----------------------------------------------------------------------------------------------
def _scratch() -> Path:
    base = Path(os.environ.get("GD_SCRATCH") or tempfile.gettempdir())
    return base / "gd-autograder" / f"{os.getpid()}-{threading.get_ident()}"


def _grader(settings: dict, scratch: Path) -> _Worker:
    """This Dask thread's grading process, started if it has none alive."""
    grader = getattr(_thread, "grader", None)
    if grader is None or not grader.alive():
        if grader is not None:
            grader.stop(kill=True)
        scratch.mkdir(parents=True, exist_ok=True)
        grader = _thread.grader = _Worker(private_settings({"settings": settings}, scratch), scratch / "grader.log")
    return grader


def warm_up_on_worker(payload: dict) -> bool:
    """Before a run's first student: this thread's grading process started and asked to get ready
    (its imports, its sandbox's fork server), as the local pool's workers are, while the
    instructor's side still builds the bundle.  Nobody waits for it; a failure only means the
    first student starts it."""
    scratch = _scratch()
    try:
        grader = _grader(payload["settings"], scratch)
        write_source(scratch, payload["assignment"], payload["source"])  # the grader's own root
        grader.warm_up(payload["assignment"])
    except Exception:  # noqa: BLE001 - the first task starts what is missing
        return False
    return True


def grade_on_worker(bundle: dict, payload: dict, timeout: float) -> dict:
    """One student, on whichever Dask worker the scheduler chose (see :func:`remote.grade_payload`).

    Each Dask thread keeps its grading process and its private course root
    (:class:`remote.PrivateRoot`, built for the first student of a run's
    assignment, reset before each of the others) between tasks.
    """
    scratch = _scratch()
    try:
        grader = _grader(bundle["settings"], scratch)
        private = getattr(_thread, "private", None)
        if private is None or private.key != bundle["key"]:
            if private is not None:
                private.close()
            private = _thread.private = PrivateRoot(bundle, scratch)
        reply = grade_payload(bundle, payload, grader, timeout, scratch, private)
    except Exception:  # noqa: BLE001 - reported to the client, which records a fallback
        return {"kind": "error", "error": traceback.format_exc()}
    if reply["kind"] == "lost":
        _thread.grader.stop(kill=True)
        _thread.grader = None
    return reply


def _probe(sandbox: bool) -> dict:
    """Run on every worker before grading: can it import the grader, which nbgrader does it have,
    and can the sandbox start there?"""
    import nbgrader

    from .. import grading  # noqa: F401 - the course environment is installed

    problems = []
    if sandbox:
        from ..sandbox import diagnose

        problems = diagnose()
    return {"nbgrader": nbgrader.__version__, "python": sys.version.split()[0], "sandbox": problems}


# ----------------------------------------------------------------------------------------------
# on the instructor's side
# ----------------------------------------------------------------------------------------------
class Cluster:
    """A connection to a Dask scheduler, checked before any student is sent."""

    def __init__(self, address: str, sandbox: bool = True, *, course: Course | None = None,
                 assignment: str | None = None):
        from distributed import Client

        self.address, self.sandbox = address, sandbox
        # ``assignment``'s bundle is built while we connect and the workers are checked: on a user's
        # first cluster run its empty gradebook costs nbgrader an `alembic heads` subprocess (about
        # 2 s) before any task can go out; later runs copy it (remote.empty_gradebook_template).
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gd-bundle")
        self._bundle = (assignment, self._builder.submit(assignment_bundle, course, assignment)) \
            if course is not None and assignment is not None else None
        wait = float(os.environ.get("GD_CLUSTER_WAIT") or WAIT_FOR_WORKERS_S)
        try:
            self.client = Client(address, timeout=f"{min(CONNECT_S, wait):g}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            self._builder.shutdown(wait=False, cancel_futures=True)
            raise CourseError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        try:
            try:
                self.client.wait_for_workers(1, timeout=wait)
            except TimeoutError:
                raise CourseError(f"the Dask scheduler at {address} has no workers "
                                  f"(waited {wait:.0f} s): start some with `dask worker {address}`") from None
            if course is not None and assignment is not None:
                # Before the check: starting a grading process runs no student code, and the
                # check's imports on a cold worker (1-2 s) then overlap the grading process's.
                self._warm_up(course, assignment)
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self) -> None:
        import nbgrader

        try:
            found = self.client.run(_probe, self.sandbox)
        except Exception as error:  # noqa: BLE001 - any failure means the environment is missing
            raise CourseError(f"the workers of {self.address} cannot run the grader ({error!r}); "
                              "install the course environment on them (see autograder/README.md)") from None
        wrong = {worker: info["nbgrader"] for worker, info in found.items()
                 if info["nbgrader"] != nbgrader.__version__}
        if wrong:
            raise CourseError(f"nbgrader {nbgrader.__version__} here, but "
                              + ", ".join(f"{v} on {w}" for w, v in sorted(wrong.items()))
                              + ": grades could differ; install the same course environment on the workers")
        unsafe = {worker: info["sandbox"] for worker, info in found.items() if info["sandbox"]}
        if unsafe:
            worker, problems = sorted(unsafe.items())[0]
            raise CourseError(f"the grading sandbox cannot start on {len(unsafe)} of {len(found)} workers "
                              f"(on {worker}: {' '.join(problems)}); fix it there, or grade without it with "
                              "--no-sandbox", EXIT_SANDBOX)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        self._builder.shutdown(wait=True)

    def _warm_up(self, course: Course, assignment: str) -> None:
        """One warm-up task per worker (one of its threads), sent before the bundle is ready."""
        from distributed import fire_and_forget

        try:
            payload = warm_up_payload(course, assignment)
            for address in self.client.scheduler_info().get("workers", {}):
                fire_and_forget(self.client.submit(warm_up_on_worker, payload, workers=[address],
                                                   allow_other_workers=False, pure=False,
                                                   key=f"warm-up-{assignment}-{uuid.uuid4().hex}"))
        except Exception:  # noqa: BLE001 - a warm-up only saves time
            pass

    def _bundle_of(self, course: Course, assignment: str) -> dict:
        """The bundle built while connecting (its error raised here), or a new one."""
        if self._bundle is not None and self._bundle[0] == assignment:
            return self._bundle[1].result()
        return assignment_bundle(course, assignment)

    def run_tasks(self, course: Course, tasks: list[dict], *, task_timeout: float,
                  recover: Callable[[dict, str], object] | None = None,
                  on_outcome: Callable[[TaskOutcome], None] | None = None) -> list[TaskOutcome]:
        """Grade ``tasks`` (``{"assignment", "student"}``) on the cluster; outcomes in completion order.

        Same contract as :func:`autograder.executors.local.run_tasks`, but each
        graded student's value is already entered in the gradebook (by
        :class:`BulkRecorder`, in this process, every result that has arrived
        in one transaction) when ``on_outcome`` sees it.
        """
        from distributed import as_completed

        if not tasks:
            return []
        assignment = tasks[0]["assignment"]
        bundle = self._bundle_of(course, assignment)
        recorder = BulkRecorder(course, assignment)
        by_key, fingerprints = {}, {}
        for task in tasks:
            student = task["student"]
            fingerprints[student] = status.submission_fingerprint(course, assignment, student)
            future = self.client.submit(grade_on_worker, bundle, student_payload(course, assignment, student),
                                        task_timeout, key=f"autograde-{assignment}-{student}-{uuid.uuid4().hex}",
                                        pure=False)
            by_key[future.key] = (task, future)
        outcomes: list[TaskOutcome] = []
        seen: set[str] = set()
        by_student = {task["student"]: task for task in tasks}

        def report(outcome: TaskOutcome) -> None:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

        try:
            for arrived in as_completed([f for _, f in by_key.values()], loop=self.client.loop).batches():
                graded = []
                for future in arrived:
                    task, _ = by_key.pop(future.key)
                    if task["student"] in seen:  # cannot happen (one key per student); never record twice
                        continue
                    seen.add(task["student"])
                    reply = self._reply(future)
                    future.release()
                    if reply["kind"] == "graded":
                        graded.append(Returned(task["assignment"], task["student"], reply,
                                               fingerprints[task["student"]]))
                    else:
                        report(self._not_graded(task, reply, recover))
                for start in range(0, len(graded), BATCH_SIZE):
                    for entered in recorder.enter(graded[start:start + BATCH_SIZE]):
                        task = by_student[entered.returned.student]
                        report(TaskOutcome(task, ok=True, value=entered.summary.to_json())
                               if entered.summary is not None else
                               TaskOutcome(task, ok=False, error=entered.error))
        except KeyboardInterrupt:
            self.client.cancel([f for _, f in by_key.values()])
            raise
        finally:
            recorder.close()
        return outcomes

    @staticmethod
    def _reply(future) -> dict:
        from distributed.scheduler import KilledWorker

        try:
            return future.result()
        except KilledWorker as error:
            return {"kind": "lost", "error": f"the Dask workers grading it kept dying ({error})"}
        except Exception as error:  # noqa: BLE001 - a task that raised, or was lost with its data
            return {"kind": "error", "error": f"the cluster could not run it: {error!r}"}

    @staticmethod
    def _not_graded(task: dict, reply: dict, recover: Callable[[dict, str], object] | None) -> TaskOutcome:
        if reply["kind"] == "lost":
            outcome = TaskOutcome(task, ok=False, error=reply["error"], lost=True)
            if recover is not None:
                try:
                    outcome.value = recover(task, reply["error"])
                except Exception as failure:  # noqa: BLE001 - reported with the outcome
                    outcome.error += f"; recording it failed too: {failure!r}"
            return outcome
        return TaskOutcome(task, ok=False, error=reply.get("error", ""))
