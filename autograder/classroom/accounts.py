"""Create a class on one machine: accounts, groups, the exchange, nbgrader's config, the hub's list.

Run as root (``useradd``, ``chown``).  Everything it makes is described in a
*class file* (JSON, default ``/etc/gd-five-ways/class.json``) that
``deploy/jupyterhub_config.py``, ``doctor`` and the exchange commands read:

* one Linux account per roster row (``useradd --create-home``, home 0700: a
  classmate cannot read another's work), in the group ``<course>-students``;
  the instructor and the TAs (``--graders``) in ``<course>-graders``; existing
  accounts are kept;
* the exchange root (1777) and the course's folders in it
  (:func:`autograder.classroom.exchange.secure_course_exchange`: the course's
  folder is open to its own students only);
* each role's Jupyter config (:mod:`autograder.classroom.roles`) in
  ``--jupyter-config-dir`` (default ``/etc/gd-five-ways/<course>``): the
  students' ``nbgrader_config.py`` (course id, exchange root, the private submit
  and strict collect) and the lab extensions each role sees;
* the instructor's course root (0700, in their home) with the source notebooks
  and its ``nbgrader_config.py``; the hub runs the course's formgrader there,
  as the instructor, for the graders' group.

Running it again with the same roster changes nothing; with a longer roster it
adds the new students.  A second course on the same hub: another run with its own
``--course-id``, ``--exchange`` and ``--class-file`` in the same folder (the hub
reads every ``*.json`` class file there).
"""

from __future__ import annotations

import contextlib
import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import COURSE_ID, DEFAULT_SOURCE, REPO_ROOT
from . import roles
from .exchange import secure_course_exchange
from .locations import DEFAULT_CLASS_FILE, DEFAULT_EXCHANGE, DEFAULT_PREFIX

DEPLOY_DIR = REPO_ROOT / "deploy"
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class ClassError(RuntimeError):
    pass


@dataclass
class ClassFile:
    course_id: str = COURSE_ID
    instructor: str = "instructor"
    students: list[str] = field(default_factory=list)
    graders: list[str] = field(default_factory=list)  # TAs: grade through the formgrader service
    students_group: str = f"{COURSE_ID}-students"
    graders_group: str = f"{COURSE_ID}-graders"
    exchange: str = str(DEFAULT_EXCHANGE)
    course_root: str = ""
    jupyter_config_dir: str = ""  # the course's role folders (roles.py); default /etc/gd-five-ways/<course>
    formgrader_port: int = 0  # where the course's formgrader service listens (127.0.0.1)
    env: str = str(DEFAULT_PREFIX / "venv")
    proxy: str = str(DEFAULT_PREFIX / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")
    hub_state: str = "/srv/gd-five-ways-hub"

    @classmethod
    def load(cls, path: Path) -> "ClassFile":
        try:
            data = json.loads(Path(path).read_text())
        except OSError as error:
            raise ClassError(f"no class file {path}: run `python -m autograder create-class` first ({error})")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.chmod(path, 0o644)


def read_roster(path: Path) -> list[str]:
    """Student ids (column ``id``, nbgrader's own roster format) checked as Linux user names."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "id" not in rows[0]:
        raise ClassError(f"{path}: a CSV with a column `id` (one student per row) was expected")
    ids = [row["id"].strip() for row in rows if row.get("id", "").strip()]
    bad = [i for i in ids if not NAME_RE.match(i)]
    if bad:
        raise ClassError(f"{path}: not usable as Linux account names (lower case, digits, _ and -, at most "
                         f"32, starting with a letter): {', '.join(bad)}")
    return ids


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def ensure_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return False
    except KeyError:
        _run(["groupadd", name])
        return True


def ensure_account(name: str, group: str) -> bool:
    """Create ``name`` (home 0700, bash) if missing; add it to ``group``. True if created."""
    try:
        pwd.getpwnam(name)
        created = False
    except KeyError:
        _run(["useradd", "--create-home", "--key", "HOME_MODE=0700", "--shell", "/bin/bash", name])
        created = True
    if name not in grp.getgrnam(group).gr_mem:
        _run(["usermod", "--append", "--groups", group, name])
    home = Path(pwd.getpwnam(name).pw_dir)
    if home.is_dir() and home.stat().st_mode & 0o077:
        os.chmod(home, 0o700)
    return created


def set_passwords(names: list[str], out: Path) -> None:
    """Random passwords (for the hub's PAM login), written to ``out`` (0600) for the instructor."""
    lines = {name: secrets.token_urlsafe(12) for name in names}
    _run(["chpasswd"], input="".join(f"{n}:{p}\n" for n, p in lines.items()))
    out = Path(out)
    out.touch(mode=0o600, exist_ok=True)
    os.chmod(out, 0o600)
    with open(out, "a") as fh:
        for name, password in lines.items():
            fh.write(f"{name},{password}\n")


def render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise ClassError(f"{template}: placeholders left: {re.findall(r'{{[^}]*}}', text)}")
    return text


def write_role_configs(klass: ClassFile) -> Path:
    """Each role's Jupyter config; the students' and graders' nbgrader config (course id, exchange)."""
    text = render(DEPLOY_DIR / "nbgrader_config.system.py", {"course_id": klass.course_id, "exchange": klass.exchange})
    roles.write_role_configs(Path(klass.jupyter_config_dir), klass.course_root,
                             {"students": text, "graders": text})
    return roles.role_dir(Path(klass.jupyter_config_dir), "students") / "nbgrader_config.py"


def free_port(taken: set[int], start: int = 9990) -> int:
    """A port for a formgrader service: not another course's, nothing listening on it now."""
    import socket

    port = start
    while True:
        if port not in taken:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    return port
        port += 1


def other_courses(class_file: Path) -> list[ClassFile]:
    """The other courses on this hub: the class files beside ``class_file``."""
    folder = Path(class_file).parent
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.resolve() != Path(class_file).resolve():
            with contextlib.suppress(ClassError, TypeError, ValueError):
                found.append(ClassFile.load(path))
    return found


def read_names(text: str | None, what: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise ClassError(f"{what}: not usable as Linux account names: {', '.join(bad)}")
    return names


def prepare_course_root(klass: ClassFile, source: Path = DEFAULT_SOURCE) -> Path:
    """The instructor's course root (0700): the source notebooks and its nbgrader config."""
    info = pwd.getpwnam(klass.instructor)
    root = Path(klass.course_root)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "source").exists():
        shutil.copytree(source, root / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = root / "nbgrader_config.py"
    if not config.exists():
        config.write_text(render(DEPLOY_DIR / "nbgrader_config.instructor.py",
                                 {"course_id": klass.course_id, "exchange": klass.exchange,
                                  "root": str(root), "source": str(root / "source")}))
    _run(["chown", "-R", f"{info.pw_uid}:{info.pw_gid}", str(root)])
    os.chmod(root, 0o700)
    return root


def create_class(roster: Path, instructor: str, *, class_file: Path = DEFAULT_CLASS_FILE,
                 course_id: str = COURSE_ID, exchange: Path = DEFAULT_EXCHANGE,
                 jupyter_config_dir: Path | None = None, course_root: Path | None = None,
                 env: Path | None = None, proxy: Path | None = None, hub_state: Path | None = None,
                 passwords: Path | None = None, source: Path = DEFAULT_SOURCE, graders: str | None = None,
                 formgrader_port: int | None = None, log=print) -> ClassFile:
    if os.geteuid() != 0:
        raise ClassError("create-class makes Linux accounts and groups: run it as root (sudo)")
    students = read_roster(roster)
    tas = read_names(graders, "--graders")
    if not NAME_RE.match(instructor) or not NAME_RE.match(course_id):
        raise ClassError(f"{instructor!r} / {course_id!r}: not usable as a Linux account / group name")
    for name in [instructor, *tas]:
        if name in students:
            raise ClassError(f"the grader {name} is also on the roster")
    others = other_courses(class_file)
    for other in others:
        if other.course_id == course_id:
            raise ClassError(f"{course_id} already has a class file in {class_file.parent} other than {class_file}")
        if Path(other.exchange) == Path(exchange):
            raise ClassError(f"the exchange {exchange} is {other.course_id}'s: give this course its own (--exchange)")
        both = set(other.students) & set(students)
        if both:
            raise ClassError(f"already students of {other.course_id}: {', '.join(sorted(both))} (one course per "
                             "student on a hub: nbgrader's config names one course and one exchange)")
    klass = ClassFile(course_id=course_id, instructor=instructor, students=students, graders=tas,
                      students_group=f"{course_id}-students", graders_group=f"{course_id}-graders",
                      exchange=str(exchange),
                      jupyter_config_dir=str(jupyter_config_dir or Path("/etc/gd-five-ways") / course_id))
    if class_file.exists():  # keep students and graders added earlier, and chosen paths
        old = ClassFile.load(class_file)
        klass.students = old.students + [s for s in students if s not in old.students]
        klass.graders = old.graders + [g for g in tas if g not in old.graders]
        klass.formgrader_port = old.formgrader_port
    klass.formgrader_port = formgrader_port or klass.formgrader_port or free_port(
        {o.formgrader_port for o in others})
    for group in (klass.students_group, klass.graders_group):
        if ensure_group(group):
            log(f"group {group} created")
    new_accounts = []
    for grader in [instructor, *klass.graders]:
        if ensure_account(grader, klass.graders_group):
            new_accounts.append(grader)
    for student in students:
        if ensure_account(student, klass.students_group):
            new_accounts.append(student)
    log(f"accounts: {len(new_accounts)} created ({', '.join(new_accounts) or 'none'}), "
        f"{len(students) + 1 + len(klass.graders) - len(new_accounts)} already there")
    if passwords and new_accounts:
        set_passwords(new_accounts, passwords)
        log(f"passwords of the new accounts in {passwords} (mode 0600): hand them out, then delete the file")
    home = Path(pwd.getpwnam(instructor).pw_dir)
    klass.course_root = str(course_root or home / course_id)
    klass.env = str(env or DEFAULT_PREFIX / "venv")
    klass.proxy = str(proxy or shutil.which("configurable-http-proxy") or klass.proxy)
    klass.hub_state = str(hub_state or klass.hub_state)

    exchange = Path(exchange)
    exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(exchange, 0o1777)
    for change in secure_course_exchange(exchange, course_id, owner=instructor, group=klass.graders_group,
                                         students_group=klass.students_group):
        log(f"exchange: {change}")
    log(f"instructor's course root: {prepare_course_root(klass, source)}")
    log(f"students' nbgrader config: {write_role_configs(klass)} (and each role's lab extensions beside it)")
    log(f"formgrader: a hub service /services/{course_id}/ as {instructor} on 127.0.0.1:{klass.formgrader_port}, "
        f"for the group {klass.graders_group} ({', '.join([instructor, *klass.graders])})")
    state = Path(klass.hub_state)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    klass.save(class_file)
    log(f"class file: {class_file}")
    return klass
