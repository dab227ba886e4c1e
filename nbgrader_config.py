"""nbgrader's configuration for this course (the course root is this folder).

The settings live in ``autograder/config.py`` so that nbgrader's own commands
(``nbgrader generate_assignment``, ``autograde``, ``generate_feedback``,
``export``, the formgrader) and ``python -m autograder`` share them.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)

from autograder.config import configure  # noqa: E402

configure(get_config(), root=_here)  # noqa: F821 (get_config is provided by traitlets)
