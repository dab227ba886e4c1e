"""End-to-end in a real browser: the student's workspace and the instructor's formgrader.

The student test starts the workspace the way `make lab` does (`python -m autograder.classroom.workspace`, on a
free port with a token, in a throw-away copy of the course) and, in Debian's Chromium driven by
Playwright, works through notebook 1 as a learner would: open it from the file browser, run all
cells, fill one exercise, move the learning-rate slider, press nbgrader's Validate. The instructor
test opens the formgrader at a course root and finds every assignment listed.

Screenshots of each step go to tests/screenshots/ (git-ignored); each is checked not to be blank.
Run these alone with `.venv/bin/python -m pytest -m browser`.
"""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path

import nbformat
import pytest
from playwright import sync_api

from browser_support import (
    ROOT,
    JupyterServer,
    Screenshots,
    copy_course,
    free_port,
    isolated_env,
    launch_browser,
    menu_command,
    new_token,
    open_in_file_browser,
    open_lab,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ASSIGNMENT = "01_numpy_by_hand"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
EXERCISE_FUNCTION = "predict"  # the exercise the test answers (its solution comes from the source notebook)
RUN_TIMEOUT_MS = 240_000  # running a whole notebook on a busy 2-core CI machine
VALIDATE_TIMEOUT_MS = 240_000  # nbgrader validate runs the notebook again in a fresh kernel
SLIDER_KEY_PRESSES = 10
UI_WAIT_MS = 60_000



# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as instance:
        yield instance


@pytest.fixture
def page(playwright, tmp_path):
    context = launch_browser(playwright, tmp_path / "chromium-profile")
    page = context.pages[0] if context.pages else context.new_page()
    yield page
    context.close()


@pytest.fixture
def student_server(tmp_path):
    """`make lab`'s workspace in a copy of the course, on a free port with a token."""
    course = copy_course(tmp_path / "course")
    workspace = tmp_path / "workspace"
    port, token = free_port(), new_token()
    server = JupyterServer(
        [sys.executable, "-m", "autograder.classroom.workspace", "--root", str(course), "--workspace", str(workspace),
         "--port", str(port), "--ip", "127.0.0.1", "--token", token, "--no-browser"],
        cwd=course, env=isolated_env(tmp_path / "home"), port=port, token=token,
        log_path=tmp_path / "workspace.log",
    )
    server.course, server.workspace = course, workspace
    server.start()
    yield server
    server.stop()


@pytest.fixture
def instructor_server(tmp_path):
    """`jupyter lab` at a course root holding the course's nbgrader_config.py and the source notebooks."""
    from autograder.config import Settings, write_course_config

    course = copy_course(tmp_path / "course")
    # A root other than the repository gets its own nbgrader_config.py (the autograder's settings), pointing
    # at the copy's notebooks.
    config = write_course_config(Settings.from_env(root=course, source=course / "notebooks"))
    assert config.exists()
    port, token = free_port(), new_token()
    server = JupyterServer(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}"],
        cwd=course, env=isolated_env(tmp_path / "home"), port=port, token=token,
        log_path=tmp_path / "instructor-lab.log",
    )
    server.course = course
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def screenshot_on_failure(shots: Screenshots, page, server: JupyterServer):
    """Keep a picture of the page (and the server's log in the message) when a step fails."""
    try:
        yield
    except BaseException as error:
        with contextlib.suppress(Exception):
            shots.take(page, "FAILED", check_blank=False)
        if isinstance(error, AssertionError) or type(error).__name__ == "TimeoutError":
            raise AssertionError(f"{error}\n--- server log (tail) ---\n{server.log_tail(30)}") from error
        raise


# --------------------------------------------------------------------------- notebook helpers

# State of every cell of the open notebook, straight from the DOM.
CELL_STATES_JS = """
() => {
  const panel = Array.from(document.querySelectorAll('.jp-NotebookPanel'))
    .find(p => !p.classList.contains('lm-mod-hidden'));
  if (!panel) return null;
  const cells = Array.from(panel.querySelectorAll('.jp-Notebook-cell'));
  return {
    status: panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') ?? null,
    kernel: panel.querySelector('.jp-Toolbar-kernelName')?.textContent.trim() ?? null,
    cells: cells.map((cell, position) => ({
      index: cell.hasAttribute('data-windowed-list-index')
        ? Number(cell.getAttribute('data-windowed-list-index')) : position,
      code: cell.classList.contains('jp-CodeCell'),
      prompt: (cell.querySelector('.jp-InputPrompt')?.textContent ?? '').trim(),
      stderr: Array.from(cell.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')).map(o => o.textContent),
      stdout: Array.from(cell.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')).map(o => o.textContent),
      images: cell.querySelectorAll('.jp-OutputArea-output img').length,
    })),
  };
}
"""

# True once the cell at `index` shows an execution count above `after`, nothing is queued or running,
# and the kernel is idle.
EXECUTION_DONE_JS = """
([index, after]) => {
  const panel = Array.from(document.querySelectorAll('.jp-NotebookPanel'))
    .find(p => !p.classList.contains('lm-mod-hidden'));
  if (!panel) return false;
  if (panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') !== 'idle') return false;
  const cells = Array.from(panel.querySelectorAll('.jp-Notebook-cell'));
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt')?.textContent ?? '').trim());
  if (prompts.some(p => p.includes('*'))) return false;
  const cell = cells.find((c, i) => (c.hasAttribute('data-windowed-list-index')
    ? Number(c.getAttribute('data-windowed-list-index')) : i) === index);
  const match = /\\[(\\d+)\\]/.exec(cell ? (cell.querySelector('.jp-InputPrompt')?.textContent ?? '') : '');
  return match !== null && Number(match[1]) > after;
}
"""

# The kernel is started and connected (right after opening, the indicator says "idle" with no kernel).
KERNEL_READY_JS = """
() => {
  const panel = Array.from(document.querySelectorAll('.jp-NotebookPanel'))
    .find(p => !p.classList.contains('lm-mod-hidden'));
  if (!panel) return false;
  const name = panel.querySelector('.jp-Toolbar-kernelName')?.textContent.trim() ?? '';
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  return name !== '' && !/no kernel/i.test(name) && status === 'idle';
}
"""


# The explorer's readout (written by the kernel) shows the lr the slider (in the browser) is at.
SLIDER_CAUGHT_UP_JS = """
([slider, readout]) => {
  const shown = parseFloat(slider.textContent);
  const match = /lr = ([0-9.eE+-]+)/.exec(readout.textContent);
  if (!match || !isFinite(shown)) return false;
  const computed = parseFloat(match[1]);
  return Math.abs(computed - shown) <= 0.006 * Math.abs(shown);  // the slider shows 3 significant digits
}
"""


def cell_states(page) -> dict[int, dict]:
    state = page.evaluate(CELL_STATES_JS)
    assert state is not None, "no notebook is open"
    return {cell["index"]: cell for cell in state["cells"]}


def execution_count(prompt: str) -> int | None:
    match = re.search(r"\[(\d+)\]", prompt)
    return int(match.group(1)) if match else None


def highest_execution_count(page) -> int:
    counts = [execution_count(cell["prompt"]) for cell in cell_states(page).values()]
    return max([c for c in counts if c is not None], default=0)


def wait_kernel_ready(page, server: JupyterServer) -> None:
    page.wait_for_function(KERNEL_READY_JS, timeout=RUN_TIMEOUT_MS)
    assert server.running_kernels(), "the browser shows a kernel but the server runs none"


def wait_executed(page, index: int, after: int) -> None:
    page.wait_for_function(EXECUTION_DONE_JS, arg=[index, after], timeout=RUN_TIMEOUT_MS, polling=250)


def cell_locator(page, index: int):
    return page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-cell[data-windowed-list-index="{index}"]')


def select_cell(page, index: int) -> None:
    """Click a cell's prompt: the cell becomes the active one, in command mode."""
    prompt = cell_locator(page, index).locator(".jp-InputPrompt")
    prompt.scroll_into_view_if_needed()
    prompt.click()
    page.wait_for_selector(
        f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-cell.jp-mod-active[data-windowed-list-index="{index}"]')


def run_every_cell(page, code_indices: list[int]) -> int:
    """Run > Run All Cells; JupyterLab stops at the first error (an exercise stub), so go on from the
    next cell with Run > Run Selected Cell and All Below, as a learner would. Returns the passes made."""
    after = highest_execution_count(page)
    menu_command(page, "Run", "Run All Cells")
    first, passes = code_indices[0], 1
    while True:
        wait_executed(page, first, after)
        states = cell_states(page)
        not_run = [i for i in code_indices if execution_count(states[i]["prompt"]) is None]
        if not not_run:
            return passes
        assert passes <= len(code_indices), f"cells {not_run} never ran"
        first, after, passes = not_run[0], highest_execution_count(page), passes + 1
        select_cell(page, first)
        menu_command(page, "Run", "Run Selected Cell and All Below")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_text(source_notebook: Path, grade_id: str) -> str:
    """The instructor's answer for one exercise: its source cell without the BEGIN/END SOLUTION lines."""
    notebook = nbformat.read(source_notebook, as_version=4)
    cell = next(c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == grade_id)
    lines = [line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(lines)


def exercise_cells(release, function_name: str) -> tuple[int, int, str]:
    """(answer cell index, test cell index, grade_id) of the exercise that defines `function_name`."""
    cells = release.cells
    answer = next(i for i, c in enumerate(cells)
                  if nbgrader_meta(c).get("solution") and re.search(rf"^def {function_name}\(", c.source, re.M))
    test = next(i for i in range(answer + 1, len(cells))
                if cells[i].cell_type == "code" and nbgrader_meta(cells[i]).get("grade"))
    return answer, test, nbgrader_meta(cells[answer])["grade_id"]


def editor_text(page, index: int) -> str:
    lines = cell_locator(page, index).locator(".cm-content .cm-line").all_inner_texts()
    return "\n".join(lines).rstrip()


def value_from_readout(text: str, name: str) -> float:
    """A number from a row of the explorer's readout table ("w  1.99993")."""
    match = re.search(rf"^\s*{re.escape(name)}\s+([-0-9.eE+]+|nan|inf)\s*$", text, re.M)
    assert match, f"no row {name!r} in the explorer's readout: {text!r}"
    return float(match.group(1))


def fit_panel(png: bytes) -> bytes:
    """The left third of the explorer's figure (the data and the fitted line), as raw pixels."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as figure:
        return figure.crop((0, 0, figure.width // 3, figure.height)).tobytes()


def lr_from_readout(text: str) -> float:
    match = re.search(r"lr = ([0-9.eE+-]+)", text)
    assert match, f"no 'lr = …' in the explorer's readout: {text!r}"
    return float(match.group(1))


# --------------------------------------------------------------------------- tests


def test_student_works_through_notebook_1(student_server, page):
    shots = Screenshots("student")
    release_path = student_server.workspace / ASSIGNMENT / NOTEBOOK
    assert release_path.exists(), f"the workspace has no {ASSIGNMENT}/{NOTEBOOK}"
    release = nbformat.read(release_path, as_version=4)
    code_indices = [i for i, c in enumerate(release.cells) if c.cell_type == "code"]
    answer_index, test_index, grade_id = exercise_cells(release, EXERCISE_FUNCTION)
    explorer_index = next(i for i in code_indices if "widgets.explore(" in release.cells[i].source)

    with screenshot_on_failure(shots, page, student_server):
        # 1. JupyterLab with the workspace in the file browser.
        open_lab(page, student_server)
        assignments = sorted(p.name for p in student_server.workspace.iterdir() if p.is_dir())
        for name in assignments:
            page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).wait_for()
        shots.take(page, "workspace-file-browser")

        # 2. Open notebook 1 from the file browser; its kernel starts.
        open_in_file_browser(page, ASSIGNMENT, NOTEBOOK)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-cell").first.wait_for()
        wait_kernel_ready(page, student_server)
        assert len(cell_states(page)) == len(release.cells), "the browser shows a different number of cells"
        shots.take(page, "notebook-1-open")

        # 3. Run all cells; only the exercise stubs may show errors.
        passes = run_every_cell(page, code_indices)
        states = cell_states(page)
        problems, stub_errors = [], []
        for i in code_indices:
            meta, state = nbgrader_meta(release.cells[i]), states[i]
            first_line = release.cells[i].source.strip().splitlines()[0] if release.cells[i].source.strip() else ""
            if execution_count(state["prompt"]) is None:
                problems.append(f"cell {i} ({first_line!r}) did not run")
            if not state["stderr"]:
                continue
            error_text = "\n".join(state["stderr"])
            if meta.get("solution") and "NotImplementedError" in error_text:
                stub_errors.append(i)  # the stub an unanswered exercise raises
            elif meta.get("grade") and not meta.get("solution"):
                stub_errors.append(i)  # a test of an exercise that is not answered yet
            else:
                problems.append(f"cell {i} ({first_line!r}) shows an error:\n{error_text[-1500:]}")
        assert not problems, "\n\n".join(problems)
        assert test_index in stub_errors, f"the test of the unanswered {EXERCISE_FUNCTION} should fail before the answer"
        assert "NotImplementedError" in "\n".join(states[test_index]["stderr"])
        assert passes >= 2, "Run All should have stopped at the first exercise stub"
        drawn = sum(states[i]["images"] for i in code_indices if not nbgrader_meta(release.cells[i]))
        assert drawn >= 1, "the teaching cells drew no plot"
        cell_locator(page, test_index).scroll_into_view_if_needed()
        shots.take(page, "ran-all-stub-fails")

        # 4. Answer the exercise (the instructor's solution from the source notebook), run it and its test.
        answer = solution_text(ROOT / "notebooks" / ASSIGNMENT / NOTEBOOK, grade_id)
        editor = cell_locator(page, answer_index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(answer)
        assert editor_text(page, answer_index) == answer.rstrip(), "the editor does not hold the typed answer"
        after = highest_execution_count(page)
        page.keyboard.press("Shift+Enter")  # runs the answer, moves to the test cell
        wait_executed(page, answer_index, after)
        after = highest_execution_count(page)
        page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-cell.jp-mod-active'
                     f'[data-windowed-list-index="{test_index}"]').wait_for()
        page.keyboard.press("Shift+Enter")  # runs the test
        wait_executed(page, test_index, after)
        test_state = cell_states(page)[test_index]
        assert test_state["stderr"] == [], f"the test still fails:\n{test_state['stderr']}"
        confirmation = "\n".join(test_state["stdout"])
        assert EXERCISE_FUNCTION in confirmation and "✓" in confirmation, f"no confirmation line: {confirmation!r}"
        cell_locator(page, test_index).scroll_into_view_if_needed()
        shots.take(page, "answer-typed-test-passes")

        # 5. The learning-rate slider: the readout and the plots follow it.
        explorer = cell_locator(page, explorer_index)
        lr_slider = explorer.locator(".widget-slider").filter(
            has=page.locator(".widget-label", has_text=re.compile(r"^\s*lr\s*$"))).first
        handle = lr_slider.locator(".noUi-handle").first
        slider_value = lr_slider.locator(".widget-readout")
        readout = explorer.locator(".widget-html-content", has_text="closed form").first
        image = explorer.locator("img").first

        def settled() -> tuple[str, bytes]:
            """Wait until the kernel has answered the slider's last position; the readout and the plots then."""
            page.wait_for_function(SLIDER_CAUGHT_UP_JS, arg=[slider_value.element_handle(), readout.element_handle()],
                                   timeout=UI_WAIT_MS)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                   timeout=UI_WAIT_MS)
            return readout.inner_text(), image.screenshot()

        handle.scroll_into_view_if_needed()
        image.wait_for()
        readout_start, pixels_start = settled()
        shots.take(page, "explorer-start")

        # a) The keyboard: a few steps up.
        handle.focus()
        for _ in range(SLIDER_KEY_PRESSES):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("([el, before]) => el.textContent !== before",
                               arg=[readout.element_handle(), readout.text_content()], timeout=UI_WAIT_MS)
        readout_up, pixels_up = settled()
        assert lr_from_readout(readout_up) > lr_from_readout(readout_start), (readout_start, readout_up)
        assert pixels_up != pixels_start, "the plots did not change when the slider moved"
        shots.take(page, "explorer-lr-up-keyboard")

        # b) The mouse: drag the handle to the slow end; in 200 epochs the line barely leaves its start.
        track = lr_slider.locator(".noUi-target").first.bounding_box()
        knob = handle.bounding_box()
        page.mouse.move(knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + 1, knob["y"] + knob["height"] / 2, steps=8)
        page.mouse.up()
        readout_slow, pixels_slow = settled()
        assert lr_from_readout(readout_slow) < lr_from_readout(readout_start) / 100, readout_slow
        assert value_from_readout(readout_slow, "w") != value_from_readout(readout_up, "w")
        assert fit_panel(pixels_slow) != fit_panel(pixels_up), "the plotted fit did not move with lr"
        shots.take(page, "explorer-lr-dragged-down")

        # 6. nbgrader's Validate (saves, then runs the notebook in a fresh kernel).
        validate = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first
        validate.click()
        dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        message = dialog.locator("#validation-message")
        message.wait_for()
        text = message.inner_text()
        assert "The following cell failed" in text, f"the other exercises are stubs, validation should fail:\n{text[:2000]}"
        other_tests = [release.cells[i].source for i in code_indices
                       if nbgrader_meta(release.cells[i]).get("grade") and i != test_index]
        assert any(src.strip().splitlines()[-1] in text for src in other_tests), "no unanswered test is listed"
        answered_test_line = next(line for line in release.cells[test_index].source.splitlines()
                                  if EXERCISE_FUNCTION in line and "check" in line)
        assert answered_test_line not in text, f"Validate still lists the answered test {answered_test_line!r}"
        shots.take(page, "validate-results")
        dialog.get_by_role("button", name="Ok").click()
        dialog.wait_for(state="detached")


def test_instructor_formgrader_lists_and_generates(instructor_server, page):
    shots = Screenshots("instructor")
    assignments = sorted(p.name for p in (instructor_server.course / "notebooks").iterdir()
                         if p.is_dir() and any(p.glob("*.ipynb")))
    assert assignments, "no assignments under notebooks/"
    with screenshot_on_failure(shots, page, instructor_server):
        open_lab(page, instructor_server)
        shots.take(page, "course-root")

        # The Formgrader from the Nbgrader menu lists every assignment folder of the course.
        menu_command(page, "Nbgrader", "Formgrader")
        frame = page.frame_locator("iframe[src*='formgrader']").first
        names = frame.locator("td.name")
        for name in assignments:
            names.filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.wait_for()
        listed = sorted(text.strip() for text in names.all_inner_texts())
        assert listed == assignments, f"formgrader lists {listed}, the course has {assignments}"
        shots.take(page, "formgrader-assignments")

        # Generate the student version of notebook 1 from the formgrader (nbgrader with the course's config).
        row = frame.locator("tr", has=frame.locator("td.name", has_text=re.compile(rf"^\s*{ASSIGNMENT}\s*$")))
        row.locator("td.assign a").click()
        outcome = frame.locator("#success-modal, #error-modal").first
        outcome.wait_for(timeout=RUN_TIMEOUT_MS)
        assert outcome.get_attribute("id") == "success-modal", f"generate failed:\n{outcome.inner_text()[:2000]}"
        shots.take(page, "formgrader-generated")
        release = instructor_server.course / "release" / ASSIGNMENT / NOTEBOOK
        assert release.exists(), f"no {release} after Generate"
        student_version = release.read_text()
        assert "BEGIN SOLUTION" not in student_version and "HIDDEN TESTS" not in student_version
        assert "raise NotImplementedError()" in student_version
        assert (instructor_server.course / "gradebook.db").exists(), "the formgrader did not use the course root"
