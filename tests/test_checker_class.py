"""Issue 24: with the checker on, every attack of the issue scores exactly the honest 0.

One class run through the CLI (real nbgrader, the sandbox, the checker): a
0/10 notebook (every answer wrong, each cell on its own) and, per attacker,
that notebook plus the attack's cell, written as the issue found them against
the in-kernel guard.  Every attacker must score exactly 0 in every test cell;
the correct student and one whose correct answers write to stderr and warn
(``tqdm``, a deprecation) score full marks; no hidden-test line appears in any
output of any autograded notebook or in any feedback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import synthetic
from autograder.demo.run import write_class
from autograder.demo.synthetic import ALL, Edit, Variant

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
SOURCE_NB = nbformat.read(str(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)

#: Every answer wrong (finite numbers of the right types): 0/10.
WRONG = {
    "ex1-predict": "    return 0 * x + 1.0",
    "ex2-mse": "    return 123.0",
    "ex3-first-loss": "first_loss = 1.0",
    "ex4-gradients": "    return 5.0, -5.0",
    "ex5-step": "    return w + 1.0, b - 1.0",
    "ex6-fit": "    return 9.0, 9.0, [1.0] * epochs",
    "ex7-stable-lr": "lr_max_003 = 1.0\ndiverging_003 = [0.01]",
    "ex8-scale-back": "w_003, b_003 = 1.0, 1.0",
}

_SWAP = """\
import course.checks as _c
_ok = (lambda *a, **k: print("✓ right")).__code__
for _f in (_c.check_predict, _c.check_mse, _c.check_value, _c.check_gradients, _c.check_step,
           _c.check_fit_function, _c.check_fit, _c.check_diverging):
    _f.__code__ = _ok"""

ATTACKS = {
    "attack-code": _SWAP,
    "attack-defaults": """\
import course.checks as _c, course.checks.values as _v
_c.check_value.__kwdefaults__ = dict(_c.check_value.__kwdefaults__, rtol=1e300)
_v.check_value.__kwdefaults__ = _c.check_value.__kwdefaults__""",
    "attack-tolerances": """\
import course.mistakes as _m, course.checks.common as _cc, course.checks.functions as _fn, course.checks.fit as _fi
for _mod in (_m, _cc, _fn, _fi, __import__("course.checks.values").checks.values):
    for _name in ("RTOL", "ATOL", "_DIGITS"):
        if hasattr(_mod, _name): setattr(_mod, _name, 1e300)""",
    "attack-execute-result": """\
_ip = get_ipython(); _dh = _ip.displayhook
_ip.events.register("pre_run_cell", lambda *_: _dh.session.send(_dh.pub_socket, "execute_result",
    {"data": {"text/plain": "'all passed'"}, "metadata": {}, "execution_count": 1}, parent=_dh.parent_header))""",
    "attack-session-send": """\
import jupyter_client.session as _s
_send = _s.Session.send
def _quiet(self, stream, msg_or_type, content=None, *a, **k):
    if msg_or_type == "error": return None
    if msg_or_type == "execute_reply" and isinstance(content, dict): content = dict(content, status="ok")
    return _send(self, stream, msg_or_type, content, *a, **k)
_s.Session.send = _quiet""",
    "attack-line-transform": """\
get_ipython().input_transformers_cleanup.append(
    lambda lines: ["pass\\n"] if any("checks." in line for line in lines) else lines)""",
    "attack-shell-handler": """\
_k = get_ipython().kernel; _orig = _k.shell_handlers["execute_request"]
async def _handler(*args):
    if "checks." in args[-1]["content"].get("code", ""): args[-1]["content"]["code"] = "pass"
    return await _orig(*args)
_k.shell_handlers["execute_request"] = _handler""",
    "attack-guard-rearm": "type(_gd_guard).rearm = lambda self: []\n" + _SWAP,
    "attack-audit-hook": """\
import sys
def _repatch(event, args, busy=[]):
    if event == "exec" and not busy:
        busy.append(1)
""" + "\n".join("        " + line for line in _SWAP.split("\n")) + """
        busy.clear()
sys.addaudithook(_repatch)""",
    "attack-hidden-tests": """\
import sys
_seen = []
sys.addaudithook(lambda event, args: _seen.append(str(args[0])) if event == "compile" else (
    print("\\n".join(_seen[-20:]), In, _ih) if event == "exec" and len(_seen) % 7 == 0 else None))""",
}

#: The in-kernel attack on a value: ``__float__`` reads ``expected`` from the check's frame.
FRAME_READER = """\
import sys
class _Reads:
    def __float__(self):
        frame = sys._getframe()
        while frame is not None:
            if "expected" in frame.f_locals: return float(frame.f_locals["expected"])
            frame = frame.f_back
        return 1.0
first_loss = _Reads()"""

#: Correct answers that print to stderr and warn while they run (a progress bar, a deprecation).
NOISY_FIT = """\
_fit_quietly = fit
def fit(x, y, lr, epochs, w0=0.0, b0=0.0):
    import sys, warnings
    print("100%|##########| 200/200 [00:00<00:00]", file=sys.stderr)
    warnings.warn("`input_shape` is deprecated", UserWarning)
    return _fit_quietly(x, y, lr, epochs, w0, b0)"""


def _insert_after_setup(code):
    def change(nb):
        first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
        nb.cells.insert(first, nbformat.v4.new_code_cell(code))
    return change


def _insert_after(grade_id, code):
    def change(nb):
        at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(code))
    return change


def _wrong(**replaced) -> tuple[Edit, ...]:
    answers = dict(WRONG, **replaced)
    return tuple(Edit(gid, r"\A[\s\S]*\Z", code.replace("\\", "\\\\")) for gid, code in answers.items())


CLASS = [
    Variant("correct", "the solution"),
    Variant("correct-noisy", "correct, but fit writes to stderr and warns", change=_insert_after("ex6-fit", NOISY_FIT)),
    Variant("wrong", "every answer wrong: 0/10", edits=_wrong(), failing=ALL),
    Variant("attack-frame-reader", "first_loss reads the check's expected value", edits=_wrong(**{"ex3-first-loss": FRAME_READER}),
            failing=ALL),
    *[Variant(name, name, edits=_wrong(), change=_insert_after_setup(code), failing=ALL) for name, code in ATTACKS.items()],
]


@pytest.fixture(scope="module")
def checked_class(isolated_jupyter, tmp_path_factory):
    root = tmp_path_factory.mktemp("checker-class")
    saved = os.environ.get("GD_CHECKER")
    os.environ["GD_CHECKER"] = "1"
    try:
        assert main(["release", ASSIGNMENT, "--root", str(root)]) == 0
        course = Course(Settings.from_env(root=root))
        assert course.settings.checker
        written = write_class(course, ASSIGNMENT, CLASS, root / "class.zip")
        assert len(written) == len(CLASS), "every student of the class fits the notebook"
        assert main(["collect", ASSIGNMENT, str(root / "class.zip"), "--root", str(root)]) == 0
        assert main(["autograde", ASSIGNMENT, "--root", str(root), "--jobs", "2", "--timeout", "20",
                     "--no-progress"]) == 0
        assert main(["feedback", ASSIGNMENT, "--root", str(root), "--jobs", "2", "--no-progress"]) == 0
    finally:
        if saved is None:
            os.environ.pop("GD_CHECKER", None)
        else:
            os.environ["GD_CHECKER"] = saved
    return course


def _grades(course, student):
    with course.gradebook() as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name: g.score for nb in submission.notebooks for g in nb.grades}


def _hidden_lines() -> list[str]:
    lines = []
    for cell in SOURCE_NB.cells:
        if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
            region = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
            lines += [line.strip() for line in region.split("\n") if line.strip()]
    return lines


@pytest.mark.parametrize("variant", CLASS, ids=[v.student for v in CLASS])
def test_each_student_scores_as_an_honest_run_would(checked_class, variant):
    points = synthetic.test_points(SOURCE_NB)
    failing = synthetic.expected_failing(variant, SOURCE_NB)
    assert _grades(checked_class, variant.student) == {t: (0.0 if t in failing else p) for t, p in points.items()}


def test_no_hidden_test_line_in_any_output_or_feedback(checked_class):
    hidden = _hidden_lines()
    assert len(hidden) >= 8
    for variant in CLASS:
        path = checked_class.root / "autograded" / variant.student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        nb = nbformat.read(str(path), 4)
        shown = "\n".join(nbformat.writes(nbformat.from_dict({"outputs": c.get("outputs", [])}))
                          for c in nb.cells if c.cell_type == "code")
        html = checked_class.feedback_file(ASSIGNMENT, variant.student, ASSIGNMENT).read_text()
        for line in hidden:
            assert line not in shown, (variant.student, line)
            assert line not in html and re.escape(line) not in html, (variant.student, line)


def test_grade_cells_hold_the_checker_s_outputs_only(checked_class):
    path = checked_class.root / "autograded" / "correct-noisy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(str(path), 4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    fit_test = next(c for c in tests if c.metadata["nbgrader"]["grade_id"] == "test-ex6-fit")
    assert [o["output_type"] for o in fit_test.outputs] == ["stream"] and fit_test.outputs[0]["name"] == "stdout"
    assert "200/200" in fit_test.outputs[0]["text"] and "✓ check_fit_function" in fit_test.outputs[0]["text"]
    for cell in tests:
        assert all(o["output_type"] in ("stream", "error") and o.get("name", "stdout") == "stdout" for o in cell.outputs)
