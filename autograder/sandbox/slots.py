"""One sandbox slot per running kernel: a lock, a uid of its own (as root) and a private folder.

Parallel graders pick the first free slot (an ``flock`` on ``slot-N.lock``), so
two kernels never share a uid: a student's processes count against that
uid's process cap only, never against a classmate's.  The lock goes with the
process that holds it, so a grader killed with ``kill -9`` frees its slot; the
next kernel in that slot starts by removing what the dead one left.
"""

from __future__ import annotations

import fcntl
import functools
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: First uid of the sandbox slots (as root); ``GD_SANDBOX_UID_BASE`` overrides it.
UID_BASE = 61000
#: How many kernels may run sandboxed at once on one machine.
SLOTS = 64
#: What is copied into the kernel's working directory: at most this much (MiB) ...
INPUT_MAX_MB = 64
#: ... and never notebooks (the autograded one holds the hidden tests) or links.
SKIPPED_SUFFIXES = (".ipynb",)


class SlotError(RuntimeError):
    pass


def running_as_root() -> bool:
    return os.geteuid() == 0


def _own_dir(path: Path) -> Path:
    """``path`` as a folder of the grader's own (made 0711), never a link someone else planted."""
    uid = os.geteuid()
    try:
        path.mkdir(mode=0o711, exist_ok=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        raise SlotError(f"{path} is not a folder owned by uid {uid}: remove it, or set GD_SANDBOX_DIR")
    os.chmod(path, 0o711)
    return path


def lock_dir() -> Path:
    """The slots' locks: one place per grader uid on the machine, so that every grading run
    (whatever its ``GD_SANDBOX_DIR``) agrees on which slot, uid and cgroup is free."""
    return _own_dir(Path(tempfile.gettempdir()) / f"gd-sandbox-{os.geteuid()}")


def base_dir() -> Path:
    """Where the slots' private folders are made (``GD_SANDBOX_DIR``, default: beside the locks)."""
    custom = os.environ.get("GD_SANDBOX_DIR")
    return _own_dir(Path(custom)) if custom else lock_dir()


def uid_base() -> int:
    return int(os.environ.get("GD_SANDBOX_UID_BASE", UID_BASE))


def _uid_is_free(uid: int) -> bool:
    """A slot uid must not belong to a real account (its files would become the student's)."""
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


#: Size of the tmpfs that holds a kernel's sockets and connection file (as root).
CONN_TMPFS_KB = 1024


def unmount_conn(kernel_dir: Path) -> None:
    """Unmount the slot's socket tmpfs, if it has one (a grader killed earlier may have left it)."""
    conn = kernel_dir / "conn"
    if running_as_root() and os.path.ismount(conn):
        subprocess.run(["umount", "-l", str(conn)], capture_output=True, check=False)


def remove_tree(path: Path) -> None:
    """``rm -rf`` of a folder a kernel may have made unreadable (``chmod 0`` on its socket folder):
    each folder the grader owns is opened (0700) before it is emptied.  Iterative, so that no depth
    of nesting stops it; best effort (what cannot be removed is left, and the caller's mkdir says so)."""
    stack = [(str(path), False)]
    while stack:
        current, emptied = stack.pop()
        try:
            info = os.lstat(current)
        except OSError:
            continue
        try:
            if not stat.S_ISDIR(info.st_mode):
                os.unlink(current)
            elif emptied:
                os.rmdir(current)
            else:
                if stat.S_IMODE(info.st_mode) & 0o700 != 0o700:
                    os.chmod(current, 0o700)
                stack.append((current, True))
                stack.extend((entry.path, False) for entry in os.scandir(current))
        except OSError:
            continue


def empty_folder(kernel_dir: Path) -> None:
    """The slot's private folder, fresh and empty (its socket tmpfs unmounted first)."""
    unmount_conn(kernel_dir)
    remove_tree(kernel_dir)
    kernel_dir.mkdir(mode=0o711)


@dataclass
class Slot:
    index: int
    kernel_dir: Path
    uid: int | None
    gid: int | None
    _lock_fd: int

    def release(self) -> None:
        unmount_conn(self.kernel_dir)
        remove_tree(self.kernel_dir)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def acquire(slots: int = SLOTS) -> Slot:
    """Take the first free slot and give it a fresh, empty private folder."""
    locks, base = lock_dir(), base_dir()
    root = running_as_root()
    for index in range(slots):
        uid = uid_base() + index if root else None
        if uid is not None and not _uid_is_free(uid):
            continue
        fd = os.open(locks / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        kernel_dir = base / f"slot-{index}"
        empty_folder(kernel_dir)  # whatever a grader that was killed left
        return Slot(index, kernel_dir, uid, uid, fd)
    raise SlotError(f"all {slots} sandbox slots are in use (set GD_SANDBOX_SLOTS higher)")


def prepare(slot: Slot, notebook_dir: str | os.PathLike | None, *, shared_conn: bool = False) -> None:
    """The slot's ``conn/`` (the kernel's sockets), ``etc/`` (passwd, group) and ``input/``.

    ``shared_conn``: ``conn/`` outlives the kernel (a fork server's slot serves one kernel after
    another), so it belongs to root (0711) and each kernel gets a folder of its own inside it
    (:func:`fresh_socket_folder`); otherwise ``conn/`` itself is the kernel's, made anew each time.
    """
    uid = slot.uid if slot.uid is not None else os.getuid()
    gid = slot.gid if slot.gid is not None else os.getgid()
    conn = slot.kernel_dir / "conn"
    conn.mkdir(mode=0o700)
    if slot.uid is not None:
        owner, mode = ((0, 0), "0711") if shared_conn else ((uid, gid), "0700")
        os.chown(conn, *owner)
        # The one folder the kernel shares with the host: as root it is a tiny tmpfs, so a student
        # cannot fill the grader's disk through it (as an ordinary user it stays a plain folder).
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={CONN_TMPFS_KB}k,mode={mode},uid={owner[0]},"
                        f"gid={owner[1]},nosuid,nodev,noexec", "gd-sandbox-conn", str(conn)],
                       capture_output=True, check=False)
    etc = slot.kernel_dir / "etc"
    etc.mkdir(mode=0o755)
    (etc / "passwd").write_text(f"student:x:{uid}:{gid}:student:/home/student:/bin/sh\n")
    (etc / "group").write_text(f"student:x:{gid}:\n")
    copy_input(Path(notebook_dir) if notebook_dir else None, slot.kernel_dir / "input")
    seed = slot.kernel_dir / "seed"
    seed.mkdir(mode=0o755)
    fontlist = matplotlib_fontlist()
    if fontlist is not None:
        (seed / "matplotlib").mkdir(mode=0o755)
        shutil.copyfile(fontlist, seed / "matplotlib" / fontlist.name)
        os.chmod(seed / "matplotlib" / fontlist.name, 0o644)


def fresh_socket_folder(slot: Slot) -> Path:
    """A new, empty folder for one kernel's sockets in the slot's root-owned ``conn/``.

    Set up by the trusted side each time: whatever the previous kernel did to its own folder
    (``chmod 0``, ACLs, files, filling the tmpfs) went with that folder, which is removed here,
    and ``conn/`` itself is root's, so no kernel can change it for the next one.
    """
    conn = slot.kernel_dir / "conn"
    os.chown(conn, 0, 0)
    os.chmod(conn, 0o711)
    for entry in os.scandir(conn):
        if entry.is_dir(follow_symlinks=False):
            remove_tree(Path(entry.path))
        else:
            os.unlink(entry.path)
    folder = conn / f"k{os.urandom(3).hex()}"  # short: a unix socket path has 108 bytes
    folder.mkdir(mode=0o700)
    os.chown(folder, slot.uid, slot.gid)
    return folder


@functools.lru_cache(maxsize=1)
def matplotlib_fontlist() -> Path | None:
    """The grader's matplotlib font list, so that each kernel need not rebuild it (~2 s each).

    It names font files of the environment and of ``/usr/share/fonts``, which
    the sandbox shows at the same paths; it is copied into the kernel's own
    ``/tmp/matplotlib`` (``MPLCONFIGDIR``) before the kernel starts.
    """
    try:
        import matplotlib
        from matplotlib import font_manager

        path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
        if not path.exists():
            font_manager.json_dump(font_manager.FontManager(), path)
        return path if path.exists() else None
    except Exception:  # no matplotlib, or an unwritable cache: each kernel builds its own
        return None


def copy_input(source: Path | None, target: Path) -> list[str]:
    """Copy the notebook folder's regular files, except notebooks, up to :data:`INPUT_MAX_MB`.

    Symbolic links are never followed: a submission holding a link to the
    gradebook must not get the grader (root) to copy the gradebook in.
    Returns what was left out.
    """
    target.mkdir(mode=0o755, exist_ok=True)
    skipped: list[str] = []
    if source is None or not source.is_dir():
        return skipped
    budget = INPUT_MAX_MB * 1024 * 1024
    for folder, dirs, files in os.walk(source, followlinks=False):
        rel = Path(folder).relative_to(source)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))
                   and d != ".ipynb_checkpoints"]
        for d in dirs:
            (target / rel / d).mkdir(mode=0o755, exist_ok=True)
        for name in files:
            path = Path(folder) / name
            try:
                info = os.lstat(path)
                if name.endswith(SKIPPED_SUFFIXES) or not stat.S_ISREG(info.st_mode) or info.st_size > budget:
                    skipped.append(str(rel / name))
                    continue
                shutil.copyfile(path, target / rel / name, follow_symlinks=False)
                os.chmod(target / rel / name, 0o644)
                budget -= info.st_size
            except OSError:  # gone or unreadable meanwhile: the kernel starts without it
                skipped.append(str(rel / name))
    return skipped


def threads_of_uid(uid: int) -> int:
    """Processes and threads now running as ``uid`` (what ``RLIMIT_NPROC`` counts)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip())
    return total


def process_cap(slot: Slot, max_processes: int) -> int:
    """The ``RLIMIT_NPROC`` that gives this slot ``max_processes`` of its own.

    As root each slot has a uid of its own, so the cap is the budget itself.
    As an ordinary user every slot runs as that user, and the kernel counts
    all of the user's processes: the budget is added to what already runs
    (the grader's own processes are not capped, so a fork storm cannot stop
    the grader; it can still crowd a kernel graded at the same moment, see
    autograder/README.md).
    """
    if slot.uid is not None:
        return max_processes
    return threads_of_uid(os.getuid()) + max_processes
