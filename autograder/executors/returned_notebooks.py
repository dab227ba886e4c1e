"""Reading a worker's returned notebooks for entering: the two steps that were most of entering a
student's grading, made cheap without changing what nbgrader would conclude."""

from __future__ import annotations

import nbformat


def read_notebook(text: str):
    """The notebook nbgrader's exporter would read (nbformat 4), without a second schema validation:
    the worker's nbgrader already read, validated and wrote it."""
    import json

    from nbformat.v4 import nbjson

    data = json.loads(text)
    if data.get("nbformat") != 4:
        return nbformat.reads(text, as_version=4)
    # nbformat.reads without its validate(), and the outputs of cells that are not graded left as
    # plain JSON (nothing here reads them): turning them into notebook nodes was most of the reading
    outputs = [None if cell.get("metadata", {}).get("nbgrader", {}).get("grade") else cell.pop("outputs", None)
               for cell in data.get("cells", [])]
    nb = nbjson.JSONReader().to_notebook(data)
    for cell, cell_outputs in zip(nb.cells, outputs):
        if cell_outputs is not None:
            cell["outputs"] = cell_outputs
    return nb


def remembering_validator():
    """nbgrader's ``MetadataValidator`` (what ``CheckCellMetadata`` runs), remembering the cells it
    passed: a cell's check depends only on its type and nbgrader metadata, the same in every
    student's copy of the assignment, and its JSON-schema check was most of entering a student."""
    import json

    from nbgrader.nbgraderformat import MetadataValidator

    class RememberingValidator(MetadataValidator):
        passed: set = set()

        def validate_cell(self, cell) -> None:
            meta = cell.get("metadata", {}).get("nbgrader")
            key = None if meta is None else (cell.get("cell_type"), json.dumps(meta, sort_keys=True))
            if key in self.passed:
                return
            super().validate_cell(cell)
            self.passed.add(key)

    validator = RememberingValidator()
    validator.passed = set()
    return validator
