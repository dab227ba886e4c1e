"""Every result the notebooks' prose quotes is a number the notebook itself prints.

A teaching sentence such as "they agree to about 10⁻⁷ relative" is only true if the code says so.
This test reads each notebook's markdown for *quoted results* —

* numbers with three or more significant digits (``18.979048``, ``0.6667``, ``5.1584e-05``,
  ``2.21``; for whole numbers trailing zeros do not count, so ``500`` epochs is not a result), and
* powers of ten (``10⁻⁷``, ``$10^{-13}$``, ``10^-7``, ``1e-7``) —

and fails unless the executed source notebook's outputs hold the figure, or the figure is one the
source articles printed (:mod:`course.replicate`), or the short allow-list below names it as a
setting, with the reason.

Matching is at the quoted precision: ``18.98`` is found in an output ``18.981499`` (it rounds to
it), ``5.1584e-05`` in ``5.158412e-05``; a whole number must appear exactly; a power of ten
``10^k`` needs an output within half a decade of it (``10⁻⁷`` is found in ``1.2e-07`` or
``2.9e-07``, not in ``3.3e-07`` nor in ``3e-08``). Signs are ignored; fenced code blocks are code,
not prose, and are skipped.

The notebooks are executed once per session (the ``notebook_runs`` fixture of conftest.py, shared
with test_notebooks.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from test_notebooks import NOTEBOOK_IDS, NOTEBOOKS

#: Figures the prose may state without an output, per notebook: a setting the exercise or the text
#: chooses (not a result), with the reason. Keep it short: a result belongs in an output.
ALLOWED: dict[str, dict[str, str]] = {
    "06_side_by_side": {
        "128": "setting: the hidden layer width of article 002's classifier (Dense(128, relu))",
    },
}
#: Figures any notebook may state: examples of a format, not results.
ALLOWED_ANYWHERE: dict[str, str] = {
    "12.34": "example: the exercises' note on how many digits an answer needs",
    "12.3": "example: the same note's answer with too few digits",
}

SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
MINUS = str.maketrans({"−": "-", "\u2009": "", "\u202f": ""})

# A power of ten written as such: 10⁻⁷, 10⁷, 10^{-7}, 10^-7, 10^{7}.
POWER = re.compile(r"(?<![\w.])10\s*(?:\^\s*\{?\s*([-−+]?\d+)\s*\}?|([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))")
# A number: 1,797 · 18.979048 · 5.1584e-05 · 1e-7 · 128. Not part of a word (float32, x2, d2l).
NUMBER = re.compile(
    r"(?<![\w.^{])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-−+]?\d+)?(?![\w⁰¹²³⁴⁵⁶⁷⁸⁹⁻])"
)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


@dataclass(frozen=True)
class Figure:
    """A number as the prose quotes it."""

    text: str
    value: float
    kind: str  # "power" (10^k), "scientific", "decimal" or "integer"
    precision: float = 0.0  # half a unit in the last quoted digit (decimal/scientific)

    def found_in(self, values: list[float]) -> bool:
        if self.kind == "power":
            k = math.log10(self.value)
            return any(v and abs(math.log10(abs(v)) - k) <= 0.5 for v in values)
        if self.kind == "integer":
            return any(abs(v) == self.value for v in values)
        slack = self.precision * (1 + 1e-9)
        return any(abs(abs(v) - self.value) <= slack for v in values)


def significant_digits(digits: str, integer: bool) -> int:
    digits = digits.lstrip("0")
    return len(digits.rstrip("0") if integer else digits)


def parse(text: str) -> Figure | None:
    """The figure ``text`` quotes, or None when it is not a quoted result (too few digits)."""
    plain = text.translate(MINUS).replace(",", "")
    mantissa, _, exponent = plain.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    if exponent:
        digits = significant_digits(whole + fraction, integer=False)
        value = float(plain)
        if value and significant_digits(whole + fraction, integer=True) == 1 and float(mantissa) == 1:
            return Figure(text, abs(value), "power")  # 1e-7 is a power of ten
        if digits < 3:
            return None
        step = Decimal(10) ** (int(exponent) - len(fraction))
        return Figure(text, abs(value), "scientific", float(step) / 2)
    if fraction:
        if significant_digits(whole + fraction, integer=False) < 3:
            return None
        return Figure(text, abs(float(mantissa)), "decimal", 0.5 * 10.0 ** -len(fraction))
    if significant_digits(whole, integer=True) < 3:
        return None
    return Figure(text, float(whole), "integer")


def quoted_figures(markdown: str) -> list[Figure]:
    """Every quoted result in a markdown cell: powers of ten and numbers of 3+ significant digits."""
    prose = FENCE.sub(" ", markdown)
    figures = []
    for match in POWER.finditer(prose):
        exponent = (match.group(1) or match.group(2)).translate(SUPERSCRIPT).translate(MINUS)
        figures.append(Figure(match.group(0), 10.0 ** int(exponent), "power"))
    prose = POWER.sub(" ", prose)
    for match in NUMBER.finditer(prose):
        figure = parse(match.group(0))
        if figure is not None:
            figures.append(figure)
    return figures


def output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            for mime in ("text/plain", "text/markdown", "text/html"):
                if mime in output.get("data", {}):
                    parts.append(output.data[mime])
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "\n".join(parts)


def output_values(text: str) -> list[float]:
    """Every number printed in ``text`` (1,347 · -17.666668 · 3.3e-07 · 10⁻⁷ · 2.21 of 2.21.0)."""
    values = []
    text = text.translate(MINUS)
    for match in POWER.finditer(text):
        exponent = (match.group(1) or match.group(2)).translate(SUPERSCRIPT).translate(MINUS)
        values.append(10.0 ** int(exponent))
    for match in re.finditer(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?", text):
        try:
            values.append(float(match.group(0).replace(",", "")))
        except ValueError:
            continue
    return values


def published_figures() -> list[Figure]:
    """What the source articles printed, as course.replicate keeps it."""
    from course import replicate

    printed = list(replicate.PUBLISHED)
    return [figure for figure in map(parse, printed) if figure is not None]


def unexplained_figures(nb, notebook_id: str) -> list[str]:
    """The quoted results of ``nb``'s markdown that no output, article or allow-list entry explains."""
    values = [v for cell in nb.cells if cell.cell_type == "code" for v in output_values(output_text(cell))]
    articles = published_figures()
    allowed = {**ALLOWED_ANYWHERE, **ALLOWED.get(notebook_id, {})}
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for figure in quoted_figures(cell.source):
            if figure.text in allowed or figure.found_in(values):
                continue
            if any(figure.kind != "power" and figure.found_in([a.value]) and a.value != 0 for a in articles):
                continue  # quoted from an article (at the precision quoted)
            line = next(line for line in cell.source.splitlines() if figure.text in line)
            problems.append(f"markdown cell {index}: {figure.text!r} is in no output — «{line.strip()[:140]}»")
    return problems


# --------------------------------------------------------------------------- the scanner itself

@pytest.mark.parametrize("text, expected", [
    ("They agree to about float32 precision, $10^{-7}$ relative", ["10^{-7}"]),
    ("agree to 10⁻⁷ relative", ["10⁻⁷"]),
    ("below 1e-7 or so", ["1e-7"]),
    ("predicted 18.979048 and 5.1584e-05", ["18.979048", "5.1584e-05"]),
    ("TensorFlow 2.21 still ships", ["2.21"]),
    ("500 epochs, lr = 0.01, x = 10, article 000, float32, 8×8, Dense(128)", ["128"]),
    ("1,797 images", ["1,797"]),
    ("```python\nw -= 0.123 * w.grad\n```\nno figure", []),
])
def test_quoted_figures_are_found(text, expected):
    assert [figure.text for figure in quoted_figures(text)] == expected


def test_matching_is_at_the_quoted_precision():
    printed = output_values("w = 18.981499, loss 5.158412e-05, gap 3.3e-07, relative 1.2e-07, PyTorch 2.13.0+cpu")
    assert parse("18.98").found_in(printed)
    assert not parse("18.99").found_in(printed)
    assert parse("5.1584e-05").found_in(printed)
    assert not parse("5.1571e-05").found_in(printed)
    assert parse("2.13").found_in(printed)
    assert quoted_figures("10⁻⁷")[0].found_in(printed)          # 1.2e-07
    assert not quoted_figures("10⁻⁷")[0].found_in(output_values("3.3e-07 and 3e-08"))
    assert not parse("128").found_in(output_values("1280 and 12.8"))


def test_the_old_notebook_2_sentence_is_caught():
    """Issue 17, item 1: a relative 10⁻⁷ claimed while the cell printed an absolute 3.3e-07."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("They agree to about float32 precision, $10^{-7}$ relative; "
                                      "the largest gap in `losses` is printed below."),
        nbformat.v4.new_code_cell("print(...)", outputs=[nbformat.v4.new_output(
            "stream", name="stdout",
            text="FitResult(numpy: w=1.99999, b=-0.999963, final loss=8.74095e-10, lr=0.05, epochs=200)\n"
                 "FitResult(torch_manual: w=1.99999, b=-0.999963, final loss=8.72282e-10, lr=0.05, epochs=200)\n"
                 "largest gap between the two loss curves: 3.3e-07\n")]),
    ]
    problems = unexplained_figures(nb, "02_torch_manual")
    assert len(problems) == 1 and "10^{-7}" in problems[0], problems


# --------------------------------------------------------------------------- the notebooks

@pytest.mark.slow
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_every_quoted_figure_is_computed(nb_path: Path, notebook_runs):
    nb = notebook_runs.source(nb_path)
    problems = unexplained_figures(nb, nb_path.stem)
    assert not problems, (
        f"{nb_path.name}: figures the prose quotes but no cell prints (print them, say 'expected', "
        "or allow-list a setting with its reason):\n" + "\n".join(problems)
    )


def test_allow_list_entries_are_still_used():
    import nbformat

    stale = []
    for notebook_id, entries in ALLOWED.items():
        path = next(p for p in NOTEBOOKS if p.stem == notebook_id)
        texts = {f.text for cell in nbformat.read(path, 4).cells if cell.cell_type == "markdown"
                 for f in quoted_figures(cell.source)}
        stale += [f"{notebook_id}: {figure!r}" for figure in entries if figure not in texts]
    everywhere = {f.text for path in NOTEBOOKS for cell in nbformat.read(path, 4).cells
                  if cell.cell_type == "markdown" for f in quoted_figures(cell.source)}
    stale += [f"any notebook: {figure!r}" for figure in ALLOWED_ANYWHERE if figure not in everywhere]
    assert not stale, "allow-list entries no notebook quotes any more: " + ", ".join(stale)
