"""nbgrader's feedback HTML with MathJax inlined (offline) and wrapping outputs."""

from __future__ import annotations

import functools
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from traitlets import default

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: What nbgrader's feedback template loads (nbconvert's ``mathjax()`` macro with its default URL).
CDN_SCRIPT = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js'
              '?config=TeX-AMS_CHTML-full,Safe"> </script>')

# The settings nbconvert's MathJax 2 configuration used, in MathJax 3's terms.  SVG output
# carries its glyphs in the script itself: nothing else to load, no fonts to fetch.
_MATHJAX_CONFIG = r"""
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'},
  startup: {typeset: true}
};
"""

WRAP_CSS = """
/* autograder/student_feedback: a message wraps instead of running off the right edge */
div.output_area pre, div.output_subarea pre, div.output_text pre {
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal;
}
div.output_subarea { max-width: 100%; overflow-x: visible; }
div.output_error pre { font-size: 13px; line-height: 1.45; }
/* a failed check reads as one: a red edge, and the colours and bold of the verdict (nbconvert's ANSI classes) */
div.output_error { background: #fdf0ef; border-left: 4px solid #c62828; padding: 4px 8px; }
.ansi-bold { font-weight: bold; }
.ansi-red-fg, .ansi-red-intense-fg { color: #b71c1c; }
.ansi-green-fg, .ansi-green-intense-fg { color: #1b5e20; }
.ansi-cyan-fg, .ansi-cyan-intense-fg { color: #006064; }
.ansi-blue-fg, .ansi-blue-intense-fg { color: #0d47a1; }
.ansi-yellow-fg, .ansi-yellow-intense-fg { color: #8d6e00; }
span.gd-hidden-checks { font-style: italic; }
"""


def _mathjax_dir() -> Path:
    import mathjax  # django-static-mathjax: MathJax's own files

    return Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"


@functools.lru_cache(maxsize=1)
def mathjax_script() -> str:
    """MathJax 3 (TeX in, SVG out) as inline ``<script>`` elements: the page needs no network."""
    code = (_mathjax_dir() / "tex-svg.js").read_text(encoding="utf-8")
    code = code.replace("</script", "<\\/script")  # cannot close the element early
    return (f"<script>{_MATHJAX_CONFIG}</script>\n"
            f"<!-- MathJax {_version()} (Apache 2.0), inlined by autograder/student_feedback -->\n"
            f"<script>{code}</script>")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("django-static-mathjax")
    except Exception:  # noqa: BLE001 - only a comment
        return "3"


class FeedbackExporter(HTMLExporter):
    """nbgrader's ``feedback`` template, extended by ``gd_feedback`` (see the package docstring)."""

    @default("template_name")
    def _template_name_default(self):
        return "gd_feedback"

    def _init_resources(self, resources):
        resources = super()._init_resources(resources)
        resources["gd_feedback"] = {
            "cdn_script": CDN_SCRIPT,
            "head": f"<style type=\"text/css\">{WRAP_CSS}</style>\n{mathjax_script()}",
        }
        return resources


def _formgrader() -> Path:
    import nbgrader

    return Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader"


def template_basedirs() -> list[str]:
    """Our templates first, then nbgrader's (where its ``feedback`` template lives)."""
    return [str(TEMPLATES), str(_formgrader() / "templates")]


def template_paths() -> list[str]:
    """Where ``{% extends 'feedback/index.html.j2' %}`` and nbgrader's ``bootstrap.min.css`` are found
    (the second is what GenerateFeedback itself puts on HTMLExporter's path)."""
    formgrader = _formgrader()
    return [str(formgrader / "templates"), str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
