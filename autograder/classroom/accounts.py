"""Create a class on one machine: accounts, groups, the exchange, nbgrader's config, the hub's list.

Run as root (``useradd``, ``chown``).  Everything it makes is described in a
*class file* (JSON, default ``/etc/gd-five-ways/class.json``) that
``deploy/jupyterhub_config.py``, ``doctor`` and the exchange commands read:

* one Linux account per roster row (``useradd --create-home``, home 0700: a
  classmate cannot read another's work), in the group ``<course>-students``;
  the instructor in ``<course>-graders``; existing accounts are kept;
* the exchange root (1777) and the course's folders in it
  (:func:`autograder.classroom.exchange.secure_course_exchange`);
* the system-wide ``nbgrader_config.py`` (course id, exchange root, the private
  submit and strict collect) in ``--jupyter-config-dir`` (default ``/etc/jupyter``);
* the instructor's course root (0700, in their home) with the source notebooks
  and its ``nbgrader_config.py``.

Running it again with the same roster changes nothing; with a longer roster it
adds the new students.
"""

from __future__ import annotations

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
    students_group: str = f"{COURSE_ID}-students"
    graders_group: str = f"{COURSE_ID}-graders"
    exchange: str = str(DEFAULT_EXCHANGE)
    course_root: str = ""
    jupyter_config_dir: str = "/etc/jupyter"
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


def write_system_config(klass: ClassFile) -> Path:
    """The students' (system-wide) nbgrader config: course id, exchange, private submit."""
    folder = Path(klass.jupyter_config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    path = folder / "nbgrader_config.py"
    path.write_text(render(DEPLOY_DIR / "nbgrader_config.system.py",
                           {"course_id": klass.course_id, "exchange": klass.exchange}))
    os.chmod(path, 0o644)
    return path


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
                 jupyter_config_dir: Path = Path("/etc/jupyter"), course_root: Path | None = None,
                 env: Path | None = None, proxy: Path | None = None, hub_state: Path | None = None,
                 passwords: Path | None = None, source: Path = DEFAULT_SOURCE, log=print) -> ClassFile:
    if os.geteuid() != 0:
        raise ClassError("create-class makes Linux accounts and groups: run it as root (sudo)")
    students = read_roster(roster)
    if not NAME_RE.match(instructor):
        raise ClassError(f"{instructor!r} is not usable as a Linux account name")
    if instructor in students:
        raise ClassError(f"the instructor {instructor} is also on the roster")
    klass = ClassFile(course_id=course_id, instructor=instructor, students=students,
                      students_group=f"{course_id}-students", graders_group=f"{course_id}-graders",
                      exchange=str(exchange), jupyter_config_dir=str(jupyter_config_dir))
    if class_file.exists():  # keep students added earlier, and chosen paths
        old = ClassFile.load(class_file)
        klass.students = old.students + [s for s in students if s not in old.students]
    for group in (klass.students_group, klass.graders_group):
        if ensure_group(group):
            log(f"group {group} created")
    new_accounts = []
    if ensure_account(instructor, klass.graders_group):
        new_accounts.append(instructor)
    for student in students:
        if ensure_account(student, klass.students_group):
            new_accounts.append(student)
    log(f"accounts: {len(new_accounts)} created ({', '.join(new_accounts) or 'none'}), "
        f"{len(students) + 1 - len(new_accounts)} already there")
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
    for change in secure_course_exchange(exchange, course_id, owner=instructor, group=klass.graders_group):
        log(f"exchange: {change}")
    log(f"system-wide nbgrader config: {write_system_config(klass)}")
    log(f"instructor's course root: {prepare_course_root(klass, source)}")
    state = Path(klass.hub_state)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    klass.save(class_file)
    log(f"class file: {class_file}")
    return klass
