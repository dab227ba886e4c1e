"""The class report: one HTML page with plots, from the gradebook and the autograded notebooks.

Per assignment: a histogram of the scores, the pass rate of every test
cell, the named mistakes (``course.checks``) seen most often, and the
students the autograder has notes about (unreadable files, dead kernels,
monkeypatching, uses of ``course.reference``).  Plots are PNGs embedded in
the page, so the report is one file that can be mailed around.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

import nbformat

from .course_dir import EXIT_NOTHING, Course, CourseError
from .grading import summarize
from .notes import KIND_LABELS
from .status import StudentResult
from .demo.synthetic import test_ids


def _figure_png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def collect_results(course: Course, assignment: str) -> list[StudentResult]:
    """Every autograded submission of ``assignment`` (whoever graded it: this CLI or nbgrader)."""
    autograded = course.step_dir("autograded")
    students = sorted(p.name for p in autograded.iterdir() if (p / assignment).is_dir()) \
        if autograded.is_dir() else []
    results = []
    for student in students:
        try:
            results.append(summarize(course, assignment, student, state="graded"))
        except Exception:  # noqa: BLE001 - a submission missing from the gradebook: not in the report
            continue
    return results


def _plots(results: list[StudentResult], test_order: list[str]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from course.notebook import PALETTE

    max_score = max(r.max_score for r in results) or 1.0
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = min(20, int(max_score) + 1) if max_score >= 1 else 10
    ax.hist([r.score for r in results], bins=bins, range=(0, max_score), color=PALETTE[0],
            edgecolor="white")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Scores")
    plots = {"scores": _figure_png(fig)}

    rates = []
    for test in test_order:
        graded = [r.tests[test] for r in results if test in r.tests]
        rates.append(sum(1 for score, top in graded if score >= top) / len(graded) if graded else 0.0)
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(test_order) + 1))
    ax.barh(test_order[::-1], [100 * r for r in rates[::-1]], color=PALETTE[2])
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.set_title("Pass rate per test cell")
    plots["tests"] = _figure_png(fig)

    counts = Counter(m for r in results for m in r.mistakes)
    if counts:
        top = counts.most_common(10)
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(top) + 1))
        ax.barh([name for name, _ in top][::-1], [n for _, n in top][::-1], color=PALETTE[3])
        ax.set_xlabel("students")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Most frequent named mistakes")
        plots["mistakes"] = _figure_png(fig)
    return plots


def _code_spans(text: str) -> str:
    """A note's markdown `code` as HTML <code>, everything else escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _mistake_titles() -> dict[str, str]:
    try:
        from course.mistakes import MISTAKES
    except ImportError:
        return {}
    items = MISTAKES.values() if isinstance(MISTAKES, dict) else MISTAKES
    return {m.id: m.title for m in items}


def _section(course: Course, assignment: str) -> str:
    results = collect_results(course, assignment)
    title = f"<h2>{html.escape(assignment)}</h2>"
    if not results:
        return title + "<p>No autograded submissions yet.</p>"
    test_order = []
    for notebook in course.notebook_ids(assignment):
        source = nbformat.read(str(Path(course.settings.source) / assignment / f"{notebook}.ipynb"), 4)
        test_order += test_ids(source)
    test_order += sorted({t for r in results for t in r.tests} - set(test_order))
    test_order = [t for t in test_order if any(t in r.tests for r in results)]
    plots = _plots(results, test_order)
    scores = [r.score for r in results]
    mean = sum(scores) / len(scores)
    max_score = max(r.max_score for r in results)
    parts = [title, f"<p>{len(results)} students, mean {mean:.2f} / {max_score:g}, "
                    f"full marks: {sum(1 for r in results if r.score >= r.max_score)}.</p>"]
    unsandboxed = [r.student for r in results if any(n["kind"] == "unsandboxed" for n in r.notes)]
    if unsandboxed:
        parts.append(f'<p style="color:#a00"><b>Warning: {len(unsandboxed)} of {len(results)} students were '
                     "graded without the sandbox</b> (<code>--no-sandbox</code>): their code ran with the "
                     "grader's own rights and could have read or changed the gradebook, other students' work "
                     "and the solutions.</p>")
    parts += [f'<img alt="{name}" src="{src}">' for name, src in plots.items()]
    titles = _mistake_titles()
    counts = Counter(m for r in results for m in r.mistakes)
    if counts:
        rows = "".join(f"<tr><td><code>{html.escape(m)}</code></td><td>{html.escape(titles.get(m, ''))}</td>"
                       f"<td>{n}</td></tr>" for m, n in counts.most_common())
        parts.append(f"<h3>Named mistakes</h3><table><tr><th>id</th><th>mistake</th><th>students</th></tr>"
                     f"{rows}</table>")
    noted = [r for r in results if r.notes]
    if noted:
        rows = "".join(
            f"<tr><td>{html.escape(r.student)}</td><td>{r.score:g} / {r.max_score:g}</td><td><ul>"
            + "".join(f"<li><b>{html.escape(KIND_LABELS.get(n['kind'], n['kind']))}</b>: "
                      f"{_code_spans(n['text'])}</li>" for n in r.notes)
            + "</ul></td></tr>" for r in noted)
        parts.append("<h3>Students with notes from the autograder</h3><table><tr><th>student</th>"
                     f"<th>score</th><th>notes</th></tr>{rows}</table>")
    return "\n".join(parts)


def write_report(course: Course, destination: Path, *, assignments: list[str] | None = None) -> Path:
    """Write the HTML report for ``assignments`` (default: every assignment in the gradebook)."""
    with course.gradebook() as gb:
        known = [a.name for a in gb.assignments]
    for name in assignments or []:
        if name not in known:
            course.require_released(name)
    names = assignments or sorted(known)
    if not names:
        raise CourseError("the gradebook has no assignments yet: release and autograde first", EXIT_NOTHING)
    body = "\n".join(_section(course, name) for name in names)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Autograder report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; line-height: 1.4; }}
img {{ display: block; max-width: 100%; margin: 1rem 0; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }}
</style></head><body>
<h1>Autograder report</h1>
<p>Course root: <code>{html.escape(str(course.root))}</code></p>
{body}
</body></html>
"""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(page, encoding="utf-8")
    return destination
