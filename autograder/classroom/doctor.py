"""``doctor``: does this machine have what a class on JupyterHub needs?  Each problem with its fix."""

from __future__ import annotations

import grp
import importlib.metadata
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from .accounts import ClassError, ClassFile
from .exchange import exchange_problems


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def diagnose_class(class_file: Path, full_env_check: bool = True) -> tuple[list[str], list[str]]:
    """(facts, problems): what was found, and what is wrong with how to fix it."""
    facts: list[str] = []
    problems: list[str] = []
    for name in ("jupyterhub", "nbgrader", "jupyterlab", "jupyter_server"):
        version = _version(name)
        facts.append(f"{name} {version or 'not installed'}")
        if version is None:
            problems.append(f"{name} is not installed in this environment: `pip install -e .`")
    hub = _version("jupyterhub")
    if hub and int(hub.split(".")[0]) < 5:
        problems.append(f"jupyterhub {hub} is older than 5: deploy/jupyterhub_config.py needs 5 or 6")
    try:
        klass = ClassFile.load(class_file)
    except ClassError as error:
        return facts, problems + [str(error)]
    facts.append(f"class {klass.course_id}: instructor {klass.instructor}, {len(klass.students)} students")

    proxy = Path(klass.proxy) if klass.proxy else None
    if not (proxy and proxy.exists()) and not shutil.which("configurable-http-proxy"):
        problems.append("configurable-http-proxy is not installed: `npm install --prefix /opt/gd-five-ways/proxy "
                        "configurable-http-proxy@4` (Node.js 18 or later), then run create-class again")
    else:
        facts.append(f"proxy {proxy if proxy and proxy.exists() else shutil.which('configurable-http-proxy')}")
        node = shutil.which("node")
        if not node:
            problems.append("node is not on PATH: configurable-http-proxy needs Node.js (`apt-get install nodejs`)")

    for name in [klass.instructor, *klass.students]:
        try:
            info = pwd.getpwnam(name)
        except KeyError:
            problems.append(f"no account {name}: run `create-class` again with the roster")
            continue
        home = Path(info.pw_dir)
        if home.is_dir() and stat.S_IMODE(home.stat().st_mode) & 0o077:
            problems.append(f"{home} is mode {stat.S_IMODE(home.stat().st_mode):04o}: others can read "
                            f"{name}'s work (`chmod 700 {home}`)")
    for group, members in ((klass.students_group, klass.students), (klass.graders_group, [klass.instructor])):
        try:
            have = set(grp.getgrnam(group).gr_mem)
        except KeyError:
            problems.append(f"no group {group}: run `create-class`")
            continue
        missing = [m for m in members if m not in have]
        if missing:
            problems.append(f"not in {group}: {', '.join(missing)} (run `create-class` again)")

    problems += exchange_problems(Path(klass.exchange), klass.course_id, klass.graders_group)
    config = Path(klass.jupyter_config_dir) / "nbgrader_config.py"
    if not config.is_file():
        problems.append(f"no system-wide {config}: run `create-class`")
    else:
        text = config.read_text()
        for want in (klass.course_id, klass.exchange, "PrivateSubmit"):
            if want not in text:
                problems.append(f"{config} does not name {want}: run `create-class` again")

    root = Path(klass.course_root)
    if root.is_dir():
        mode = stat.S_IMODE(root.stat().st_mode)
        if mode & 0o077:
            problems.append(f"the course root {root} is mode {mode:04o}: students could read the source "
                            f"notebooks and the gradebook (`chmod 700 {root}`)")
        gradebook = root / "gradebook.db"
        if gradebook.exists() and stat.S_IMODE(gradebook.stat().st_mode) & 0o007:
            problems.append(f"{gradebook} is readable by others (`chmod 600 {gradebook}`)")
    elif os.access(root.parent, os.R_OK):
        problems.append(f"the course root {root} does not exist: run `create-class`")

    python = Path(klass.env) / "bin" / "python"
    if not python.exists():
        problems.append(f"no course environment at {klass.env}: `python -m autograder provision-env "
                        f"--prefix {Path(klass.env).parent}`")
    else:
        from .env_check import check_environment

        env_problems = check_environment(python, imports=None if full_env_check else ("nbgrader", "course"))
        problems += env_problems
        if not env_problems:
            facts.append(f"course environment {klass.env}: runs as an unprivileged user"
                         + ("" if full_env_check else " (imports only)"))
        if not (python.parent / "jupyterhub-singleuser").exists():
            problems.append(f"{python.parent}/jupyterhub-singleuser is missing: install jupyterhub in the "
                            "course environment (`pip install -e .`) and run provision-env again")

    try:
        from ..sandbox import diagnose
    except ImportError:
        facts.append("sandbox: not available in this version")
    else:
        sandbox = diagnose()
        if sandbox:
            problems += [f"sandbox: {p}" for p in sandbox]
        else:
            facts.append("sandbox: ready (autograde runs every kernel in bubblewrap)")
    if os.geteuid() == 0:
        done = subprocess.run(["id", "-u", "nobody"], capture_output=True)
        if done.returncode != 0:
            problems.append("there is no `nobody` account to test the environment with")
    return facts, problems


def run(class_file: Path, quick: bool = False) -> int:
    facts, problems = diagnose_class(class_file, full_env_check=not quick)
    for fact in facts:
        print(f"  ok   {fact}")
    for problem in problems:
        print(f"  FIX  {problem}")
    print(f"doctor: {'ready for a class' if not problems else f'{len(problems)} thing(s) to fix'}")
    return 0 if not problems else 2
