"""A checker forked by the grading process's fork server, behind the handle :class:`.client.Checker` uses.

Where kernels are forked (as root, :mod:`autograder.sandbox.forkserver`), the
server has already imported the assignment's frameworks, and no student code
has ever run in it: a checker forked from it is ready in milliseconds instead
of importing TensorFlow and Keras again (~4 core-seconds per grading process).
Its sandbox is built in :mod:`autograder.kernel.checker_fork`; here the grader
takes it over: out of the slot's cgroup into the grader's own.  It has the
limits a checker started by itself has (``CHECKER_LIMITS``: no CPU limit, since
a checker serves every student of its process).

:class:`ForkedChecker` looks like the ``subprocess.Popen`` of a checker started by
itself: ``stdin``, ``stdout``, ``poll``, ``wait``, ``kill``.  The process is not
the grader's child, so it is watched through a pidfd.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess

log = logging.getLogger(__name__)


class _Writer:
    def __init__(self, sock: socket.socket):
        self._sock = sock

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)

    def flush(self) -> None:
        pass


class ForkedChecker:
    """A forked checker's channel and pidfd; ``returncode`` is 0 once it left, -9 once it was killed."""

    def __init__(self, sock: socket.socket, pid: int):
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)  # taken at once: the pid is not reused while it is held
        self._sock = sock
        self.stdin = _Writer(sock)
        self.stdout = sock
        self.returncode: int | None = None
        self._killed = False

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._gone()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("gd-checker", timeout)
            self._gone()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            self._killed = True
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _gone(self) -> None:
        self.returncode = -signal.SIGKILL if self._killed else 0
        self._sock.close()
        os.close(self._pidfd)


def _said(fd: int) -> str:
    """The last line the checker wrote on its stderr (why it did not start)."""
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        lines = os.pread(fd, 2000, max(0, size - 2000)).decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return f" ({lines[-1]})" if lines else ""


def fork_checker(env: dict[str, str], stderr_fd: int) -> ForkedChecker | None:
    """A checker from a fork server of this process, taken over; ``None`` where there is none or it
    could not be had (the caller then starts one by itself, as before)."""
    from autograder.sandbox import cgroups, forkserver

    server = forkserver.running_server()
    if server is None:
        return None
    try:
        sock, pid = server.spawn_checker(env, stderr_fd)
    except forkserver.ForkServerError as error:
        log.warning("starting the checker by itself: %s%s", error, _said(stderr_fd))
        return None
    try:
        checker = ForkedChecker(sock, pid)
    except OSError as error:  # gone already
        sock.close()
        log.warning("starting the checker by itself: the forked one left at once (%s)%s", error, _said(stderr_fd))
        return None
    try:
        if server.cgroup is not None and server.cgroup.kind != "none":
            cgroups.join_own_groups(pid)
        if checker.poll() is not None:
            raise OSError("it left before it was taken over")
    except OSError as error:  # fail closed: a checker left in the slot's cgroup is not used
        checker.kill()
        checker.wait()
        log.warning("starting the checker by itself: the forked one could not be taken over (%s)", error)
        return None
    return checker
