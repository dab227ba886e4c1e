"""Reading a submission: a file that is not a readable notebook is graded as the blank assignment."""

from __future__ import annotations

import json

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode

from ..notes import META_KEY

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
