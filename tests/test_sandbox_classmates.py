"""The sandbox, second round: nothing one student's kernel does reaches the classmates graded after it.

Kernel by kernel (fresh and forked), as root:

* the seccomp filter is loaded, refuses the keyrings, mounts and new namespaces,
  and PyTorch and TensorFlow still run under it; no key survives into the next kernel;
* ``chmod 0`` of the kernel's socket folder does not stop the next kernel;
* a submitted ``numpy.py``, ``course.py`` or ``ipykernel_launcher.py`` shadows nothing.

Class by class (``python -m autograder autograde``):

* a student who breaks their socket folder, followed by correct students in the same worker
  (``--jobs 1``, and two such students with ``--jobs 2``): every correct student scores full;
* a widget flood and a display flood: graded, with a note naming the cap, the grading
  worker's memory and the autograded notebook's size within their caps;
* the shadowing files on all three paths (the CLI with the fork server, without it, and
  nbgrader's own ``autograde`` from the course root);
* a zero the grader is to blame for is graded again by a re-run, and the run names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import Settings
from autograder.course_dir import Course
from autograder.demo import catalogue, synthetic
from forkserver_support import sandboxed_kernels
from sandbox_attacks import BREACH
from test_forkserver import _run as run_in_kernel

pytestmark = [pytest.mark.slow, pytest.mark.sandbox,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None,
                                 reason="slot uids, the fork server and cgroups need root and bubblewrap")]

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "notebooks"
ASSIGNMENT = "01_numpy_by_hand"

# ----------------------------------------------------------------------------------------------
# kernel by kernel
# ----------------------------------------------------------------------------------------------
PROBE = r'''
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"add_key": 248, "keyctl": 250, "unshare": 272, "mount": 165, "ptrace": 101, "bpf": 321,
      "userfaultfd": 323, "perf_event_open": 298}
def call(name, *args):
    result = libc.syscall(NR[name], *args)
    return "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
status = dict(line.split(":\t", 1) for line in open("/proc/self/status") if ":\t" in line)
report = {
    "seccomp": status["Seccomp"].strip(),
    "add_key": call("add_key", b"user", b"gd-planted-key", b"secret", 6, ctypes.c_long(-3)),
    "keyctl": call("keyctl", 0, ctypes.c_long(-3), 0),
    "unshare": call("unshare", 0x10000000),
    "mount": call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
    "ptrace": call("ptrace", 16, 1, 0, 0),
    "bpf": call("bpf", 0, None, 0),
    "userfaultfd": call("userfaultfd", 0),
    "keys": open("/proc/keys").read() if os.path.exists("/proc/keys") else "",
}
pid = os.fork()
if pid == 0:
    os._exit(0)
report["fork"] = os.waitpid(pid, 0)[1] == 0
import numpy, course
report["numpy"] = numpy.__file__
report["course"] = course.__file__
print("REPORT" + json.dumps(report))
'''

FRAMEWORKS = r'''
import torch, tensorflow as tf
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
(x ** 2).mean().backward()
print("TORCH", [round(v, 4) for v in x.grad.tolist()])
v = tf.Variable([1.0, 2.0, 3.0])
with tf.GradientTape() as tape:
    loss = tf.reduce_mean(v ** 2)
print("TF", [round(float(g), 4) for g in tape.gradient(loss, v).numpy()])
'''

BREAK_SOCKETS = r'''
import os
from ipykernel import get_connection_file
folder = os.path.dirname(get_connection_file())
done = []
for target in (folder, os.path.dirname(folder)):
    try:
        os.chmod(target, 0)
        done.append(target)
    except OSError as error:
        done.append(type(error).__name__)
print("chmod", done)
'''

SHADOWS = {
    "numpy.py": f'raise ImportError("{BREACH}: the submitted numpy.py was imported")\n',
    "course.py": f'raise ImportError("{BREACH}: the submitted course.py was imported")\n',
    # What a student who wants the points would submit: the checks made to pass, then the kernel.
    "ipykernel_launcher.py": (
        "import course.checks as checks\n"
        "for name in dir(checks):\n"
        "    if name.startswith('check'):\n"
        "        setattr(checks, name, lambda *a, **k: None)\n"
        "from ipykernel import kernelapp\n"
        "kernelapp.launch_new_instance()\n"),
}


def _run(kc, code: str, timeout: float = 120) -> str:
    return run_in_kernel(kc, code, timeout=timeout)


def _report(kc) -> dict:
    text = _run(kc, PROBE)
    line = next((row for row in text.splitlines() if row.startswith("REPORT")), None)
    assert line, text
    return json.loads(line[len("REPORT"):])


@pytest.fixture(params=["fresh", "forked"])
def kernels(request, isolated_jupyter, tmp_path, monkeypatch):
    """Start sandboxed kernels (from scratch, or forked by a fork server) in a notebook folder
    that holds the shadowing files."""
    starts = sandboxed_kernels(tmp_path, monkeypatch, SHADOWS, request.param == "forked")
    start = next(starts)
    start.kind = request.param
    yield start
    next(starts, None)  # stops them


def test_every_kernel_runs_under_the_seccomp_filter_and_shadows_nothing(kernels):
    km, kc = kernels()
    report = _report(kc)
    assert report["seccomp"] == "2", "a seccomp filter is loaded"
    for call in ("add_key", "keyctl", "unshare", "mount", "ptrace", "bpf", "userfaultfd"):
        assert report[call] == "EPERM", (call, report[call])
    assert report["fork"], "ordinary processes still start"
    assert "gd-planted-key" not in report["keys"]
    venv = Path(sys.prefix).resolve()
    assert Path(report["numpy"]).resolve().is_relative_to(venv), report["numpy"]
    assert Path(report["course"]).resolve().is_relative_to(REPO / "course"), report["course"]
    if kernels.kind == "fresh":  # one kernel is enough to show the frameworks run under the filter
        text = _run(kc, FRAMEWORKS, timeout=300)
        assert "TORCH [0.6667, 1.3333, 2.0]" in text and "TF [0.6667, 1.3333, 2.0]" in text, text
    km.shutdown_kernel(now=True)
    km2, kc2 = kernels()
    assert "gd-planted-key" not in _report(kc2)["keys"], "no key outlives its kernel"


def test_a_broken_socket_folder_does_not_reach_the_next_kernel(kernels):
    km, kc = kernels()
    text = _run(kc, BREAK_SOCKETS)
    assert "chmod" in text, text
    km.shutdown_kernel(now=True)
    for _ in range(3):  # the next kernels of the same slot start and answer
        km, kc = kernels()
        assert _run(kc, "print(6 * 7)").strip() == "42"
        km.shutdown_kernel(now=True)


# ----------------------------------------------------------------------------------------------
# class by class
# ----------------------------------------------------------------------------------------------
WIDGET_FLOOD = '''
import comm
for i in range(40):  # 800 MB of widget state, 20 MB at a time
    comm.create_comm(target_name="jupyter.widget", data={"state": {"value": "x" * 20_000_000}, "buffer_paths": []})
print("sent")
'''

DISPLAY_FLOOD = '''
from IPython.display import display
for i in range(400_000):
    display(1)
'''


def _variant(student: str, code: str | None = None, unsolved=()) -> synthetic.Variant:
    return synthetic.Variant(student, "the correct answers" + (" plus an extra cell" if code else ""),
                             change=catalogue._insert_after_setup(code) if code else None, unsolved=unsolved)


def _class(root: Path, variants, extra_files: dict[str, dict[str, str]] | None = None) -> Course:
    from autograder.demo.run import write_class

    run = _cli(root)
    root.mkdir(parents=True, exist_ok=True)
    assert run(["release", ASSIGNMENT]) == 0
    course = Course(Settings.from_env(root=root, source=SOURCE))
    zip_path = root.parent / f"{root.name}.zip"
    assert len(write_class(course, ASSIGNMENT, list(variants), zip_path)) == len(variants)
    assert run(["collect", ASSIGNMENT, str(zip_path)]) == 0
    for student, files in (extra_files or {}).items():
        for name, text in files.items():
            (root / "submitted" / student / ASSIGNMENT / name).write_text(text)
    return course


def _cli(root: Path):
    return lambda args: main([*args, "--root", str(root), "--source", str(SOURCE)])


def _scores(course: Course) -> dict[str, float]:
    with course.gradebook() as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}


def _max_score(course: Course) -> float:
    with course.gradebook() as gb:
        return gb.find_assignment(ASSIGNMENT).max_score


def _notes(course: Course, student: str) -> dict[str, str]:
    nb = nbformat.read(str(course.autograded_notebook(ASSIGNMENT, student, ASSIGNMENT)), 4)
    from autograder.notes import read_notes

    return {n["kind"]: n["text"] for n in read_notes(nb)}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_student_who_breaks_the_socket_folder_zeroes_no_classmate(isolated_jupyter, tmp_path, jobs):
    attackers = [_variant(f"a-break-{n}", BREAK_SOCKETS) for n in range(jobs)]
    victims = [_variant(f"b-correct-{n}") for n in range(3 if jobs == 1 else 4)]
    root = tmp_path / f"jobs{jobs}"
    course = _class(root, attackers + victims)
    code = _cli(root)(["autograde", ASSIGNMENT, "--jobs", str(jobs), "--no-progress"])
    assert code == 0, "nobody failed: the grader had nothing to recover from"
    scores, full = _scores(course), _max_score(course)
    assert {v.student: scores[v.student] for v in attackers + victims} == {
        v.student: full for v in attackers + victims}, "the attackers' answers are correct too"


def test_floods_are_capped_and_named(isolated_jupyter, tmp_path, capsys):
    from autograder import status

    root = tmp_path / "floods"
    course = _class(root, [_variant("flood-widgets", WIDGET_FLOOD), _variant("flood-display", DISPLAY_FLOOD),
                           _variant("z-correct")])
    code = _cli(root)(["autograde", ASSIGNMENT, "--jobs", "1", "--memory-mb", "1500", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    scores, full = _scores(course), _max_score(course)
    assert scores["z-correct"] == full
    assert scores["flood-widgets"] == full, "dropping widget state costs no points"
    assert "widget messages past 16 MiB" in _notes(course, "flood-widgets")["traffic-cap"]
    display_notes = _notes(course, "flood-display")
    assert "kernel-flood" in display_notes or "traffic-cap" in display_notes, display_notes
    for student in ("flood-widgets", "flood-display"):
        size = course.autograded_notebook(ASSIGNMENT, student, ASSIGNMENT).stat().st_size
        assert size < 40 * 1024 * 1024, f"{student}'s autograded notebook is {size} bytes"
        record = status.load(course, ASSIGNMENT, student)
        # Without the caps the worker kept all 800 MB (4.1 GiB) and 3 GB sent took it to 15 GiB. Now its
        # cgroup caps it at 2048 MiB: a quiet machine measured 235-253 MiB, a loaded one (CI) 1080-1120,
        # as ZMQ reads 20 MB widget messages ahead of nbclient faster than they are dropped.
        assert 0 < record.grader_peak_mb < 2048, f"{student}: the grading worker peaked at {record.grader_peak_mb} MiB"


def test_submitted_files_shadow_no_module_on_any_grading_path(isolated_jupyter, tmp_path):
    wanted = {"shadow-correct": {}, "shadow-stub": {}}
    root = tmp_path / "shadows"
    course = _class(root, [_variant("shadow-correct"), _variant("shadow-stub", unsolved="all")],
                    extra_files={student: SHADOWS for student in wanted})
    full = None
    for path in ("forked", "fresh", "nbgrader"):
        if path == "nbgrader":
            env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
            for student in wanted:
                done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT,
                                       "--student", student, "--force"], cwd=root, env=env,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, done.stderr[-3000:]
        else:
            flags = [] if path == "forked" else ["--no-fork-server"]
            assert _cli(root)(["autograde", ASSIGNMENT, "--force", "--jobs", "1", "--no-progress", *flags]) == 0
        scores = _scores(course)
        full = full or _max_score(course)
        assert scores == {"shadow-correct": full, "shadow-stub": 0.0}, (path, scores)
        text = course.autograded_notebook(ASSIGNMENT, "shadow-correct", ASSIGNMENT).read_text()
        assert BREACH not in text, path


def test_a_zero_the_grader_is_to_blame_for_is_graded_again(isolated_jupyter, tmp_path, capsys):
    from autograder import status
    from autograder.grading import record_failure

    root = tmp_path / "retry"
    course = _class(root, [_variant("a-first"), _variant("b-second")])
    assert _cli(root)(["autograde", ASSIGNMENT, "--jobs", "1", "--no-progress"]) == 0
    full = _max_score(course)
    # What a broken slot left: a zero of ours for b-second, and a student-caused one for a-first.
    for student, reason in (("b-second", "Kernel didn't respond in 60 seconds"),
                            ("a-first", "grading took longer than 900 s and was stopped")):
        summary = record_failure(course, ASSIGNMENT, student, reason)
        summary.fingerprint = status.submission_fingerprint(course, ASSIGNMENT, student)
        status.save(course, summary)
    assert status.load(course, ASSIGNMENT, "b-second").grader_failed
    assert not status.is_done(course, ASSIGNMENT, "b-second"), "a failure of ours is never done"
    assert status.is_done(course, ASSIGNMENT, "a-first"), "the student's own overrun is"
    capsys.readouterr()
    code = _cli(root)(["autograde", ASSIGNMENT, "--jobs", "1", "--no-progress"])
    assert _scores(course)["b-second"] == full, "the re-run graded the grader's failure again"
    assert _scores(course)["a-first"] == 0.0 and code == 4
    err = capsys.readouterr().err
    assert "ran past the grading time limit" in err and "a-first" in err and "b-second" not in err


def test_the_run_says_when_the_grader_failed_and_names_who_came_before(capsys):
    from autograder.cli import _report_fallbacks
    from autograder.status import StudentResult

    results = [StudentResult(ASSIGNMENT, "a-breaker", "graded", score=10, max_score=10),
               StudentResult(ASSIGNMENT, "b-victim", "fallback", reason="Kernel died", grader_failed=True,
                             graded_after="a-breaker"),
               StudentResult(ASSIGNMENT, "c-victim", "fallback", reason="Kernel died", grader_failed=True,
                             graded_after="b-victim")]
    assert _report_fallbacks(results) == 4
    err = capsys.readouterr().err
    assert "THE GRADER FAILED for 2 submission(s)" in err and "run the same command again" in err
    assert "right after a-breaker" in err and "b-victim, c-victim" in err


@pytest.fixture
def open_tmp():
    """A folder every user can reach (pytest's own tmp folders are root's, 0700)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="gd-test-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_folder_a_kernel_made_unreadable_is_still_removed_by_an_ordinary_grader(open_tmp):
    """As an ordinary user the slot's folders are the grader's own, and a kernel's ``chmod 0`` on
    its socket folder must not leave them behind for the next kernel (``mkdir`` would fail)."""
    from autograder.sandbox.slots import remove_tree

    tmp_path = open_tmp
    top = tmp_path / "slot" / "conn"
    (top / "deep" / "deeper").mkdir(parents=True)
    (top / "deep" / "deeper" / "kernel.json").write_text("{}")
    for folder in (tmp_path, tmp_path / "slot"):
        os.chmod(folder, 0o755)
    os.chown(tmp_path / "slot", 65534, 65534)
    for folder in (top / "deep" / "deeper", top / "deep", top):
        os.chown(folder, 65534, 65534)
    os.chown(top / "deep" / "deeper" / "kernel.json", 65534, 65534)
    for folder in (top / "deep" / "deeper", top / "deep", top):
        os.chmod(folder, 0)
    pid = os.fork()
    if pid == 0:  # the grader as an ordinary user: no capability overrides the modes
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.stat(top.parent)  # reachable by this user: the check below means what it says
            remove_tree(top)
            os._exit(0 if not os.path.lexists(top) else 1)
        except BaseException:
            os._exit(2)
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0, "the folder the kernel made unreadable was left behind"
