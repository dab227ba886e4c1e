"""Can the sandbox start here?  Each problem as one sentence that names the cause and the fix."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from . import seccomp, slots
from .kernelspec import PROVISIONER_NAME, ensure_kernelspec
from .policy import Layout, Limits, sandbox_command, sandbox_env

NO_SANDBOX_HINT = ("or grade without it with --no-sandbox (GD_SANDBOX=0 for nbgrader's own commands), "
                   "which lets student code run with the grader's own rights")
INSTALL_HINT = ("install bubblewrap: `apt-get install bubblewrap` (Debian, Ubuntu) or "
                "`dnf install bubblewrap` (Fedora)")


class SandboxUnavailable(RuntimeError):
    """Raised instead of starting a kernel outside the sandbox."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the grading sandbox cannot start: " + " ".join(self.problems))


def _package_paths(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p).resolve() for p in spec.submodule_search_locations]


def read_only_paths() -> tuple[Path, ...]:
    """What the sandbox shows read-only at the same path: interpreter, environment, course packages.

    Of the ``autograder`` package only ``kernel/`` (the in-kernel guard the
    test cells import) is shown: the rest is the instructor's side.
    """
    paths: list[Path] = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                         Path(sys.executable).resolve().parent]
    paths += _package_paths("course")
    for folder in _package_paths("autograder"):
        paths += [folder / "__init__.py", folder / "kernel"]
    kept: list[Path] = []
    for path in paths:
        if str(path) == "/usr" or str(path).startswith("/usr/"):
            continue  # the whole of /usr is bound already
        if any(path == k or k in path.parents for k in kept):
            continue
        kept = [k for k in kept if path not in k.parents]
        kept.append(path)
    return tuple(kept)


def import_roots() -> list[str]:
    """Folders that hold ``course`` and ``autograder`` when they are not installed in site-packages.

    They go on the kernel's ``PYTHONPATH``, so the kernel imports exactly the
    packages the sandbox shows, however the grader found them (an editable
    install, or ``PYTHONPATH``).
    """
    prefix = Path(sys.prefix).resolve()
    roots: list[str] = []
    for name in ("course", "autograder"):
        for folder in _package_paths(name):
            if prefix not in folder.parents and str(folder.parent) not in roots:
                roots.append(str(folder.parent))
    return roots


def _not_world_readable(paths) -> list[str]:
    """As root the kernel runs as another uid: what it could not read."""
    bad = []
    for path in paths:
        probes = [path]
        if path.is_dir():
            probes += [p for p in (path / "bin", path / "lib", path / "__init__.py") if p.exists()]
        for probe in probes:
            mode = os.stat(probe).st_mode
            need = 0o005 if stat.S_ISDIR(mode) else 0o004
            if mode & need != need:
                bad.append(str(probe))
                break
    return bad


def _provisioner_registered() -> bool:
    group = importlib.metadata.entry_points(group="jupyter_client.kernel_provisioners")
    return any(ep.name == PROVISIONER_NAME for ep in group)


#: What the smoke test runs in the sandbox: it answers only if the seccomp filter refuses ``add_key``.
_SMOKE_TEST = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
name = b"gd-sandbox-probe"
number = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine)
if number is not None and (libc.syscall(number, b"user", name, b"x", 1, -3) != -1
                           or ctypes.get_errno() != errno.EPERM):
    print("the seccomp filter did not refuse add_key")
else:
    print("gd-sandbox-ok")
"""


def _smoke_test() -> str | None:
    """Start the real sandbox once with a trivial Python; the error it printed, or ``None``."""
    slot = slots.acquire()
    try:
        slots.prepare(slot, None)
        layout = Layout(slot.kernel_dir, read_only_paths(), slot.uid, slot.gid)
        try:
            seccomp_file = seccomp.program_file(slots.lock_dir())
        except seccomp.SeccompUnavailable as error:
            return str(error)
        cmd = sandbox_command([sys.executable, "-c", _SMOKE_TEST], layout,
                              Limits(max_processes=slots.process_cap(slot, Limits.max_processes)),
                              sandbox_env({}, os.path.dirname(sys.executable), import_roots()), seccomp_file)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=slot.kernel_dir,
                                  env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
        if done.returncode == 0 and "gd-sandbox-ok" in done.stdout:
            return None
        return (done.stderr or done.stdout).strip().splitlines()[-1:][0] if (done.stderr or done.stdout).strip() \
            else f"exit status {done.returncode}"
    finally:
        slot.release()


@lru_cache(maxsize=1)
def _diagnose_cached() -> tuple[str, ...]:
    return tuple(_find_problems())


def diagnose(fresh: bool = False) -> list[str]:
    """Problems that stop the sandbox from starting (empty: ready); checked once per process."""
    if fresh:
        _diagnose_cached.cache_clear()
    return list(_diagnose_cached())


def _find_problems() -> list[str]:
    if not sys.platform.startswith("linux"):
        return [f"grading in a sandbox needs Linux (this is {sys.platform}); run the grader on a "
                f"Linux machine, {NO_SANDBOX_HINT}."]
    problems = []
    if shutil.which("bwrap") is None:
        problems.append(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}, {NO_SANDBOX_HINT}.")
    for tool in ("prlimit",) + (("setpriv",) if slots.running_as_root() else ()):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` is missing: install util-linux.")
    if not _provisioner_registered():
        problems.append("the sandbox's kernel provisioner is not registered in this environment: "
                        "reinstall the course (`make setup`, or `pip install -e .`).")
    if ensure_kernelspec() is None:
        problems.append(f"the `gd-sandbox` kernelspec is missing and {sys.prefix} is read-only: "
                        "run `python -m autograder sandbox-check` once as the environment's owner.")
    if slots.running_as_root():
        unreadable = _not_world_readable(read_only_paths())
        if unreadable:
            problems.append(
                f"the sandbox's uid cannot read {unreadable[0]}: the Python environment must be "
                "readable by every user (chmod -R o+rX it, or build it under /opt, e.g. with "
                "`python -m autograder provision-env --prefix /opt/gd-five-ways`).")
    if problems:
        return problems
    error = _smoke_test()
    if error:
        hint = ""
        if "namespace" in error.lower() or "permission" in error.lower():
            hint = (" (user namespaces may be disabled: `sysctl -w kernel.unprivileged_userns_clone=1`"
                    " and `user.max_user_namespaces`, or run the grader as root)")
        problems.append(f"bubblewrap could not start a sandbox here: {error}{hint}; {NO_SANDBOX_HINT}.")
    return problems
