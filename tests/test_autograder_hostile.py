"""Hostile and broken submissions, all in one class run (one student per case) with real nbgrader.

Each must end with the student graded (zero or partial, exactly as their
variant declares), a clear note in their feedback, the well-behaved
students graded exactly as usual, the gradebook readable and the run
finished.  A separate small run covers the last line of defence: a student
who overruns the wall-clock cap is stopped and entered with zero.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.demo import catalogue, synthetic
from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo.run import write_class
from autograder.status import load as load_status

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
SOURCE_NB = nbformat.read(str(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
HOSTILE = {v.student: v for v in catalogue.hostile_variants()}
CONTROL = {v.student: v for v in catalogue.generic_variants() if v.student in ("correct", "partial")}
CLASS = {**HOSTILE, **CONTROL}
CELL_TIMEOUT = 8
MEMORY_MB = 1500
#: The wall-clock cap per student of the over-the-cap test (s).
STUDENT_CAP = 45


def _class_root(root: Path, variants) -> Course:
    assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
    course = Course(Settings.from_env(root=root))
    write_class(course, ASSIGNMENT, list(variants), root / "class.zip")
    assert main(["collect", ASSIGNMENT, str(root / "class.zip"), "--root", str(root)]) == 0
    return course


@pytest.fixture(scope="module")
def hostile_class(isolated_jupyter, tmp_path_factory):
    course = _class_root(tmp_path_factory.mktemp("hostile"), CLASS.values())
    code = main(["autograde", ASSIGNMENT, "--root", str(course.root), "--jobs", "2", "--timeout", str(CELL_TIMEOUT),
                 "--memory-mb", str(MEMORY_MB), "--no-progress"])
    assert code == 0, "every hostile case is handled inside nbgrader's run: nobody needs the fallback"
    assert main(["feedback", ASSIGNMENT, "--root", str(course.root), "--jobs", "2", "--no-progress"]) == 0
    return course


def _grades(course: Course, student: str) -> dict[str, float]:
    with course.gradebook() as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name: g.score for nb in submission.notebooks for g in nb.grades}


def _assert_graded_as_declared(course: Course, variant) -> None:
    failing = synthetic.expected_failing(variant, SOURCE_NB)
    points = synthetic.test_points(SOURCE_NB)
    assert _grades(course, variant.student) == {t: (0.0 if t in failing else p) for t, p in points.items()}


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_hostile_submission_is_graded_with_a_reason(hostile_class, student):
    variant = HOSTILE[student]
    _assert_graded_as_declared(hostile_class, variant)
    record = load_status(hostile_class, ASSIGNMENT, student)
    assert record.state == "graded"
    assert set(variant.notes) <= {n["kind"] for n in record.notes}
    html = hostile_class.feedback_file(ASSIGNMENT, student, ASSIGNMENT).read_text()
    if variant.notes:
        assert "Notes from the autograder" in html
        for note in record.notes:
            assert note["text"].split("`")[0][:40] in html


@pytest.mark.parametrize("student", sorted(CONTROL))
def test_well_behaved_students_are_graded_as_usual(hostile_class, student):
    _assert_graded_as_declared(hostile_class, CONTROL[student])
    assert load_status(hostile_class, ASSIGNMENT, student).notes == []


def test_the_gradebook_stays_readable_and_complete(hostile_class):
    with hostile_class.gradebook() as gb:
        submissions = gb.assignment_submissions(ASSIGNMENT)
        assert sorted(s.student.id for s in submissions) == sorted(CLASS)
        assert all(g.auto_score is not None for s in submissions for nb in s.notebooks for g in nb.grades)


def test_specific_reasons(hostile_class):
    notes = {s: {n["kind"]: n["text"] for n in load_status(hostile_class, ASSIGNMENT, s).notes} for s in HOSTILE}
    assert f"{MEMORY_MB} MiB" in notes["hostile-memory-hog"]["memory"]
    assert f"{CELL_TIMEOUT} s" in notes["hostile-infinite-loop"]["timeout"]
    assert "os._exit" in notes["hostile-os-exit"]["kernel-died"]
    assert "KeyboardInterrupt" in notes["hostile-unstoppable-loop"]["kernel-stuck"]
    restored = notes["hostile-monkeypatch"]["monkeypatch"]
    for name in ("numpy.allclose", "builtins.abs", "sys.modules['course.checks']"):
        assert name in restored
    assert "copied_answer" in notes["hostile-reference"]["reference"]
    assert "test-ex1-predict" in notes["hostile-deleted-test"]["restored-cells"]
    assert "test-ex1-predict" in notes["hostile-reordered-test"]["moved-cells"]
    assert "test-ex8-scale-back" in notes["hostile-edited-test"]["edited-cells"]
    # The huge output was cut well below its 5 MB.
    path = hostile_class.autograded_notebook(ASSIGNMENT, "hostile-huge-output", ASSIGNMENT)
    assert path.stat().st_size < 1_000_000
    # The sys.exit student's error is in the cell itself: IPython reports SystemExit there.
    nb = nbformat.read(str(hostile_class.autograded_notebook(ASSIGNMENT, "hostile-sys-exit", ASSIGNMENT)), 4)
    assert any(o.get("ename") == "SystemExit" for c in nb.cells for o in c.get("outputs", []))


def test_a_student_over_the_wall_clock_cap_is_stopped_and_entered_with_zero(isolated_jupyter, tmp_path, capsys):
    # The per-cell timeout is long here, so only the cap per student can stop the loop.
    course = _class_root(tmp_path, [HOSTILE["hostile-infinite-loop"], CONTROL["correct"]])
    # The cap leaves a loaded machine's correct student (15-20 s seen) plenty of room.
    code = main(["autograde", ASSIGNMENT, "--root", str(course.root), "--jobs", "2", "--timeout", "600",
                 "--student-timeout", str(STUDENT_CAP), "--no-progress"])
    assert code == 4
    assert "hostile-infinite-loop" in capsys.readouterr().err
    record = load_status(course, ASSIGNMENT, "hostile-infinite-loop")
    assert record.state == "fallback" and record.score == 0
    assert f"longer than {STUDENT_CAP} s" in record.reason
    assert _grades(course, "hostile-infinite-loop") == {t: 0.0 for t in synthetic.test_points(SOURCE_NB)}
    _assert_graded_as_declared(course, CONTROL["correct"])
    assert main(["feedback", ASSIGNMENT, "--root", str(course.root), "--no-progress"]) == 0
    html = course.feedback_file(ASSIGNMENT, "hostile-infinite-loop", ASSIGNMENT).read_text()
    assert "could not run this notebook" in html and f"longer than {STUDENT_CAP} s" in html
