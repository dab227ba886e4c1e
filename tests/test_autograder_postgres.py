"""The gradebook on a real PostgreSQL server (Debian's packages), with a parallel autograde.

The test starts a throw-away cluster in a temporary folder on a free
loopback port (as the ``postgres`` user when run as root: PostgreSQL
refuses to run as root), and stops it afterwards.  It installs the server
with apt-get when it is missing and it can; it is skipped only when the
server cannot be had.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder.demo import catalogue, synthetic
from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo.run import write_class

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
STUDENTS = ("correct", "mistake-sum-mse", "broken-json")


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _install_server() -> Path | None:
    if _server_bin() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "postgresql"], env=env,
                       capture_output=True, timeout=900)
    return _server_bin()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _install_server()
    if bin_dir is None:
        pytest.skip("PostgreSQL server not installed and could not be installed (apt-get needs root)")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    data = Path(tempfile.mkdtemp(prefix="gd-pg-"))
    if as_root:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    run = lambda *args: subprocess.run(prefix + [str(a) for a in args], capture_output=True, text=True, timeout=120)
    done = run(bin_dir / "initdb", "-D", data / "db", "-A", "trust", "-U", "gd", "--no-sync")
    assert done.returncode == 0, done.stderr
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = run(bin_dir / "pg_ctl", "-D", data / "db", "-o", options, "-l", data / "server.log", "-w", "start")
    assert done.returncode == 0, done.stderr + (data / "server.log").read_text()
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="gd", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE gradebook")
        connection.close()
        yield f"postgresql://gd@127.0.0.1:{port}/gradebook"
    finally:
        run(bin_dir / "pg_ctl", "-D", data / "db", "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_autograde_with_a_postgresql_gradebook(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "home" / ".jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "home" / "jupyter"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.delenv("GD_COURSE_ROOT", raising=False)
    root = tmp_path / "course"
    db = ["--root", str(root), "--db-url", postgres_url]
    assert main(["release", ASSIGNMENT, *db]) == 0
    course = Course(Settings.from_env(root=root, db_url=postgres_url))
    variants = [v for v in catalogue.class_variants(ASSIGNMENT) if v.student in STUDENTS]
    write_class(course, ASSIGNMENT, variants, tmp_path / "class.zip")
    assert main(["collect", ASSIGNMENT, str(tmp_path / "class.zip"), *db]) == 0
    assert main(["autograde", ASSIGNMENT, *db, "--jobs", "2", "--no-progress"]) == 0
    assert not (root / "gradebook.db").exists()  # everything went to PostgreSQL

    source = nbformat.read(str(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
    with course.gradebook() as gb:
        assert course.settings.resolved_db_url.startswith("postgresql")
        scores = {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}
    assert scores == {v.student: synthetic.expected_score(v, source) for v in variants}

    assert main(["export", *db, "--to", str(tmp_path / "grades.csv")]) == 0
    with open(tmp_path / "grades.csv", newline="") as handle:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert exported == scores
