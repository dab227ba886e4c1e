"""Fixtures shared by the autograder's end-to-end tests."""

from __future__ import annotations

import os
import sys

import pytest

#: The longest modules (minutes each, most of them grading whole classes) start first, so
#: neither worker is left with one of them at the end while the other sits idle.
LONGEST_FIRST = ("test_corpus", "test_autograder_e2e", "test_notebooks", "test_prose_figures", "test_sandbox",
                 "test_forkserver",
                 "test_cluster", "test_autograder_hostile", "test_hub", "test_browser")

#: The course's settings that a developer's shell may carry; the tests choose their own.
COURSE_ENV = ("GD_COURSE_ROOT", "GD_DB_URL", "GD_CELL_TIMEOUT", "GD_MEMORY_MB", "GD_MAX_OUTPUT_CHARS")


@pytest.fixture(scope="module")
def isolated_jupyter(tmp_path_factory):
    """nbgrader and the kernels must not read the user's Jupyter or nbgrader configuration.

    Yields the temporary home folder; the venv's ``bin`` comes first on ``PATH``
    (nbgrader runs ``alembic`` from it).
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("JUPYTER_CONFIG_DIR", str(home / ".jupyter"))
        patch.setenv("JUPYTER_DATA_DIR", str(home / ".local" / "share" / "jupyter"))
        patch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        for name in COURSE_ENV:
            patch.delenv(name, raising=False)
        yield home


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """Each course notebook executed at most once per kind (source, release) per test session.

    Shared by test_notebooks.py and test_prose_figures.py, so that the slow executions
    (TensorFlow and PyTorch imports) happen once for both.
    """
    from test_notebooks import NotebookRuns

    # Under pytest-xdist each worker has its own base folder inside the run's: the run's is shared.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent / "notebook-runs-shared" if os.environ.get("PYTEST_XDIST_WORKER") else None
    return NotebookRuns(tmp_path_factory.mktemp("notebook-runs"), tmp_path_factory.mktemp("mplconfig"), shared)


def pytest_collection_modifyitems(config, items):
    """The longest modules first (``make test`` runs ``--dist loadfile``: a module stays in one worker,
    so its module-scoped fixtures, whole graded classes, are built once).  Deterministic: every
    xdist worker collects the same list."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: file order otherwise
