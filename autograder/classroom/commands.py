"""The class commands of ``python -m autograder`` (a JupyterHub class, nbgrader's exchange).

``provision-env``     the course environment where every account can run it (provision.py)
``create-class``      accounts from the roster, groups, the exchange, nbgrader's config (accounts.py, as root)
``doctor``            what a class needs, checked, with what to fix (doctor.py)
``exchange-release``  nbgrader release_assignment (students fetch it in the Assignments tab)
``exchange-collect``  nbgrader collect (only submissions owned by the student they name)
``release-feedback``  nbgrader release_feedback (students fetch it in the Assignments tab)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("provision-env", "create-class", "doctor", "exchange-release", "exchange-collect", "release-feedback")


def _class_file_option(p: argparse.ArgumentParser) -> None:
    from .locations import DEFAULT_CLASS_FILE

    p.add_argument("--class-file", type=Path, default=DEFAULT_CLASS_FILE,
                   help=f"the class's description (default $GD_CLASS_FILE or {DEFAULT_CLASS_FILE})")


def register(commands, common: argparse.ArgumentParser) -> None:
    """Add the class commands to the CLI's sub-parsers."""
    from . import provision
    from .locations import DEFAULT_EXCHANGE

    p = commands.add_parser("provision-env", help="the course environment, readable and runnable by every account")
    provision.add_arguments(p)

    p = commands.add_parser("create-class", help="as root: accounts from a roster CSV, groups, exchange, configs")
    p.add_argument("roster", type=Path, help="CSV with a column id (the students' account names)")
    p.add_argument("--instructor", required=True, help="the instructor's account (created if missing)")
    p.add_argument("--course-id", default=None, help="nbgrader course id (default gd-five-ways)")
    p.add_argument("--exchange", type=Path, default=DEFAULT_EXCHANGE, help=f"exchange root (default {DEFAULT_EXCHANGE})")
    p.add_argument("--graders", default=None, metavar="A,B",
                   help="TAs' accounts (created if missing): they grade through the course's formgrader service")
    p.add_argument("--jupyter-config-dir", type=Path, default=None,
                   help="each role's Jupyter config (students' nbgrader_config.py, lab extensions) "
                        "(default /etc/gd-five-ways/COURSE_ID)")
    p.add_argument("--formgrader-port", type=int, default=None,
                   help="127.0.0.1 port of the course's formgrader service (default: a free one from 9990)")
    p.add_argument("--course-root", type=Path, default=None, help="default: ~INSTRUCTOR/COURSE_ID")
    p.add_argument("--env", type=Path, default=None, help="the provisioned environment (default /opt/gd-five-ways/venv)")
    p.add_argument("--proxy", type=Path, default=None, help="configurable-http-proxy (default: on PATH)")
    p.add_argument("--hub-state", type=Path, default=None, help="the hub's database and secret (root only)")
    p.add_argument("--passwords", type=Path, default=None,
                   help="set random passwords for new accounts and write them to this file (0600)")
    _class_file_option(p)

    p = commands.add_parser("doctor", help="check what a class on JupyterHub needs and say what to fix")
    p.add_argument("--quick", action="store_true", help="import check only (skips the extension listing)")
    _class_file_option(p)

    for name, text in (("exchange-release", "nbgrader release_assignment into the exchange"),
                       ("exchange-collect", "nbgrader collect from the exchange (owner-checked)"),
                       ("release-feedback", "nbgrader release_feedback into the exchange")):
        p = commands.add_parser(name, parents=[common], help=text)
        p.add_argument("assignment")
        _class_file_option(p)
        p.add_argument("--exchange", type=Path, default=None, help="exchange root (default: the class file's)")
        if name == "release-feedback":
            p.add_argument("--student", default=None, help="only this student")


def _exchange_of(args):
    from .accounts import ClassError, ClassFile
    from .locations import DEFAULT_EXCHANGE

    try:
        klass = ClassFile.load(args.class_file)
        return Path(args.exchange or klass.exchange), klass.course_id
    except ClassError:
        return Path(args.exchange or DEFAULT_EXCHANGE), None


def run(args) -> int:
    command = args.command
    if command == "provision-env":
        from . import provision

        return provision.run_command(args)
    if command == "create-class":
        from ..config import COURSE_ID
        from .accounts import ClassError, create_class

        try:
            klass = create_class(args.roster, args.instructor, class_file=args.class_file,
                                 course_id=args.course_id or COURSE_ID, exchange=args.exchange,
                                 jupyter_config_dir=args.jupyter_config_dir, course_root=args.course_root,
                                 env=args.env, proxy=args.proxy, hub_state=args.hub_state,
                                 passwords=args.passwords, graders=args.graders,
                                 formgrader_port=args.formgrader_port, log=lambda m: print(f"create-class: {m}"))
        except (ClassError, OSError) as error:
            print(f"create-class: {error}", file=sys.stderr)
            return 2
        print(f"create-class: {klass.course_id} ready; next: `python -m autograder doctor`, then start the hub "
              f"(`systemctl restart gd-five-ways-hub`, or `jupyterhub -f deploy/jupyterhub_config.py`)")
        return 0
    if command == "doctor":
        from . import doctor

        return doctor.run(args.class_file, quick=args.quick)

    from ..config import Settings
    from ..course_dir import Course
    from . import exchange

    course = Course(Settings.from_args(args))
    root, course_id = _exchange_of(args)
    if command == "exchange-release":
        exchange.release(course, args.assignment, root, course_id)
        print(f"released {args.assignment} to {exchange.course_exchange(root, course_id or course.config.CourseDirectory.course_id)}/outbound")
        return 0
    if command == "exchange-collect":
        students, log = exchange.collect(course, args.assignment, root, course_id)
        rejected = [line for line in log.splitlines() if "Not collected" in line]
        for line in rejected:
            print(line, file=sys.stderr)
        print(f"{len(students)} submissions of {args.assignment} in {course.step_dir('submitted')}: "
              f"{', '.join(students)}")
        return 0
    if command == "release-feedback":
        exchange.release_feedback(course, args.assignment, root, course_id, args.student)
        print(f"feedback on {args.assignment} released to the exchange; students fetch it in the Assignments tab")
        return 0
    raise ValueError(f"not a class command: {command!r}")
