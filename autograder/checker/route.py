"""Where grading meets the checker: :class:`SafeExecute` sends grade cells here instead of to the kernel.

A grade cell (visible and hidden tests) never reaches the student's kernel:
its source goes to the grading process's checker (:mod:`.client`), which
asks the kernel's agent for the learner's names and writes the cell's
outputs.  Only those outputs decide the cell's score, and they hold no stderr
stream: what the learner's code printed or warned during a check is shown as
their output, never as a failure.
"""

from __future__ import annotations

import re
import symtable

from nbgrader import utils

from autograder.kernel.agent import socket_path

from .client import AgentLink, CheckerFailed, shared_checker

_EXERCISE = re.compile(r"^#+\s*(Exercise\s+\d+[a-z]?)", re.MULTILINE)
_FRAMEWORKS = (("torch", ("framework=\"torch\"", "torch.")), ("tensorflow", ("framework=\"tf\"", "tf.")),
               ("keras", ("keras",)))


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def exercise_labels(nb) -> dict:
    """``{name: "Exercise 7"}``: the exercise whose answer cell defines each name."""
    labels, current = {}, None
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "markdown":
            match = _EXERCISE.search(cell.source)
            current = match.group(1) if match else current
        elif cell.cell_type == "code" and utils.is_solution(cell):
            try:
                table = symtable.symtable(cell.source, "<answer>", "exec")
            except SyntaxError:
                continue
            for symbol in table.get_symbols():
                if (symbol.is_assigned() or symbol.is_imported()) and symbol.get_name() not in labels:
                    labels[symbol.get_name()] = current or f"the answer cell {number}"
    return labels


def _labels(executor) -> dict:
    """Names to exercises, from the instructor's notebook (a student's stub may define nothing)."""
    labels = exercise_labels(executor.nb)
    info = (getattr(executor, "resources", None) or {}).get("nbgrader", {})
    try:
        import nbformat

        from ..preprocessors.common import _source_notebook_path

        path = _source_notebook_path(executor, info.get("assignment"), info.get("notebook"))
        if path:
            labels.update(exercise_labels(nbformat.read(path, as_version=4)))
    except Exception:  # noqa: BLE001 (labels only improve a message)
        pass
    return labels


def _preload(nb) -> list[str]:
    """What the checker will need for this notebook's checks, imported while the student's cells run."""
    text = "\n".join(c.source for c in nb.cells if is_test_cell(c))
    wanted = ["numpy", "course.checks", "course.reference", "course.data"]
    return wanted + [name for name, marks in _FRAMEWORKS if any(m in text for m in marks)]


class CheckerRoute:
    """One notebook's grade cells, run by the checker against this kernel's agent."""

    def __init__(self, executor, sandbox: bool):
        self.executor = executor
        self.checker = shared_checker(sandbox)
        self.link = AgentLink(socket_path(executor.km.connection_file))
        self.labels = _labels(executor)
        self.failed: str | None = None
        try:
            self.checker.begin(_preload(executor.nb), timeout=float(executor.timeout or 120))
        except CheckerFailed as error:
            self.failed = str(error)

    def takes(self, cell) -> bool:
        return is_test_cell(cell)

    def run(self, cell) -> None:
        """Fill ``cell.outputs`` with the checker's outputs for it."""
        timeout = float(self.executor.timeout or 120)
        if self.failed is None:
            try:
                outputs = self.checker.run_cell(cell.source, self.link, labels=self.labels, timeout=timeout,
                                                max_output_chars=self.executor.max_output_chars)
                cell.outputs = [_output(o) for o in outputs if isinstance(o, dict)]
                cell.execution_count = None
                return
            except CheckerFailed as error:
                self.failed = str(error)
        from nbformat.notebooknode import from_dict

        message = f"not graded: the grader's checker failed ({self.failed}); your instructor sees this note"
        cell.outputs = [from_dict({"output_type": "error", "ename": "CheckerError", "evalue": message,
                                   "traceback": [f"CheckerError: {message}"]})]

    def end(self) -> None:
        self.link.close()
        if self.failed is not None:
            from ..notes import add_note

            add_note(self.executor.nb, "checker",
                     f"The grader's checker failed ({self.failed}): the tests it could not run score "
                     "zero. Your instructor sees this note and can grade again.")


def _output(raw: dict):
    """An nbformat output from the checker's dict (only the fields each type has, as strings)."""
    from nbformat.notebooknode import from_dict

    kind = raw.get("output_type")
    if kind == "stream":
        return from_dict({"output_type": "stream", "name": "stdout", "text": str(raw.get("text", ""))})
    lines = raw.get("traceback") if isinstance(raw.get("traceback"), list) else []
    return from_dict({"output_type": "error", "ename": str(raw.get("ename", "Error")),
                      "evalue": str(raw.get("evalue", "")), "traceback": [str(line) for line in lines]})
