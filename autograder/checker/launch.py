"""The command that starts the checker process, in a sandbox of its own.

The checker needs the interpreter, the Python environment, the ``course``
package and ``autograder/kernel`` + ``autograder/checker`` (read-only), and
nothing else: no network, no course root, no gradebook, no student's files, no
socket (it talks to the grader over its stdin and stdout only).  Same
bubblewrap flags as a student's kernel (:mod:`autograder.sandbox.policy`);
as root it runs as ``nobody`` with every capability dropped.

Where the grading process forks its kernels (as root), the checker is forked
by the same fork server instead (:mod:`.forked`): the same view, uid, limits
and environment, without importing the frameworks again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.sandbox.policy import (CHECKER_LIMITS, CHECKER_MAIN, CHECKER_UID, ETC_FILES, LAUNCHER_ENV,
                                      prlimit_args, sandbox_env, top_level_args)


def _read_only() -> list[Path]:
    from autograder.sandbox.readiness import read_only_paths

    here = Path(__file__).resolve().parent
    paths = list(read_only_paths())
    if not any(here == p or here.is_relative_to(p) for p in paths if p.is_dir()):
        paths.append(here)
    return paths


def checker_env() -> dict[str, str]:
    """A sandboxed checker's whole environment."""
    from autograder.sandbox.readiness import import_roots

    env = sandbox_env(dict(os.environ), os.path.dirname(sys.executable), import_roots())
    env.update(HOME="/tmp", USER="checker", LOGNAME="checker", GD_CHECKER_PROCESS="1")
    return env


def sandbox_command(python_cmd: list[str]) -> list[str]:
    from autograder.sandbox.slots import running_as_root

    cmd = ["prlimit", *prlimit_args(CHECKER_LIMITS), "--", "bwrap"]
    as_root = running_as_root()
    if as_root:
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-all", "--unshare-user", "--disable-userns"]
    cmd += ["--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", *top_level_args()]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    tmp_bytes = str(CHECKER_LIMITS.tmp_mb * 1024 * 1024)
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--size", tmp_bytes, "--tmpfs", "/tmp"]
    made: set[str] = set()
    for path in _read_only():
        for parent in list(path.parents)[::-1][1:]:
            text = str(parent)
            # Every folder above a bound path is made 0755 here: one bwrap makes on its own copies the
            # host's mode, and a checkout under a 0700 `mktemp -d` would be closed to nobody.
            if text not in made and text not in ("/usr", "/tmp") and not text.startswith("/usr/"):
                made.add(text)
                cmd += ["--perms", "0755", "--dir", text]
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--clearenv"]
    for name, value in sorted(checker_env().items()):
        cmd += ["--setenv", name, value]
    cmd += ["--chdir", "/tmp", "--"]
    if as_root:
        cmd += ["setpriv", f"--reuid={CHECKER_UID}", f"--regid={CHECKER_UID}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd + python_cmd


def checker_command(sandbox: bool) -> tuple[list[str], dict[str, str], str]:
    """``(command, environment, working directory)`` of a new checker process."""
    python_cmd = [sys.executable, "-P", "-m", CHECKER_MAIN]
    if sandbox:
        return sandbox_command(python_cmd), dict(LAUNCHER_ENV), "/"
    from autograder.sandbox.readiness import import_roots

    env = dict(os.environ)
    roots = import_roots()
    if roots:
        env["PYTHONPATH"] = os.pathsep.join(roots + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["GD_CHECKER_PROCESS"] = "1"
    return python_cmd, env, "/"
