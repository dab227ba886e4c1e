"""The autograder's additions to nbgrader's pipeline, plugged in by configuration (no fork).

Sanitising (``Autograde.sanitize_preprocessors``, before execution):

* :class:`ReadableNotebookExporter` - a submission that is not a readable
  notebook is graded as the blank assignment, with a note saying why;
* :class:`RestoreCellOrder` - deleted graded cells come back and moved ones
  go back to the assignment's order (OverwriteCells then restores their
  source from the gradebook, hidden tests included);
* :class:`NoteSubmissionProblems` - tells the student what was restored and
  flags uses of ``course.reference``.

Grading (``Autograde.autograde_preprocessors``):

* :class:`GuardTests` - hidden cells: limits + pristine copies first, a
  re-arm before every test cell (see :mod:`autograder.guard`);
* :class:`SafeExecute` - nbgrader's ``Execute`` that survives a dead or stuck
  kernel (the cells after it score zero, the ones before keep their points)
  and caps each cell's output;
* :class:`TidyGuardCells` - removes the hidden cells again and turns what
  they found into notes.
"""

from __future__ import annotations

import json
import os
from time import monotonic

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Integer

from . import scan
from .notes import META_KEY, add_note, is_autograder_cell

#: Mimetype of the re-arm cells' machine-readable report.
GUARD_MIMETYPE = "application/vnd.gd-autograder.guard+json"


def _coursedir(component):
    """The ``CourseDirectory`` of the nbgrader converter that owns ``component``."""
    while component is not None:
        coursedir = getattr(component, "coursedir", None)
        if coursedir is not None:
            return coursedir
        component = getattr(component, "parent", None)
    return None


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _source_notebook_path(component, assignment: str, notebook: str) -> str | None:
    coursedir = _coursedir(component)
    if coursedir is None:
        return None
    path = os.path.join(coursedir.format_path(coursedir.source_directory, ".", assignment),
                        f"{notebook}.ipynb")
    return path if os.path.exists(path) else None


def visible_test_source(source: str) -> str:
    """A test cell as released: without its ``BEGIN/END HIDDEN TESTS`` region."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _code_list(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


# --------------------------------------------------------------------------------------------
# Reading the submission
# --------------------------------------------------------------------------------------------
def _salvage(raw) -> tuple[NotebookNode, str | None]:
    """Rebuild a notebook from whatever well-formed cells a malformed file has."""
    cells = []
    for item in (raw.get("cells") if isinstance(raw, dict) else None) or []:
        if not isinstance(item, dict) or item.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = item.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str):
            continue
        metadata = {}
        if isinstance(item.get("metadata"), dict) and isinstance(item["metadata"].get("nbgrader"), dict):
            metadata["nbgrader"] = item["metadata"]["nbgrader"]
        maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                 "raw": nbformat.v4.new_raw_cell}[item["cell_type"]]
        cells.append(maker(source=source, metadata=metadata))
    nb = nbformat.v4.new_notebook(cells=cells)
    return nb, None


def read_submission(text: str) -> tuple[NotebookNode, str | None]:
    """Parse a submitted notebook; returns ``(notebook, problem)`` where ``problem`` says what was wrong.

    A readable notebook comes back unchanged with ``problem=None``.  Anything
    else comes back as the best notebook that can be made of it (possibly
    empty), and ``problem`` is a sentence for the student.
    """
    try:
        raw = json.loads(text)
    except ValueError as error:
        return nbformat.v4.new_notebook(), f"the file is not valid JSON ({error})"
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return nbformat.v4.new_notebook(), "the file is JSON but not a Jupyter notebook"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        return nb, None
    except Exception as error:  # noqa: BLE001 - any malformation: salvage what we can
        nb, _ = _salvage(raw)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return nb, (f"the notebook is malformed ({first_line[:200]}); "
                    f"{len(nb.cells)} well-formed cells were kept")


class ReadableNotebookExporter(NotebookExporter):
    """nbgrader's notebook exporter, but an unreadable submission does not stop the grading.

    The broken file becomes an empty (or salvaged) notebook carrying a
    problem note; :class:`RestoreCellOrder` then fills in the assignment's
    cells, so the student is graded (zero) and told why.
    """

    def from_file(self, file_stream, resources=None, **kw):
        try:
            data = file_stream.read()
        except UnicodeDecodeError:
            data = None
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                data = None
        if data is None:
            nb, problem = nbformat.v4.new_notebook(), "the file is not UTF-8 text"
        else:
            nb, problem = read_submission(data)
        if problem is None and not nb.cells:
            problem = "the notebook has no cells"
        if problem:
            nb.metadata.setdefault(META_KEY, {})["problem"] = problem
        return self.from_notebook_node(nb, resources=resources, **kw)


# --------------------------------------------------------------------------------------------
# Sanitising
# --------------------------------------------------------------------------------------------
def _longest_ordered(ids: list[str], rank: dict[str, int], keep: set[str]) -> set[str]:
    """The largest subset of ``ids`` already in assignment order (the cells that did not move).

    Among equally long subsets, the one with most cells of ``keep`` wins: when a
    test and its answer are swapped, it is the test that "moved".
    """
    def key(seq):
        return len(seq), sum(1 for gid in seq if gid in keep)

    best: list[list[str]] = []
    for gid in ids:
        candidates = [seq for seq in best if rank[seq[-1]] < rank[gid]]
        best.append((max(candidates, key=key) if candidates else []) + [gid])
    return set(max(best, key=key)) if best else set()


class RestoreCellOrder(NbGraderPreprocessor):
    """Put the assignment's graded and locked cells back: all present, in the assignment's order.

    The student's own cells (answers, extra code, notes) stay where they
    were relative to the graded cell before them.  For an untouched notebook
    this changes nothing.  Missing answer cells come back as the released
    stub; missing test or locked cells come back from the gradebook.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        notebook_id, assignment_id = info["notebook"], info["assignment"]
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(notebook_id, assignment_id)
            except MissingEntry:
                return nb, resources
            source_cells = {cell.name: cell for cell in source_nb.source_cells}
            points = {cell.name: cell.max_score for cell in source_nb.grade_cells}
            solution_ids = {cell.name for cell in source_nb.solution_cells}
            order = self._assignment_order(assignment_id, notebook_id, list(source_cells))
            records = {name: (cell.cell_type, cell.source, cell.locked, cell.checksum)
                       for name, cell in source_cells.items()}

        anchors: dict[str, NotebookNode] = {}
        followers: dict[str | None, list] = {None: []}
        last = None
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid in records and gid not in anchors:
                anchors[gid] = cell
                followers[gid] = []
                last = gid
            else:
                followers[last].append(cell)

        rank = {gid: i for i, gid in enumerate(order)}
        present = [gid for gid in anchors if gid in rank]
        tests = {gid for gid in points if gid not in solution_ids}
        in_order = _longest_ordered(present, rank, keep=set(present) - tests)
        moved = [gid for gid in present if gid not in in_order]
        missing = [gid for gid in order if gid not in anchors]

        cells = list(followers[None])
        for gid in order:
            cell = anchors.get(gid)
            if cell is None:
                cell = self._restored_cell(gid, records[gid], points.get(gid), gid in solution_ids)
            cells.append(cell)
            cells.extend(followers.get(gid, []))
        nb.cells = cells

        problems = nb.metadata.setdefault(META_KEY, {})
        if moved:
            problems["moved"] = moved
        if missing:
            problems["missing"] = [(gid, gid in solution_ids, gid in points) for gid in missing]
        return nb, resources

    def _assignment_order(self, assignment_id: str, notebook_id: str, names: list[str]) -> list[str]:
        path = _source_notebook_path(self, assignment_id, notebook_id)
        order: list[str] = []
        if path is not None:
            source = nbformat.read(path, as_version=4)
            order = [gid for gid in (_grade_id(c) for c in source.cells) if gid in names]
        return order + [name for name in names if name not in order]

    @staticmethod
    def _restored_cell(grade_id, record, max_score, is_solution):
        cell_type, source, locked, checksum = record
        nbgrader = {"grade": max_score is not None, "grade_id": grade_id, "locked": bool(locked),
                    "solution": is_solution, "schema_version": 3, "checksum": checksum}
        if max_score is not None:
            nbgrader["points"] = max_score
        if cell_type == "code":
            return nbformat.v4.new_code_cell(source=source, metadata={"nbgrader": nbgrader})
        return nbformat.v4.new_markdown_cell(source=source, metadata={"nbgrader": nbgrader})


class NoteSubmissionProblems(NbGraderPreprocessor):
    """Write what the grader changed or noticed into the note cell at the top.

    Runs after OverwriteCells, so the test cells already hold the gradebook's
    source again; edits are found by comparing the *submitted* visible part
    (kept by :class:`RestoreCellOrder` in the metadata) with the released one.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        problems = nb.metadata.get(META_KEY, {})
        if problems.get("problem"):
            add_note(nb, "unreadable",
                     f"Your submitted file could not be read: {problems['problem']}. It was graded as "
                     "the blank assignment, so the tests below score zero. Check that you submit the "
                     ".ipynb file saved by Jupyter.")
        missing = problems.get("missing", [])
        missing_tests = [gid for gid, is_solution, graded in missing if graded and not is_solution]
        missing_answers = [gid for gid, is_solution, _ in missing if is_solution]
        missing_other = [gid for gid, is_solution, graded in missing if not graded and not is_solution]
        if not problems.get("problem"):
            if missing_tests or missing_other:
                add_note(nb, "restored-cells",
                         f"These cells were missing and were put back from the assignment: "
                         f"{_code_list(missing_tests + missing_other)}.")
            if missing_answers:
                add_note(nb, "restored-cells",
                         f"These answer cells were missing and were graded as blank: "
                         f"{_code_list(missing_answers)}.")
        if problems.get("moved"):
            add_note(nb, "moved-cells",
                     f"These graded cells had been moved and were put back in the assignment's "
                     f"order: {_code_list(problems['moved'])}.")
        edited = resources.get(META_KEY, {}).get("edited", [])
        if edited:
            add_note(nb, "edited-cells",
                     f"These read-only cells had been edited; the originals were run instead: "
                     f"{_code_list(edited)}.")
        uses = scan.find_reference_uses(nb.cells, self._instructor_lines(info))
        if uses:
            shown = "; ".join(f"`{use.line[:80]}`" for use in uses[:5])
            add_note(nb, "reference",
                     "Your code uses `course.reference`, the course's reference solutions "
                     f"({shown}). Your instructor sees this note.")
        nb.metadata.pop(META_KEY, None)
        return nb, resources

    def _instructor_lines(self, info) -> set[str]:
        sources = []
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
                sources += [cell.source for cell in source_nb.source_cells]
            except MissingEntry:
                pass
        path = _source_notebook_path(self, info["assignment"], info["notebook"])
        if path is not None:
            sources += [cell.source for cell in nbformat.read(path, as_version=4).cells]
        return scan.instructor_lines(sources)


class FindEditedTests(NbGraderPreprocessor):
    """Remember which test cells the student edited (before OverwriteCells restores them)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        edited = []
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            released = {cell.name: visible_test_source(cell.source) for cell in source_nb.source_cells
                        if cell.locked}
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid in released and utils.is_locked(cell):
                if cell.source.strip() != released[gid].strip():
                    edited.append(gid)
            elif gid in released:  # unlocked by the student: OverwriteCells restores it too
                edited.append(gid)
        resources.setdefault(META_KEY, {})["edited"] = edited
        return nb, resources


# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------
ARM_SOURCE = """\
# Inserted by the autograder before any of your code runs (not part of your notebook):
# memory and output limits, and pristine copies of the checks, NumPy and builtins.
import autograder.guard as _gd_guard_module
_gd_guard = _gd_guard_module.arm(memory_mb={memory_mb}, max_output_chars={max_output_chars})
del _gd_guard_module"""

EXTEND_SOURCE = """\
# Inserted by the autograder: keep pristine copies of what the set-up cells imported.
_gd_guard.extend()"""

REARM_SOURCE = """\
# Inserted by the autograder: undo changes to the checks, NumPy and builtins before this test.
try:
    _gd_restored = _gd_guard.rearm()
except Exception:
    import autograder.guard
    _gd_restored = autograder.guard.rearm()
from IPython.display import display as _gd_display
_gd_display({{"text/plain": "", "{mimetype}": {{"restored": _gd_restored}}}}, raw=True)
del _gd_restored, _gd_display"""


def _guard_cell(source: str, kind: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source=source, metadata={META_KEY: {"kind": kind}})


class GuardTests(NbGraderPreprocessor):
    """Insert the hidden guard cells (see :mod:`autograder.guard`) around the student's code."""

    memory_mb = Integer(0, help="Address-space cap of the kernel in MiB (0: none)").tag(config=True)
    max_output_chars = Integer(0, help="Characters of stream output per cell (0: no cap)").tag(config=True)

    def preprocess(self, nb, resources):
        cells = [_guard_cell(ARM_SOURCE.format(memory_mb=self.memory_mb,
                                               max_output_chars=self.max_output_chars), "arm")]
        extended = False
        for cell in nb.cells:
            if cell.cell_type == "code":
                if not extended and not utils.is_locked(cell):
                    cells.append(_guard_cell(EXTEND_SOURCE, "extend"))
                    extended = True
                if utils.is_grade(cell) and not utils.is_solution(cell):
                    cells.append(_guard_cell(REARM_SOURCE.format(mimetype=GUARD_MIMETYPE), "rearm"))
            cells.append(cell)
        nb.cells = cells
        return nb, resources


def _error_output(ename: str, message: str) -> NotebookNode:
    return from_dict({"output_type": "error", "ename": ename, "evalue": message,
                      "traceback": [f"\x1b[0;31m{ename}\x1b[0m: {message}"]})


#: Both the kernel (autograder.guard) and SafeExecute mark cut output with this phrase.
CUT_NOTICE = "output cut by the grader"


def _first_and_more(places: list[str]) -> str:
    first = f"`{places[0]}`"
    return first if len(places) == 1 else f"{first} (and {len(places) - 1} later cells)"


def _output_size(output) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(json.dumps(value)) if not isinstance(value, str) else len(value)
               for value in output.get("data", {}).values())


STUCK_REASON = ("the cell ran past the time limit and the kernel did not respond to the interrupt "
                "(does the code catch KeyboardInterrupt?)")


class SafeExecute(Execute):
    """nbgrader's ``Execute`` that never loses a whole submission to one bad cell.

    * The kernel dies (``os._exit``, a crash, the memory cap hit inside C
      code): the cell gets an error saying so, the cells after it are marked
      "not run" (tests there score zero), the cells before keep their
      results, and nbgrader goes on to save the grades.
    * A cell times out and the kernel does not come back after the
      interrupt (it swallowed ``KeyboardInterrupt``): the same.
    * Output beyond ``max_output_chars`` per cell is cut (errors and stderr
      are kept, shortened, because they decide the score).
    """

    memory_mb = Integer(0, help="The kernel's memory cap in MiB, for the messages").tag(config=True)
    max_output_chars = Integer(100_000, help="Characters of output kept per cell (0: no cap)").tag(config=True)
    responsive_wait = Integer(15, help="Seconds a timed-out kernel has to answer again").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        # Same as nbconvert's ExecutePreprocessor.preprocess, with a try around each cell.
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._output_chars: dict[int, int] = {}
        self._timed_out = False
        stopped: tuple[int, str, str] | None = None
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                if stopped is not None:
                    if cell.cell_type == "code" and cell.source.strip():
                        cell.outputs = [_error_output(
                            "NotRun", f"not run: the kernel stopped at an earlier cell ({stopped[2]})")]
                    continue
                self._timed_out = False
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    stopped = (index, "kernel-died", self._death_reason())
                except CellTimeoutError:
                    stopped = (index, "kernel-stuck", STUCK_REASON)
                if stopped is None and self._timed_out and not self._kernel_responds():
                    stopped = (index, "kernel-stuck", STUCK_REASON)
                if stopped is not None and stopped[0] == index:
                    cell.outputs = list(cell.get("outputs", [])) + [
                        _error_output("KernelStopped", stopped[2])]
        self.set_widgets_metadata()
        self._add_notes(stopped)
        return self.nb, self.resources

    def _death_reason(self) -> str:
        limit = f" (limit {self.memory_mb} MiB)" if self.memory_mb else ""
        return ("the kernel died while running this cell: the code called os._exit, crashed the "
                f"interpreter, or ran out of memory{limit}")

    def _kernel_responds(self) -> bool:
        """After an interrupted timeout: does the kernel answer a request again?"""
        from jupyter_core.utils import run_sync
        from queue import Empty

        try:
            msg_id = self.kc.kernel_info()
            deadline = monotonic() + self.responsive_wait
            while (left := deadline - monotonic()) > 0:
                msg = run_sync(self.kc.shell_channel.get_msg)(timeout=left)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except (Empty, TimeoutError, RuntimeError):
            return False
        return False

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        reply = kwargs.get("execute_reply") or {}
        if reply.get("content", {}).get("ename") == "CellTimeoutError":
            self._timed_out = True

    def _add_notes(self, stopped) -> None:
        """Summarise timeouts, memory errors, cut output and a stopped kernel at the top."""
        timeouts, memory, cut = [], [], []
        code_cells = [c for c in self.nb.cells if c.cell_type == "code" and not is_autograder_cell(c)]
        for number, cell in enumerate(code_cells, start=1):
            where = _grade_id(cell) or f"code cell {number}"
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    timeouts.append(where)
                elif output.get("output_type") == "error" and output.get("ename") == "MemoryError":
                    memory.append(where)
                elif output.get("output_type") == "stream" and CUT_NOTICE in output.get("text", ""):
                    cut.append(where)
        if timeouts:
            add_note(self.nb, "timeout",
                     f"{_first_and_more(timeouts)} ran longer than {self.timeout} s and was stopped; "
                     "a test stopped this way scores zero, and whatever the cell should have defined "
                     "is missing later.")
        if memory:
            limit = f" of {self.memory_mb} MiB" if self.memory_mb else ""
            add_note(self.nb, "memory",
                     f"{_first_and_more(memory)} ran out of memory (the grader's limit{limit}).")
        if cut:
            add_note(self.nb, "output-cut",
                     f"The output of {_first_and_more(cut)} was cut after {self.max_output_chars} "
                     "characters.")
        if stopped is not None:
            index, kind, reason = stopped
            cell = self.nb.cells[index]
            where = _grade_id(cell) or "a code cell"
            add_note(self.nb, kind,
                     f"While running {where}, {reason}. Cells after it were not run and their tests "
                     "score zero; tests before it kept their points.")

    # -- output cap -------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or not self.max_output_chars or not outs or outs[-1] is not out:
            return out
        used = self._output_chars.get(cell_index, 0)
        size = _output_size(out)
        self._output_chars[cell_index] = used + size
        if used + size <= self.max_output_chars:
            return out
        room = max(self.max_output_chars - used, 0)
        kind = out.get("output_type")
        notice = f"\n... {CUT_NOTICE} after {self.max_output_chars} characters ...\n"
        if kind == "stream":
            already_cut = any(o.get("output_type") == "stream" and o.get("name") == out.get("name")
                              and o.get("text", "").endswith(notice) for o in outs[:-1])
            if already_cut:
                outs.pop()  # stderr stays recorded by the earlier (cut) output: the score is unchanged
                return None
            out["text"] = out.get("text", "")[:room] + notice
        elif kind == "error":
            out["traceback"] = [line[:2000] for line in out.get("traceback", [])[-20:]]
        else:
            text = out.get("data", {}).get("text/plain", "")
            if isinstance(text, list):
                text = "".join(text)
            out["data"] = {"text/plain": (text[:min(room, 2000)] or "") + notice}
        return out


class TidyGuardCells(NbGraderPreprocessor):
    """Remove the hidden guard cells after execution; what they undid becomes a note."""

    def preprocess(self, nb, resources):
        restored: list[str] = []
        failed, arm_error = 0, None
        kept = []
        for cell in nb.cells:
            kind = cell.get("metadata", {}).get(META_KEY, {}).get("kind") if cell.cell_type == "code" else None
            if kind not in ("arm", "extend", "rearm"):
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
