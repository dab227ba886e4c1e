"""Every course notebook, found by glob: committed clean, valid nbgrader metadata, and it runs.

* the committed file has no outputs and no execution counts (nbformat-valid, python3 kernel);
* its nbgrader metadata follows the course conventions (and nbgrader's own validator);
* the SOURCE notebook, executed headless, raises nothing and every test cell passes without a
  word on stderr (nbgrader gives zero to a test cell that writes to stderr);
* the RELEASE notebook, made by nbgrader's own ``ClearSolutions`` and ``ClearHiddenTests``,
  shows no solution and no hidden test, and fails only where the learner has work to do.

Each notebook is executed at most once per kind (source, release) per test session.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    path for path in (ROOT / "notebooks").glob("*/*.ipynb") if ".ipynb_checkpoints" not in path.parts
)
NOTEBOOK_IDS = [path.stem for path in NOTEBOOKS]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
GRADE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# The same per-cell limit as the autograder's configuration.
CELL_TIMEOUT_S = 120
# "About 10 points per notebook" (the course convention).
POINTS_RANGE = (8, 12)
# Errors a release test cell may raise: the learner's stub raised, or the check reported it (an
# AssertionError or a subclass, such as course.convert.CheckFailed), or a final value the stubbed
# answer cell never assigned.
RELEASE_TEST_ERRORS = (NotImplementedError, AssertionError, NameError)
# Where an error's class is looked up by the name a notebook output records (builtins first).
ERROR_MODULES = ("builtins", "course.convert", "course.checks")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

parametrize_notebooks = pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=NOTEBOOK_IDS)


# --------------------------------------------------------------------------- reading cells

def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell) -> bool:
    """An autograded answer cell: the learner writes code here."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("solution")) and not meta.get("grade")


def is_test(cell) -> bool:
    """An autograder test cell: locked, worth points."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def describe(nb, index: int) -> str:
    cell = nb.cells[index]
    grade_id = nbgrader_meta(cell).get("grade_id")
    first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "(empty)"
    return f"cell {index}" + (f" [{grade_id}]" if grade_id else "") + f" «{first_line}»"


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """The non-blank lines strictly between ``begin`` and ``end`` delimiters."""
    inside, lines = False, []
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def read(nb_path: Path):
    return nbformat.read(nb_path, as_version=4)


def make_release(nb):
    """Strip the notebook as ``nbgrader generate_assignment`` does, with nbgrader's own preprocessors."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    release = copy.deepcopy(nb)
    resources: dict = {}
    release, resources = ClearSolutions().preprocess(release, resources)
    release, resources = ClearHiddenTests().preprocess(release, resources)
    return release


# --------------------------------------------------------------------------- executing

def error_outputs(cell) -> list:
    return [out for out in cell.get("outputs", []) if out.output_type == "error"]


def stderr_text(cell) -> str:
    return "".join(
        out.text for out in cell.get("outputs", []) if out.output_type == "stream" and out.name == "stderr"
    )


def error_class(ename: str) -> type | None:
    """The exception class a notebook's error output names (its ``ename``), or None if unknown."""
    import importlib

    for module in ERROR_MODULES:
        found = getattr(importlib.import_module(module), ename, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
    return None


def is_release_test_error(ename: str) -> bool:
    """A release test cell may fail this way: the stub's error, a check's verdict, an unassigned name."""
    found = error_class(ename)
    return found is not None and issubclass(found, RELEASE_TEST_ERRORS)


def error_summary(output) -> str:
    tail = ANSI.sub("", "\n".join(output.get("traceback", [])[-3:]))
    return f"{output.ename}: {output.evalue}\n{tail}"


class NotebookRuns:
    """Executes each notebook (source or release) once per test run and remembers the result.

    ``shared`` is a folder every pytest worker of this run sees: the first worker to need an
    execution does it (holding a lock) and writes the executed notebook there; the others wait
    on the lock and read it, so test_notebooks and test_prose_figures pay each execution once
    even when they run in different workers.
    """

    def __init__(self, scratch: Path, shared_mpl_dir: Path, shared: Path | None = None):
        self.scratch = scratch
        self.shared_mpl_dir = shared_mpl_dir
        self.shared = shared or scratch
        self.cache: dict[tuple[Path, str], object] = {}

    def source(self, nb_path: Path):
        return self._run(nb_path, "source", read(nb_path))

    def release(self, nb_path: Path):
        return self._run(nb_path, "release", make_release(read(nb_path)))

    def _run(self, nb_path: Path, kind: str, nb):
        import fcntl

        key = (nb_path, kind)
        if key not in self.cache:
            self.shared.mkdir(parents=True, exist_ok=True)
            done = self.shared / f"{nb_path.stem}-{kind}.ipynb"
            with open(self.shared / f"{nb_path.stem}-{kind}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not done.exists():
                    executed = self._execute(nb, nb_path.parent, self.scratch / f"{nb_path.stem}-{kind}")
                    partial = done.with_suffix(f".{os.getpid()}.partial")
                    nbformat.write(executed, str(partial))
                    partial.replace(done)
                self.cache[key] = nbformat.read(str(done), 4)
        return self.cache[key]

    def _execute(self, nb, cwd: Path, home: Path):
        from nbclient import NotebookClient

        env = isolated_env(home, self.shared_mpl_dir)
        # allow_errors: every cell runs, so a failure names its cell instead of stopping the run.
        client = NotebookClient(
            nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=True,
            resources={"metadata": {"path": str(cwd)}},
        )
        # The kernel inherits this environment; the parent's kernelspec lookup sees it too.
        with mock.patch.dict(os.environ, env):
            client.execute()
        return nb


def isolated_env(home: Path, mpl_dir: Path) -> dict[str, str]:
    """HOME and every Jupyter/IPython directory in a scratch folder: no user config leaks in."""
    dirs = {
        "HOME": home,
        "JUPYTER_CONFIG_DIR": home / "jupyter_config",
        "JUPYTER_DATA_DIR": home / "jupyter_data",
        "JUPYTER_RUNTIME_DIR": home / "jupyter_runtime",
        "IPYTHONDIR": home / "ipython",
    }
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    env = {name: str(folder) for name, folder in dirs.items()}
    # One matplotlib cache for the session: building its font cache costs seconds per run.
    env["MPLCONFIGDIR"] = str(mpl_dir)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    # The kernel (and anything it launches) must use this virtual environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def runs(notebook_runs) -> NotebookRuns:
    # The session's runs (conftest.py): test_prose_figures.py reads the same executed notebooks.
    return notebook_runs


# --------------------------------------------------------------------------- (a) committed clean

def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found under notebooks/*/*.ipynb"


@parametrize_notebooks
def test_folder_and_notebook_share_a_name(nb_path):
    # nbgrader's assignment = folder; the course puts one notebook of the same name in it.
    assert nb_path.parent.name == nb_path.stem, f"{nb_path} should live in notebooks/{nb_path.stem}/"
    assert len(list(nb_path.parent.glob("*.ipynb"))) == 1, f"{nb_path.parent} should hold exactly one notebook"


@parametrize_notebooks
def test_committed_clean(nb_path):
    nb = read(nb_path)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    kernelspec = nb.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"kernelspec should be python3, got {kernelspec}"
    assert kernelspec.get("language", "python") == "python"
    assert "widgets" not in nb.metadata, "saved widget state: clear it before committing"
    dirty = [
        describe(nb, index)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, "cells committed with outputs or execution counts:\n" + "\n".join(dirty)


# --------------------------------------------------------------------------- (b) nbgrader metadata


# Code does not wrap (in the lab or on the feedback page): a longer line makes its box scroll sideways
# at the browser test's 1280-pixel window (test_browser's feedback page found a 132-character line).
CODE_LINE_LIMIT = 120


@parametrize_notebooks
def test_code_lines_fit_the_page(nb_path):
    nb = read(nb_path)
    long_lines = [
        f"{describe(nb, index)}: {len(line)} characters: {line[:60]}…"
        for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for line in cell.source.splitlines() if len(line) > CODE_LINE_LIMIT
    ]
    assert not long_lines, f"code lines over {CODE_LINE_LIMIT} characters:\n" + "\n".join(long_lines)


# nbgrader's Validate dialog lists the failing test cells in a box narrower than the page (919 pixels
# at the browser test's window: a 117-character line of notebook 1's test made it scroll sideways).
VISIBLE_TEST_LINE_LIMIT = 100


@parametrize_notebooks
def test_visible_test_lines_fit_validate(nb_path):
    nb = read(nb_path)
    long_lines = [
        f"{describe(nb, index)}: {len(line)} characters: {line[:60]}…"
        for index, cell in enumerate(nb.cells) if nbgrader_meta(cell).get("grade") and cell.cell_type == "code"
        for line in cell.source.split("### BEGIN HIDDEN TESTS")[0].splitlines() if len(line) > VISIBLE_TEST_LINE_LIMIT
    ]
    assert not long_lines, f"visible test lines over {VISIBLE_TEST_LINE_LIMIT} characters:\n" + "\n".join(long_lines)

@parametrize_notebooks
def test_nbgrader_validator_accepts_it(nb_path):
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(read(nb_path))


@parametrize_notebooks
def test_nbgrader_metadata_follows_course_conventions(nb_path):
    nb = read(nb_path)
    problems, seen_ids = [], set()
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        where = describe(nb, index)
        has_solution_markers = BEGIN_SOLUTION in cell.source or END_SOLUTION in cell.source
        if not meta:
            if has_solution_markers:
                problems.append(f"{where}: solution delimiters in a cell without nbgrader metadata")
            if BEGIN_HIDDEN in cell.source:
                problems.append(f"{where}: hidden tests in a cell that is not a test cell")
            continue
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version {meta.get('schema_version')!r}, expected 3")
        grade_id = meta.get("grade_id", "")
        if not GRADE_ID.match(grade_id or ""):
            problems.append(f"{where}: grade_id {grade_id!r} should be lowercase letters, digits, - or _")
        if grade_id in seen_ids:
            problems.append(f"{where}: duplicate grade_id {grade_id!r}")
        seen_ids.add(grade_id)
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
                problems.append(f"{where}: grade cell needs positive points, got {points!r}")
        if is_answer(cell):
            if BEGIN_SOLUTION not in cell.source or END_SOLUTION not in cell.source:
                problems.append(f"{where}: answer cell without {BEGIN_SOLUTION} / {END_SOLUTION}")
        elif has_solution_markers:
            problems.append(f"{where}: solution delimiters in a cell not marked as a solution cell")
        if is_test(cell):
            if not meta.get("locked"):
                problems.append(f"{where}: test cell is not locked")
            if (BEGIN_HIDDEN in cell.source) != (END_HIDDEN in cell.source):
                problems.append(f"{where}: unbalanced hidden-test delimiters")
            if "checks." in cell.source and not re.search(r"from course import .*\bchecks\b|import course\.checks", cell.source):
                problems.append(f"{where}: test cell uses checks without importing it itself")
        elif BEGIN_HIDDEN in cell.source:
            problems.append(f"{where}: hidden tests in a cell that is not a test cell")
    assert not problems, "\n".join(problems)


@parametrize_notebooks
def test_notebook_structure(nb_path):
    nb = read(nb_path)
    cells = nb.cells
    assert cells and cells[0].cell_type == "markdown", "the first cell should be the markdown introduction"
    assert "what you will learn" in cells[0].source.lower(), "the first cell needs a 'What you will learn' list"

    code_cells = [cell for cell in cells if cell.cell_type == "code"]
    setup_cell = code_cells[0]
    meta = nbgrader_meta(setup_cell)
    assert meta.get("locked") and not meta.get("grade") and not meta.get("solution"), (
        "the first code cell should be the locked (read-only) setup cell"
    )
    assert "setup(" in setup_cell.source, "the setup cell should call course.notebook.setup()"
    framework_import = re.search(r"^\s*(import|from)\s+(tensorflow|keras)\b", setup_cell.source, re.M)
    if framework_import:
        quiet = setup_cell.source.find("setup(frameworks=True)")
        assert 0 <= quiet < framework_import.start(), (
            "TF/Keras notebooks call setup(frameworks=True) before importing tensorflow/keras"
        )

    tail = [cell for cell in cells[-3:] if cell.cell_type == "markdown"]
    assert any("recap" in cell.source.lower() for cell in tail), "a 'Recap' belongs in the last cells"


@parametrize_notebooks
def test_exercises_are_graded(nb_path):
    nb = read(nb_path)
    kinds = ["answer" if is_answer(c) else "test" if is_test(c) else None for c in nb.cells]
    answers = [i for i, kind in enumerate(kinds) if kind == "answer"]
    tests = [i for i, kind in enumerate(kinds) if kind == "test"]
    assert answers and tests, "a graded notebook needs answer cells and test cells"
    ungraded = [describe(nb, i) for i in answers if not any(t > i for t in tests)]
    assert not ungraded, "answer cells with no test cell after them:\n" + "\n".join(ungraded)
    orphan = [describe(nb, t) for t in tests if not any(a < t for a in answers)]
    assert not orphan, "test cells before any answer cell:\n" + "\n".join(orphan)
    assert any(BEGIN_HIDDEN in nb.cells[t].source for t in tests), (
        "no hidden tests: a copied number would pass every test"
    )
    total = sum(nbgrader_meta(nb.cells[t])["points"] for t in tests)
    low, high = POINTS_RANGE
    assert low <= total <= high, f"{total} points in all; the course gives about 10 per notebook"


# --------------------------------------------------------------------------- (d) release, static

@parametrize_notebooks
def test_release_hides_solutions_and_hidden_tests(nb_path):
    source = read(nb_path)
    release = make_release(source)
    assert len(release.cells) == len(source.cells)
    problems = []
    for index, (original, stripped) in enumerate(zip(source.cells, release.cells)):
        where = describe(source, index)
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            if marker in stripped.source:
                problems.append(f"{where}: release still contains {marker!r}")
        kept_lines = {line.strip() for line in stripped.source.splitlines()}
        outside = set(re.sub(
            rf"{re.escape(BEGIN_SOLUTION)}.*?{re.escape(END_SOLUTION)}|{re.escape(BEGIN_HIDDEN)}.*?{re.escape(END_HIDDEN)}",
            "", original.source, flags=re.S).splitlines())
        outside = {line.strip() for line in outside}
        secret = region_lines(original.source, BEGIN_SOLUTION, END_SOLUTION)
        secret += region_lines(original.source, BEGIN_HIDDEN, END_HIDDEN)
        leaked = [line for line in secret if line in kept_lines and line not in outside]
        if leaked:
            problems.append(f"{where}: release shows solution/hidden lines {leaked}")
        if is_answer(original) and original.cell_type == "code" and "raise NotImplementedError()" not in stripped.source:
            problems.append(f"{where}: release answer cell has no `raise NotImplementedError()` stub")
        if is_test(original) and BEGIN_HIDDEN in original.source:
            visible = re.sub(rf"[ \t]*{re.escape(BEGIN_HIDDEN)}.*?{re.escape(END_HIDDEN)}[^\n]*\n?", "",
                             original.source, flags=re.S)
            if stripped.source.strip() != visible.strip():
                problems.append(f"{where}: the visible part of the test cell changed in the release")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- (c) source executes

@pytest.mark.slow
@parametrize_notebooks
def test_source_runs_and_passes_its_tests(nb_path, runs):
    nb = runs.source(nb_path)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = describe(nb, index)
        if cell.execution_count is None and cell.source.strip():
            problems.append(f"{where}: never executed")
        for output in error_outputs(cell):
            problems.append(f"{where}: {error_summary(output)}")
        if is_test(cell) and stderr_text(cell):
            problems.append(f"{where}: test cell wrote to stderr (nbgrader would give 0):\n{stderr_text(cell)}")
    assert not problems, f"{nb_path.name} (source):\n" + "\n\n".join(problems)


# --------------------------------------------------------------------------- (d) release executes

@pytest.mark.slow
@parametrize_notebooks
def test_release_fails_only_where_the_learner_must_write(nb_path, runs):
    nb = runs.release(nb_path)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = describe(nb, index)
        errors = error_outputs(cell)
        names = [output.ename for output in errors]
        if is_answer(cell):
            if any(name != "NotImplementedError" for name in names):
                problems.append(f"{where}: answer cell raised something other than the stub's "
                                f"NotImplementedError: {[error_summary(e) for e in errors]}")
        elif is_test(cell):
            if not errors:
                # Every answer is a stub: a test that passes now gives points for nothing.
                problems.append(f"{where}: test cell passes on the unanswered release")
            elif not all(is_release_test_error(name) for name in names):
                problems.append(f"{where}: test cell crashed instead of failing on the stub: "
                                f"{[error_summary(e) for e in errors]}")
        elif errors:
            problems.append(f"{where}: a cell outside the exercises fails in the release "
                            f"(it must not depend on the learner's answers): {[error_summary(e) for e in errors]}")
    assert not problems, f"{nb_path.name} (release):\n" + "\n\n".join(problems)
