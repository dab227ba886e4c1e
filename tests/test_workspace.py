"""`make lab`'s workspace: releases made by nbgrader, learners' files never overwritten."""

import json
import os
from pathlib import Path

import pytest

from autograder.classroom import workspace as ws

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    path = ws.prepare_workspace(ROOT, base / "workspace", build=base / "build")
    return path, base


def test_every_assignment_is_released(prepared):
    path, _ = prepared
    assert sorted(p.name for p in path.iterdir()) == ws.list_assignments(ROOT / "notebooks")
    for assignment in ws.list_assignments(ROOT / "notebooks"):
        assert (path / assignment / f"{assignment}.ipynb").is_file()


def test_released_notebooks_hold_no_solution_or_hidden_test(prepared):
    path, _ = prepared
    for nb in path.rglob("*.ipynb"):
        text = nb.read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, nb
        sources = ["".join(c["source"]) for c in json.loads(text)["cells"]]
        assert any("NotImplementedError" in s for s in sources), nb


def test_rerunning_keeps_the_learners_work(prepared):
    path, base = prepared
    nb = next(path.rglob("*.ipynb"))
    nb.write_text(nb.read_text().replace("NotImplementedError", "NotImplementedError  # my attempt", 1))
    mine = nb.read_text()
    extra = path / "my_notes.txt"
    extra.write_text("mine")
    ws.prepare_workspace(ROOT, path, build=base / "build")
    assert nb.read_text() == mine
    assert extra.read_text() == "mine"


def test_a_deleted_notebook_comes_back(prepared):
    path, base = prepared
    nb = sorted(path.rglob("*.ipynb"))[-1]
    nb.unlink()
    ws.prepare_workspace(ROOT, path, build=base / "build")
    assert nb.is_file() and "BEGIN SOLUTION" not in nb.read_text()


def test_lab_command_respects_port_token_and_display():
    cmd = ws.lab_command(Path("/tmp/w"), port=9123, ip="127.0.0.1", token="abc", open_browser=False)
    assert "--port=9123" in cmd and "--no-browser" in cmd and "--IdentityProvider.token=abc" in cmd
    assert "--ServerApp.root_dir=/tmp/w" in cmd
    assert "--no-browser" not in ws.lab_command(Path("/tmp/w"), port=1, ip="x", token=None, open_browser=True)


def test_a_wrong_root_says_what_is_missing(tmp_path, capsys):
    assert ws.main(["--root", str(tmp_path), "--prepare-only"]) == 1
    assert "no notebooks/ folder" in capsys.readouterr().err


def test_make_lab_defaults_to_the_repository(monkeypatch):
    """`make lab` passes no --root: the default must be the repository with its notebooks/."""
    monkeypatch.delenv("GD_COURSE_ROOT", raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert ws.REPO_ROOT == repo
    assert ws.list_assignments(ws.REPO_ROOT / "notebooks")[0] == "01_numpy_by_hand"
