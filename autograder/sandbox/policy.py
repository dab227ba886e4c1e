"""What a student's kernel may see and use, written as a bubblewrap command line.

:func:`sandbox_command` is a pure function (no side effects), so the whole
policy can be read and unit-tested in one place:

* read-only: the system (``/usr`` and its ``/bin``, ``/lib`` links), the
  Python interpreter, the virtual environment and the installed ``course``
  and ``autograder`` packages; nothing else of the host file system;
* writable: a size-capped ``/tmp``, ``/dev/shm`` and home directory (all
  tmpfs: memory, not the grader's disk), the kernel's own socket folder, and a
  working directory that starts as a copy of the notebook's folder *without*
  notebooks (the autograded notebook holds the hidden tests);
* no network (a new, empty network namespace), its own PID, IPC and UTS
  namespaces, a clean environment, a new session, killed with its parent;
* as root: the kernel runs as an unprivileged uid of its own (one per
  parallel slot), with every capability dropped, so that process limits and
  file permissions apply; as an ordinary user a user namespace gives the same
  isolation with the user's own uid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import seccomp

#: Where the copy of the notebook's folder is mounted (read-only) inside the sandbox.
INPUT_DIR = "/sandbox/input"
#: Caches the grader prepared for the kernel (matplotlib's font list), copied into its /tmp.
SEED_DIR = "/sandbox/seed"
HOME = "/home/student"
WORK_DIR = f"{HOME}/work"

#: Environment variables passed from the grader to the kernel; everything else is dropped
#: (a database URL, tokens, passwords must never reach student code).
PASSED_ENV = (
    "NBGRADER_EXECUTION", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED",
    "PYTHONWARNINGS", "MPLBACKEND", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES",
)

#: The whole environment of the launcher that starts a sandbox (outside it, on the host): it needs
#: nothing of the grader's.
LAUNCHER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

#: Files of /etc a Python kernel needs (the dynamic linker's cache, time zone, NSS);
#: /etc as a whole is not shown (it can hold the grader's database or hub configuration).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
             "mime.types", "fonts")

#: The top-level directories of a merged-/usr Debian; each is mirrored as a link or a read-only bind.
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Limits:
    """Resource caps of one student's kernel (each process inherits them)."""

    #: Memory of the whole sandbox (cgroup, where one can be had) and address space per process (MiB).
    memory_mb: int = 6144
    #: Processes and threads of the sandbox's uid (TensorFlow alone starts a few dozen threads).
    max_processes: int = 512
    max_open_files: int = 4096
    #: Largest file the kernel may write (MiB), and the size of each of its tmpfs mounts.
    max_file_mb: int = 256
    tmp_mb: int = 256
    #: CPU seconds of each process in the sandbox (the per-cell and per-student clocks still apply;
    #: 0: none).
    cpu_seconds: int = 1800


@dataclass(frozen=True)
class Layout:
    """Host paths that one kernel's sandbox is built from."""

    #: The kernel's private folder on the host: ``conn/`` (sockets), ``input/``, ``etc/``.
    kernel_dir: Path
    #: Read-only host paths bound at the same path inside (interpreter, venv, packages).
    read_only: tuple[Path, ...]
    #: Real uid/gid the kernel runs as when the grader is root; ``None``: keep the caller's.
    uid: int | None = None
    gid: int | None = None

    @property
    def conn_dir(self) -> Path:
        return self.kernel_dir / "conn"

    @property
    def input_dir(self) -> Path:
        return self.kernel_dir / "input"

    @property
    def seed_dir(self) -> Path:
        return self.kernel_dir / "seed"

    @property
    def etc_dir(self) -> Path:
        return self.kernel_dir / "etc"


#: The uid the grader's checker runs as (as root), forked or started by itself: no kernel's.
CHECKER_UID = 65534
#: The checker's module: what ``python -m`` runs, or the forked checker calls ``main()`` of.
CHECKER_MAIN = "autograder.checker.process"
#: The checker's caps, forked or started by itself: it serves every student of its grading
#: process, so it has no CPU limit.
CHECKER_LIMITS = Limits(memory_mb=6144, max_processes=4096, max_open_files=1024, max_file_mb=256, tmp_mb=256,
                        cpu_seconds=0)

#: Mount points the sandbox makes itself (tmpfs, proc, dev).
_OWN_MOUNTS = ("/tmp", "/home", "/dev", "/dev/shm", "/proc")


def _ancestors(paths) -> list[str]:
    """Every directory above the bound paths, outermost first (made 0755 so the uid can reach them)."""
    seen: list[str] = []
    for path in paths:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent in seen or parent in _OWN_MOUNTS or parent == "/usr" or parent.startswith("/usr/"):
                continue  # /usr is bound whole; the sandbox's own mounts keep their modes
            seen.append(parent)
    return seen


def top_level_args(root: Path = Path("/")) -> list[str]:
    """bubblewrap options mirroring the top-level system folders (a link, or a read-only bind)."""
    args: list[str] = []
    for name in TOP_LEVEL:
        path = root / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    return args


def sandbox_env(parent_env: dict[str, str], venv_bin: str, import_roots: list[str] = ()) -> dict[str, str]:
    """The kernel's whole environment: a few fixed values and the allow-listed ones."""
    env = {name: parent_env[name] for name in PASSED_ENV if name in parent_env}
    if import_roots:
        env["PYTHONPATH"] = os.pathsep.join(import_roots)
    env.update({
        "HOME": HOME, "USER": "student", "LOGNAME": "student",
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime", "JUPYTER_DATA_DIR": "/tmp/jupyter/data",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter/config", "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "GD_SANDBOXED": "1",
    })
    env.setdefault("LANG", "C.UTF-8")
    return env


def rlimits(limits: Limits) -> dict[str, int | None]:
    """The caps by ``prlimit`` name (``None``: unlimited; an address space of 0 MiB is none)."""
    mib = 1024 * 1024
    return {"nproc": limits.max_processes, "nofile": limits.max_open_files, "fsize": limits.max_file_mb * mib,
            "cpu": limits.cpu_seconds if limits.cpu_seconds > 0 else None, "core": 0,
            "as": limits.memory_mb * mib if limits.memory_mb > 0 else None}


def prlimit_args(limits: Limits, hard: dict[str, int | None] | None = None) -> list[str]:
    """util-linux ``prlimit`` options: the caps every process in the sandbox inherits.

    ``hard``: higher hard limits, for the fork server only (it lowers them to ``limits`` in every
    kernel before any student code runs, and gives its checker :data:`CHECKER_LIMITS`)."""
    def text(value):
        return "unlimited" if value is None else str(value)

    args = []
    for name, value in rlimits(limits).items():
        top = hard.get(name, value) if hard else value
        if name == "as" and value is None and top is None:
            continue  # no cap: the grader's own
        args.append(f"--{name}={text(value)}:{text(top)}" if hard else f"--{name}={text(value)}")
    return args


def higher_limits(*limits: Limits) -> dict[str, int | None]:
    """Each cap at the highest of ``limits`` (``None``, unlimited, is highest)."""
    merged: dict[str, int | None] = {}
    for one in limits:
        for name, value in rlimits(one).items():
            if name not in merged:
                merged[name] = value
            elif merged[name] is None or value is None:
                merged[name] = None
            else:
                merged[name] = max(merged[name], value)
    return merged


#: Capabilities the fork server keeps (as root, in no user namespace) to build each kernel's own
#: sandbox: namespaces and mounts, the slot's uid, and emptying the bounding set.  Every kernel
#: drops them all before it starts.
ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


def _bwrap_base(layout: Layout, limits: Limits, env: dict[str, str], *, caps=("CAP_SETUID", "CAP_SETGID"),
                die_with_parent: bool = True, extra_binds=(), extra_ro_binds=(), hard_limits=None,
                seccomp_fd: int | None = None) -> list[str]:
    """prlimit + bubblewrap with the whole file-system, namespace and environment policy
    (and the seccomp filter bubblewrap reads from ``seccomp_fd``, applied to the command it runs)."""
    tmp_bytes = str(limits.tmp_mb * 1024 * 1024)
    as_root = layout.uid is not None
    cmd = ["prlimit", *prlimit_args(limits, hard_limits), "--", "bwrap"]
    if as_root:
        # Real root: no user namespace (bwrap --uid would only be a label); the uid is
        # dropped inside, after the mounts are made (setpriv, or the fork server).
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        for cap in caps:
            cmd += ["--cap-add", cap]
    else:
        # An ordinary user: a user namespace gives the mount, PID and network isolation,
        # and --disable-userns stops the kernel from making one of its own.
        cmd += ["--unshare-all", "--unshare-user", "--disable-userns"]
    if die_with_parent:
        cmd += ["--die-with-parent"]
    cmd += ["--new-session"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    cmd += ["--ro-bind", "/usr", "/usr", *top_level_args()]
    # Folders bubblewrap makes for mount points are 0700: the dropped uid must be able to enter them.
    cmd += ["--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/sandbox"]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--ro-bind", str(layout.etc_dir / "passwd"), "/etc/passwd",
            "--ro-bind", str(layout.etc_dir / "group"), "/etc/group"]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "01777", "--size", tmp_bytes, "--tmpfs", "/dev/shm",
            "--perms", "01777", "--size", tmp_bytes, "--tmpfs", "/tmp",
            "--perms", "01777", "--size", tmp_bytes, "--tmpfs", "/home"]
    binds = [*layout.read_only, *extra_ro_binds, layout.conn_dir, *extra_binds]
    for parent in _ancestors(binds):
        cmd += ["--perms", "0755", "--dir", parent]
    for path in (*layout.read_only, *extra_ro_binds):
        cmd += ["--ro-bind", str(path), str(path)]
    for path in extra_binds:
        cmd += ["--bind", str(path), str(path)]
    cmd += ["--bind", str(layout.conn_dir), str(layout.conn_dir),
            "--ro-bind", str(layout.input_dir), INPUT_DIR,
            "--ro-bind", str(layout.seed_dir), SEED_DIR]
    cmd += ["--clearenv"]
    for name, value in sorted(env.items()):
        cmd += ["--setenv", name, value]
    cmd += ["--chdir", "/tmp", "--"]
    return cmd


def sandbox_command(kernel_cmd: list[str], layout: Layout, limits: Limits,
                    env: dict[str, str], seccomp_file: Path | None = None) -> list[str]:
    """The command that starts ``kernel_cmd`` inside the sandbox, under the seccomp filter compiled
    in ``seccomp_file`` (:mod:`.seccomp`; every graded kernel has one)."""
    prefix = seccomp.launcher(seccomp_file) if seccomp_file is not None else []
    cmd = prefix + _bwrap_base(layout, limits, env,
                               seccomp_fd=seccomp.BWRAP_FD if seccomp_file is not None else None)
    if layout.uid is not None:
        cmd += ["setpriv", f"--reuid={layout.uid}", f"--regid={layout.gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    # The working directory lives in the size-capped home tmpfs, owned by the kernel's uid.
    start = (f'mkdir -p {WORK_DIR} && cp -R {INPUT_DIR}/. {WORK_DIR}/ && cp -R {SEED_DIR}/. /tmp/ '
             f'&& cd {WORK_DIR} && exec "$@"')
    cmd += ["/bin/sh", "-c", start, "gd-sandbox", *kernel_cmd]
    return cmd


def zygote_command(python: str, layout: Layout, limits: Limits, env: dict[str, str], control_dir: Path,
                   config: dict, checker_code: Path | None = None) -> list[str]:
    """The command that starts the slot's fork server (:mod:`autograder.kernel.zygote`), as root only.

    The same file system, namespaces, limits and environment as one kernel's
    sandbox, plus ``control_dir`` (its socket, a folder only root can enter).
    It keeps :data:`ZYGOTE_CAPS` to give every kernel it forks a sandbox of its
    own, and drops to the slot's uid in each of them; it stops when the grader
    closes its stdin rather than with its parent *thread* (bubblewrap's
    ``--die-with-parent``), since kernels are started from passing threads.

    ``checker_code`` (``autograder/checker``, read-only) is shown to the server
    alone: it forks the grader's checker too, and each kernel unmounts it.
    """
    if layout.uid is None:
        raise ValueError("the fork server runs as root only")
    import json

    cmd = _bwrap_base(layout, limits, env, caps=ZYGOTE_CAPS, die_with_parent=False, extra_binds=(control_dir,),
                      extra_ro_binds=(checker_code,) if checker_code else (),
                      hard_limits=higher_limits(limits, CHECKER_LIMITS) if checker_code else None)
    full = {"uid": layout.uid, "gid": layout.gid, "tmp_bytes": limits.tmp_mb * 1024 * 1024,
            "work_dir": WORK_DIR, "input_dir": INPUT_DIR, "seed_dir": SEED_DIR, "conn_dir": str(layout.conn_dir),
            "kernel_rlimits": rlimits(limits), "checker_rlimits": rlimits(CHECKER_LIMITS),
            "checker_code": str(checker_code) if checker_code else None, **config}
    return cmd + [python, "-P", "-m", "autograder.kernel.zygote", json.dumps(full)]
