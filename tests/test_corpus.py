"""A corpus of answers as a class writes them (tests/corpus/, one file per notebook), graded with
the hidden tests through the path nbgrader uses: every correct answer scores full marks, every
mistake scores less and is named (issue 13).  The instructor's solution of every notebook is
graded in the same runs: full marks and no notes.

One course root, one synthetic class per notebook, one parallel autograde run per notebook.

A whole notebook runs for each synthetic student, so one student carries several answers, one
per answer cell, and each answer is judged by the test cells it can reach, read from the
gradebook's per-test scores and the test cells' own outputs.  Which test cells an answer reaches
comes from the notebook's names (a test cell calls ``step``, ``step`` calls ``gradients``…, found
with :mod:`symtable`, hidden tests included).  A student is packed so that every test cell a
mistake reaches depends on that mistake and on no other answer of this student: the verdict of
that test is the mistake's alone, as if the student had made only this one.  Correct answers
share a student with each other and with mistakes that none of their test cells reach; every
test cell that no mistake reaches must then score full marks, and a failure names the answer
it came from.
"""

from __future__ import annotations

import importlib
import re
import symtable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nbformat
import pytest

from autograder import pipeline
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import catalogue, synthetic
from autograder.demo.run import write_class
from autograder.status import load as load_status

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CORPUS = {
    "01_numpy_by_hand": "nb01_numpy_by_hand", "02_torch_manual": "nb02_torch_manual",
    "03_torch_optim": "nb03_torch_optim", "04_keras_sequential": "nb04_keras_sequential",
    "05_gradient_tape": "nb05_gradient_tape", "06_side_by_side": "nb06_side_by_side",
}
COURSE_FRAME = re.compile(r"File \S*course/(checks|convert)\.py")


def _corpus(assignment):
    return importlib.import_module(f"corpus.{CORPUS[assignment]}")


@lru_cache(maxsize=None)
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


# ----------------------------------------------------------------------------------------------
# Which test cells an answer reaches
# ----------------------------------------------------------------------------------------------
def _names(code: str) -> tuple[set, set, set]:
    """(defined at top level, read at top level, read as globals inside functions) of a cell."""
    try:
        top = symtable.symtable(code, "<cell>", "exec")
    except SyntaxError:
        return set(), set(), set()
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    inner: set = set()
    todo = list(top.get_children())
    while todo:
        table = todo.pop()
        inner |= {s.get_name() for s in table.get_symbols() if s.is_global() or s.is_free()}
        todo += table.get_children()
    return defined, read, inner


@dataclass(frozen=True)
class Notebook:
    answers: tuple[str, ...]
    #: test cell -> every answer cell its outcome can depend on (transitively).
    depends: dict
    #: test cell -> its points.
    points: dict


@lru_cache(maxsize=None)
def notebook(assignment) -> Notebook:
    """The answer cells each test cell depends on.  A name read at a cell's top level comes from
    the last cell before it that defines it; a name a function reads when called may come from
    any answer cell that defines it.  An answer cell reads what its solution and every corpus
    answer for it read."""
    source, corpus = _source(assignment), _corpus(assignment)
    alternatives: dict = {}
    for grade_id, code, _ in corpus.CORRECT + corpus.MISTAKES:
        alternatives.setdefault(grade_id, []).append(code)
    cells = []  # (grade_id or None, kind, defined, read at top level, read inside functions)
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        kind = "answer" if meta.get("solution") else "test" if meta.get("grade") else "other"
        defined, read, inner = _names(cell.source)
        for code in alternatives.get(grade_id, []) if kind == "answer" else []:
            more = _names(_answered(cell.source, code))
            defined, read, inner = defined | more[0], read | more[1], inner | more[2]
        cells.append((grade_id, kind, defined, read, inner))
    answers = [c[0] for c in cells if c[1] == "answer"]
    direct: dict = {}
    for position, (grade_id, kind, _, read, inner) in enumerate(cells):
        if kind == "other":
            continue
        uses = set()
        for name in read:
            last = next((c for c in reversed(cells[:position]) if name in c[2]), None)
            if last is not None and last[1] == "answer":
                uses.add(last[0])
        uses |= {c[0] for c in cells if c[1] == "answer" and c[0] != grade_id and c[2] & inner}
        direct[grade_id] = uses
    depends = {}
    for grade_id, kind, *_ in cells:
        if kind != "test":
            continue
        seen, todo = set(), list(direct[grade_id])
        while todo:
            answer = todo.pop()
            if answer not in seen:
                seen.add(answer)
                todo += direct[answer]
        depends[grade_id] = frozenset(seen)
    return Notebook(tuple(answers), depends, synthetic.test_points(source))


def _answered(cell_source: str, code: str) -> str:
    """The answer cell with ``code`` in place of its solution, indented like it."""
    lines = cell_source.split("\n")
    start = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if "### END SOLUTION" in line)
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    body = [indent + line if line else line for line in code.split("\n")]
    return "\n".join(lines[:start] + body + lines[end + 1:])


# ----------------------------------------------------------------------------------------------
# Packing answers into students
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    grade_id: str
    code: str
    named: tuple
    correct: bool
    label: str  # "correct 3" / "mistake 5": its line in the corpus file

    def describe(self) -> str:
        return f"{self.grade_id} ({self.label}): {self.code!r}"


def _fits(answers: list[Answer], book: Notebook) -> bool:
    """One answer per cell, and every test cell a mistake reaches depends on no other answer here."""
    cells = [a.grade_id for a in answers]
    if len(set(cells)) < len(cells):
        return False
    mistakes = {a.grade_id for a in answers if not a.correct}
    for needs in book.depends.values():
        touched = needs & set(cells)
        if touched & mistakes and len(touched) > 1:
            return False
    return True


def _first_fit(answers: list[Answer], book: Notebook) -> list[list[Answer]]:
    students: list[list[Answer]] = []
    for answer in answers:
        home = next((s for s in students if _fits(s + [answer], book)), None)
        if home is None:
            students.append(home := [])
        home.append(answer)
    return students


@lru_cache(maxsize=None)
def packed(assignment) -> tuple[tuple[Answer, ...], ...]:
    """The corpus of one notebook as few students as the rule allows: first fit, mistakes and the
    busiest cells first, then (seeded, so always the same) other orders until none does better
    than the busiest cell's count of answers, below which no packing can go."""
    import random

    corpus, book = _corpus(assignment), notebook(assignment)
    answers = [Answer(g, c, tuple(n), False, f"mistake {i}") for i, (g, c, n) in enumerate(corpus.MISTAKES)]
    answers += [Answer(g, c, tuple(n), True, f"correct {i}") for i, (g, c, n) in enumerate(corpus.CORRECT)]
    load = {g: sum(a.grade_id == g for a in answers) for g in book.answers}
    answers.sort(key=lambda a: (a.correct, -load.get(a.grade_id, 0)))  # stable: corpus order within a cell
    best, rng = _first_fit(answers, book), random.Random(13)
    for _ in range(400):
        if len(best) == max(load.values()):
            break
        order = answers[:]
        rng.shuffle(order)
        tried = _first_fit(order, book)
        best = tried if len(tried) < len(best) else best
    return tuple(tuple(s) for s in best)


def students(assignment):
    source = _source(assignment)
    return [synthetic.Variant(f"answers-{i}", "answers of the corpus, written as a class writes them",
                              edits=tuple(_edit(source, a.grade_id, a.code) for a in held))
            for i, held in enumerate(packed(assignment))]


# ----------------------------------------------------------------------------------------------
# Grading and reading back
# ----------------------------------------------------------------------------------------------
#: Besides the corpus, one named mistake where the notebook uses a framework's autograd.
WITH_MISTAKE = ("02_torch_manual", "05_gradient_tape")


def solution_students(assignment: str) -> list[synthetic.Variant]:
    """The instructor's solution (and, in WITH_MISTAKE, one named mistake), graded in the same run."""
    variants = catalogue.class_variants(assignment)
    chosen = [v for v in variants if v.student == "correct"]
    if assignment in WITH_MISTAKE:
        chosen += [v for v in variants if v.mistakes][:1]
    return chosen


class _Graded:
    """The graded corpus: two course roots side by side, each assignment in one of them."""

    def __init__(self, courses: dict[str, Course]):
        self.by_assignment = courses

    def __getitem__(self, assignment: str) -> Course:
        return self.by_assignment[assignment]


def _selected(request) -> list[str]:
    """The assignments the selected tests of this module grade (all of them unless ``-k`` narrows it)."""
    wanted = set()
    for item in request.session.items:
        if item.module is not request.module or "graded" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "assignment" not in params:
            return list(CORPUS)
        wanted.add(params["assignment"])
    return [a for a in CORPUS if a in wanted] or list(CORPUS)


@pytest.fixture(scope="module")
def graded(isolated_jupyter, tmp_path_factory, request):
    # Two course roots graded at the same time, one worker each: one root's runs (a few students
    # per notebook, a start-up and a tail each) would leave one of the two cores idle much of the time.
    # Only the assignments the selected tests need (``-k 04_keras`` grades one notebook).
    wanted = _selected(request)
    halves = [names for names in (wanted[0::2], wanted[1::2]) if names]

    courses = []
    for number, names in enumerate(halves):  # nbgrader's release and collect, one after the other
        root = tmp_path_factory.mktemp(f"corpus{number}")
        course = Course(Settings.from_env(root=root, cell_timeout=120))
        pipeline.release(course, names)
        for assignment in names:
            everyone = students(assignment) + solution_students(assignment)
            written = write_class(course, assignment, everyone, root / f"{assignment}.zip")
            assert len(written) == len(everyone)
            pipeline.collect(course, assignment, root / f"{assignment}.zip")
        courses.append(course)

    def grade(names: list[str], course: Course) -> None:
        for assignment in names:
            pipeline.autograde(course, assignment, jobs=1, force=True, progress=False)

    with ThreadPoolExecutor(max_workers=len(halves)) as pool:
        list(pool.map(grade, halves, courses))
    return _Graded({a: course for names, course in zip(halves, courses) for a in names})


def _scores(course, assignment) -> dict:
    """student -> {test cell: score}, from the gradebook."""
    with course.gradebook() as gb:
        return {sub.student.id: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
                for sub in gb.assignment_submissions(assignment)}


def _cell_outputs(course, assignment, student) -> dict:
    """grade_id -> (the text of its outputs, the mistake ids its errors name), from the autograded notebook."""
    from course.checks import mistake_ids

    path = course.step_dir("autograded") / student / assignment / f"{assignment}.ipynb"
    found = {}
    for cell in nbformat.read(str(path), 4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        outputs = cell.get("outputs", [])
        text = "\n".join(str(o.get("evalue", "")) + "\n".join(o.get("traceback", [])) + str(o.get("text", ""))
                         for o in outputs)
        ids = [i for o in outputs if o.get("output_type") == "error" for i in mistake_ids(o.get("evalue", ""))]
        found[grade_id] = (text, ids)
    return found


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------
def test_every_notebook_has_five_of_each():
    for assignment in CORPUS:
        corpus = _corpus(assignment)
        assert len(corpus.CORRECT) >= 5 and len(corpus.MISTAKES) >= 5, assignment


def test_dependencies_follow_the_notebook():
    """The packing rests on these: spot checks of what the names give, against the notebooks' prose."""
    one = notebook("01_numpy_by_hand").depends
    assert one["test-ex2-mse"] == {"ex2-mse"} and one["test-ex3-first-loss"] == {"ex3-first-loss"}
    assert one["test-ex5-step"] == {"ex5-step", "ex4-gradients", "ex1-predict"}  # step calls gradients
    # Exercise 8 trains with the learner's fit; Exercise 7 needs no function of the learner's.
    assert {"ex8-scale-back", "ex6-fit", "ex5-step", "ex2-mse", "ex1-predict"} <= one["test-ex8-scale-back"]
    assert one["test-ex7-stable-lr"] == {"ex7-stable-lr"}
    keras = notebook("04_keras_sequential").depends
    assert "ex1-make-model" in keras["test-ex2-fit-keras"]  # fit_keras builds its model with make_model
    for assignment in CORPUS:
        book = notebook(assignment)
        for test, needs in book.depends.items():
            assert needs <= set(book.answers), (assignment, test)
        # Every answer of the corpus is in exactly one student, and every mistake reaches a test cell.
        held = [a for s in packed(assignment) for a in s]
        corpus = _corpus(assignment)
        assert len(held) == len(corpus.CORRECT) + len(corpus.MISTAKES), assignment
        for answer in held:
            assert any(answer.grade_id in needs for needs in book.depends.values()), answer.describe()


def test_a_mistake_never_shares_a_test_cell_with_another_answer():
    for assignment in CORPUS:
        book = notebook(assignment)
        for held in packed(assignment):
            assert _fits(list(held), book), [a.describe() for a in held]


@pytest.mark.parametrize("assignment", list(CORPUS))
def test_correct_answers_score_full_marks_and_mistakes_are_named(graded, assignment):
    book, corpus, problems = notebook(assignment), _corpus(assignment), []
    scores = _scores(graded[assignment], assignment)
    for number, held in enumerate(packed(assignment)):
        student = f"answers-{number}"
        record = load_status(graded[assignment], assignment, student)
        if record.state != "graded":
            problems.append(f"{student}: {record.state} ({[a.describe() for a in held]})")
            continue
        got, outputs = scores[student], _cell_outputs(graded[assignment], assignment, student)
        mistakes = [a for a in held if not a.correct]
        for test, needs in book.depends.items():
            # A test cell no mistake reaches: full marks, or a correct answer it reaches was rejected.
            if any(m.grade_id in needs for m in mistakes):
                continue
            if got[test] < book.points[test]:
                suspects = [a.describe() for a in held if a.grade_id in needs] or ["the instructor's solutions"]
                problems.append(f"{test} scored {got[test]}/{book.points[test]} for a correct answer "
                                f"({student}): rejected {' or '.join(suspects)}\n{outputs[test][0][-1500:]}")
        for mistake in mistakes:
            reached = [t for t, needs in book.depends.items() if mistake.grade_id in needs]
            if all(got[t] >= book.points[t] for t in reached):
                problems.append(f"a mistake scored full marks in {reached}: {mistake.describe()}")
            text = "\n".join(outputs[t][0] for t in reached)
            named = {i for t in reached for i in outputs[t][1]}
            missing = set(mistake.named) - named
            if missing:
                problems.append(f"not named {sorted(missing)} (named {sorted(named)}): {mistake.describe()}\n"
                                f"{text[-1500:]}")
            says = corpus.SAYS.get((mistake.grade_id, mistake.code))
            if says and says not in text:
                problems.append(f"the verdict does not say {says!r}: {mistake.describe()}")
        shown = "\n".join(text for text, _ in outputs.values())
        if COURSE_FRAME.search(shown):
            problems.append(f"{student}: a frame of course/ is shown")
    assert not problems, "\n\n".join(problems)


ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The most lines a verdict may take, and the lines within which the named mistake and its fix start.
MAX_LINES, HEAD_LINES = 12, 3
_TORCH = ("torch", "no_grad", ".grad", "backward()", "optimizer.", "nn.")
_TF = ("tf.", "GradientTape", "assign_sub")
_KERAS = ("model.fit", "Dense", "get_weights")
#: Words of another framework's fix that a notebook's verdicts must not use.
FOREIGN_WORDS = {
    "01_numpy_by_hand": _TORCH + _TF + _KERAS, "02_torch_manual": _TF + _KERAS + ("optimizer.",),
    "03_torch_optim": _TF + _KERAS, "04_keras_sequential": _TORCH + _TF[1:],
    # Notebook 6 compares the five styles by name (torch_manual, keras…): only their code is foreign.
    "05_gradient_tape": _TORCH, "06_side_by_side": _TORCH[1:] + _TF + _KERAS,
}


def _verdicts(course, assignment, student) -> list:
    """``(grade_id, the verdict as the student reads it, mistake ids)`` of every failed test cell."""
    from course.checks import mistake_ids

    path = course.step_dir("autograded") / student / assignment / f"{assignment}.ipynb"
    found = []
    for cell in nbformat.read(str(path), 4).cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id") if meta.get("grade") and not meta.get("solution") else None
        for output in cell.get("outputs", []) if grade_id else []:
            if output.get("output_type") != "error":
                continue
            lines = ANSI.sub("", "\n".join(output.get("traceback", []))).split("\n")
            lines = [line for line in lines if line.strip()]
            if lines and lines[0].startswith("✗ Check failed"):
                lines = lines[1:]
            # The learner's own frames, when their code raised, come after the verdict.
            cut = next((i for i, line in enumerate(lines) if line.startswith("Where your code raised")), len(lines))
            found.append((grade_id, lines[:cut], mistake_ids(output.get("evalue", ""))))
    return found


@pytest.mark.parametrize("assignment", list(CORPUS))
def test_every_verdict_is_short_and_opens_with_the_named_mistake_and_its_fix(graded, assignment):
    """No verdict over 12 lines; where a mistake is named, its title and the fix start within 3 lines."""
    from course.mistakes import MISTAKES

    problems, seen = [], 0
    foreign = FOREIGN_WORDS[assignment]
    for number, _ in enumerate(packed(assignment)):
        for grade_id, lines, ids in _verdicts(graded[assignment], assignment, f"answers-{number}"):
            seen += 1
            shown = "\n".join(lines)
            said = [word for word in foreign if word in shown]
            if said:
                problems.append(f"{grade_id}: advice from another framework ({said})\n{shown}")
            if len(lines) > MAX_LINES:
                problems.append(f"{grade_id}: {len(lines)} lines\n{shown}")
            if ids:
                head = " ".join(" ".join(lines[:HEAD_LINES]).split())
                title = " ".join(MISTAKES[ids[0]].title.split())
                if title not in head or "Fix:" not in head:
                    problems.append(f"{grade_id}: the mistake {ids[0]!r} and its fix are not in the first "
                                    f"{HEAD_LINES} lines\n{shown}")
    assert seen, "no failed test cell was read"
    assert not problems, "\n\n".join(problems)


def test_all_six_assignments_are_in_the_corpus():
    assert list(CORPUS) == Course(Settings(root=REPO)).assignments()


@pytest.mark.parametrize("assignment", list(CORPUS))
def test_the_solution_gets_full_marks_with_no_notes(graded, assignment):
    """No framework noise on stderr, no false monkeypatch report after PyTorch or TensorFlow
    imports; a named mistake in the PyTorch and GradientTape notebooks is graded and named."""
    source = _source(assignment)
    for variant in solution_students(assignment):
        record = load_status(graded[assignment], assignment, variant.student)
        assert record.state == "graded"
        assert record.score == synthetic.expected_score(variant, source), variant.student
        assert record.notes == [], f"{assignment}/{variant.student}: {record.notes}"
        assert set(variant.mistakes) <= set(record.mistakes)
    correct = load_status(graded[assignment], assignment, "correct")
    assert correct.score == correct.max_score == sum(synthetic.test_points(source).values())
