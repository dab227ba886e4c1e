"""The grading sandbox against a class of attackers, graded as root and as an ordinary user.

One class of notebook 1: three well-behaved students and one attacker per
attack of ``tests/sandbox_attacks.py`` (gradebook, classmates' files,
solutions and hidden tests, the grader's environment, the network, killing
processes, a fork storm, a 1 GiB file, filling /tmp and /dev/shm).  The same
well-behaved students are graded alone in a clean class; then for the
attacked run:

* every attacker is in the gradebook, graded;
* every other student's score equals the clean run's;
* ``submitted/`` is byte-identical before and after, and nothing outside the
  course's own output folders changed;
* no process of the sandbox is left;
* no output contains a solution, a hidden test, the secret or a breach mark,
  and the loopback servers the test runs received nothing.

The cases the suite already had (endless loop, memory hog, ``os._exit``,
edited and deleted tests, monkeypatching) run sandboxed in
``tests/test_autograder_hostile.py`` since the sandbox is the default.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import catalogue
from autograder.demo.run import write_class
from autograder.sandbox import slots
from sandbox_attacks import BREACH, Targets, attack_variants

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
SOURCE = REPO / "notebooks"
SECRET = "postgresql://grader:s3cr3t-pa55word@db.example/gradebook"
OUTPUT_DIRS = ("autograded", "feedback", "nbgrader_work")
GRADER_USER = "gd-test-grader"


def _controls():
    wanted = {"correct", "partial", "mistake-sum-mse"}
    return [v for v in catalogue.class_variants(ASSIGNMENT) if v.student in wanted]


class LoopbackServers:
    """A TCP and a UDP server on 127.0.0.1 that record anything that reaches them."""

    def __init__(self):
        self.received: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.tcp.settimeout(0.5)
        self.udp.settimeout(0.5)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_tcp, daemon=True),
                         threading.Thread(target=self._serve_udp, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def ports(self) -> tuple[int, int]:
        return self.tcp.getsockname()[1], self.udp.getsockname()[1]

    def _serve_tcp(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            self.received.append(b"tcp connection")
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    pass

    def _serve_udp(self):
        while not self._stop.is_set():
            try:
                self.received.append(self.udp.recv(100))
            except OSError:
                continue

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def _tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    digest = {}
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            dirs[:] = []
            continue
        for name in files:
            if not rel.parts and (name in skip or name.startswith("gradebook.db")):
                continue
            path = Path(folder) / name
            digest[str(rel / name)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def _scores(course: Course) -> dict[str, float]:
    with course.gradebook() as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}


def _outputs_text(course: Course, student: str) -> str:
    """What the student's own cells printed (test cells' tracebacks are the feedback's business)."""
    path = course.autograded_notebook(ASSIGNMENT, student, ASSIGNMENT)
    nb = nbformat.read(str(path), 4)
    chunks = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", "") if isinstance(output.get("text", ""), str) else "")
            chunks += [v for v in output.get("data", {}).values() if isinstance(v, str)]
            chunks += output.get("traceback", [])
    return "\n".join(chunks)


def _hidden_test_lines() -> list[str]:
    nb = nbformat.read(str(SOURCE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), 4)
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 20:
                lines.append(line.strip())
    return lines


def _sandbox_processes(slots_dir: Path) -> list[str]:
    """Processes of this run's sandboxes (their command lines name its slots folder) or its slot uids."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(slots_dir) in cmdline:
            found.append(f"{entry.name} {cmdline[:160]}")
    return found


def _build_class(root: Path, variants, run) -> None:
    assert run(["release", ASSIGNMENT]) == 0
    course = Course(Settings.from_env(root=root, source=SOURCE))
    zip_path = root.parent / f"{root.name}-class.zip"
    written = write_class(course, ASSIGNMENT, list(variants), zip_path)
    assert {v.student for v in written} == {v.student for v in variants}
    os.chmod(zip_path, 0o644)
    assert run(["collect", ASSIGNMENT, str(zip_path)]) == 0


def _check_attacked_run(root: Path, clean_scores: dict[str, float], attackers: list[str],
                        before_submitted, before_rest, servers: LoopbackServers, slots_dir: Path) -> None:
    course = Course(Settings.from_env(root=root, source=SOURCE))
    scores = _scores(course)
    missing = [a for a in attackers + list(clean_scores) if a not in scores]
    assert not missing, f"not in the gradebook: {missing}"
    for student, score in clean_scores.items():
        assert scores[student] == score, f"{student}: {scores[student]} in the attacked class, {score} alone"
    assert _tree_digest(root / "submitted") == before_submitted, "submitted/ changed during grading"
    assert _tree_digest(root, OUTPUT_DIRS) == before_rest, "files outside the output folders changed"
    assert not list(root.rglob("huge.bin")), "a student wrote into the course tree"
    leaks = _hidden_test_lines()
    assert leaks, "the notebook has hidden tests to look for"
    for student in attackers:
        text = _outputs_text(course, student)
        assert BREACH not in text, f"{student} got through: {text[:2000]}"
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, student
        assert not [line for line in leaks if line in text], f"{student} printed a hidden test"
        assert "s3cr3t" not in text, f"{student} printed the grader's secret"
    assert servers.received == [], f"the loopback servers were reached: {servers.received}"
    filled = re.search(r"stopped conn after (\d+) MiB", _outputs_text(course, "attack-fill-tmp"))
    assert filled, "the fill attack reached the kernel's socket folder"
    if os.geteuid() == 0 and root.owner() == "root":  # as root that folder is a 1 MiB tmpfs
        assert int(filled.group(1)) <= 1, f"{filled.group(0)}: the grader's disk was reachable"
    from autograder import status

    for student in ("attack-widget-flood", "attack-display-flood"):
        size = course.autograded_notebook(ASSIGNMENT, student, ASSIGNMENT).stat().st_size
        assert size < 40 * 1024 * 1024, f"{student}'s autograded notebook is {size} bytes"
        peak = status.load(course, ASSIGNMENT, student).grader_peak_mb
        assert 0 < peak < 1024, f"{student} made the grading worker grow to {peak} MiB"
    assert slots_dir.is_dir(), "the run used this test's sandbox slots"
    assert _sandbox_processes(slots_dir) == [], "processes of the sandbox are still running"


def _attack_class(tmp_path: Path, name: str, grader_pid: int, servers: LoopbackServers):
    root = tmp_path / name
    root.mkdir()
    tcp_port, udp_port = servers.ports
    targets = Targets(root=str(root), source=str(SOURCE), gradebook=str(root / "gradebook.db"),
                      victims=tuple(v.student for v in _controls()), tcp_port=tcp_port,
                      udp_port=udp_port, grader_pid=grader_pid, secret=SECRET)
    attackers = attack_variants(targets)
    return root, attackers


def _run_in(root):
    return lambda args: main([*args, "--root", str(root), "--source", str(SOURCE)])


@pytest.fixture(scope="module")
def clean_class(isolated_jupyter, tmp_path_factory) -> Path:
    """The well-behaved students graded alone (sandboxed, as this process's user)."""
    clean_root = tmp_path_factory.mktemp("clean")
    _build_class(clean_root, _controls(), _run_in(clean_root))
    assert _run_in(clean_root)(["autograde", ASSIGNMENT, "--jobs", "2", "--no-progress"]) == 0
    return clean_root


@pytest.fixture(scope="module")
def clean_scores(clean_class) -> dict[str, float]:
    return _scores(Course(Settings.from_env(root=clean_class, source=SOURCE)))


def test_nbgrader_autograde_from_the_course_root_is_sandboxed(clean_class, clean_scores):
    """nbgrader's own command (and so the formgrader) reads the course config: sandboxed too."""
    course = Course(Settings.from_env(root=clean_class, source=SOURCE))
    with_note = {}
    for flag in ("1", "0"):
        env = dict(os.environ, GD_SANDBOX=flag, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT,
                               "--student", "correct", "--force"], cwd=clean_class, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        nb = nbformat.read(str(course.autograded_notebook(ASSIGNMENT, "correct", ASSIGNMENT)), 4)
        with_note[flag] = any(cell.get("metadata", {}).get("gd_autograder", {}).get("notes")
                              and "unsandboxed" in str(cell.metadata) for cell in nb.cells)
    assert with_note == {"1": False, "0": True}
    assert _scores(course)["correct"] == clean_scores["correct"]


def test_attackers_graded_as_root_change_nothing(isolated_jupyter, clean_scores, tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("this run needs root (the ordinary-user run is the next test)")
    monkeypatch.setenv("GD_DB_PASSWORD_URL", SECRET)
    slots_dir = tmp_path / "slots"  # a slots folder of its own, to find this run's processes
    monkeypatch.setenv("GD_SANDBOX_DIR", str(slots_dir))
    servers = LoopbackServers()
    try:
        root, attackers = _attack_class(tmp_path, "attacked", os.getpid(), servers)
        _build_class(root, _controls() + attackers, _run_in(root))
        before_submitted = _tree_digest(root / "submitted")
        before_rest = _tree_digest(root, OUTPUT_DIRS)
        code = main(["autograde", ASSIGNMENT, "--root", str(root), "--source", str(SOURCE),
                     "--jobs", "2", "--timeout", "60", "--no-progress"])
        assert code in (0, 4)
        _check_attacked_run(root, clean_scores, [a.student for a in attackers],
                            before_submitted, before_rest, servers, slots_dir)
    finally:
        servers.close()


@pytest.fixture(scope="module")
def grader_account():
    """An ordinary Linux user who grades with a course environment every account can run."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creating the ordinary grader's account needs root and useradd")
    from autograder.classroom.provision import DEFAULT_PREFIX, provision_environment

    python = provision_environment(DEFAULT_PREFIX)
    created = False
    try:
        pwd.getpwnam(GRADER_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", GRADER_USER], check=True)
        created = True
    try:
        yield pwd.getpwnam(GRADER_USER), Path(python)
    finally:
        subprocess.run(["pkill", "-KILL", "-u", GRADER_USER], check=False)
        if created:
            subprocess.run(["userdel", "--remove", GRADER_USER], check=False)


def test_attackers_graded_by_an_ordinary_user_change_nothing(isolated_jupyter, clean_scores, grader_account):
    account, python = grader_account
    servers = LoopbackServers()
    base = Path(account.pw_dir) / "classes"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    os.chown(base, account.pw_uid, account.pw_gid)
    slots_dir = base / "slots"
    # The grader's own copy of the source notebooks: the checkout may be private (a clone in a 0700
    # folder, or under root's home), and an instructor's course lives where the instructor can read it.
    source = base / "source"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for folder, _, files in os.walk(source):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            os.chown(path, account.pw_uid, account.pw_gid)
    env = {"HOME": account.pw_dir, "PATH": f"{python.parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "GD_DB_PASSWORD_URL": SECRET, "GD_SANDBOX_DIR": str(slots_dir)}

    def run_in(root):
        def run(args):
            done = subprocess.run(
                ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", "--",
                 str(python), "-m", "autograder", *args, "--root", str(root), "--source", str(source)],
                env=env, cwd=str(root), capture_output=True, text=True, timeout=1200)
            print(done.stdout[-3000:], done.stderr[-3000:])
            return done.returncode
        return run

    try:
        root, attackers = _attack_class(base, "attacked", os.getpid(), servers)
        os.chown(root, account.pw_uid, account.pw_gid)
        _build_class(root, _controls() + attackers, run_in(root))
        before_submitted = _tree_digest(root / "submitted")
        before_rest = _tree_digest(root, OUTPUT_DIRS)
        # One student at a time: as an ordinary user every kernel shares the user's process
        # budget, so a fork storm could crowd a classmate graded at the same moment (README).
        code = run_in(root)(["autograde", ASSIGNMENT, "--jobs", "1", "--timeout", "60", "--no-progress"])
        assert code in (0, 4)
        _check_attacked_run(root, clean_scores, [a.student for a in attackers],
                            before_submitted, before_rest, servers, slots_dir)
        # Kernels are killed (SIGKILL) as grading ends; give the last ones a moment to be reaped.
        deadline = time.monotonic() + 10
        while (leftovers := subprocess.run(["pgrep", "-u", GRADER_USER], capture_output=True,
                                           text=True).stdout.strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        shown = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-u", GRADER_USER],
                               capture_output=True, text=True).stdout if leftovers else ""
        assert leftovers == "", f"the ordinary grader's processes are still running:\n{shown}"
    finally:
        servers.close()
        shutil.rmtree(base, ignore_errors=True)


def test_refuses_with_the_cause_and_the_fix_when_bubblewrap_is_missing(monkeypatch, capsys, tmp_path):
    import autograder.sandbox.readiness as diagnose_module

    real_which = shutil.which
    monkeypatch.setattr(diagnose_module.shutil, "which",
                        lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k))
    problems = diagnose_module.diagnose(fresh=True)
    try:
        assert len(problems) == 1, problems
        assert "bubblewrap" in problems[0] and "apt-get install bubblewrap" in problems[0]
        assert "--no-sandbox" in problems[0]
        code = main(["autograde", ASSIGNMENT, "--root", str(tmp_path), "--source", str(SOURCE)])
        assert code == 5
        err = capsys.readouterr().err
        assert "the grading sandbox cannot start" in err and "apt-get install bubblewrap" in err
        assert not (tmp_path / "gradebook.db").exists(), "nothing is graded when the sandbox is missing"
    finally:
        monkeypatch.undo()
        diagnose_module.diagnose(fresh=True)


def test_no_sandbox_grades_with_a_warning(monkeypatch, capsys, tmp_path):
    import autograder.cli as cli

    settings = cli._settings(cli.build_parser().parse_args(
        ["autograde", ASSIGNMENT, "--root", str(tmp_path), "--no-sandbox"]))
    assert settings.sandbox is False
    assert cli._sandbox_ready(settings, "autograde") is True
    assert "WARNING: grading without the sandbox" in capsys.readouterr().err
    from autograder.config import course_config

    assert "kernel_name" not in course_config(settings).SafeExecute
    assert course_config(Settings.from_env(root=tmp_path)).SafeExecute.kernel_name == "gd-sandbox"


def test_input_copy_leaves_out_notebooks_and_links(tmp_path):
    source = tmp_path / "nbdir"
    (source / "data").mkdir(parents=True)
    (source / "data" / "points.csv").write_text("1,2\n")
    (source / "answer.ipynb").write_text("{}")
    secret = tmp_path / "gradebook.db"
    secret.write_text("secret")
    (source / "link.db").symlink_to(secret)
    target = tmp_path / "input"
    skipped = slots.copy_input(source, target)
    assert (target / "data" / "points.csv").read_text() == "1,2\n"
    assert not (target / "answer.ipynb").exists() and not (target / "link.db").exists()
    assert sorted(skipped) == ["answer.ipynb", "link.db"]


def test_policy_shows_nothing_of_the_course_and_no_secret(tmp_path):
    from autograder.sandbox.readiness import read_only_paths
    from autograder.sandbox.policy import Layout, Limits, sandbox_command, sandbox_env

    env = sandbox_env({"GD_DB_URL": SECRET, "NBGRADER_EXECUTION": "autograde", "HOME": "/root"}, "/venv/bin")
    assert "GD_DB_URL" not in env and env["NBGRADER_EXECUTION"] == "autograde" and env["HOME"] == "/home/student"
    layout = Layout(tmp_path / "slot", read_only_paths(), uid=61000, gid=61000)
    cmd = sandbox_command(["python", "-m", "ipykernel_launcher"], layout, Limits(), env)
    text = " ".join(cmd)
    assert "--unshare-net" in cmd and "--die-with-parent" in cmd and "--clearenv" in cmd
    assert str(REPO / "notebooks") not in text and "gradebook" not in text
    binds = {cmd[i + 1] for i, arg in enumerate(cmd) if arg in ("--ro-bind", "--bind")}
    assert str(REPO / "autograder" / "kernel") in binds and str(REPO / "autograder") not in binds
    assert not any(b.startswith(str(REPO / "notebooks")) for b in binds)
    assert cmd[cmd.index("setpriv") + 1] == "--reuid=61000"


def test_a_submitted_student_missing_from_the_gradebook_is_named(clean_class):
    from autograder import pipeline

    course = Course(Settings.from_env(root=clean_class, source=SOURCE))
    assert pipeline.missing_from_gradebook(course, ASSIGNMENT) == []
    ghost = clean_class / "submitted" / "ghost"
    shutil.copytree(clean_class / "submitted" / "correct", ghost)
    try:
        assert pipeline.missing_from_gradebook(course, ASSIGNMENT) == ["ghost"]
    finally:
        shutil.rmtree(ghost)
