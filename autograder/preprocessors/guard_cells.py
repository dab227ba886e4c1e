"""The hidden guard cells around a student's code (see :mod:`autograder.kernel.guard`), inserted and removed again."""

from __future__ import annotations


import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from ..notes import META_KEY, add_note
from .common import GUARD_MIMETYPE, _code_list

# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------
ARM_SOURCE = """\
# Inserted by the autograder before any of your code runs (not part of your notebook):
# memory and output limits, and pristine copies of the checks, NumPy and builtins.
import autograder.kernel.guard as _gd_guard_module
_gd_guard = _gd_guard_module.arm(memory_mb={memory_mb}, max_output_chars={max_output_chars}, figures={figures})
del _gd_guard_module"""

FORGET_SOURCE = """\
# Inserted by the autograder: the test above is forgotten (its source is not kept in the kernel).
import autograder.kernel.forget as _gd_forget
_gd_forget.forget_recent_cells()
del _gd_forget"""

AGENT_SOURCE = """\
# Inserted by the autograder: the tests run outside this kernel, in the grader's checker;
# this agent answers its questions about your names (values, calls) with data only.
import autograder.kernel.agent as _gd_agent_module
_gd_agent_module.start()
del _gd_agent_module"""

EXTEND_SOURCE = """\
# Inserted by the autograder: keep pristine copies of what the set-up cells imported.
_gd_guard.extend()"""

REARM_SOURCE = """\
# Inserted by the autograder: undo changes to the checks, NumPy and builtins before this test.
try:
    _gd_restored = _gd_guard.rearm()
except Exception:
    import autograder.kernel.guard
    _gd_restored = autograder.kernel.guard.rearm()
from IPython.display import display as _gd_display
_gd_display({{"text/plain": "", "{mimetype}": {{"restored": _gd_restored}}}}, raw=True)
del _gd_restored, _gd_display"""


def _guard_cell(source: str, kind: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source=source, metadata={META_KEY: {"kind": kind}})


class GuardTests(NbGraderPreprocessor):
    """Insert the hidden guard cells (see :mod:`autograder.guard`) around the student's code."""

    memory_mb = Integer(0, help="Address-space cap of the kernel in MiB (0: none)").tag(config=True)
    max_output_chars = Integer(0, help="Characters of stream output per cell (0: no cap)").tag(config=True)
    figures = Bool(True, help="Draw figures while grading (False: made but not drawn; nothing graded "
                              "looks at their pixels)").tag(config=True)
    checker = Bool(False, help="Grade cells run in the checker (autograder.checker): start the agent that "
                               "answers it; nothing to forget after a test").tag(config=True)

    def preprocess(self, nb, resources):
        cells = [_guard_cell(ARM_SOURCE.format(memory_mb=self.memory_mb, max_output_chars=self.max_output_chars,
                                               figures=bool(self.figures)), "arm")]
        if self.checker:
            cells.append(_guard_cell(AGENT_SOURCE, "agent"))
        extended = False
        for cell in nb.cells:
            if cell.cell_type == "code":
                if not extended and not utils.is_locked(cell):
                    cells.append(_guard_cell(EXTEND_SOURCE, "extend"))
                    extended = True
                if utils.is_grade(cell) and not utils.is_solution(cell):
                    cells.append(_guard_cell(REARM_SOURCE.format(mimetype=GUARD_MIMETYPE), "rearm"))
            cells.append(cell)
            if (cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)
                    and not self.checker):
                cells.append(_guard_cell(FORGET_SOURCE, "forget"))
        nb.cells = cells
        return nb, resources


class TidyGuardCells(NbGraderPreprocessor):
    """Remove the hidden guard cells after execution; what they undid becomes a note."""

    def preprocess(self, nb, resources):
        restored: list[str] = []
        failed, arm_error = 0, None
        kept = []
        for cell in nb.cells:
            kind = cell.get("metadata", {}).get(META_KEY, {}).get("kind") if cell.cell_type == "code" else None
            if kind not in ("arm", "agent", "extend", "rearm", "forget"):
                kept.append(cell)
                continue
            for output in cell.get("outputs", []):
                if output.get("output_type") in ("display_data", "execute_result"):
                    report = output.get("data", {}).get(GUARD_MIMETYPE)
                    if isinstance(report, dict):
                        restored += [r for r in report.get("restored", []) if r not in restored]
                elif output.get("output_type") == "error" and output.get("ename") != "NotRun":
                    if kind == "arm":
                        arm_error = f"{output.get('ename')}: {output.get('evalue')}"
                    else:
                        failed += 1
        nb.cells = kept
        if restored:
            add_note(nb, "monkeypatch",
                     "Your code replaced things the tests rely on: "
                     f"{_code_list(restored[:10])}{' and more' if len(restored) > 10 else ''}. "
                     "The grader put the originals back before each test, so the tests checked "
                     "your own functions.")
        if arm_error:
            add_note(nb, "guard",
                     f"The grader could not set up its protections in your kernel ({arm_error}); "
                     "the tests ran without them.")
        elif failed:
            add_note(nb, "monkeypatch",
                     "Your code interfered with the grader's own set-up cells; some tests may have "
                     "run without the grader's protection. Your instructor sees this note.")
        return nb, resources
