"""``demo``: the instructor's whole job on a throw-away class, in one command.

Release the assignments, write a class of synthetic students
(:mod:`autograder.demo.synthetic`) as an LMS-style zip, take it in with
nbgrader's ``zip_collect``, autograde in parallel, generate feedback,
export the grades and write the report - then print each student's score
next to the score their variant should get.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat

from .. import pipeline
from ..status import print_table
from ..config import Settings
from ..course_dir import Course
from .catalogue import class_variants
from .synthetic import Variant, build_student, expected_score, resolve, usable


def write_class(course: Course, assignment: str, variants: list[Variant], zip_path: Path) -> list[Variant]:
    """Write the students' notebooks into an LMS-style zip; returns the variants that fit the notebook."""
    written = []
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for notebook in course.notebook_ids(assignment):
            source_nb = nbformat.read(str(Path(course.settings.source) / assignment / f"{notebook}.ipynb"), 4)
            release_nb = nbformat.read(str(course.step_dir("release") / assignment / f"{notebook}.ipynb"), 4)
            for variant in variants:
                if not usable(variant, source_nb, release_nb):
                    print(f"demo: skipping {variant.student} for {assignment} (its edit no longer fits "
                          "the notebook)", file=sys.stderr)
                    continue
                text = build_student(source_nb, release_nb, resolve(variant, source_nb))
                archive.writestr(f"{variant.student}_{notebook}.ipynb", text)
                if variant not in written:
                    written.append(variant)
    return written


def run_demo(args, settings: Settings) -> int:
    if args.root is None:
        settings = replace(settings, root=Path(tempfile.mkdtemp(prefix="gd-demo-")))
    course = Course(settings)
    assignments = args.assignment or course.assignments()
    for name in assignments:
        course.require_assignment(name)
    print(f"demo class in {course.root}")
    pipeline.release(course, assignments)
    status = 0
    for assignment in assignments:
        variants = class_variants(assignment)
        if args.students:
            variants = variants[:args.students]
        zip_path = course.root / f"{assignment}-lms-download.zip"
        written = write_class(course, assignment, variants, zip_path)
        pipeline.collect(course, assignment, zip_path)
        results = pipeline.autograde(course, assignment, jobs=args.jobs, force=True,
                                     student_timeout=args.student_timeout, progress=not args.no_progress)
        pipeline.feedback(course, assignment, jobs=args.jobs, progress=not args.no_progress)
        print(f"\n{assignment}")
        print_table(results)
        source_nb = nbformat.read(str(Path(course.settings.source) / assignment
                                      / f"{course.notebook_ids(assignment)[0]}.ipynb"), 4)
        by_student = {r.student: r for r in results}
        wrong = [v.student for v in written if v.student in by_student
                 and abs(by_student[v.student].score - expected_score(v, source_nb)) > 1e-9]
        if wrong:
            status = 1
            print(f"  scores differ from what the variants declare: {', '.join(wrong)}", file=sys.stderr)
    grades = pipeline.export(course, course.root / "grades.csv")
    from ..report import write_report

    report = write_report(course, course.root / "report.html", assignments=assignments)
    print(f"\ngrades: {grades}\nreport: {report}\nfeedback: {course.step_dir('feedback')}")
    return status
