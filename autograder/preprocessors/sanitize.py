"""Sanitising before execution: restore deleted or moved graded cells, note what was restored, find edited tests."""

from __future__ import annotations


import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

from . import scan
from ..notes import META_KEY, add_note
from .common import _code_list, _grade_id, _source_notebook_path, visible_test_source

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
