"""A corpus of answers as a class writes them (tests/corpus/, one file per notebook), graded with
the hidden tests through the path nbgrader uses: every correct answer scores full marks, every
mistake scores less and is named (issue 13).

One course root, one synthetic class per notebook, one parallel autograde run per notebook.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from autograder import pipeline
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import synthetic
from autograder.demo.run import write_class
from autograder.status import load as load_status

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CORPUS = {
    "01_numpy_by_hand": "nb01_numpy_by_hand", "02_torch_manual": "nb02_torch_manual",
    "03_torch_optim": "nb03_torch_optim", "04_keras_sequential": "nb04_keras_sequential",
    "05_gradient_tape": "nb05_gradient_tape", "06_side_by_side": "nb06_side_by_side",
}


def _corpus(assignment):
    return importlib.import_module(f"corpus.{CORPUS[assignment]}")


def _source(assignment):
    return nbformat.read(str(REPO / "notebooks" / assignment / f"{assignment}.ipynb"), 4)


def _indent(source_nb, grade_id: str) -> str:
    cell = next(c for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    region = cell.source.split("### BEGIN SOLUTION", 1)[1].split("\n", 1)[1]
    first = next(line for line in region.split("\n") if line.strip())
    return first[:len(first) - len(first.lstrip())]


def _edit(source_nb, grade_id: str, code: str) -> synthetic.Edit:
    indent = _indent(source_nb, grade_id)
    text = "\n".join(indent + line if line else line for line in code.split("\n"))
    return synthetic.Edit(grade_id, r"\A[\s\S]*\Z", text.replace("\\", "\\\\"))


def students(assignment):
    """Correct answers grouped (one alternative per answer cell and student), one student per mistake."""
    source, corpus = _source(assignment), _corpus(assignment)
    groups: list[dict] = []
    for grade_id, code, _ in corpus.CORRECT:
        group = next((g for g in groups if grade_id not in g), None)
        if group is None:
            groups.append(group := {})
        group[grade_id] = code
    variants = [synthetic.Variant(f"right-{i}", "correct answers written differently",
                                  edits=tuple(_edit(source, g, c) for g, c in group.items()))
                for i, group in enumerate(groups)]
    variants += [synthetic.Variant(f"slip-{i}", f"a mistake in {grade_id}", edits=(_edit(source, grade_id, code),),
                                   failing=(), mistakes=tuple(named))
                 for i, (grade_id, code, named) in enumerate(corpus.MISTAKES)]
    return variants


@pytest.fixture(scope="module")
def graded(isolated_jupyter, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    course = Course(Settings.from_env(root=root, cell_timeout=120))
    pipeline.release(course, list(CORPUS))
    for assignment in CORPUS:
        written = write_class(course, assignment, students(assignment), root / f"{assignment}.zip")
        assert len(written) == len(students(assignment))
        pipeline.collect(course, assignment, root / f"{assignment}.zip")
        pipeline.autograde(course, assignment, jobs=2, force=True, progress=False)
    return course


def _outputs(course, assignment, student) -> str:
    path = course.step_dir("autograded") / student / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), 4)
    return "\n".join(str(o.get("evalue", "")) + "\n".join(o.get("traceback", [])) + str(o.get("text", ""))
                     for c in nb.cells for o in c.get("outputs", []))


def test_every_notebook_has_five_of_each():
    for assignment in CORPUS:
        corpus = _corpus(assignment)
        assert len(corpus.CORRECT) >= 5 and len(corpus.MISTAKES) >= 5, assignment


@pytest.mark.parametrize("assignment", list(CORPUS))
def test_correct_answers_score_full_marks_and_mistakes_are_named(graded, assignment):
    corpus, problems = _corpus(assignment), []
    for variant in students(assignment):
        record = load_status(graded, assignment, variant.student)
        if record.state != "graded":
            problems.append(f"{variant.student}: {record.state}")
            continue
        if variant.student.startswith("right-"):
            if record.score != record.max_score:
                problems.append(f"{variant.student} (correct) scored {record.score}/{record.max_score}: "
                                f"{_outputs(graded, assignment, variant.student)[-1500:]}")
            continue
        grade_id, code, named = corpus.MISTAKES[int(variant.student.split("-")[1])]
        if record.score >= record.max_score:
            problems.append(f"{grade_id} mistake scored full marks:\n{code}")
        missing = set(named) - set(record.mistakes)
        if missing:
            problems.append(f"{grade_id} mistake not named {sorted(missing)} (named {record.mistakes}):\n{code}\n"
                            f"{_outputs(graded, assignment, variant.student)[-1500:]}")
        says = corpus.SAYS.get((grade_id, code))
        if says and says not in _outputs(graded, assignment, variant.student):
            problems.append(f"{grade_id}: the verdict does not say {says!r}")
        shown = _outputs(graded, assignment, variant.student)
        if re.search(r"File \S*course/(checks|convert)\.py", shown):
            problems.append(f"{grade_id}: a frame of course/ is shown")
    assert not problems, "\n\n".join(problems)
