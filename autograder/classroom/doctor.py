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
from .roles import role_dir, role_problems


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
    for group, members in ((klass.students_group, klass.students),
                           (klass.graders_group, [klass.instructor, *klass.graders])):
        try:
            have = set(grp.getgrnam(group).gr_mem)
        except KeyError:
            problems.append(f"no group {group}: run `create-class`")
            continue
        missing = [m for m in members if m not in have]
        if missing:
            problems.append(f"not in {group}: {', '.join(missing)} (run `create-class` again)")

    problems += exchange_problems(Path(klass.exchange), klass.course_id, klass.graders_group, klass.students_group)
    problems += role_problems(Path(klass.jupyter_config_dir))
    if not klass.formgrader_port:
        problems.append(f"no port for the {klass.course_id} formgrader service in {class_file}: run `create-class` again")
    else:
        facts.append(f"formgrader: hub service /services/{klass.course_id}/ as {klass.instructor} on "
                     f"127.0.0.1:{klass.formgrader_port}, for {klass.graders_group}")
    config = role_dir(Path(klass.jupyter_config_dir), "students") / "nbgrader_config.py"
    if not config.is_file():
        problems.append(f"no students' nbgrader config {config}: run `create-class`")
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
        for path in (root / "gradebook.db", root / "source"):
            readers = who_can_read(path, allowed_gids={_gid(klass.graders_group)})
            if readers:
                problems.append(f"{path} can be read by {readers}: students could see grades or solutions "
                                f"(`chmod 700 {root}`)")
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

    fact, sandbox = sandbox_as(klass.instructor, python)
    problems += [f"sandbox: {p}" for p in sandbox]
    if fact:
        facts.append(fact)
    if os.geteuid() == 0:
        done = subprocess.run(["id", "-u", "nobody"], capture_output=True)
        if done.returncode != 0:
            problems.append("there is no `nobody` account to test the environment with")
    return facts, problems


def _gid(group: str) -> int | None:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def who_can_read(path: Path, allowed_gids: set[int | None] = frozenset()) -> str | None:
    """Who, besides the owner (and the groups in ``allowed_gids``), can reach and read ``path``.

    Walks the path as the kernel does: every folder above must be searchable by
    them, the file readable.  A 0644 file in a 0700 folder is nobody's business.
    None when nobody else can.
    """
    path = Path(path)
    if not path.exists():
        return None
    chain = [*reversed(path.parents), path]
    infos = [os.stat(p) for p in chain]
    need = [stat.S_IXOTH if stat.S_ISDIR(i.st_mode) and p != path else stat.S_IROTH for p, i in zip(chain, infos)]
    if all(i.st_mode & bit for i, bit in zip(infos, need)):
        return "every account"
    gid = infos[-1].st_gid
    if gid not in allowed_gids:
        # members of the file's group: group bits where the folder is in that group, others' bits elsewhere
        ok = all(i.st_mode & (bit << 3 if i.st_gid == gid else bit) for i, bit in zip(infos, need))
        if ok:
            try:
                return f"the group {grp.getgrgid(gid).gr_name}"
            except KeyError:
                return f"the group {gid}"
    return None


def sandbox_as(account: str, python: Path) -> tuple[str | None, list[str]]:
    """The sandbox's readiness checked as ``account`` (the one who runs autograde), in the course environment."""
    code = "import json; from autograder.sandbox import diagnose; print(json.dumps(diagnose()))"
    if os.geteuid() != 0:
        cmd, who = [str(python), "-c", code], "this account"
    else:
        try:
            info = pwd.getpwnam(account)
        except KeyError:
            return None, [f"no account {account} to check the sandbox as"]
        cmd = ["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--init-groups", "--",
               str(python), "-c", code]
        who = account
    if not python.exists():
        return None, []  # said above: no course environment
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": pwd.getpwnam(account).pw_dir if os.geteuid() == 0
           else os.environ.get("HOME", "/"), "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, [f"checking it as {who} took over 120 s"]
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        return None, [f"could not be checked as {who} ({tail})"]
    import json

    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found:
        return None, [f"(as {who}) {p}" for p in found]
    return f"sandbox: ready as {who} (autograde runs every kernel in bubblewrap)", []


def run(class_file: Path, quick: bool = False) -> int:
    facts, problems = diagnose_class(class_file, full_env_check=not quick)
    for fact in facts:
        print(f"  ok   {fact}")
    for problem in problems:
        print(f"  FIX  {problem}")
    print(f"doctor: {'ready for a class' if not problems else f'{len(problems)} thing(s) to fix'}")
    return 0 if not problems else 2
