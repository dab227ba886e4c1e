"""A memory and process cap for the whole sandbox, from the kernel's cgroups, where root can have them.

``RLIMIT_AS`` caps each process's address space, which is a poor measure for
TensorFlow or PyTorch (they reserve far more than they use) and does not
count a student's tmpfs files or child processes.  A cgroup counts what the
sandbox really uses, all its processes together.  Without systemd as PID 1
(these machines) the grader writes the cgroup files itself: cgroup v1's
``memory`` and ``pids`` hierarchies, or a cgroup v2 tree with those
controllers.  As an ordinary user, or where neither is writable, the rlimits
alone apply (:mod:`autograder.sandbox.policy`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "gd-sandbox"


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


class SandboxCgroup:
    """The cgroup(s) of one slot: created before the kernel starts, emptied and removed after.

    ``name`` (default ``slot-N``) names other groups: a grading worker's own (:func:`worker_group`).
    """

    def __init__(self, slot: int, memory_mb: int, max_processes: int, name: str | None = None):
        self.name = name or f"slot-{slot}"
        self.dirs: list[Path] = []
        self.kind = "none"
        if os.geteuid() != 0 or not ROOT.is_dir():
            return
        try:
            if (ROOT / "cgroup.controllers").exists():
                self._make_v2(slot, memory_mb, max_processes)
            elif (ROOT / "memory").is_dir() and (ROOT / "pids").is_dir():
                self._make_v1(slot, memory_mb, max_processes)
        except OSError:
            self.remove()
            self.dirs, self.kind = [], "none"

    def _make_v1(self, slot: int, memory_mb: int, max_processes: int) -> None:
        memory = ROOT / "memory" / GROUP / self.name
        pids = ROOT / "pids" / GROUP / self.name
        for path in (memory, pids):
            path.mkdir(parents=True, exist_ok=True)
            self.dirs.append(path)
        self.kill_all()
        if memory_mb > 0:
            limit = str(memory_mb * 1024 * 1024)
            _write(memory / "memory.limit_in_bytes", limit)
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", limit)
        _write(pids / "pids.max", str(max_processes))
        self.kind = "v1"

    def _make_v2(self, slot: int, memory_mb: int, max_processes: int) -> None:
        parent = ROOT / GROUP
        parent.mkdir(exist_ok=True)
        for level in (ROOT, parent):
            enabled = (level / "cgroup.subtree_control").read_text().split()
            wanted = [f"+{c}" for c in ("memory", "pids") if c not in enabled]
            if wanted:
                _write(level / "cgroup.subtree_control", " ".join(wanted))
        path = parent / self.name
        path.mkdir(exist_ok=True)
        self.dirs.append(path)
        self.kill_all()
        if memory_mb > 0:
            _write(path / "memory.max", str(memory_mb * 1024 * 1024))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "0")
        _write(path / "pids.max", str(max_processes))
        self.kind = "v2"

    @property
    def procs_files(self) -> list[str]:
        """Where the launcher writes its pid, before it becomes the sandbox."""
        return [str(path / "cgroup.procs") for path in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            try:
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self, wait_s: float = 5.0) -> set[int]:
        """SIGKILL whatever still runs in the slot's cgroup; returns what was found."""
        found = self.pids()
        deadline = time.monotonic() + wait_s
        pids = found
        while pids and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
            pids = self.pids()
        return found

    def remove(self) -> None:
        self.kill_all()
        for path in self.dirs:
            try:
                path.rmdir()
            except OSError:
                pass


def launcher(procs_files: list[str]) -> list[str]:
    """A shell prefix that moves itself into the cgroup, then becomes the rest of the command."""
    if not procs_files:
        return []
    joins = "; ".join(f'echo $$ > "{path}" || exit 97' for path in procs_files)
    return ["/bin/sh", "-c", f'{joins}; exec "$@"', "gd-sandbox-cgroup"]


#: A grading worker's memory cap: the kernel's own cap, and at least this much (MiB).  Whatever a
#: kernel sends is capped (autograder.preprocessors.caps); this is the backstop, so that no kernel
#: can make the worker, which runs as the grader, grow past it and take the machine down.
WORKER_MIN_MEMORY_MB = 2048
WORKER_MAX_PROCESSES = 4096


def worker_memory_mb(kernel_memory_mb: int) -> int:
    return max(WORKER_MIN_MEMORY_MB, kernel_memory_mb)


def worker_group(kernel_memory_mb: int) -> SandboxCgroup | None:
    """A cgroup of its own for one grading worker (as root, where cgroups can be written)."""
    if kernel_memory_mb <= 0:
        return None
    group = SandboxCgroup(0, worker_memory_mb(kernel_memory_mb), WORKER_MAX_PROCESSES,
                          name=f"worker-{os.getpid()}-{os.urandom(3).hex()}")
    return group if group.kind != "none" else None


def join_own_groups(pid: int) -> list[str]:
    """Move ``pid`` into this process's own memory and pids cgroups (as root, where they are
    written); returns the groups it was moved into.  A checker forked in a slot is moved so, out of
    the slot's group: a student's kernel can then neither use up its memory nor make it the one the
    out-of-memory killer picks."""
    if os.geteuid() != 0 or not ROOT.is_dir():
        return []
    moved = []
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "" and (ROOT / "cgroup.controllers").exists():
                target = ROOT / path.lstrip("/")  # cgroup v2: one tree
            elif set(controllers.split(",")) & {"memory", "pids"}:
                target = ROOT / controllers / path.lstrip("/")
            else:
                continue
            _write(target / "cgroup.procs", str(pid))
            moved.append(str(target))
    return moved
