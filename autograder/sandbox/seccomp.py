"""The seccomp filter every graded kernel runs under: system calls a notebook never needs, refused.

Modelled on Docker's default profile, as a deny list (a notebook's kernel,
NumPy, PyTorch and TensorFlow use hundreds of calls; an allow list would
break on the next release of any of them).  Refused with ``EPERM``:

* the kernel keyrings (``add_key``, ``keyctl``, ``request_key``): a key
  outlives the kernel and is shared by every process of the slot's uid, so it
  would be a channel between students and a quota one student could exhaust;
* other processes' memory (``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``);
* mounts and namespaces (``mount``, ``umount2``, the new mount API,
  ``pivot_root``, ``unshare``, ``setns``, and ``clone`` with any ``CLONE_NEW*``
  flag; ``clone3``, whose flags a filter cannot read, answers ``ENOSYS`` so
  that the C library falls back to ``clone``, as under Docker);
* the kernel's own attack surface: ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``io_uring_*``, modules, ``kexec_*``, ``reboot``, swap,
  clocks, quotas, accounting, file handles (``open_by_handle_at``), ...

Calls of another architecture's ABI (32-bit ``int 0x80`` on x86_64, x32) kill
the process: libseccomp's default for a foreign architecture.

The program is compiled once per grader process with the system's libseccomp
(``libseccomp.so.2``, in every Debian and Ubuntu: apt itself depends on it)
through ``ctypes``, and written to a file beside the slot locks.  Fresh
kernels get it from bubblewrap (``--seccomp FD``); forked kernels load it
themselves, after dropping their privileges (:func:`autograder.kernel.namespaces.apply_seccomp`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import hashlib
import os
import tempfile
from pathlib import Path

#: System calls refused with EPERM (names libseccomp does not know on this architecture are skipped).
DENIED = (
    # keyrings
    "add_key", "keyctl", "request_key",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # mounts and namespaces
    "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    # the kernel's attack surface and the machine's state
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "name_to_handle_at", "open_by_handle_at",
    "settimeofday", "clock_settime", "clock_adjtime", "stime", "sysfs", "_sysctl", "uselib",
    "ustat", "vm86", "vm86old", "iopl", "ioperm", "nfsservctl", "syslog", "vhangup",
)
#: ``clone`` flags that make a namespace: refused (``CLONE_NEWTIME`` is clone3/unshare only).
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                         0x40000000)
#: Answered ENOSYS: the C library then uses an older call this filter can read.
NOT_IMPLEMENTED = ("clone3",)

_SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_MASKED_EQ = 7


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0x0000FFFF)


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp`` (seccomp.h)."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class SeccompUnavailable(RuntimeError):
    pass


def _libseccomp():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as error:
        raise SeccompUnavailable(f"libseccomp is not installed ({error}); on Debian or Ubuntu: "
                                 "apt-get install libseccomp2") from error
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _rule(lib, ctx, action: int, number: int, *comparisons: _ArgCmp) -> None:
    array = (_ArgCmp * max(1, len(comparisons)))(*comparisons)
    result = lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array)
    if result != 0:
        raise SeccompUnavailable(f"libseccomp refused a rule for system call {number}: {os.strerror(-result)}")


def build_program() -> bytes:
    """The filter as a classic BPF program (``struct sock_filter`` records, 8 bytes each)."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("libseccomp could not start a filter")
    try:
        for names, action in ((DENIED, _errno_action(errno.EPERM)), (NOT_IMPLEMENTED, _errno_action(errno.ENOSYS))):
            for name in names:
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number < 0:  # not a system call of this architecture
                    continue
                _rule(lib, ctx, action, number)
        clone = lib.seccomp_syscall_resolve_name(b"clone")
        for flag in CLONE_NAMESPACE_FLAGS:
            _rule(lib, ctx, _errno_action(errno.EPERM), clone, _ArgCmp(0, _SCMP_CMP_MASKED_EQ, flag, flag))
        with tempfile.TemporaryFile() as out:
            result = lib.seccomp_export_bpf(ctx, out.fileno())
            if result != 0:
                raise SeccompUnavailable(f"libseccomp could not export the filter: {os.strerror(-result)}")
            out.seek(0)
            program = out.read()
    finally:
        lib.seccomp_release(ctx)
    if not program or len(program) % 8:
        raise SeccompUnavailable("libseccomp exported an empty or malformed filter")
    return program


@functools.lru_cache(maxsize=1)
def program() -> bytes:
    return build_program()


def program_file(folder: Path) -> Path:
    """The compiled filter in ``folder`` (written once, atomically; named by its hash)."""
    data = program()
    path = folder / f"seccomp-{hashlib.sha256(data).hexdigest()[:16]}.bpf"
    if not path.exists():
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".seccomp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    return path


#: The file descriptor bubblewrap reads the filter from (opened by the launcher's shell).
BWRAP_FD = 3


def launcher(path: Path) -> list[str]:
    """A shell prefix that opens the filter on :data:`BWRAP_FD`, then becomes the rest of the command
    (jupyter_client starts kernels with ``close_fds``: the descriptor must be opened after it)."""
    return ["/bin/sh", "-c", f'exec {BWRAP_FD}<"$0"; exec "$@"', str(path)]
