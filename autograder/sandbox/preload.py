"""Which modules a fork server may import before any student code: the set-up cell's, up to ``setup()``.

A kernel started by itself runs the notebook's locked set-up cell first.
Whatever that cell imports *before* it calls ``course.notebook.setup()``
(and what ``setup(frameworks=True)`` imports: TensorFlow and Keras) is in the
kernel before anything else can look, so importing it earlier, in the fork
server, changes nothing a student can see.  Other modules the set-up cell
imports after ``setup()`` are left to the kernel, with one exception:
PyTorch, which a notebook often needs only in a later cell (notebook 4
compares with it).  ``setup()`` seeds PyTorch's generator whenever it is
imported, before or after, and importing it has no other effect on the cells
(the tests compare every output with a kernel started from scratch), so it is
imported early, last, for every notebook whose code mentions it.  So is
``torch._dynamo`` where the code mentions ``optim``: a ``torch.optim``
optimizer imports it at its first ``step()`` (~1.3 core-seconds: sympy,
mpmath and 800 modules), and its import draws from no random generator and
starts no thread.  Only the heavy frameworks are taken (``ALLOWED``); the
source notebook is the instructor's, never a student's.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

#: Top-level packages worth importing early (each costs 0.2-3.5 core-seconds per kernel).
ALLOWED = ("numpy", "torch", "tensorflow", "keras", "course.notebook")
#: What ``setup(frameworks=True)`` imports (course.notebook.setup -> course.reference.quiet_tensorflow).
FRAMEWORKS = ("tensorflow", "keras")


def _is_setup_call(statement: ast.stmt) -> ast.Call | None:
    call = statement.value if isinstance(statement, ast.Expr) else None
    if isinstance(call, ast.Call):
        func = call.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name == "setup":
            return call
    return None


def _allowed(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in ALLOWED)


def modules_before_setup(source: str) -> list[str]:
    """The allowed modules ``source`` (a set-up cell) imports before its ``setup()`` call, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for statement in tree.body:
        call = _is_setup_call(statement)
        if call is not None:
            if any(k.arg == "frameworks" and isinstance(k.value, ast.Constant) and k.value.value is True
                   for k in call.keywords):
                names += FRAMEWORKS
            break
        if isinstance(statement, ast.Import):
            names += [alias.name for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            names.append(statement.module)
    kept: list[str] = []
    for name in names:
        if _allowed(name) and name not in kept:
            kept.append(name)
    return kept


#: Imported early, after the set-up cell's frameworks, when any code cell mentions the word (and,
#: for a submodule, its package is imported early too): PyTorch, and what its optimizers import
#: at their first step.
LATER = (("torch", "torch"), ("torch._dynamo", "optim"))


def modules_for_notebook(code_cells: list[str]) -> list[str]:
    """:func:`modules_before_setup` of the first code cell, then :data:`LATER` where the code uses it."""
    names = modules_before_setup(code_cells[0]) if code_cells else []
    for name, word in LATER:
        package = name.rpartition(".")[0]
        if name not in names and (not package or package in names) and any(word in source for source in code_cells):
            names.append(name)
    return names


def _code_cells(path: Path) -> list[str]:
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


@functools.lru_cache(maxsize=64)
def for_assignment(source_dir: str, assignment: str) -> tuple[str, ...]:
    """Modules for every notebook of ``assignment`` in the (instructor's) source folder."""
    kept: list[str] = []
    for path in sorted((Path(source_dir) / assignment).glob("*.ipynb")):
        try:
            names = modules_for_notebook(_code_cells(path))
        except (OSError, ValueError):
            continue
        kept += [n for n in names if n not in kept]
    return tuple(kept)
