"""One course root on disk: its assignments, submissions, gradebook and nbgrader API."""

from __future__ import annotations

import difflib
import os
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from .config import COURSE_ID, Settings, course_config, write_course_config


class CourseError(Exception):
    """A problem the instructor must fix; ``exit_code`` is what the CLI exits with."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


#: Exit codes of the CLI (also in the README).
EXIT_USAGE = 2        # unknown assignment, missing release, bad file, ...
EXIT_NOTHING = 3      # nothing to do: no submissions
EXIT_UNGRADED = 4     # some submissions could not be graded at all
EXIT_SANDBOX = 5      # the grading sandbox cannot start here (and --no-sandbox was not given)


def ensure_venv_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH: put this interpreter's ``bin/`` first."""
    import sys

    bin_dir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in parts if p != bin_dir])


class Course:
    """A course root with this package's settings (see :class:`autograder.config.Settings`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = Path(settings.root)
        ensure_venv_on_path()

    # -- layout ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the root and its ``nbgrader_config.py`` (for roots other than the repository)."""
        if not Path(self.settings.source).is_dir():
            raise CourseError(f"the source directory {self.settings.source} does not exist")
        write_course_config(self.settings)
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)

    def step_dir(self, step: str) -> Path:
        return self.root / step

    def assignments(self) -> list[str]:
        """Assignment names: folders of the source directory holding at least one notebook."""
        source = Path(self.settings.source)
        if not source.is_dir():
            return []
        return sorted(p.name for p in source.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))

    def notebook_ids(self, assignment: str) -> list[str]:
        folder = Path(self.settings.source) / assignment
        return sorted(p.stem for p in folder.glob("*.ipynb") if not p.name.startswith("."))

    def require_assignment(self, assignment: str) -> None:
        known = self.assignments()
        if assignment in known:
            return
        hint = difflib.get_close_matches(assignment, known, n=1)
        message = f"unknown assignment {assignment!r}"
        message += f" (did you mean {hint[0]!r}?)" if hint else ""
        message += f"; the source directory {self.settings.source} has: {', '.join(known) or 'none'}"
        raise CourseError(message)

    def require_released(self, assignment: str) -> None:
        self.require_assignment(assignment)
        with self.gradebook() as gb:
            names = {a.name for a in gb.assignments}
        if assignment not in names:
            raise CourseError(f"assignment {assignment!r} has not been released yet: "
                              f"run `python -m autograder release {assignment}` first")

    def submissions(self, assignment: str) -> list[str]:
        """Students with a folder ``submitted/<student>/<assignment>/``."""
        submitted = self.step_dir("submitted")
        if not submitted.is_dir():
            return []
        return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())

    def submitted_notebook(self, assignment: str, student: str, notebook: str) -> Path:
        return self.step_dir("submitted") / student / assignment / f"{notebook}.ipynb"

    def autograded_notebook(self, assignment: str, student: str, notebook: str) -> Path:
        return self.step_dir("autograded") / student / assignment / f"{notebook}.ipynb"

    def feedback_file(self, assignment: str, student: str, notebook: str) -> Path:
        return self.step_dir("feedback") / student / assignment / f"{notebook}.html"

    # -- nbgrader ----------------------------------------------------------------------------
    @cached_property
    def config(self):
        return course_config(self.settings)

    @cached_property
    def api(self):
        from nbgrader.apps import NbGraderAPI

        return NbGraderAPI(config=self.config)

    @contextmanager
    def gradebook(self):
        from nbgrader.api import Gradebook

        gb = Gradebook(self.settings.resolved_db_url, COURSE_ID)
        try:
            yield gb
        finally:
            gb.close()
