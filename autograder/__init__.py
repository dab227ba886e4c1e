"""The instructor's side of the course: nbgrader configuration, the student workspace and the grading CLI."""

import sys as _sys

# jsonschema (imported by nbformat, so by nbgrader) loads ``rfc3987_syntax`` for its "iri" format
# checker whenever it is installed (jupyter-events asks for it), and that module compiles a Lark
# grammar at import: 1.2 s of CPU (3 s on a busy machine) in every process that reads a notebook,
# and autograde runs several (the command, each worker).  No schema read here uses "iri" and
# nbformat validates without format checkers, so grading is unchanged; an import already done
# (another tool loaded it first) is left alone.
_sys.modules.setdefault("rfc3987_syntax", None)
