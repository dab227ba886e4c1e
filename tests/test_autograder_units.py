"""Fast tests of the autograder's parts (no kernels): reading submissions, the reference scan,
the guard, the configuration, the synthetic students and the status records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder import config
from autograder.demo import catalogue, synthetic
from autograder.preprocessors import scan
from autograder.notes import add_note, read_notes
from autograder.preprocessors import read_submission, visible_test_source

REPO = Path(__file__).resolve().parents[1]
NB01 = REPO / "notebooks" / "01_numpy_by_hand" / "01_numpy_by_hand.ipynb"


# -- reading submissions ---------------------------------------------------------------------
def test_a_readable_notebook_comes_back_unchanged():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    parsed, problem = read_submission(nbformat.writes(nb))
    assert problem is None
    assert [c.source for c in parsed.cells] == ["x = 1"]


@pytest.mark.parametrize("text, says", [
    ("{ not json", "not valid JSON"),
    ("[1, 2, 3]", "not a Jupyter notebook"),
    ('"a string"', "not a Jupyter notebook"),
])
def test_unreadable_files_become_an_empty_notebook_with_a_reason(text, says):
    parsed, problem = read_submission(text)
    assert parsed.cells == []
    assert says in problem


def test_a_malformed_notebook_keeps_its_well_formed_cells():
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["def f():\n", "    return 1"], "metadata": {"nbgrader": {"grade_id": "a"}},
         "outputs": "not a list", "execution_count": None},
        {"cell_type": "nonsense", "source": "x"},
        "not even a cell",
        {"cell_type": "markdown", "source": "# kept", "metadata": {}},
    ]}
    parsed, problem = read_submission(json.dumps(raw))
    assert "malformed" in problem and "2 well-formed cells" in problem
    assert [c.source for c in parsed.cells] == ["def f():\n    return 1", "# kept"]
    assert parsed.cells[0].metadata["nbgrader"]["grade_id"] == "a"
    nbformat.validate(parsed)


def test_hidden_tests_are_removed_like_nbgrader_does():
    source = "check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, seed=3)\n### END HIDDEN TESTS"
    assert visible_test_source(source) == "check(f)"


# -- notes -----------------------------------------------------------------------------------
def test_notes_collect_in_one_cell_at_the_top():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    add_note(nb, "timeout", "first")
    add_note(nb, "memory", "second")
    add_note(nb, "memory", "second")  # the same note twice is kept once
    assert nb.cells[0].cell_type == "markdown"
    assert [n["text"] for n in read_notes(nb)] == ["first", "second"]
    assert "cell timeout" in nb.cells[0].source and "memory limit" in nb.cells[0].source


# -- the course.reference scan -----------------------------------------------------------------
def _cell(source, **nbgrader):
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})


def test_reference_scan_counts_only_lines_the_student_wrote():
    instructor = scan.instructor_lines([
        "from course import data, reference",
        "run = reference.fit_numpy(x, y, lr=0.05, epochs=200)",
    ])
    cells = [
        _cell("from course import data, reference", grade_id="setup", locked=True),
        _cell("run = reference.fit_numpy(x, y, lr=0.05, epochs=200)"),  # the instructor's demo cell
        _cell("def mse(y_pred, y):\n    return reference.mse(0, 0, y_pred, y)", grade_id="ex2", solution=True),
        _cell("# reference solutions are off limits\nw = 2.0"),
        _cell("import importlib\nanswers = importlib.import_module('course.reference')"),
        _cell("checks.check(reference)", grade_id="test", grade=True, points=1),  # a test cell
    ]
    uses = scan.find_reference_uses(cells, instructor)
    assert [(u.cell_index, u.grade_id) for u in uses] == [(2, "ex2"), (4, None)]
    assert uses[0].line == "return reference.mse(0, 0, y_pred, y)"


def test_reference_scan_ignores_similar_names():
    cells = [_cell("reference_loss = 1.0\npreference = 2", grade_id="ex", solution=True)]
    assert scan.find_reference_uses(cells, set()) == []


# -- the guard (run in a fresh interpreter: it changes process-wide state) ------------------------
GUARD_SCRIPT = textwrap.dedent("""
    import builtins, json, sys, types
    import numpy
    from autograder.kernel import guard

    g = guard.arm(memory_mb=0, max_output_chars=0)
    assert g.rearm() == [], "nothing changed yet, nothing may be reported"
    import course.checks
    real_abs, real_allclose, real_checks = builtins.abs, numpy.allclose, sys.modules["course.checks"]
    real_check = course.checks.check_mse

    builtins.abs = lambda v: 0
    numpy.allclose = lambda *a, **k: True
    course.checks.check_mse = lambda *a, **k: None
    sys.modules["course.checks"] = types.SimpleNamespace()
    import course
    course.checks = types.SimpleNamespace()
    restored = guard.rearm()

    from course import checks
    ok = (builtins.abs is real_abs and numpy.allclose is real_allclose and checks is real_checks
          and checks.check_mse is real_check)
    print(json.dumps({"ok": ok, "restored": restored, "again": g.rearm()}))
""")


def test_guard_puts_back_what_a_student_replaced():
    done = subprocess.run([sys.executable, "-c", GUARD_SCRIPT], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"]
    for name in ("builtins.abs", "numpy.allclose", "course.checks.check_mse", "sys.modules['course.checks']",
                 "course.checks"):
        assert name in report["restored"]
    assert report["again"] == []


def test_guard_imports_the_real_checks_even_with_a_fake_course_folder(tmp_path):
    fake = tmp_path / "course"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "checks.py").write_text("def check_mse(*a, **k):\n    return None\n")
    script = ("from autograder.kernel import guard; guard.arm(); import course.checks, sys; "
              "print(course.checks.__file__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == REPO / "course" / "checks" / "__init__.py"


# -- configuration ------------------------------------------------------------------------------
def test_sqlite_urls_get_a_busy_timeout_and_others_are_left_alone(tmp_path):
    assert config.gradebook_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/gradebook.db?timeout=120"
    assert config.gradebook_url(tmp_path, "sqlite:////x/g.db?mode=ro").endswith("?mode=ro&timeout=120")
    assert config.gradebook_url(tmp_path, "postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert config.gradebook_url(tmp_path, "postgresql://u@h/db").endswith("://u@h/db")


def test_the_repository_nbgrader_config_loads_the_course_settings():
    from traitlets.config.loader import PyFileConfigLoader

    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert loaded.CourseDirectory.course_id == config.COURSE_ID
    assert Path(loaded.CourseDirectory.root) == REPO
    assert Path(loaded.CourseDirectory.source_directory) == REPO / "notebooks"
    names = [cls.__name__ for cls in loaded.Autograde.autograde_preprocessors]
    assert names.index("GuardTests") < names.index("SafeExecute") < names.index("SaveAutoGrades")
    sanitize = [cls.__name__ for cls in loaded.Autograde.sanitize_preprocessors]
    assert sanitize.index("RestoreCellOrder") < sanitize.index("OverwriteCells")
    assert loaded.Execute.timeout == 120


def test_a_course_root_elsewhere_gets_its_own_config_file(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.delenv("GD_CELL_TIMEOUT", raising=False)
    settings = config.Settings.from_env(root=tmp_path / "course", source=REPO / "notebooks")
    path = config.write_course_config(settings)
    loaded = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    assert Path(loaded.CourseDirectory.root) == tmp_path / "course"
    # A copy of the course root grades itself, not the folder it was copied from.
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "course", copy)
    loaded = PyFileConfigLoader(path.name, path=str(copy)).load_config()
    assert Path(loaded.CourseDirectory.root) == copy
    # A config file the instructor wrote is never overwritten.
    path.write_text("c = get_config()\n")
    config.write_course_config(settings)
    assert path.read_text() == "c = get_config()\n"


# -- synthetic students --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_01():
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    source = nbformat.read(str(NB01), 4)
    release = nbformat.read(str(NB01), 4)
    resources = {}
    release, resources = ClearSolutions().preprocess(release, resources)
    release, resources = ClearHiddenTests().preprocess(release, resources)
    return source, release


def test_every_variant_fits_notebook_01(notebook_01):
    source, release = notebook_01
    variants = catalogue.class_variants("01_numpy_by_hand") + catalogue.hostile_variants()
    assert len({v.student for v in variants}) == len(variants)
    for variant in variants:
        text = synthetic.build_student(source, release, synthetic.resolve(variant, source))
        assert synthetic.expected_failing(variant, source) <= set(synthetic.test_ids(source))
        if variant.file_text is None:
            nb = nbformat.reads(text, 4)
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
            assert synthetic.solution_ids(nb) == synthetic.solution_ids(source)


def test_the_correct_student_is_the_solution_and_a_mistake_changes_only_its_cell(notebook_01):
    source, release = notebook_01
    correct = nbformat.reads(synthetic.build_student(source, release, synthetic.Variant("c", "")), 4)
    variant = next(v for v in catalogue.class_variants("01_numpy_by_hand") if v.student == "mistake-sum-mse")
    buggy = nbformat.reads(synthetic.build_student(source, release, variant), 4)
    changed = [synthetic._nbgrader(a).get("grade_id") for a, b in zip(correct.cells, buggy.cells)
               if a.source != b.source]
    assert changed == ["ex2-mse"]
    assert "np.sum(" in buggy.cells[[c.source for c in correct.cells].index(
        next(c.source for c in correct.cells if "def mse" in c.source))].source


def test_named_mistakes_are_ids_the_checks_know():
    from course.mistakes import MISTAKES

    known = {m.id for m in (MISTAKES.values() if isinstance(MISTAKES, dict) else MISTAKES)}
    for assignment in catalogue.NAMED_MISTAKES:
        for variant in catalogue.class_variants(assignment):
            assert set(variant.mistakes) <= known, variant.student


def test_an_edit_that_no_longer_fits_is_an_error(notebook_01):
    source, release = notebook_01
    stale = synthetic.Variant("stale", "", edits=(synthetic.Edit("ex2-mse", r"np\.median\(", "np.sum("),))
    with pytest.raises(synthetic.VariantError, match="does not apply"):
        synthetic.build_student(source, release, stale)
    assert not synthetic.usable(stale, source, release)


def test_expected_scores_come_from_the_notebook_points(notebook_01):
    source, _ = notebook_01
    points = synthetic.test_points(source)
    by_name = {v.student: v for v in catalogue.class_variants("01_numpy_by_hand")}
    assert synthetic.expected_score(by_name["correct"], source) == sum(points.values())
    assert synthetic.expected_score(by_name["blank"], source) == 0
    assert synthetic.expected_score(by_name["mistake-swapped"], source) == \
        sum(points.values()) - points["test-ex8-scale-back"]


# -- workers started early -----------------------------------------------------------------------
def test_workers_started_early_are_used_then_stopped_and_unused_ones_stop_too(tmp_path):
    from autograder.executors.local import run_tasks, start_workers, stop_workers

    settings = config.Settings.from_env(root=tmp_path)
    early = start_workers(settings, 3)
    processes = [w.process for w in early]
    tasks = [{"task": "no-such-task", "n": n} for n in range(4)]
    outcomes = run_tasks(settings, tasks, jobs=2, task_timeout=120, workers=early)
    assert early == []  # run_tasks took them all
    assert sorted(o.task["n"] for o in outcomes) == [0, 1, 2, 3]
    assert all(not o.ok and "unknown task 'no-such-task'" in o.error for o in outcomes)
    assert [p.wait(timeout=60) for p in processes] == [0, 0, 0]  # the third (no slot) stopped as well
    # each started worker kept its own log file
    assert sorted(p.name for p in (tmp_path / config.WORK_DIR_NAME / "logs").iterdir()) == \
        ["worker-0.log", "worker-1.log", "worker-2.log"]

    unused = start_workers(settings, 2)
    processes = [w.process for w in unused]
    stop_workers(unused)
    assert unused == [] and [p.wait(timeout=60) for p in processes] == [0, 0]


# -- status records ------------------------------------------------------------------------------
def test_a_status_write_cut_short_leaves_no_record(tmp_path, monkeypatch):
    """SIGKILL between writing a record and renaming it into place: the leftover is never read as a student."""
    import os

    from autograder import status
    from autograder.course_dir import Course

    course = Course(config.Settings.from_env(root=tmp_path / "course", source=REPO / "notebooks"))
    record = status.StudentResult(assignment="01_numpy_by_hand", student="ada", state="graded", score=7.0)
    status.save(course, record)

    def killed(src, dst):  # the process dies right before the rename
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        status.save(course, status.StudentResult(assignment="01_numpy_by_hand", student="bob", state="graded"))
    monkeypatch.undo()

    folder = status.record_path(course, "01_numpy_by_hand", "ada").parent
    assert sorted(p.name for p in folder.glob("*.json")) == ["ada.json"]
    assert [p.name.startswith(".bob.") for p in folder.iterdir() if p.suffix == ".partial"] == [True]
    assert status.load(course, "01_numpy_by_hand", "bob") is None
    assert status.load(course, "01_numpy_by_hand", "ada").score == 7.0
    # A classmate whose name extends bob's keeps its own write in progress while bob's leftover goes.
    in_progress = folder / ".bob.x.k2j4h5g6.partial"
    in_progress.write_text("{}")
    status.save(course, status.StudentResult(assignment="01_numpy_by_hand", student="bob", state="graded"))
    assert sorted(p.name for p in folder.iterdir()) == [in_progress.name, "ada.json", "bob.json"]
