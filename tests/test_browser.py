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
import time
from pathlib import Path

import nbformat
import pytest
from playwright import sync_api

from course.mistakes import MISTAKES

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
# The exercise the test then answers with a classic slip (the demo's mistake-sum-mse: a summed loss).
MISTAKE_FUNCTION, MISTAKE_ID, MISTAKE_STUDENT = "mse", "sum_reduction", "mistake-sum-mse"
COURSE_FRAME = re.compile(r"course[/\\](?:checks|convert|mistakes)\.py|site-packages")
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


# Where a stretch of text inside `root` is drawn, from the first occurrence of `start` to the end of the
# next occurrence of `end` (whitespace runs count as one space: a message may be wrapped or indented), and
# what hides any of it: the window's edges, or an ancestor that scrolls or clips; whether the element
# drawn at its first line is inside `root` (nothing lies over it). null when the text is not there.
TEXT_PLACEMENT_JS = """
([root, start, end]) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const at = [];
  let text = '', space = true;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const s = node.textContent;
    for (let i = 0; i < s.length; i++) {
      const blank = /\\s/.test(s[i]);
      if (blank && space) continue;
      text += blank ? ' ' : s[i];
      at.push([node, i]);
      space = blank;
    }
  }
  const norm = t => t.replace(/\\s+/g, ' ').trim();
  const first = text.indexOf(norm(start));
  if (first < 0) return null;
  const tail = norm(end || start);
  const from = text.indexOf(tail, first);
  if (from < 0) return null;
  const last = from + tail.length - 1;
  const range = document.createRange();
  range.setStart(at[first][0], at[first][1]);
  range.setEnd(at[last][0], at[last][1] + 1);
  const r = range.getBoundingClientRect();
  const inside = b => r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.left >= b.left - 1 && r.right <= b.right + 1;
  const hiddenBy = [];
  if (!inside({top: 0, left: 0, bottom: window.innerHeight, right: window.innerWidth})) hiddenBy.push('the window');
  let el = range.commonAncestorContainer;
  if (el.nodeType !== Node.ELEMENT_NODE) el = el.parentElement;
  // (the body's overflow is the window's: CSS hands it to the viewport, checked above)
  for (; el && el !== document.body && el !== document.documentElement; el = el.parentElement) {
    const style = getComputedStyle(el);
    if (/(auto|scroll|hidden|clip)/.test(style.overflowX + ' ' + style.overflowY) && !inside(el.getBoundingClientRect()))
      hiddenBy.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
        ? '.' + el.className.trim().split(/\\s+/).join('.') : ''));
  }
  const firstLine = range.getClientRects()[0] || r;
  const top = document.elementFromPoint(firstLine.left + Math.min(5, firstLine.width / 2), firstLine.top + firstLine.height / 2);
  return {
    box: {top: r.top, bottom: r.bottom, left: r.left, right: r.right},
    window: {width: window.innerWidth, height: window.innerHeight},
    hiddenBy, onTop: !!top && root.contains(top), text: text.slice(first, last + 1),
  };
}
"""

# Elements under `root` matching `selector` that scroll sideways (what they hold is wider than they are).
SIDEWAYS_JS = """
([root, selector]) => Array.from(root.querySelectorAll(selector))
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`)
"""


def text_placement(root_locator, start: str, end: str | None = None) -> dict:
    placement = root_locator.page.evaluate(TEXT_PLACEMENT_JS, [root_locator.element_handle(), start, end])
    assert placement is not None, f"{start!r} … {end!r} is not shown:\n{root_locator.inner_text()[:3000]}"
    return placement


def assert_fully_visible(root_locator, start: str, end: str | None = None, what: str = "") -> dict:
    """The text from `start` to `end` is on screen in full, with nothing to scroll and nothing over it."""
    placement = text_placement(root_locator, start, end)
    assert not placement["hiddenBy"] and placement["onTop"], (
        f"{what or start!r} is not fully visible: hidden by {placement['hiddenBy']}, on top: {placement['onTop']}, "
        f"drawn at {placement['box']} in a window of {placement['window']}:\n{placement['text'][:1500]}")
    return placement


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
    # The toolbar can read "idle" before the session exists (a loaded machine showed it 8 s before the
    # server's "Kernel started"): wait for the server's kernel, then for the browser to show it idle.
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while not server.running_kernels():
        assert time.monotonic() < deadline, "the browser opened the notebook but the server started no kernel"
        time.sleep(0.25)
    page.wait_for_function(KERNEL_READY_JS, timeout=RUN_TIMEOUT_MS)


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


def fix_tail(mistake_id: str) -> str:
    """The last words of a mistake's fix: where its verdict ends."""
    return " ".join(MISTAKES[mistake_id].fix.split()[-3:])


def answer_and_run_test(page, answer_index: int, test_index: int, answer: str) -> dict:
    """Type `answer` into the answer cell, run it and the test cell after it; the test cell's state."""
    editor = cell_locator(page, answer_index).locator(".cm-content")
    editor.scroll_into_view_if_needed()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(answer)
    assert editor_text(page, answer_index) == answer.rstrip(), "the editor does not hold the typed answer"
    after = highest_execution_count(page)
    page.keyboard.press("Shift+Enter")
    wait_executed(page, answer_index, after)
    after = highest_execution_count(page)
    page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-cell.jp-mod-active'
                 f'[data-windowed-list-index="{test_index}"]').wait_for()
    page.keyboard.press("Shift+Enter")
    wait_executed(page, test_index, after)
    return cell_states(page)[test_index]


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

        # 4b. The next exercise answered with a classic slip (a summed loss): the check's verdict, the named
        # mistake and its fix, fits on screen in full, with no frame of the course's own code.
        slip_index, slip_test_index, slip_grade_id = exercise_cells(release, MISTAKE_FUNCTION)
        solution = solution_text(ROOT / "notebooks" / ASSIGNMENT / NOTEBOOK, slip_grade_id)
        assert "np.mean(" in solution, "the mse solution changed: update the slip this test types"
        slip_state = answer_and_run_test(page, slip_index, slip_test_index, solution.replace("np.mean(", "np.sum(", 1))
        verdict = "\n".join(slip_state["stderr"])
        assert "Check failed" in verdict and MISTAKES[MISTAKE_ID].title in " ".join(verdict.split()), verdict
        assert not COURSE_FRAME.search(verdict) and 'File "' not in verdict, f"course frames are shown:\n{verdict}"
        assert "[mistake:" not in verdict, verdict
        output = cell_locator(page, slip_test_index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').last
        output.scroll_into_view_if_needed()
        assert_fully_visible(output, "Check failed", fix_tail(MISTAKE_ID), "the failed check's message")
        assert_fully_visible(output, MISTAKES[MISTAKE_ID].title, what="the named mistake")
        assert page.evaluate(SIDEWAYS_JS, [output.element_handle(), "*"]) == [], "the message scrolls sideways"
        shots.take(page, "mistake-verdict-in-lab")

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
        # The first failure listed is the slip's: its verdict is readable without scrolling the dialog.
        assert not COURSE_FRAME.search(text) and "[mistake:" not in text, f"machinery in Validate:\n{text[:3000]}"
        assert_fully_visible(message, "Check failed in check_mse", fix_tail(MISTAKE_ID), "the slip's verdict in Validate")
        assert_fully_visible(message, MISTAKES[MISTAKE_ID].title, what="the named mistake in Validate")
        assert page.evaluate(SIDEWAYS_JS, [dialog.element_handle(), "*"]) == [], "Validate's message scrolls sideways"
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


# --------------------------------------------------------------------------- the feedback page, offline


def hidden_test_lines(source_notebook: Path) -> list[str]:
    """The code lines of the source notebook's hidden tests, whitespace runs as one space."""
    lines, inside = [], False
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        for line in cell.source.splitlines():
            if line.strip() in ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
                inside = line.strip() == "### BEGIN HIDDEN TESTS"
            elif inside and line.strip():
                lines.append(" ".join(line.split()))
    return lines


def test_feedback_page_reads_offline(isolated_jupyter, playwright, tmp_path):
    """A student of the demo class (the summed-loss slip) opens their feedback page in Chromium with no
    network: the math is typeset by the MathJax shipped in the page, the verdict wraps, and nothing of
    the hidden tests or the grader's machine is on it."""
    from autograder import pipeline
    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.demo import catalogue
    from autograder.demo.run import write_class

    course = Course(Settings.from_env(root=tmp_path / "class"))
    pipeline.release(course, [ASSIGNMENT])
    student = next(v for v in catalogue.class_variants(ASSIGNMENT) if v.student == MISTAKE_STUDENT)
    write_class(course, ASSIGNMENT, [student], tmp_path / "class.zip")
    pipeline.collect(course, ASSIGNMENT, tmp_path / "class.zip")
    pipeline.autograde(course, ASSIGNMENT, progress=False)
    pipeline.feedback(course, ASSIGNMENT, progress=False)
    html_path = course.feedback_file(ASSIGNMENT, MISTAKE_STUDENT, ASSIGNMENT)
    assert html_path.exists(), f"no feedback page at {html_path}"

    shots = Screenshots("feedback")
    context = launch_browser(playwright, tmp_path / "chromium-profile")
    refused: list[str] = []

    def offline(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    try:
        context.route("**/*", offline)
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(html_path.as_uri(), wait_until="load")
        # MathJax typesets once its startup promise settles; every formula becomes an mjx-container.
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=UI_WAIT_MS)
        page.evaluate("() => MathJax.startup.promise")
        formulas = page.locator("mjx-container")
        assert formulas.count() >= 5, f"only {formulas.count()} formulas typeset (requests refused: {refused})"
        assert page.evaluate("() => Array.from(document.querySelectorAll('mjx-container'))"
                             ".every(c => c.querySelector(':scope > svg'))"), "a formula has no drawing"
        assert page.locator("mjx-merror").count() == 0, "MathJax could not read a formula"
        body = page.locator("body")
        shown = " ".join(body.inner_text().split())
        for raw in ("$\\hat", "\\frac", "\\partial"):
            assert raw not in shown, f"raw TeX {raw!r} on the page"

        # Nothing of the hidden tests, no grader paths, no machine tags.
        assert "BEGIN HIDDEN TESTS" not in shown and "hidden check" in shown
        hidden = hidden_test_lines(ROOT / "notebooks" / ASSIGNMENT / NOTEBOOK)
        assert hidden and [line for line in hidden if line in shown] == []
        for path in (str(ROOT), str(course.root), sys.prefix, "site-packages", "[mistake:"):
            assert path not in shown, f"{path!r} is on the student's page"
        assert not COURSE_FRAME.search(shown)

        # The slip's verdict: in full, wrapped in its box (no sideways scrolling), named mistake included.
        title = MISTAKES[MISTAKE_ID].title
        verdict = page.locator("pre", has_text="Check failed in check_mse").first
        verdict.evaluate("el => el.scrollIntoView({block: 'center'})")
        placement = assert_fully_visible(verdict, "Check failed in check_mse", fix_tail(MISTAKE_ID), "the verdict")
        assert title in " ".join(placement["text"].split())
        assert page.evaluate(SIDEWAYS_JS, [body.element_handle(), "pre, div.output_subarea, div.output_area"]) == []
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        shots.take(page, "mistake-verdict")
        page.locator("mjx-container").first.scroll_into_view_if_needed()
        shots.take(page, "math-typeset")
        assert refused == [], f"the page asked the network for {refused}"
    finally:
        context.close()
