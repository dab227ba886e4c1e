"""In the checker: run one grade cell's source and turn what happened into nbformat outputs.

The cell runs in the student's namespace of the checker (test cells of one
notebook share it, as they would share a kernel).  The learner's names it
reads are fetched first, in one request; what the kernel does not hold stays
undefined, and a ``NameError`` for it says which exercise is not answered.
The outputs are the cell's printing and, when it failed, one error: the
check's verdict, the plain assert's message, or the learner's exception with
their own frames.  The checker's frames and the cell's source never appear.
"""

from __future__ import annotations

import builtins
import io
import symtable
import sys

from . import proxy as _proxy

_RED, _BOLD, _DIM, _RESET = "\x1b[0;31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


def free_names(source: str) -> list[str]:
    """Names the cell reads but does not bind at its top level (nor are builtins): the learner's."""
    top = symtable.symtable(source, "<grade cell>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    wanted: set[str] = set()

    def walk(table, is_top):
        for symbol in table.get_symbols():
            if not symbol.is_referenced():
                continue
            if is_top or symbol.is_global() or (symbol.is_free() and table.get_type() == "module"):
                wanted.add(symbol.get_name())
        for child in table.get_children():
            walk(child, False)

    walk(top, True)
    return sorted(n for n in wanted if n not in bound and not hasattr(builtins, n))


class _Printed(io.TextIOBase):
    """The checker's ``print`` during a cell: kept in order with the learner's printing."""

    def __init__(self, sink: list):
        self._sink = sink

    def write(self, text):
        self._sink.append(("stdout", str(text)))
        return len(text)

    def writable(self):
        return True


def _stream_outputs(pieces, limit: int) -> list[dict]:
    """One stdout stream: the learner's stderr too (it is their output, never a failure)."""
    text = "".join(t for _, t in pieces)
    if limit and len(text) > limit:
        text = text[:limit] + f"\n... output cut by the grader after {limit} characters ...\n"
    return [{"output_type": "stream", "name": "stdout", "text": text}] if text else []


def _error(ename: str, evalue: str, lines: list[str]) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines}


def _learner_lines(error) -> list[str]:
    frames = getattr(error, "frames", []) if isinstance(error, _proxy.LearnerError) else []
    if not frames:
        return []
    return [f"{_DIM}Where your code raised {type(error).__name__}:{_RESET}", *frames]


def render_error(error, missing: set, labels: dict) -> dict:
    """The error output of a failed grade cell, from the exception alone (no frames of the checker's)."""
    name = type(error).__name__
    if hasattr(error, "student_lines") and isinstance(error, AssertionError):  # course.convert.CheckFailed
        check = getattr(error, "check", "")
        lines = [f"{_RED}{_BOLD}✗ Check failed{f' in {check}' if check else ''}{_RESET}"]
        lines += list(error.student_lines())
        lines += _learner_lines(getattr(error, "learner_error", None))
        return _error(name, str(error), lines)
    if isinstance(error, NameError) and getattr(error, "name", None) in missing:
        label = labels.get(error.name)
        where = f"{label} is not answered" if label else "the cell that defines it did not run or raised an error"
        message = f"`{error.name}` is not defined yet: {where}"
        return _error("NameError", message, [f"{_RED}NameError{_RESET}: {message}"])
    if isinstance(error, _proxy.ChannelError):
        message = f"the grader could not get an answer from your kernel ({error})"
        return _error("KernelUnreachable", message, [f"{_RED}KernelUnreachable{_RESET}: {message}"])
    message = str(error)[:2000]
    lines = [f"{_RED}{name}{_RESET}: {message}" if message else f"{_RED}{name}{_RESET}"]
    return _error(name, message, lines + _learner_lines(error))


def run_cell(source: str, namespace: dict, session, labels: dict, max_output_chars: int = 100_000) -> list[dict]:
    """Run a grade cell in ``namespace``; its outputs (nbformat dicts)."""
    session.printed = pieces = []
    saved = sys.stdout, sys.stderr
    error, missing = None, set()
    try:
        code = compile(source, "<grade cell>", "exec")
        names = free_names(source)
        found, absent = session.names(names)
        for key in names:  # the kernel's current value wins; a name it lacks may be the checker's own
            if key in found:
                namespace[key] = found[key]
        missing = {n for n in absent if n not in namespace}
        sys.stdout = sys.stderr = _Printed(pieces)
        exec(code, namespace)
    except BaseException as raised:  # noqa: BLE001 (every failure becomes the cell's output)
        error = raised
    finally:
        sys.stdout, sys.stderr = saved
    outputs = _stream_outputs(pieces, max_output_chars)
    if error is not None:
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            error = RuntimeError(f"the test stopped ({type(error).__name__})")
        outputs.append(render_error(error, missing, labels))
    return outputs
