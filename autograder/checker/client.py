"""The grader's side: one checker process per grading process, and the relay to each kernel's agent.

:class:`Checker` starts the checker (:mod:`.process`) once and keeps it for
every student of the grading process: forked by the process's fork server
where there is one (:mod:`.forked`: the frameworks already imported), else
started by itself under bubblewrap (:mod:`.launch`: its imports, NumPy, the
course and the frameworks a check needs, paid once).
For each grade cell, :meth:`Checker.run_cell` sends the cell's source to the
checker and relays the checker's requests to the student's kernel
(:class:`AgentLink`), enforcing each call's time limit and the frame limits.
The answers go back to the checker unchanged, except that an answer that
never comes, comes too large or comes for another request is replaced by a
"gone" answer: the checker then fails that check, never the grading.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import threading
import time

from autograder.kernel import wire
from autograder.kernel.agent import short_address

from .forked import ForkedChecker, fork_checker
from .launch import checker_command, checker_env

#: Seconds the checker may take beyond the cell's time limit before it is replaced.
GRACE = 15.0
#: Answers a kernel may send that belong to no pending request before the link is dropped.
MAX_STRAY = 100


class AgentLink:
    """The unix-socket connection to one kernel's agent; every answer checked before it is passed on."""

    def __init__(self, path: str):
        self.path = path
        self._sock: socket.socket | None = None
        self.broken: str | None = None

    def _connect(self, deadline: float) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(max(0.1, min(10.0, deadline - time.monotonic())))
            address, fd = short_address(self.path)
            try:
                sock.connect(address)
            except OSError as error:
                sock.close()
                raise ConnectionError(f"the kernel's agent does not answer ({error.strerror or error})") from None
            finally:
                if fd is not None:
                    os.close(fd)
            self._sock = sock
        return self._sock

    def _read_exact(self, sock, n: int, deadline: float) -> bytes:
        chunks, left = [], n
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("the kernel closed the connection (did it die?)")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def ask(self, request_id, raw_request: bytes, deadline: float) -> bytes:
        """The agent's answer frame to ``raw_request``; a synthesized "gone" frame if there is none."""
        if self.broken:
            return wire.pack({"id": request_id, "gone": self.broken}, [])
        try:
            sock = self._connect(deadline)
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(raw_request)
            for _ in range(MAX_STRAY):
                header, _, raw = wire.read_frame(lambda n: self._read_exact(sock, n, deadline))
                if header.get("id") == request_id:
                    return raw
            raise wire.WireError("the kernel sent answers to questions nobody asked")
        except TimeoutError:
            self.close("your code did not answer within the time limit")
        except (ConnectionError, OSError) as error:
            self.close(str(error) or "the kernel's connection failed")
        except wire.WireError as error:
            self.close(f"the kernel's answer broke the protocol: {error}")
        return wire.pack({"id": request_id, "gone": self.broken}, [])

    def close(self, reason: str = "the student's grading is over") -> None:
        self.broken = self.broken or reason
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


class CheckerFailed(RuntimeError):
    """The checker process itself failed (the grader's problem, never the student's)."""


class Checker:
    """A long-lived checker process and the relay of its requests."""

    def __init__(self, sandbox: bool = True):
        self.sandbox = sandbox
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._ready_by: float | None = None

    # -- the process --------------------------------------------------------------------------
    def _start(self):
        """The running checker: forked by a fork server of this process where there is one, else
        started by itself (``subprocess.Popen``); both behind the same handle."""
        if self._proc is None or self._proc.poll() is not None:
            # Its stderr is kept (the last lines go into "could not start"), never shown to a student.
            self._stderr = tempfile.TemporaryFile()
            self._proc = fork_checker(checker_env(), self._stderr.fileno()) if self.sandbox else None
            if self._proc is None:
                cmd, env, cwd = checker_command(self.sandbox)
                self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=self._stderr, env=env, cwd=cwd, bufsize=0)
        return self._proc

    @property
    def forked(self) -> bool:
        """The current checker came from a fork server."""
        return isinstance(self._proc, ForkedChecker)

    def _start_failed(self) -> CheckerFailed:
        """The checker is stopped; the error names the last line it wrote on stderr."""
        said = ""
        stderr = getattr(self, "_stderr", None)
        self.kill()
        if stderr is not None:
            try:
                stderr.seek(0, os.SEEK_END)
                stderr.seek(max(0, stderr.tell() - 2000))
                lines = stderr.read().decode("utf-8", "replace").strip().splitlines()
                said = f": {lines[-1]}" if lines else ""
            except (OSError, ValueError):
                pass
        return CheckerFailed(f"the checker process could not start{said}")

    def _send(self, header: dict, blobs=()) -> None:
        self._write(wire.pack(header, list(blobs)))

    def _write(self, raw: bytes) -> None:
        try:
            self._proc.stdin.write(raw)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise CheckerFailed("the checker process stopped") from None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks, left, fd = [], n, self._proc.stdout.fileno()
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckerFailed("the checker process took too long")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise CheckerFailed("the checker process stopped")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float):
        return wire.read_frame(lambda n: self._read_exact(n, deadline))

    def kill(self) -> None:
        self._ready_by = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send({"kind": "quit"})
                self._proc.wait(timeout=5)
            except (CheckerFailed, subprocess.TimeoutExpired):
                pass
        self.kill()

    # -- one student ----------------------------------------------------------------------------
    def begin(self, preload=(), timeout: float = 120.0) -> None:
        """A fresh namespace for the next student; the checker imports ``preload`` while the kernel works."""
        with self._lock:
            try:
                self._await_ready()  # a student before that ran no grade cell
            except CheckerFailed:
                pass
            try:
                self._start()
                self._send({"kind": "begin", "preload": list(preload)})
            except CheckerFailed:
                raise self._start_failed() from None
            self._ready_by = time.monotonic() + 120.0 + timeout

    def _await_ready(self) -> None:
        if self._ready_by is None:
            return
        deadline, self._ready_by = self._ready_by, None
        try:
            header, _, _ = self._receive(deadline)
        except (CheckerFailed, wire.WireError):
            raise self._start_failed() from None
        if header.get("kind") != "ready":
            self.kill()
            raise CheckerFailed("the checker process did not get ready")

    def run_cell(self, source: str, link: AgentLink, *, labels: dict, timeout: float,
                 max_output_chars: int = 100_000) -> list[dict]:
        """The outputs of one grade cell, run by the checker against the kernel behind ``link``."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()  # replaced mid-notebook: a fresh namespace, the kernel is unchanged
                self._send({"kind": "begin", "preload": []})
                self._ready_by = time.monotonic() + 120.0 + timeout
            self._await_ready()
            deadline = time.monotonic() + timeout
            self._send({"kind": "cell", "source": source, "labels": labels, "call_timeout": timeout,
                        "max_output_chars": max_output_chars})
            try:
                return self._relay(link, deadline, timeout)
            except BaseException:
                self.kill()  # the checker is mid-cell: it cannot serve the next one
                raise

    def _relay(self, link: AgentLink, deadline: float, timeout: float) -> list[dict]:
        while True:
            try:
                header, _, raw = self._receive(deadline + GRACE)
            except wire.WireError as error:
                raise CheckerFailed(f"the checker's message could not be read ({error})") from None
            if header.get("kind") == "done":
                outputs = header.get("outputs")
                if not isinstance(outputs, list):
                    raise CheckerFailed("the checker's outputs could not be read")
                return outputs
            if header.get("kind") != "request":
                raise CheckerFailed("the checker sent something unexpected")
            call_deadline = min(deadline, time.monotonic() + timeout) + 2.0
            self._write(link.ask(header.get("id"), raw, call_deadline))


_SHARED: dict = {}


def shared_checker(sandbox: bool) -> Checker:
    """The grading process's checker (started at its first use, replaced when it fails)."""
    checker = _SHARED.get(sandbox)
    if checker is None:
        checker = _SHARED[sandbox] = Checker(sandbox)
    return checker
