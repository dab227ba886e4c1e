"""Building one kernel's sandbox inside the fork server: namespaces, mounts, credentials, /proc.

Each function is one step of :meth:`autograder.kernel.zygote.Zygote._kernel`,
run in the forked child as root of no user namespace, before it drops to the
slot's uid.  Stdlib and ``ctypes`` only (libc's ``mount``, ``umount2``,
``unshare``, ``prctl``, ``capset``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import stat
import struct

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
CLONE_NEWNET, CLONE_NEWUTS = 0x40000000, 0x04000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 1 << 14, 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
PR_SET_MM, PR_SET_MM_MAP = 35, 14
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    check(libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


_cmdline_buffers: list = []  # what /proc/self/cmdline points at must live as long as the process


class _MmMap(ctypes.Structure):
    """``struct prctl_mm_map`` (linux/prctl.h)."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
        "arg_start", "arg_end", "env_start", "env_end", "auxv")] + [
        ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


def set_cmdline(argv: list[str]) -> bool:
    """Make ``/proc/self/cmdline`` the kernel's own command line, as a kernel started by itself shows.

    ``PR_SET_MM_MAP`` moves only the argument area (everything else as ``/proc/self/stat`` says);
    unlike the single ``PR_SET_MM`` fields it needs no CAP_SYS_RESOURCE, which containers often lack.
    """
    data = b"\0".join(a.encode() for a in argv) + b"\0"
    buffer = ctypes.create_string_buffer(data, len(data))
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()

    def stat(number: int) -> int:  # proc(5) numbers the fields from 1; the list starts at field 3
        return int(fields[number - 3])

    libc.sbrk.restype = ctypes.c_void_p
    start = ctypes.addressof(buffer)
    layout = _MmMap(start_code=stat(26), end_code=stat(27), start_stack=stat(28), start_data=stat(45),
                    end_data=stat(46), start_brk=stat(47), brk=libc.sbrk(0) or stat(47),
                    arg_start=start, arg_end=start + len(data), env_start=stat(50), env_end=stat(51),
                    auxv=0, auxv_size=0, exe_fd=0xFFFFFFFF)
    if libc.prctl(PR_SET_MM, ctypes.c_ulong(PR_SET_MM_MAP), ctypes.byref(layout),
                   ctypes.c_ulong(ctypes.sizeof(layout)), ctypes.c_ulong(0)) != 0:
        return False
    _cmdline_buffers.append(buffer)
    return True


_RLIMITS = {"nproc": "RLIMIT_NPROC", "nofile": "RLIMIT_NOFILE", "fsize": "RLIMIT_FSIZE", "cpu": "RLIMIT_CPU",
            "core": "RLIMIT_CORE", "as": "RLIMIT_AS"}


def set_rlimits(values: dict) -> None:
    """Soft and hard limit of each ``prlimit`` name to its value (``None``: unlimited).

    The fork server starts with hard limits high enough for the checker; every kernel lowers
    them to its own caps here (lowering needs no privilege, and nothing can raise them again)."""
    import resource

    for name, value in values.items():
        limit = resource.RLIM_INFINITY if value is None else int(value)
        resource.setrlimit(getattr(resource, _RLIMITS[name]), (limit, limit))


def drop_privileges(uid: int, gid: int) -> None:
    """The slot's uid and gid, no groups, no capabilities now or ever (bounding set, no_new_privs)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # setuid from root clears the permitted and effective sets; clear the inheritable one too.
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    check(libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(bytes(24))), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise OSError(errno.EPERM, "the uid did not change")


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog`` (linux/filter.h): a classic BPF program."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply_seccomp(program: bytes) -> None:
    """Load the grader's seccomp filter (:mod:`autograder.sandbox.seccomp`, compiled by the grader)
    into this process and everything it starts; needs ``no_new_privs`` (set by drop_privileges)."""
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "the seccomp program is empty or malformed")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def mounts_below(target: str) -> list[str]:
    """The outermost mount points strictly below ``target`` (the sandbox's binds: sockets, packages)."""
    found = sorted(p for p in mount_points() if p.startswith(target.rstrip("/") + "/"))
    return [p for p in found if not any(p.startswith(q + "/") for q in found if q != p)]


def fresh_tmpfs(target: str, size: str) -> None:
    """An empty tmpfs on ``target``, with the binds that were below it bound again (flags kept).

    A bind may be a folder (the environment, the socket folder) or a single file (of the
    ``autograder`` package only ``__init__.py`` and ``kernel/`` are shown): its mount point is
    made again as the same kind, its missing parents as 0755 folders (as bubblewrap makes them).
    """
    kept = []
    for point in mounts_below(target):
        fd = os.open(point, os.O_PATH)
        kept.append((point, fd, stat.S_ISDIR(os.fstat(fd).st_mode)))
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, size)
    for point, fd, is_folder in kept:
        os.makedirs(point if is_folder else os.path.dirname(point), mode=0o755, exist_ok=True)
        if not is_folder:
            os.close(os.open(point, os.O_CREAT | os.O_WRONLY, 0o644))
        mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        os.close(fd)


def copy_tree(source: str, target: str) -> None:
    """``cp -R source/. target/`` as the kernel's own uid: contents only, modes kept, links as links."""
    if not os.path.isdir(source):
        return
    for entry in os.scandir(source):
        destination = os.path.join(target, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), destination)
        elif entry.is_dir():
            os.makedirs(destination, exist_ok=True)
            copy_tree(entry.path, destination)
        else:
            shutil.copy(entry.path, destination)


def unshare_for_kernel() -> None:
    """New mount, PID and IPC namespaces (the PID one for the children of the caller)."""
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")


def unshare_for_checker() -> None:
    """A kernel's namespaces and a network and UTS namespace of its own: the checker shares nothing
    with the kernels the same server forks (not even abstract sockets or the loopback)."""
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS), "unshare")


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]) for line in handle]


def mounts_outside(allowed: list[str], trees: list[str]) -> list[str]:
    """Mount points that are neither one of ``allowed`` nor inside one of ``trees``."""
    def inside(point: str) -> bool:
        return any(point == top or point.startswith(top.rstrip("/") + "/") for top in trees)

    return [p for p in mount_points() if p not in allowed and not inside(p)]


def make_mounts_private() -> None:
    """Nothing mounted from here on reaches the server's namespace, or comes back from it."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)


def unmount(path: str) -> None:
    check(libc.umount2(path.encode(), MNT_DETACH), f"unmount {path}")


def mount_proc() -> None:
    """A /proc of the new PID namespace: the kernel sees its own processes only."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def enter_sandbox(fds, *, hide: list[str], tmp_bytes: int, cmdline: str, rlimits: dict | None, uid: int,
                  gid: int, seccomp: bytes, allowed: dict | None = None) -> None:
    """What every process the fork server forks does before any code of its own runs (a kernel's
    init, the grader's checker), as root of its new namespaces.

    ``fds`` on 0, 1 and 2 and no other descriptor; a private mount tree without the mounts in
    ``hide``; fresh tmpfs ``/tmp``, ``/dev/shm`` and home; a /proc of its own PID namespace; with
    ``allowed`` (``{"exact": [...], "trees": [...]}``) no other mount, else ``OSError``; the
    command line ``cmdline``; then ``rlimits``, the uid and gid, no capability, the seccomp filter.
    """
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)
    make_mounts_private()
    for path in hide:
        unmount(path)
    size = f"size={tmp_bytes},mode=1777"
    for target in ("/tmp", "/dev/shm", "/home"):
        fresh_tmpfs(target, size)
    mount_proc()
    if allowed is not None:
        left = mounts_outside(allowed["exact"], allowed["trees"])
        if left:
            raise OSError(f"mounts it must not see: {', '.join(left)}")
    set_cmdline([cmdline])
    if rlimits:
        set_rlimits(rlimits)
    drop_privileges(uid, gid)
    apply_seccomp(seccomp)
