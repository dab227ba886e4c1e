"""Fixtures shared by the autograder's end-to-end tests."""

from __future__ import annotations

import os
import sys

import pytest

#: Modules that share a session fixture run in one xdist worker (``make test`` runs two),
#: so the fixture's work happens once: test_prose_figures reads test_notebooks' executions.
SHARED_WORKER = {"test_prose_figures": "test_notebooks"}
#: The longest modules (minutes each, most of them grading whole classes) start first, so
#: neither worker is left with one of them at the end while the other sits idle.
LONGEST_FIRST = ("test_corpus", "test_autograder_e2e", "test_notebooks", "test_prose_figures", "test_sandbox",
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

    return NotebookRuns(tmp_path_factory.mktemp("notebook-runs"), tmp_path_factory.mktemp("mplconfig"))


def pytest_collection_modifyitems(config, items):
    """Group tests by module for ``--dist loadgroup`` and put the longest modules first.

    A module's tests stay in one worker, so a module-scoped fixture (a graded class) is
    built once.  The order is deterministic: every xdist worker collects the same list.
    """
    def module(item) -> str:
        return item.path.stem

    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(module(item), len(rank)))  # stable: file order otherwise
    for item in items:
        item.add_marker(pytest.mark.xdist_group(SHARED_WORKER.get(module(item), module(item))))
