"""Inside the student's kernel, after each test cell: forget the test's source.

A test cell's source (hidden tests included) reaches the kernel to be run.
IPython then keeps it where the student's next cell could print it into the
feedback: the input history (``In``, ``_ih``, ``_i``, ``_iN``), the last
execution result, the traceback of a failed test, and ``linecache`` (which
IPython fills so tracebacks can show code).  A hidden cell after every test
cell clears all of these; the history database is off in the grading kernel
(``--HistoryManager.enabled=False`` in the kernelspec).  Like the guard this is
best effort against code written to defeat it: the sandbox, not this module,
is what protects the class.
"""

from __future__ import annotations

import linecache
import os
import re
import sys

_NUMBERED_INPUT = re.compile(r"^_i\d+$")


def _is_cell_file(filename: str) -> bool:
    """Code of a notebook cell, not of a module on disk."""
    return filename.startswith("<") or "ipykernel_" in filename or not os.path.exists(filename)


def forget_recent_cells() -> int:
    """Blank the kernel's memory of the cells run so far; returns how many inputs were blanked."""
    try:
        from IPython import get_ipython
    except ImportError:
        return 0
    shell = get_ipython()
    if shell is None:
        return 0
    history = shell.history_manager
    blanked = 0
    for inputs in (history.input_hist_parsed, history.input_hist_raw):
        for i, text in enumerate(inputs):
            if text:
                inputs[i] = ""
                blanked += 1
    # The history manager's own copies, which it pushes into _i, _ii, _iii at the next cell.
    for name in ("_i00", "_i", "_ii", "_iii"):
        if isinstance(getattr(history, name, None), str):
            setattr(history, name, "")
    history.output_hist.clear()
    history.output_hist_reprs.clear()
    namespace = shell.user_ns
    for name in [n for n in namespace if _NUMBERED_INPUT.match(n)]:
        del namespace[name]
    for name in ("_i", "_ii", "_iii"):
        if name in namespace:
            namespace[name] = ""
    for name in ("_oh", "Out"):
        if isinstance(namespace.get(name), dict):
            namespace[name].clear()
    shell.last_execution_result = None
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    for filename in [f for f in list(linecache.cache) if _is_cell_file(f)]:
        linecache.cache.pop(filename, None)
    compiler = getattr(shell, "compile", None)
    for attribute in ("_filename_map", "_linecache"):
        table = getattr(compiler, attribute, None)
        if isinstance(table, dict):
            table.clear()
    return blanked
