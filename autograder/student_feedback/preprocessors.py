"""What the feedback preprocessors do to the autograded notebook before nbgrader renders it."""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS[^\n]*\n?",
                           re.MULTILINE | re.DOTALL)
_MISTAKE_TAG = re.compile(r"\n?^\[mistake: [a-z0-9_, ]+\]$", re.MULTILINE)
_PACKAGES = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s\"'<>:/\\]+)+[/\\](?:site|dist)-packages[/\\]")
_PASSED = "✓"


def _grader_prefixes() -> list[str]:
    """Absolute paths of the grader's machine that a student has no business seeing."""
    repo = Path(__file__).resolve().parents[2]
    prefixes = {str(repo), os.getcwd(), sys.prefix, sys.base_prefix, os.path.expanduser("~")}
    return sorted((p for p in prefixes if p and p not in ("/", ".")), key=len, reverse=True)


def scrub(text: str) -> str:
    """``text`` without the ``[mistake: …]`` line and without the grader's absolute paths."""
    text = _MISTAKE_TAG.sub("", text)
    text = _PACKAGES.sub("", text)
    for prefix in _grader_prefixes():
        text = text.replace(prefix + os.sep, "").replace(prefix, "…")
    return text


def _check_calls(tree: ast.AST, helpers: dict) -> int:
    """How many "✓" lines the statements in ``tree`` print when they pass: one per check call
    (``checks.check_*``, ``check_*``, a ``print``), a helper defined in the cell counts its own."""
    count = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in helpers:
            count += helpers[name]
        elif name.startswith("check_") or name == "print":
            count += 1
    return count


def _statements(code: str, helpers: dict) -> list[int]:
    """The ✓ lines each top-level statement of ``code`` prints (0: not a check)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    weights = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            helpers[node.name] = _check_calls(ast.Module(body=node.body, type_ignores=[]), helpers)
            continue
        weight = _check_calls(node, helpers)
        if weight:
            weights.append(weight)
    return weights


def hidden_summary(source: str, outputs: list) -> tuple[str, int] | None:
    """``(line, count)`` for the hidden block of a test cell's ``source``: how many hidden checks
    and what became of them, read from the cell's outputs.  ``None`` without a hidden block."""
    match = _HIDDEN_BLOCK.search(source)
    if not match:
        return None
    visible_code = source[:match.start()]
    helpers: dict = {}
    visible = _statements(visible_code, helpers)
    hidden = _statements(match.group(1), helpers)
    count = len(hidden) or 1
    noun = f"{count} hidden check{'s' if count != 1 else ''}"
    failed = any(o.get("output_type") == "error" for o in outputs)
    passed_lines = sum(line.lstrip().startswith(_PASSED)
                       for o in outputs if o.get("output_type") == "stream"
                       for line in o.get("text", "").splitlines())
    if not failed:
        return f"{noun} (their code stays hidden): all passed", count
    done = passed_lines - sum(visible)
    if done < 0:
        return f"{noun} (their code stays hidden): not run, a check above failed first", count
    ran = 0
    for index, weight in enumerate(hidden):
        if done < weight:
            ordinal = f"{index + 1} of {count}"
            return (f"{noun} (their code stays hidden): {index} passed, hidden check {ordinal} failed "
                    "(its message is below)"), count
        done -= weight
        ran += 1
    return f"{noun} (their code stays hidden): one of them failed (its message is below)", count


class HideHiddenTests(Preprocessor):
    """Replace each hidden-test block by one line saying how many hidden checks there were and
    what became of them (nbgrader #917: the feedback otherwise shows their source)."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and BEGIN in cell.source:
            summary = hidden_summary(cell.source, cell.get("outputs", []))
            line = f"# {summary[0]}\n" if summary else "# hidden checks (their code stays hidden)\n"
            cell.source = _HIDDEN_BLOCK.sub(lambda _: line, cell.source).rstrip("\n")
            if BEGIN in cell.source:  # an unterminated block: hide everything after it
                cell.source = cell.source.split(BEGIN, 1)[0] + line.rstrip("\n")
        return cell, resources


class StudentView(Preprocessor):
    """Outputs as a student should read them: no machine tags, no grader paths."""

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                output["evalue"] = scrub(output.get("evalue", ""))
                output["traceback"] = [scrub(line) for line in output.get("traceback", [])]
            elif kind == "stream":
                output["text"] = scrub(output.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                data = output.get("data", {})
                if isinstance(data.get("text/plain"), str):
                    data["text/plain"] = scrub(data["text/plain"])
        return cell, resources
