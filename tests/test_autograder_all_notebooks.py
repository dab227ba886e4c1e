"""Every assignment of the course through release and a parallel autograde: the solution gets
full marks with no notes (no framework noise on stderr, no false monkeypatch report after
PyTorch or TensorFlow imports), and a named mistake in the PyTorch and GradientTape
notebooks is graded and named."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.demo import synthetic
from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo.run import write_class
from autograder.status import load as load_status

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
COURSE = Course(Settings(root=REPO))
ASSIGNMENTS = COURSE.assignments()
#: Besides the solution, one named mistake where the notebook uses a framework's autograd.
WITH_MISTAKE = ("02_torch_manual", "05_gradient_tape")


def _students(assignment: str) -> list[synthetic.Variant]:
    variants = synthetic.class_variants(assignment)
    chosen = [v for v in variants if v.student == "correct"]
    if assignment in WITH_MISTAKE:
        chosen += [v for v in variants if v.mistakes][:1]
    return chosen


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory, isolated_jupyter):
    root = tmp_path_factory.mktemp("course")
    # Two course roots graded side by side: most assignments have one or two students, so a
    # single root would leave one of the two workers idle.
    halves = [ASSIGNMENTS[0::2], ASSIGNMENTS[1::2]]
    courses = []
    for number, names in enumerate(halves):
        half_root = root / f"half{number}"
        assert main(["release", *names, "--root", str(half_root)]) == 0
        course = Course(Settings.from_env(root=half_root))
        for assignment in names:
            written = write_class(course, assignment, _students(assignment), half_root / f"{assignment}.zip")
            assert [v.student for v in written] == [v.student for v in _students(assignment)]
            assert main(["collect", assignment, str(half_root / f"{assignment}.zip"),
                         "--root", str(half_root)]) == 0
        courses.append(course)

    def grade(names, course):
        return [main(["autograde", a, "--root", str(course.root), "--no-progress"]) for a in names]

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(pool.map(grade, halves, courses))
    assert codes == [[0] * len(names) for names in halves]
    yield {a: course for names, course in zip(halves, courses) for a in names}


def test_all_six_assignments_are_there():
    assert len(ASSIGNMENTS) == 6


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_assignment_grades_its_students_as_declared(graded_course, assignment):
    source = nbformat.read(str(REPO / "notebooks" / assignment / f"{assignment}.ipynb"), 4)
    for variant in _students(assignment):
        record = load_status(graded_course[assignment], assignment, variant.student)
        assert record.state == "graded"
        assert record.score == synthetic.expected_score(variant, source), variant.student
        assert record.notes == [], f"{assignment}/{variant.student}: {record.notes}"
        assert set(variant.mistakes) <= set(record.mistakes)
    correct = load_status(graded_course[assignment], assignment, "correct")
    assert correct.score == correct.max_score == sum(synthetic.test_points(source).values())
