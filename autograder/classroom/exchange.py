"""nbgrader's exchange for a class on one machine, with the isolation nbgrader leaves out.

The steps are nbgrader's own (``release_assignment``, ``collect``,
``release_feedback`` through :class:`nbgrader.apps.NbGraderAPI`); this module
adds what its default exchange does not do (nbgrader 0.9.6, read in
``nbgrader/exchange/default/``):

* ``submit`` makes every submission world-readable (files 0644, folders 0755,
  the top folder 0777) and ``inbound/`` has no sticky bit.  A classmate who
  learns a submission's name can read and change it, and can rename it away.
  :class:`PrivateSubmit` (the students' ``ExchangeFactory.submit``, set in the
  students' ``nbgrader_config.py``, roles.py) closes the submission's folder to all but
  its owner and the graders' group (02770); :func:`secure_course_exchange` puts the
  course's exchange folder in the graders' group and gives ``inbound/`` the
  sticky bit (03733: nobody deletes or renames an entry they do not own).
* ``nbgrader submit --student bob`` is accepted from any account, and
  ``collect``'s owner check only logs a warning, then collects the folder as
  bob's.  :class:`StrictCollect` (the instructor's ``ExchangeFactory.collect``)
  leaves out every submission whose folder is not owned by the account it names.
"""

from __future__ import annotations

import copy
import grp
import os
import pwd
import stat
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit


#: modes of the course's folders in the exchange (nbgrader's, plus the sticky bit on inbound, and the
#: course's folder closed to everyone but its students' group: another course's students on the same
#: machine cannot look in)
COURSE_DIR_MODE = 0o750
OUTBOUND_MODE = 0o755
INBOUND_MODE = 0o3733  # setgid + sticky, -wx for everyone: submit without listing
FEEDBACK_MODE = 0o711


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit; then the submission's folder is closed to everyone but the graders.

    The folder is created inside ``inbound/`` (setgid, the graders' group), so it
    belongs to that group; closing its top (02770) is enough: the files inside
    keep nbgrader's modes (a student cannot give them the graders' group, and
    ``copytree`` drops the setgid bit of the folders it copies).
    """

    def copy_files(self):
        super().copy_files()
        dest = Path(self.inbound_path) / self.assignment_filename
        if not dest.is_dir():
            return
        if dest.stat().st_gid != Path(self.inbound_path).stat().st_gid:
            self.log.warning("%s is not in the exchange's group: left as nbgrader makes it (world-readable "
                             "by name); ask the instructor to run `create-class` again", dest)
            return
        os.chmod(dest, 0o2770)


#: the user name of a record whose folder belongs to someone else (never a real user name)
_FORGED = "\0not-the-owner\0"


class StrictCollect(ExchangeCollect):
    """nbgrader's collect, without the submissions whose owner is not the student they name.

    The check runs before nbgrader picks each student's latest submission, so a
    later forged one cannot hide the student's own.
    """

    def _path_to_record(self, path):
        record = super()._path_to_record(path)
        try:
            owner = pwd.getpwuid(os.stat(path).st_uid).pw_name
        except (KeyError, OSError):
            owner = None
        if owner != record["username"]:
            self.log.error("Not collected: %s claims to be from %s but belongs to %s",
                           record["filename"], record["username"], owner or "an unknown account")
            record["username"] = _FORGED + record["username"]
        return record

    def init_src(self):
        super().init_src()
        self.src_records = [r for r in self.src_records if not r["username"].startswith(_FORGED)]


def course_exchange(exchange_root: Path, course_id: str) -> Path:
    return Path(exchange_root) / course_id


def secure_course_exchange(exchange_root: Path, course_id: str, owner: str | None = None,
                           group: str | None = None, students_group: str | None = None) -> list[str]:
    """Create or repair the course's folders in the exchange; return what was changed.

    As root, ``owner`` (the instructor), ``group`` (the graders: ``inbound/``,
    ``outbound/``, ``feedback/``) and ``students_group`` (the course's folder) are
    applied; as the instructor, the modes (nbgrader's ``release_assignment``
    resets ``inbound/`` to 02733 and the course's folder to 0755 each time it
    runs: call this after it).
    """
    changed: list[str] = []
    course = course_exchange(exchange_root, course_id)
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    students_gid = grp.getgrnam(students_group).gr_gid if students_group else -1
    for path, mode in ((course, COURSE_DIR_MODE), (course / "outbound", OUTBOUND_MODE),
                       (course / "inbound", INBOUND_MODE), (course / "feedback", FEEDBACK_MODE)):
        if not path.is_dir():
            path.mkdir(parents=True)
            changed.append(f"created {path}")
        info = path.stat()
        want_gid = students_gid if path == course else gid
        if (uid != -1 and info.st_uid != uid) or (want_gid != -1 and info.st_gid != want_gid):
            os.chown(path, uid, want_gid)
            changed.append(f"{path}: owner {owner or info.st_uid}, group "
                           f"{(students_group if path == course else group) or info.st_gid}")
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
            changed.append(f"{path}: mode {mode:04o}")
    return changed


def exchange_problems(exchange_root: Path, course_id: str, group: str | None = None,
                      students_group: str | None = None) -> list[str]:
    """What is wrong with the exchange for this course (for ``doctor``)."""
    problems: list[str] = []
    root = Path(exchange_root)
    if not root.is_dir():
        return [f"the exchange root {root} does not exist: run `create-class` (or `mkdir -p {root} && "
                f"chmod 1777 {root}`)"]
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode & 0o003 != 0o003:
        problems.append(f"the exchange root {root} is mode {mode:04o}: students must be able to write it "
                        f"(`chmod 1777 {root}`)")
    course = course_exchange(root, course_id)
    if not course.is_dir():
        return problems + [f"{course} does not exist yet: run `create-class`, or `exchange-release` once"]
    expected = {course: COURSE_DIR_MODE, course / "outbound": OUTBOUND_MODE, course / "inbound": INBOUND_MODE,
                course / "feedback": FEEDBACK_MODE}
    gid = None
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            problems.append(f"the graders' group {group} does not exist: run `create-class`")
    for path, want in expected.items():
        if not path.is_dir():
            problems.append(f"{path} is missing: run `exchange-release` (or `create-class`)")
            continue
        have = stat.S_IMODE(path.stat().st_mode)
        if have != want:
            problems.append(f"{path} is mode {have:04o}, not {want:04o}: run `create-class` again "
                            f"(or `chmod {want:04o} {path}`)")
        if students_group and path == course and grp.getgrgid(path.stat().st_gid).gr_name != students_group:
            problems.append(f"{path} is not in the students' group {students_group}: they could not fetch "
                            f"(`chgrp {students_group} {path}`, or run `create-class` again)")
        if gid is not None and path.name == "inbound" and path.stat().st_gid != gid:
            problems.append(f"{path} is not in the graders' group {group}: submissions would not be "
                            f"readable by the instructor once private (`chgrp {group} {path}`)")
    return problems


def api_config(course, exchange_root: Path, course_id: str | None = None):
    """The course's nbgrader config plus the exchange (root, course id, the strict collect)."""
    config = copy.deepcopy(course.config)
    config.Exchange.root = str(exchange_root)
    if course_id:
        config.CourseDirectory.course_id = course_id
    config.ExchangeFactory.collect = "autograder.classroom.exchange.StrictCollect"
    config.ExchangeFactory.submit = "autograder.classroom.exchange.PrivateSubmit"
    return config


def _api(course, exchange_root: Path, course_id: str | None):
    from nbgrader.apps import NbGraderAPI

    return NbGraderAPI(config=api_config(course, exchange_root, course_id))


def _checked(result: dict, what: str) -> str:
    from ..course_dir import CourseError

    if not result.get("success"):
        raise CourseError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}".strip())
    return result.get("log", "")


def release(course, assignment: str, exchange_root: Path, course_id: str | None = None) -> str:
    """``nbgrader release_assignment`` (after ``generate_assignment`` when not done yet)."""
    from .. import pipeline

    if not (course.step_dir("release") / assignment).is_dir():
        pipeline.release(course, [assignment])
    log = _checked(_api(course, exchange_root, course_id).release_assignment(assignment), "release_assignment")
    secure_course_exchange(exchange_root, course_id or course.config.CourseDirectory.course_id)
    return log


def collect(course, assignment: str, exchange_root: Path, course_id: str | None = None) -> tuple[list[str], str]:
    """``nbgrader collect`` (strict); the students are added to the gradebook. Returns (students, log)."""
    course.require_assignment(assignment)
    log = _checked(_api(course, exchange_root, course_id).collect(assignment), "collect")
    students = course.submissions(assignment)
    with course.gradebook() as gb:
        for student in students:
            gb.update_or_create_student(student)
    return students, log


def release_feedback(course, assignment: str, exchange_root: Path, course_id: str | None = None,
                     student: str | None = None) -> str:
    """``nbgrader release_feedback``: the feedback HTML into the exchange, one file per submission."""
    return _checked(_api(course, exchange_root, course_id).release_feedback(assignment, student_id=student),
                    "release_feedback")
