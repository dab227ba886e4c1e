"""The instructor's command line: ``python -m autograder …`` or ``gd-autograder …``.

Every command takes ``--root DIR`` (default: ``$GD_COURSE_ROOT`` or the
repository), ``--source DIR`` (the nbgrader source notebooks, default
``notebooks/``) and ``--db-url URL`` (default: SQLite ``gradebook.db`` in the
root; ``$GD_DB_URL``).  Exit codes: 0 done, 2 something is missing or wrong
(unknown assignment, not released, unreadable CSV), 3 nothing to do (no
submissions), 4 some students could not be run by nbgrader and were
entered with zero (their feedback says why), 5 the grading sandbox cannot
start here (the message names the cause and the fix; ``--no-sandbox``
grades without it, with a warning).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import Settings
from .course_dir import EXIT_SANDBOX, EXIT_UNGRADED, Course, CourseError
from .status import print_table


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("course")
    group.add_argument("--root", type=Path, default=None,
                       help="course root (default: $GD_COURSE_ROOT or the repository)")
    group.add_argument("--source", type=Path, default=None,
                       help="nbgrader source notebooks (default: the repository's notebooks/)")
    group.add_argument("--db-url", default=None,
                       help="gradebook URL, e.g. postgresql://user@host/db (default: SQLite in the root)")
    return common


def _grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", "-j", type=int, default=1, help="students graded in parallel (processes)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell time limit in s (default 120)")
    parser.add_argument("--memory-mb", type=int, default=None,
                        help="memory cap of each student's kernel in MiB (default 6144; 0 = none)")
    parser.add_argument("--student-timeout", type=float, default=900,
                        help="wall-clock cap per student in s (default 900)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="grade WITHOUT the OS sandbox: student code runs with your own rights "
                             "(only where the sandbox cannot start; GD_SANDBOX=0 does the same)")
    parser.add_argument("--no-fork-server", action="store_true",
                        help="start every sandboxed kernel from scratch instead of forking it from a "
                             "sandboxed server that imported the assignment's frameworks once "
                             "(slower, same grades; GD_FORK=0 does the same)")
    parser.add_argument("--figures", action="store_true",
                        help="draw the notebooks' figures while grading, so the feedback shows them "
                             "(slower; no test depends on them; GD_GRADE_FIGURES=1 does the same)")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="gd-autograder", description="Release, collect, autograde, feed back and export with nbgrader.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("release", parents=[common], help="nbgrader generate_assignment (all or some)")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")

    p = commands.add_parser("students", parents=[common], help="add students from a CSV (column id)")
    p.add_argument("csv", type=Path)

    p = commands.add_parser("collect", parents=[common],
                            help="take in submissions from a folder or an LMS zip (nbgrader zip_collect)")
    p.add_argument("assignment")
    p.add_argument("path", type=Path, help="zip file, folder of <student>_<notebook>.ipynb, or folder per student")
    p.add_argument("--regexp", default=None,
                   help="zip_collect's named_regexp (groups student_id and file_id) for other file names")

    p = commands.add_parser("autograde", parents=[common], help="autograde a class, N students at a time")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", default=None, help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="grade again students already graded")
    p.add_argument("--cluster", default=os.environ.get("GD_CLUSTER") or None, metavar="ADDRESS",
                   help="grade on the workers of this Dask scheduler, e.g. tcp://host:8786 "
                        "($GD_CLUSTER; --jobs is then unused)")
    _grading_options(p)

    p = commands.add_parser("feedback", parents=[common], help="nbgrader generate_feedback (HTML per student)")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", default=None)
    p.add_argument("--jobs", "-j", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")

    p = commands.add_parser("export", parents=[common], help="grades to CSV (nbgrader's CSV export)")
    p.add_argument("--to", type=Path, default=Path("grades.csv"))
    p.add_argument("--assignment", action="append", default=None)

    p = commands.add_parser("report", parents=[common],
                            help="HTML report: score histograms, pass rate per test, frequent mistakes")
    p.add_argument("--to", type=Path, default=Path("report.html"))
    p.add_argument("--assignment", action="append", default=None)

    p = commands.add_parser("demo", parents=[common],
                            help="a throw-away class of synthetic students through the whole pipeline")
    p.add_argument("--assignment", action="append", default=None, help="only this assignment (repeatable)")
    p.add_argument("--students", type=int, default=None, help="at most K synthetic students per assignment")
    _grading_options(p)

    from .classroom import commands as classroom  # provision-env, create-class, doctor, exchange steps

    classroom.register(commands, common)
    return parser


def _settings(args) -> Settings:
    return Settings.from_args(args)


def _sandbox_ready(settings: Settings, command: str) -> bool:
    """Refuse to grade outside the sandbox unless the instructor said so; warn when they did."""
    if not settings.sandbox:
        print(f"gd-autograder {command}: WARNING: grading without the sandbox (--no-sandbox): "
              "student code runs with your rights and can read or change the gradebook, "
              "other students' work and the solutions", file=sys.stderr)
        return True
    from .sandbox import diagnose

    problems = diagnose()
    for problem in problems:
        print(f"gd-autograder {command}: the grading sandbox cannot start: {problem}", file=sys.stderr)
    return not problems


def _run(args) -> int:
    from . import pipeline
    from .classroom import commands as classroom

    if args.command in classroom.COMMANDS:
        return classroom.run(args)
    settings = _settings(args)
    course = Course(settings)
    command = args.command
    if command == "release":
        names = pipeline.release(course, args.assignments or None)
        print(f"released {', '.join(names)} into {course.step_dir('release')}")
        return 0
    if command == "students":
        added = pipeline.add_students(course, args.csv)
        print(f"{len(added)} students in the gradebook")
        return 0
    if command == "collect":
        collected = pipeline.collect(course, args.assignment, args.path, regexp=args.regexp)
        print(f"{len(collected)} submissions of {args.assignment} in {course.step_dir('submitted')}: "
              f"{', '.join(collected)}")
        return 0
    if command == "demo" and not _sandbox_ready(settings, command):
        return EXIT_SANDBOX
    if command == "autograde":
        def sandbox_check() -> None:  # while the local workers start (their imports take longer)
            if not _sandbox_ready(settings, command):
                raise CourseError("nothing was graded (fix the sandbox, or grade without it: --no-sandbox)",
                                  EXIT_SANDBOX)

        # With --cluster the kernels run on the Dask workers, which check the sandbox themselves.
        on_workers = bool(args.cluster) and settings.sandbox
        results = pipeline.autograde(course, args.assignment, students=args.student, jobs=args.jobs,
                                     force=args.force, student_timeout=args.student_timeout,
                                     progress=not args.no_progress, cluster=args.cluster,
                                     before_grading=None if on_workers else sandbox_check)
        print_table(results)
        missing = pipeline.missing_from_gradebook(course, args.assignment, args.student)
        if missing:
            print(f"NOT in the gradebook after this run: {', '.join(missing)} (their logs are in "
                  "nbgrader_work/logs/; run the same command again to grade them)", file=sys.stderr)
            return EXIT_UNGRADED
        return _report_fallbacks(results)
    if command == "feedback":
        problems = pipeline.feedback(course, args.assignment, students=args.student, jobs=args.jobs,
                                     progress=not args.no_progress)
        failed = {s: p for s, p in problems.items() if p}
        print(f"feedback for {len(problems) - len(failed)} students in {course.step_dir('feedback')}")
        for student, problem in failed.items():
            print(f"  no feedback for {student}: {problem}", file=sys.stderr)
        return EXIT_UNGRADED if failed else 0
    if command == "export":
        path = pipeline.export(course, args.to, assignments=args.assignment)
        print(f"grades written to {path}")
        return 0
    if command == "report":
        from .report import write_report

        path = write_report(course, args.to, assignments=args.assignment)
        print(f"report written to {path}")
        return 0
    if command == "demo":
        from .demo.run import run_demo

        return run_demo(args, settings)
    raise CourseError(f"unknown command {command!r}")


def _report_fallbacks(results) -> int:
    """Say who was entered with zero and why; the grader's own failures are retried by a re-run."""
    ours = [r for r in results if r.state == "fallback" and r.grader_failed]
    theirs = [r.student for r in results if r.state == "fallback" and not r.grader_failed]
    if ours:
        names = [r.student for r in ours]
        print(f"THE GRADER FAILED for {len(ours)} submission(s), entered with zero for now: {', '.join(names)}. "
              "This is not their code's doing: run the same command again and they are graded again "
              "(nbgrader_work/logs/ has the reasons).", file=sys.stderr)
        before = sorted({r.graded_after for r in ours if r.graded_after and r.graded_after not in names})
        if before:
            print(f"Each failure came right after {', '.join(before)} in the same grading process: "
                  "that kernel may have broken its grading slot (look at that submission).", file=sys.stderr)
    if theirs:
        print(f"{len(theirs)} submission(s) ran past the grading time limit, entered with zero: "
              f"{', '.join(theirs)} (see their feedback and nbgrader_work/logs/)", file=sys.stderr)
    return EXIT_UNGRADED if ours or theirs else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except CourseError as error:
        print(f"gd-autograder {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: run the same command again to grade the students that were not finished",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
