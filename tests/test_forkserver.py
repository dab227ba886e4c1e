"""The fork server (issue 15): kernels forked from one sandboxed server, each in a sandbox of its own.

What one student's kernel leaves (files in /tmp, /dev/shm and home, running
processes, a dead server) must not reach the next student's kernel in the
same slot; each kernel runs as the slot's uid with no capabilities, sees no
other process, and looks like a kernel started by itself.  Which modules a
server may import early is a pure function of the instructor's set-up cell.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import forkserver, preload

from forkserver_support import forked, only_server  # noqa: F401 (forked: a fixture)

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# what may be imported early
# ----------------------------------------------------------------------------------------------
def test_preload_takes_the_frameworks_imported_before_setup():
    source = ("from course.notebook import setup\n\nimport numpy as np\nimport torch\nfrom torch import nn\n"
              "import matplotlib.pyplot as plt\nimport os\n\nsetup()\nimport tensorflow\n")
    assert preload.modules_before_setup(source) == ["course.notebook", "numpy", "torch"]


def test_preload_counts_what_setup_frameworks_imports_but_nothing_after_setup():
    source = "from course.notebook import setup\nsetup(frameworks=True)\nimport torch\nimport keras\n"
    assert preload.modules_before_setup(source) == ["course.notebook", "tensorflow", "keras"]
    assert preload.modules_before_setup("setup(frameworks=False)\nimport numpy\n") == []
    assert preload.modules_before_setup("this is not python(") == []


def test_preload_of_the_course_notebooks():
    expected = {"01_numpy_by_hand": ("course.notebook",),
                "02_torch_manual": ("course.notebook", "numpy", "torch"),
                "03_torch_optim": ("course.notebook", "numpy", "torch", "torch._dynamo"),
                # Notebook 4 no longer reruns article 000's PyTorch side (notebook 3 tells it): no torch.
                "04_keras_sequential": ("course.notebook", "tensorflow", "keras"),
                "05_gradient_tape": ("course.notebook", "tensorflow", "keras")}
    for assignment, modules in expected.items():
        assert preload.for_assignment(str(ROOT / "notebooks"), assignment) == modules


def test_torch_is_imported_early_where_the_code_mentions_it_and_after_the_frameworks():
    cells = ["from course.notebook import setup\nsetup(frameworks=True)\n", "reference.fit_torch_optim(x, y)"]
    assert preload.modules_for_notebook(cells) == ["course.notebook", "tensorflow", "keras", "torch",
                                                   "torch._dynamo"]
    assert preload.modules_for_notebook(cells[:1]) == ["course.notebook", "tensorflow", "keras"]
    # what the optimizers import at their first step, only where PyTorch itself is imported early
    assert preload.modules_for_notebook(cells[:1] + ["torch.manual_seed(0)"])[-1] == "torch"
    assert "torch._dynamo" not in preload.modules_for_notebook(["import numpy", "optimum = 1"])


def test_importing_what_the_optimizers_import_draws_no_random_number_and_starts_no_thread():
    code = ("import random, threading, numpy as np, torch\n"
            "before = (random.getstate(), np.random.get_state()[1].tobytes(), torch.get_rng_state().numpy().tobytes(),"
            " threading.active_count())\n"
            "import torch._dynamo\n"
            "after = (random.getstate(), np.random.get_state()[1].tobytes(), torch.get_rng_state().numpy().tobytes(),"
            " threading.active_count())\n"
            "assert before == after, 'importing torch._dynamo changed a generator or started a thread'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


def test_setup_seeds_torch_whether_it_is_imported_before_or_after(tmp_path):
    """What lets a fork server import PyTorch early: the numbers do not depend on when it was imported."""
    script = ("import sys\nfrom course.notebook import setup\n{before}setup(frameworks=False)\n"
              "assert ('torch' in sys.modules) == {early}\nimport torch\nprint(torch.rand(4).tolist())\n")
    runs = []
    for before, early in (("", False), ("import torch\n", True)):
        done = subprocess.run([sys.executable, "-c", script.format(before=before, early=early)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        runs.append(done.stdout)
    assert runs[0] == runs[1] and runs[0].startswith("[0.4962")


def test_no_fork_server_unless_asked_for_as_root(monkeypatch):
    monkeypatch.delenv(forkserver.ENV, raising=False)
    assert forkserver.requested_preload() is None
    monkeypatch.setenv(forkserver.ENV, "not json")
    assert forkserver.requested_preload() is None
    monkeypatch.setenv(forkserver.ENV, '["numpy"]')
    assert forkserver.requested_preload() == (["numpy"] if os.geteuid() == 0 else None)


# ----------------------------------------------------------------------------------------------
# forked kernels, as root
# ----------------------------------------------------------------------------------------------
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None,
                                reason="the fork server runs as root, with bubblewrap")

PROBE = r'''
import json, os
def _caps():
    fields = dict(line.split(":\t", 1) for line in open("/proc/self/status") if ":\t" in line)
    return {k: fields[k].strip() for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs")}
report = {
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "pid": os.getpid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "caps": _caps(),
    "cmdline": open("/proc/self/cmdline", "rb").read().split(b"\0")[1:4] == [b"-P", b"-m", b"ipykernel_launcher"],
    "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm")),
    "home": sorted(os.listdir(os.path.expanduser("~"))),
    "cwd": os.getcwd(), "work": sorted(os.listdir(".")),
    "numpy_loaded": "numpy" in __import__("sys").modules,
}
try:
    open(os.path.join(os.path.dirname(__import__("sys").executable), "planted"), "w")
    report["venv_writable"] = True
except OSError:
    report["venv_writable"] = False
print("REPORT" + json.dumps(report))
'''

PLANT = r'''
import os, subprocess
for folder in ("/tmp", "/dev/shm", os.path.expanduser("~")):
    open(os.path.join(folder, "left-by-student-1"), "w").write("secret of student 1")
subprocess.Popen(["sleep", "3600"], start_new_session=True)
os.kill(-1, 9)  # everything else this kernel may signal (nothing of the server's)
os.kill(1, 9)   # its init: ignored, as every PID 1 ignores what its own namespace sends it
print("planted")
'''


def _run(kc, code: str, timeout: float = 60) -> str:
    out: list[str] = []

    def hook(message):
        if message["msg_type"] == "stream":
            out.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            out.append("\n".join(message["content"]["traceback"]))

    kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return "".join(out)


def _report(kc) -> dict:
    text = _run(kc, PROBE)
    line = next((row for row in text.splitlines() if row.startswith("REPORT")), None)
    assert line, text
    return json.loads(line[len("REPORT"):])



@needs_root
def test_each_forked_kernel_gets_a_sandbox_of_its_own(forked):
    km1, kc1 = forked()
    first = _report(kc1)
    server = only_server()
    assert first["uid"] == server.slot.uid and first["gid"] == server.slot.gid and first["groups"] == []
    assert first["pid"] == 2 and first["pids"] == [1, 2], "a kernel sees only its init and itself"
    assert all(int(first["caps"][k], 16) == 0 for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"))
    assert first["caps"]["NoNewPrivs"] == "1"
    assert first["cmdline"], "the kernel shows its own command line"
    assert first["work"] == ["data.csv"] and first["cwd"].endswith("/work")
    assert first["numpy_loaded"] and not first["venv_writable"]
    # What a kernel could write into and the next one read: none of the server's memory is shared.
    for pid in subprocess.run(["pgrep", "-f", "autograder.kernel.zygote"], capture_output=True,
                              text=True).stdout.split():
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:  # gone meanwhile (another test's server)
            continue
        assert not [line for line in maps.splitlines() if line.split()[1].endswith("s")
                    and "w" in line.split()[1]], f"shared writable memory in {pid}"
    assert "planted" in _run(kc1, PLANT)
    time.sleep(0.5)
    km1.shutdown_kernel(now=True)

    km2, kc2 = forked()
    second = _report(kc2)
    assert only_server() is server, "the same server forked the second kernel"
    for folder in ("tmp", "shm", "home"):
        assert not [name for name in second[folder] if "left-by-student" in name], (folder, second[folder])
    assert second["pids"] == [1, 2], "nothing of the first kernel is still running"
    leftover = subprocess.run(["pgrep", "-u", str(server.slot.uid), "-f", "sleep 3600"],
                              capture_output=True, text=True).stdout.split()
    assert leftover == [], "the first kernel's background process outlived it"


@needs_root
def test_a_kernel_that_kills_itself_dies_as_it_would_alone(forked):
    km, kc = forked()
    assert _report(kc)["pid"] == 2
    kc.execute("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    deadline = time.monotonic() + 20
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not km.is_alive(), "SIGKILL to itself must kill a forked kernel"


@needs_root
def test_a_dead_fork_server_is_replaced_and_grading_goes_on(forked):
    km1, kc1 = forked()
    assert _report(kc1)["numpy_loaded"]
    km1.shutdown_kernel(now=True)
    server = only_server()
    os.killpg(server.process.pid, signal.SIGKILL)  # bubblewrap and the server inside it
    server.process.wait(timeout=10)
    km2, kc2 = forked()
    assert _report(kc2)["pids"] == [1, 2]
    assert only_server() is server and server.alive(), "a new server in the same slot"


@needs_root
def test_kernels_running_at_once_in_one_process_get_a_server_each(forked):
    (_, kc1), (_, kc2) = forked(), forked()
    first, second = _report(kc1), _report(kc2)
    servers = [server for pool in forkserver._servers.values() for server in pool]
    assert len(servers) == 2 and first["uid"] != second["uid"]
    assert {first["uid"], second["uid"]} == {s.slot.uid for s in servers}


@needs_root
def test_forked_kernel_cannot_reach_the_server_socket(forked):
    km, kc = forked()
    socket_path = str(only_server().socket_path)
    text = _run(kc, f"import os\nprint('EXISTS', os.path.exists({socket_path!r}))\n"
                    f"print('CTL', os.path.exists({os.path.dirname(socket_path)!r}) and "
                    f"os.listdir({os.path.dirname(socket_path)!r}))\n")
    assert "EXISTS False" in text and "CTL False" in text, text



# ----------------------------------------------------------------------------------------------
# the same grades and feedback as kernels started from scratch
# ----------------------------------------------------------------------------------------------
ADDRESS = re.compile(r"0x[0-9a-f]{6,}")


def _outputs_by_cell(path: Path) -> dict[int, list]:
    """What the feedback shows of each code cell: consecutive stream outputs as one block (as
    Jupyter renders them), object addresses masked; cells that print a timing are left out."""
    notebook = json.loads(path.read_text())
    shown: dict[int, list] = {}
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] != "code" or "perf_counter" in source:
            continue
        rows = shown.setdefault(index, [])
        for output in cell.get("outputs", []):
            kind = output["output_type"]
            text = output.get("text") or json.dumps(output.get("data", {}).get("text/plain", "")) + \
                output.get("ename", "") + output.get("evalue", "")
            text = ADDRESS.sub("0x…", "".join(text) if isinstance(text, list) else text)
            if kind == "stream" and rows and rows[-1][:2] == ("stream", output["name"]):
                rows[-1] = ("stream", output["name"], rows[-1][2] + text)
            else:
                rows.append((kind, output.get("name", ""), text))
    return shown


@needs_root
@pytest.mark.parametrize("assignment", ["04_keras_sequential", "05_gradient_tape"])
def test_forked_kernels_grade_and_show_what_fresh_kernels_do(isolated_jupyter, tmp_path, monkeypatch, assignment):
    """Keras's random start, tf.print's stream, the figures and every printed number: as from scratch."""
    from autograder.cli import main
    from autograder.config import Settings
    from autograder.course_dir import Course
    from autograder.demo import catalogue
    from autograder.demo.run import write_class

    monkeypatch.setenv("GD_SANDBOX_DIR", str(tmp_path / "slots"))
    source = ROOT / "notebooks"
    wanted = [v for v in catalogue.class_variants(assignment) if v.student in ("correct", "partial")]
    roots = {}
    for mode, extra in (("forked", []), ("fresh", ["--no-fork-server"])):
        root = tmp_path / mode
        run = lambda args: main([*args, "--root", str(root), "--source", str(source)])  # noqa: E731
        assert run(["release", assignment]) == 0
        course = Course(Settings.from_env(root=root, source=source))
        write_class(course, assignment, wanted, tmp_path / f"{mode}.zip")
        assert run(["collect", assignment, str(tmp_path / f"{mode}.zip")]) == 0
        assert run(["autograde", assignment, "--jobs", "1", "--no-progress", *extra]) == 0
        roots[mode] = root
    forked_nbs = sorted((roots["forked"] / "autograded").glob(f"*/{assignment}/*.ipynb"))
    assert len(forked_nbs) == len(wanted)
    for path in forked_nbs:
        twin = roots["fresh"] / path.relative_to(roots["forked"])
        assert _outputs_by_cell(path) == _outputs_by_cell(twin), path.parts[-3]
    from nbgrader.api import Gradebook

    from autograder.config import gradebook_url

    scores = {}
    for mode, root in roots.items():
        with Gradebook(gradebook_url(root)) as gb:
            scores[mode] = {s.student.id: s.score for s in gb.assignment_submissions(assignment)}
    assert scores["forked"] == scores["fresh"]
    assert scores["forked"]["correct"] > scores["forked"]["partial"] > 0


@needs_root
def test_a_fresh_tmpfs_keeps_the_folders_and_files_bound_below_it(tmp_path):
    """A checkout under /tmp (CI's) has the environment and single files bound below the kernel's /tmp."""
    base, folder, single = tmp_path / "base", tmp_path / "folder", tmp_path / "single.py"
    (base / "pkg" / "kernel").mkdir(parents=True)
    (base / "pkg" / "__init__.py").write_text("")
    (base / "left-by-the-last-student").write_text("secret")
    folder.mkdir()
    (folder / "guard.py").write_text("folder bind")
    single.write_text("file bind")
    script = f"""
import os, subprocess
from autograder.kernel import namespaces
namespaces.make_mounts_private()
subprocess.run(["mount", "--bind", "{folder}", "{base}/pkg/kernel"], check=True)
subprocess.run(["mount", "-o", "ro", "--bind", "{single}", "{base}/pkg/__init__.py"], check=True)
namespaces.fresh_tmpfs("{base}", "size=1048576,mode=1777")
print(sorted(os.listdir("{base}")), open("{base}/pkg/kernel/guard.py").read(), open("{base}/pkg/__init__.py").read())
"""
    done = subprocess.run(["unshare", "--mount", sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['pkg'] folder bind file bind"


def test_a_workers_warm_up_answer_is_never_taken_for_a_students(tmp_path, isolated_jupyter):
    """The supervisor sends each worker a warm-up (its fork server) that nobody waits for."""
    from autograder.config import Settings
    from autograder.executors.local import start_workers, stop_workers

    settings = Settings.from_env(root=tmp_path / "course", source=ROOT / "notebooks")
    settings.work_dir.mkdir(parents=True)
    workers = start_workers(settings, 1, "01_numpy_by_hand")
    try:
        outcome = workers[0].run({"task": "no-such-task"}, timeout=120)
        assert outcome == {"ok": False, "error": "unknown task 'no-such-task'"}
    finally:
        stop_workers(workers)
