"""End to end with real nbgrader on notebook 01: release, collect an LMS zip of synthetic
students, autograde in parallel and serially, feedback, export, report, nbgrader's own
commands, exit codes, idempotent re-runs and resuming after ``kill -9``."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
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
CLASS = catalogue.class_variants(ASSIGNMENT)
BY_NAME = {v.student: v for v in CLASS}


def _course(root: Path) -> Course:
    return Course(Settings.from_env(root=root))


def _grades(course: Course) -> dict[str, dict[str, float]]:
    """student -> {test cell: score}, straight from the gradebook."""
    with course.gradebook() as gb:
        return {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                for sub in gb.assignment_submissions(ASSIGNMENT)}


@pytest.fixture(scope="module")
def graded(isolated_jupyter, tmp_path_factory):
    """A class of 01's synthetic students, collected from a zip and autograded with --jobs 2."""
    root = tmp_path_factory.mktemp("course")
    assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
    course = _course(root)
    archive = root / "lms.zip"
    written = write_class(course, ASSIGNMENT, CLASS, archive)
    assert [v.student for v in written] == [v.student for v in CLASS]
    assert main(["collect", ASSIGNMENT, str(archive), "--root", str(root)]) == 0
    assert course.submissions(ASSIGNMENT) == sorted(BY_NAME)
    code = main(["autograde", ASSIGNMENT, "--root", str(root), "--jobs", "2", "--timeout", "60", "--no-progress"])
    assert code == 0
    assert main(["feedback", ASSIGNMENT, "--root", str(root), "--jobs", "2", "--no-progress"]) == 0
    return course


@pytest.mark.parametrize("student", sorted(BY_NAME))
def test_each_student_gets_the_score_their_variant_declares(graded, student):
    variant = BY_NAME[student]
    failing = synthetic.expected_failing(variant, SOURCE_NB)
    grades = _grades(graded)[student]
    points = synthetic.test_points(SOURCE_NB)
    assert {test: grades[test] for test in points} == \
        {test: (0.0 if test in failing else top) for test, top in points.items()}
    record = load_status(graded, ASSIGNMENT, student)
    assert record.state == "graded"
    assert record.score == synthetic.expected_score(variant, SOURCE_NB)
    assert {n["kind"] for n in record.notes} == set(variant.notes)


@pytest.mark.parametrize("student", sorted(s for s, v in BY_NAME.items() if v.mistakes))
def test_named_mistakes_reach_the_feedback(graded, student):
    variant = BY_NAME[student]
    record = load_status(graded, ASSIGNMENT, student)
    assert set(variant.mistakes) <= set(record.mistakes)
    html = graded.feedback_file(ASSIGNMENT, student, ASSIGNMENT).read_text()
    from course.mistakes import MISTAKES

    for mistake in variant.mistakes:
        # The student reads the mistake's title and fix; its id is for the report only.
        assert MISTAKES[mistake].title in html.replace("&#39;", "'")
    assert "This matches a known mistake" in html
    assert "[mistake:" not in html


def _page_text(html: str) -> str:
    """What the page shows as text: tags gone (syntax highlighting splits code across <span>s),
    entities decoded, scripts and styles left out, runs of whitespace as one space."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style") and self.skip > 0

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def _test_cell_lines(hidden: bool) -> list[str]:
    """The code lines of the source notebook's test cells, inside (or outside) the hidden blocks."""
    from autograder.student_feedback.preprocessors import BEGIN, END

    lines = []
    for cell in SOURCE_NB.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution")) or BEGIN not in cell.source:
            continue
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif line.strip() and inside == hidden:
                lines.append(" ".join(line.split()))
    return lines


def test_feedback_hides_the_hidden_tests_and_ships_mathjax(graded):
    from autograder.student_feedback.preprocessors import BEGIN

    hidden, visible = _test_cell_lines(hidden=True), _test_cell_lines(hidden=False)
    assert len(hidden) >= 6 and any("seed=12)" in line for line in hidden)
    for student in ("correct", "mistake-sum-mse"):
        html = graded.feedback_file(ASSIGNMENT, student, ASSIGNMENT).read_text()
        text = _page_text(html)
        # The reading works: the visible lines of the test cells are on the page, highlighting and all.
        assert [line for line in visible if line not in text] == []
        assert BEGIN not in text and [line for line in hidden if line in text] == []
        assert "hidden check" in text
        assert "cdnjs" not in html and "window.MathJax" in html
        assert str(graded.root) not in html and str(REPO) not in html


def test_feedback_explains_an_unreadable_file_and_hides_the_guard(graded):
    html = graded.feedback_file(ASSIGNMENT, "broken-json", ASSIGNMENT).read_text()
    assert "Notes from the autograder" in html and "could not be read" in html
    correct = graded.feedback_file(ASSIGNMENT, "correct", ASSIGNMENT).read_text()
    assert "Notes from the autograder" not in correct
    assert "_gd_guard" not in correct  # the hidden guard cells are gone from what students see


def test_serial_grading_gives_the_same_grades(graded):
    before = _grades(graded)
    some = ["partial", "mistake-sign-flip", "broken-json"]
    args = ["autograde", ASSIGNMENT, "--root", str(graded.root), "--jobs", "1", "--force", "--no-progress"]
    for student in some:
        args += ["--student", student]
    assert main(args) == 0
    after = _grades(graded)
    changed = sorted(s for s in before if after.get(s) != before[s])
    details = {s: (before[s], after.get(s), load_status(graded, ASSIGNMENT, s).notes,
                   (graded.settings.work_dir / "logs" / ASSIGNMENT / f"{s}.log").read_text()[-3000:])
               for s in changed}
    assert after == before, details


def test_a_second_run_skips_everyone_and_changes_nothing(graded, capsys):
    before = _grades(graded)
    assert main(["autograde", ASSIGNMENT, "--root", str(graded.root), "--jobs", "2", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert table.count("skipped") == len(BY_NAME)
    assert _grades(graded) == before
    with graded.gradebook() as gb:
        assert len(gb.assignment_submissions(ASSIGNMENT)) == len(BY_NAME)


def test_a_changed_submission_is_graded_again(graded):
    course = graded
    target = course.submitted_notebook(ASSIGNMENT, "blank", ASSIGNMENT)
    original = target.read_text()
    release = nbformat.read(str(course.step_dir("release") / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
    target.write_text(synthetic.build_student(SOURCE_NB, release, BY_NAME["correct"]))
    try:
        assert main(["autograde", ASSIGNMENT, "--root", str(course.root), "--no-progress"]) == 0
        assert load_status(course, ASSIGNMENT, "blank").score == synthetic.expected_score(BY_NAME["correct"], SOURCE_NB)
        assert load_status(course, ASSIGNMENT, "correct").state == "graded"  # untouched record
    finally:
        target.write_text(original)
        assert main(["autograde", ASSIGNMENT, "--root", str(course.root), "--student", "blank",
                     "--no-progress"]) == 0
    assert load_status(course, ASSIGNMENT, "blank").score == 0


def test_export_writes_every_students_score(graded, tmp_path):
    destination = tmp_path / "grades.csv"
    assert main(["export", "--root", str(graded.root), "--to", str(destination)]) == 0
    with open(destination, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(BY_NAME)
    for student, variant in BY_NAME.items():
        assert float(rows[student]["score"]) == synthetic.expected_score(variant, SOURCE_NB)
        assert float(rows[student]["max_score"]) == sum(synthetic.test_points(SOURCE_NB).values())


def test_report_has_the_plots_and_the_mistakes(graded, tmp_path):
    destination = tmp_path / "report.html"
    assert main(["report", "--root", str(graded.root), "--to", str(destination)]) == 0
    page = destination.read_text()
    assert page.count('src="data:image/png;base64,') == 3  # scores, pass rate per test, mistakes
    for variant in CLASS:
        for mistake in variant.mistakes:
            assert f"<code>{mistake}</code>" in page
    assert "could not be read" in page  # broken-json's note is listed for the instructor


def test_nbgraders_own_commands_work_from_the_course_root(graded, tmp_path):
    env = dict(os.environ)
    run = lambda *args: subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=graded.root, env=env,
                                       capture_output=True, text=True, timeout=300)
    done = run("autograde", ASSIGNMENT, "--student", "mistake-swapped", "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _grades(graded)["mistake-swapped"]["test-ex8-scale-back"] == 0
    done = run("generate_feedback", ASSIGNMENT, "--student", "mistake-swapped", "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "swapped" in graded.feedback_file(ASSIGNMENT, "mistake-swapped", ASSIGNMENT).read_text()
    done = run("export", "--to", str(tmp_path / "stock.csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mistake-swapped" in (tmp_path / "stock.csv").read_text()


def test_exit_codes_and_messages(graded, tmp_path, capsys):
    root = str(graded.root)
    assert main(["autograde", "01_numpy_by_hnd", "--root", root]) == 2
    assert "did you mean '01_numpy_by_hand'" in capsys.readouterr().err
    assert main(["autograde", "02_torch_manual", "--root", root]) == 2
    assert "has not been released" in capsys.readouterr().err
    assert main(["autograde", ASSIGNMENT, "--root", root, "--student", "nobody"]) == 3
    assert "nobody" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["collect", ASSIGNMENT, str(empty), "--root", root]) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nAda\n")
    assert main(["students", str(bad), "--root", root]) == 2
    assert "'id' column" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n")
    assert main(["students", str(good), "--root", root]) == 0
    with graded.gradebook() as gb:
        assert gb.find_student("ada").last_name == "Lovelace"


def test_a_run_killed_with_sigkill_resumes_without_duplicates_or_lost_grades(isolated_jupyter, tmp_path):
    root = tmp_path / "course"
    assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
    course = _course(root)
    students = [BY_NAME[name] for name in ("correct", "partial", "mistake-sum-mse", "mistake-swapped", "blank")]
    write_class(course, ASSIGNMENT, students, tmp_path / "class.zip")
    assert main(["collect", ASSIGNMENT, str(tmp_path / "class.zip"), "--root", str(root)]) == 0
    run = subprocess.Popen([sys.executable, "-m", "autograder", "autograde", ASSIGNMENT, "--root", str(root),
                            "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status_dir = course.settings.work_dir / "status" / ASSIGNMENT
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(status_dir.glob("*.json"))) < 2:
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    finished_before = {p.stem for p in status_dir.glob("*.json")}
    assert 2 <= len(finished_before) < len(students)

    # The worker (and its kernel) die with the supervisor: nothing keeps writing.
    import psutil

    time.sleep(2)
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if p.info["cmdline"] and "autograder.executors.worker" in " ".join(p.info["cmdline"])
                 and str(root) in " ".join(p.info["cmdline"])]
    assert leftovers == []

    from autograder import pipeline

    results = {r.student: r for r in pipeline.autograde(course, ASSIGNMENT, progress=False)}
    for variant in students:
        assert results[variant.student].score == synthetic.expected_score(variant, SOURCE_NB)
        assert load_status(course, ASSIGNMENT, variant.student).score == results[variant.student].score
    assert {s for s, r in results.items() if r.state == "skipped"} == finished_before
    with course.gradebook() as gb:
        submissions = gb.assignment_submissions(ASSIGNMENT)
        assert sorted(s.student.id for s in submissions) == sorted(v.student for v in students)
        assert all(g.auto_score is not None for s in submissions for nb in s.notebooks for g in nb.grades)


def test_demo_runs_the_whole_pipeline_and_prints_the_grade_table(isolated_jupyter, tmp_path, capsys):
    root = tmp_path / "demo"
    assert main(["demo", "--root", str(root), "--assignment", ASSIGNMENT, "--students", "3", "--jobs", "2",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    for variant in CLASS[:3]:
        line = next(line for line in out.splitlines() if line.startswith(variant.student + " "))
        assert f"{synthetic.expected_score(variant, SOURCE_NB):5.1f} / 10.0" in line
    assert (root / "grades.csv").exists() and (root / "report.html").exists()
    assert sorted(p.name for p in (root / "feedback").iterdir()) == sorted(v.student for v in CLASS[:3])
