"""The feedback a student reads: nbgrader's own ``generate_feedback``, configured for students.

nbgrader renders the autograded notebook with its ``feedback`` template.  Here
the same converter runs with two more preprocessors and a template that
extends nbgrader's:

* :class:`HideHiddenTests` replaces the source of every ``### BEGIN HIDDEN
  TESTS`` block by one line, "3 hidden checks: …", with their results (passed,
  not run, or which one failed; its message is the cell's output), so the
  next class never sees them (nbgrader #917);
* :class:`StudentView` drops the machine line ``[mistake: …]`` and the
  grader's paths from the outputs (the class report reads the mistake ids
  from the autograded notebooks, which keep them);
* :class:`FeedbackExporter` (template ``gd_feedback``) inlines MathJax 3
  from the ``mathjax`` package (django-static-mathjax, no Django involved)
  instead of loading MathJax 2 from a CDN, so every formula renders offline,
  and makes outputs wrap.

:func:`configure` applies all of it to a traitlets ``Config``.
"""

from __future__ import annotations

from .exporter import FeedbackExporter, mathjax_script, template_basedirs, template_paths
from .preprocessors import HideHiddenTests, StudentView, hidden_summary, scrub

__all__ = ["FeedbackExporter", "HideHiddenTests", "StudentView", "configure", "hidden_summary", "mathjax_script",
           "scrub"]


def configure(c) -> None:
    """nbgrader's GenerateFeedback with the student-facing preprocessors and template."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, StudentView, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    # Per class, so that nbgrader's own HTMLExporter settings (the formgrader's, and the
    # template_name='feedback' its API sets) stay as they are: the subclass's section wins.
    c.FeedbackExporter.template_name = "gd_feedback"
    c.FeedbackExporter.extra_template_basedirs = template_basedirs()
    c.FeedbackExporter.extra_template_paths = template_paths()
