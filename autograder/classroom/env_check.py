"""Does the course environment work for an ordinary account?  Imports, JupyterLab and server
extensions, run as ``nobody`` (``setpriv``) when this process is root."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

NOBODY = 65534

#: what ``check_environment`` imports as the unprivileged user
CHECK_IMPORTS = ("course", "autograder", "nbgrader", "jupyterlab", "ipywidgets", "torch", "tensorflow")
#: JupyterLab extensions and Jupyter server extensions students need
LAB_EXTENSIONS = ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager")
SERVER_EXTENSIONS = ("nbgrader.server_extensions.assignment_list",
                     "nbgrader.server_extensions.validate_assignment",
                     "nbgrader.server_extensions.course_list")


def as_user_command(uid: int | None = None, gid: int | None = None) -> list[str]:
    """The prefix that runs a command as an unprivileged account (empty unless root)."""
    if os.geteuid() != 0:
        return []
    uid = NOBODY if uid is None else uid
    gid = uid if gid is None else gid
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def check_environment(python: Path, uid: int | None = None, imports: tuple[str, ...] | None = None) -> list[str]:
    """What is wrong with ``python`` for an unprivileged account (empty: nothing).

    ``imports`` given: only those modules are imported (no extension listing).
    """
    python = Path(python)
    problems: list[str] = []
    if not python.exists():
        return [f"{python} does not exist: run `python -m autograder provision-env`"]
    bindir = python.parent
    with tempfile.TemporaryDirectory(prefix="gd-provision-check-") as home:
        os.chmod(home, 0o1777)
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
               "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
               "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "IPYTHONDIR": f"{home}/.ipython",
               "MPLCONFIGDIR": f"{home}/mpl", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1"}
        runner = as_user_command(uid)
        who = "nobody" if runner and uid is None else (f"uid {uid}" if runner else "this account")

        def run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
            return subprocess.run(runner + args, env=env, cwd=home, capture_output=True, text=True,
                                  timeout=timeout)

        code = ("import importlib, sys\n"
                f"for name in {tuple(imports or CHECK_IMPORTS)!r}:\n"
                "    importlib.import_module(name)\n"
                "print(sys.prefix)\n")
        done = run([str(python), "-c", code])
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            problems.append(f"as {who}, `{python} -c 'import {', '.join(imports or CHECK_IMPORTS)}'` failed: "
                            + " | ".join(tail))
            return problems
        if imports is not None:
            return problems
        # as modules of this python, not bin/ scripts: a version being built names where it will live
        done = run([str(python), "-m", "jupyterlab.labextensions", "list"], timeout=120)
        listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        for name in LAB_EXTENSIONS:
            if not re.search(rf"{re.escape(name)} v\S+ enabled OK", listing):
                problems.append(f"as {who}, JupyterLab extension {name} is not enabled "
                                f"(`jupyter labextension list`)")
        done = run([str(python), "-m", "jupyter_server.extension.serverextension", "list"], timeout=120)
        listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        for name in SERVER_EXTENSIONS:
            if not re.search(rf"^\s*{re.escape(name)} enabled", listing, re.M):
                problems.append(f"as {who}, server extension {name} is not enabled "
                                f"(`jupyter server extension list`)")
    return problems
