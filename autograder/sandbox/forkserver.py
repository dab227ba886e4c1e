"""The grader's side of the fork server: one per grading process, in a slot it keeps.

A fresh kernel pays for its frameworks on every student: TensorFlow and Keras
cost ~3.5 core-seconds to import, PyTorch ~1, ipykernel ~0.3.  With the fork
server (:mod:`autograder.kernel.zygote`) a grading process starts, once, a
sandbox that imports the assignment's frameworks, and every kernel is forked
from it into a sandbox of its own (new namespaces, fresh tmpfs, the slot's uid,
no capabilities).  The grade, the feedback and the named mistakes are what a
kernel started by itself gives: only modules the set-up cell imports before
``setup()`` are imported early (:mod:`.preload`), and the tests compare the two.

It is used when the grading command asks for it (``GD_FORK_SERVER`` holds the
JSON list of modules to import; the CLI sets it for sandboxed grading as root)
and the server starts; otherwise, or as an ordinary user (no uid to drop to),
every kernel gets a bubblewrap sandbox of its own as before.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.kernel.checker_fork import HELLO

from . import cgroups, seccomp, slots
from .policy import (CHECKER_MAIN, CHECKER_UID, ETC_FILES, LAUNCHER_ENV, SEED_DIR, TOP_LEVEL, Layout, Limits,
                     sandbox_env, zygote_command)
from .readiness import import_roots, read_only_paths

ENV = "GD_FORK_SERVER"
#: How long the server may take to import its frameworks (a busy 2-core machine: ~10 s).
START_TIMEOUT_S = 120
#: How long the previous kernel may take to be gone before the next one is refused.
IDLE_TIMEOUT_S = 30
CLIENT = Path(__file__).with_name("fork_client.py")
#: The checker's code, shown to the server alone (it forks the grader's checker too).
CHECKER_CODE = Path(__file__).resolve().parents[1] / "checker"
#: How long forking a checker may take, its sandbox included (milliseconds when idle).
CHECKER_TIMEOUT_S = 30

log = logging.getLogger(__name__)


class ForkServerError(RuntimeError):
    pass


def requested_preload() -> list[str] | None:
    """The modules the grading command asked the fork server to import; ``None``: no fork server."""
    value = os.environ.get(ENV, "").strip()
    if not value or not slots.running_as_root():
        return None
    try:
        names = json.loads(value)
    except ValueError:
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def provisioner_limits(memory_mb: int) -> Limits:
    """The limits the sandbox's provisioner gives a kernel under the course's configuration
    (only the memory cap is configured: config.course_config), so a server started ahead of the
    first kernel is the one that kernel asks for."""
    return Limits(memory_mb=memory_mb)


def kernel_env(parent: dict[str, str] | None = None) -> dict[str, str]:
    """A sandboxed kernel's environment, from ``parent`` (default: this process's)."""
    return sandbox_env(dict(parent if parent is not None else os.environ), os.path.dirname(sys.executable),
                       import_roots())


@dataclass(eq=False)  # one server is one process: compared by identity
class ForkServer:
    slot: slots.Slot
    limits: Limits
    preload: tuple[str, ...]
    process: subprocess.Popen | None = None
    cgroup: cgroups.SandboxCgroup | None = None
    ready: bool = False

    @property
    def control_dir(self) -> Path:
        return self.slot.kernel_dir / "ctl"

    @property
    def socket_path(self) -> Path:
        return self.control_dir / "zygote.sock"

    @property
    def checker_socket_path(self) -> Path:
        return self.control_dir / "checker.sock"

    def start(self, env: dict[str, str]) -> None:
        from course.notebook import QUIET_ENV

        slots.prepare(self.slot, None, shared_conn=True)
        self.control_dir.mkdir(mode=0o700)
        self.cgroup = cgroups.SandboxCgroup(self.slot.index, self.limits.memory_mb, self.limits.max_processes)
        layout = Layout(kernel_dir=self.slot.kernel_dir, read_only=read_only_paths(),
                        uid=self.slot.uid, gid=self.slot.gid)
        # Every kernel it forks loads this filter after dropping its privileges (the server itself
        # needs mount and unshare to build their sandboxes, and runs no student code).
        config = {"socket": str(self.socket_path), "preload": list(self.preload), "env_before_import": QUIET_ENV,
                  "seccomp": seccomp.program().hex(), "checker_socket": str(self.checker_socket_path),
                  "checker_uid": CHECKER_UID, "checker_mounts": checker_mounts(layout.read_only),
                  "checker_main": CHECKER_MAIN}
        cmd = cgroups.launcher(self.cgroup.procs_files) + zygote_command(
            sys.executable, layout, self.limits, env, self.control_dir, config, checker_code=CHECKER_CODE)
        log_file = open(self.slot.kernel_dir / "zygote.log", "wb")
        try:
            self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                            cwd=self.slot.kernel_dir, start_new_session=True,
                                            env=dict(LAUNCHER_ENV))
        finally:
            log_file.close()
        status: dict = {}
        deadline = time.monotonic() + START_TIMEOUT_S
        while not status.get("ready"):  # a module may print while it is imported: skip those lines
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = self.process.stdout.readline() if ready else b""
            if not line:
                break
            try:
                status = json.loads(line) if line.startswith(b'{"ready"') else {}
            except ValueError:
                status = {}
        if not status.get("ready"):
            self.stop()
            raise ForkServerError(f"the fork server did not start: {self._log_tail()}")
        if status.get("failed"):  # each kernel imports them again and shows its own error
            log.warning("the fork server could not import %s", ", ".join(status["failed"]))
        self.ready = True

    def _log_tail(self) -> str:
        try:
            return (self.slot.kernel_dir / "zygote.log").read_text(errors="replace")[-1500:].strip() or "no output"
        except OSError:
            return "no output"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_idle(self) -> None:
        """Block until the previous kernel and everything it started are gone."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(IDLE_TIMEOUT_S)
            probe.connect(str(self.socket_path))
            socket.send_fds(probe, [b'{"ping": true}'], [])
            if b"idle" not in probe.recv(64):
                raise ForkServerError("the fork server did not answer")

    def prepare_kernel(self, notebook_dir) -> Path:
        """A socket folder of the kernel's own and this student's files in ``input/`` (never while a
        kernel runs); returns the socket folder."""
        self.wait_idle()
        folder = self.slot.kernel_dir / "input"
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        slots.copy_input(Path(notebook_dir) if notebook_dir else None, folder)
        return slots.fresh_socket_folder(self.slot)

    def client_command(self, kernel_cmd: list[str]) -> list[str]:
        return [sys.executable, str(CLIENT), str(self.socket_path), json.dumps(kernel_cmd)]

    def restart(self, env: dict[str, str]) -> None:
        """A new server in the same slot, after this one died."""
        self.stop()
        slots.empty_folder(self.slot.kernel_dir)
        self.start(env)

    def spawn_checker(self, env: dict[str, str], stderr_fd: int) -> tuple[socket.socket, int]:
        """A checker forked from this server (:mod:`autograder.kernel.checker_fork`): the grader's end
        of its channel, and its pid here (from the credentials of its first byte: the server's
        own pid namespace numbers it differently)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # before the checker writes
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as request:
                request.settimeout(CHECKER_TIMEOUT_S)
                request.connect(str(self.checker_socket_path))
                socket.send_fds(request, [json.dumps({"env": env}).encode()], [theirs.fileno(), stderr_fd])
                answer = request.recv(256)
            theirs.close()
            if b'"forked": true' not in answer:
                raise ForkServerError("the fork server could not fork a checker")
            ours.settimeout(CHECKER_TIMEOUT_S)
            data, ancillary, _, _ = ours.recvmsg(1, socket.CMSG_SPACE(12))
            credentials = [struct.unpack("3i", payload[:12]) for level, kind, payload in ancillary
                           if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
            if data != HELLO or not credentials or credentials[0][1] != CHECKER_UID:
                raise ForkServerError("the forked checker did not start (its stderr says why)")
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
            ours.settimeout(None)
            return ours, credentials[0][0]
        except (OSError, ForkServerError) as error:
            ours.close()
            theirs.close()
            if isinstance(error, ForkServerError):
                raise
            raise ForkServerError(f"the fork server could not fork a checker: {error}") from None

    def stop(self) -> None:
        self.ready = False
        if self.process is not None:
            try:
                self.process.stdin.close()  # the server's lifeline
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
            self.process = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None


_lock = threading.Lock()
_servers: dict[tuple, list[ForkServer]] = {}  # per (limits, modules): the servers of this process
_busy: set[int] = set()                      # ids of the servers whose kernel is running
_broken: set[tuple] = set()


def acquire(limits: Limits, preload: list[str], env: dict[str, str]) -> ForkServer | None:
    """A free fork server of this process for these limits and modules, started if none is free.

    One server runs one kernel at a time; a process that grades several students at once (a Dask
    worker with several threads) gets one server, and one slot, per concurrent kernel.  ``None``:
    no server here (it could not start); the kernel then gets a sandbox of its own as before.
    """
    key = (limits, tuple(preload))
    with _lock:
        if key in _broken:
            return None
        pool = _servers.setdefault(key, [])
        server = next((s for s in pool if id(s) not in _busy), None)
        if server is None:
            server = ForkServer(slots.acquire(), limits, tuple(preload))
        elif server.alive():
            _busy.add(id(server))
            return server
        _busy.add(id(server))  # taken while it starts (seconds), outside the lock
    slot = server.slot
    started = time.perf_counter()
    try:
        if server in pool:
            server.restart(env)  # it died (killed, or out of memory): a new one in its slot
        else:
            server.start(env)
    except (ForkServerError, OSError) as error:
        log.warning("grading without the fork server (each kernel starts in a sandbox of its own): %s", error)
        with _lock:
            _busy.discard(id(server))
            _broken.add(key)
            if server in pool:
                pool.remove(server)
        slot.release()
        return None
    log.debug("fork server in slot %s ready in %.1f s", slot.index, time.perf_counter() - started)
    with _lock:
        if server not in pool:
            pool.append(server)
    return server


def checker_mounts(read_only) -> dict[str, list[str]]:
    """What a forked checker may keep mounted: the system, the environment and packages, its own
    code, the seed caches and its own tmpfs, /proc and /dev; never a slot's sockets or input."""
    exact = ["/", "/tmp", "/home", "/dev/shm", SEED_DIR, *(f"/etc/{name}" for name in (*ETC_FILES, "passwd", "group"))]
    # /proc: its own, over the server's (whose read-only /proc/sys, /proc/bus... binds it hides)
    trees = ["/usr", "/dev", "/proc", *(f"/{name}" for name in TOP_LEVEL), *(str(p) for p in read_only),
             str(CHECKER_CODE)]
    return {"exact": exact, "trees": trees}


def running_server() -> ForkServer | None:
    """A started fork server of this process (busy or not: it forks a checker while a kernel runs)."""
    with _lock:
        return next((server for pool in _servers.values() for server in pool
                     if server.ready and server.alive()), None)


def release(server: ForkServer) -> None:
    """The server's kernel is gone: the next kernel may use it."""
    with _lock:
        _busy.discard(id(server))


@atexit.register
def stop_all() -> None:
    with _lock:
        for pool in _servers.values():
            for server in pool:
                server.stop()
                server.slot.release()
        _servers.clear()
        _busy.clear()
        _broken.clear()
