"""The checker forked by the fork server (issue 24): its imports for free, a sandbox of its own.

Where kernels are forked (as root), the grading process's checker is forked
from the same server: no student code has ever run there, and it has the
assignment's frameworks imported already.  These tests look at the checker
from inside, through grade cells the instructor could write (the checker runs
no student code, so only the grader's own code can probe it), and at what the
kernels forked beside it can reach.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from autograder.checker.client import AgentLink, Checker
from autograder.sandbox import forkserver
from autograder.sandbox.policy import CHECKER_UID, INPUT_DIR, Limits

from forkserver_support import forked, only_server  # noqa: F401 (forked: a fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None,
                                reason="the fork server runs as root, with bubblewrap")

PROBE = r'''
import json as _json, os as _os, sys as _sys, socket as _socket
def _status():
    return dict(line.split(":\t", 1) for line in open("/proc/self/status") if ":\t" in line)
_fields = _status()
_points = [line.split()[4] for line in open("/proc/self/mountinfo")]
try:
    _socket.create_connection(("127.0.0.1", 9), timeout=1)
    _net = "connected"
except OSError as _error:
    _net = type(_error).__name__
print("REPORT" + _json.dumps({
    "uid": _os.getuid(), "gid": _os.getgid(), "groups": _os.getgroups(), "pid": _os.getpid(),
    "pids": sorted(int(p) for p in _os.listdir("/proc") if p.isdigit()),
    "caps": {k: _fields[k].strip() for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb")},
    "no_new_privs": _fields["NoNewPrivs"].strip(), "seccomp": _fields["Seccomp"].strip(),
    "mounts": _points, "tmp": sorted(_os.listdir("/tmp")), "cwd": _os.getcwd(),
    "sandbox": sorted(_os.listdir("/sandbox")) if _os.path.isdir("/sandbox") else None,
    "numpy_loaded": "numpy" in _sys.modules, "net": _net,
    "interfaces": sorted(name for _, name in _socket.if_nameindex()),
    "env": {k: _os.environ.get(k) for k in ("HOME", "USER", "GD_CHECKER_PROCESS", "DB_PASSWORD")},
    "cgroup": open("/proc/self/cgroup").read(),
}))
'''


@pytest.fixture
def checker():
    """A checker of this process, closed after the test (forked wherever a fork server runs)."""
    checker = Checker(sandbox=True)
    yield checker
    checker.close()


def _report(checker: Checker, tmp_path: Path) -> dict:
    outputs = checker.run_cell(PROBE, AgentLink(str(tmp_path / "no-agent")), labels={}, timeout=60)
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    line = next((row for row in text.splitlines() if row.startswith("REPORT")), None)
    assert line, outputs
    return json.loads(line[len("REPORT"):])


def _gone(pid: int, wait_s: float = 10) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def _cgroups(pid: int) -> dict[str, str]:
    rows = (line.split(":", 2) for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    return {controllers: path for _, controllers, path in rows if controllers in ("memory", "pids")}


def test_the_checker_is_forked_while_a_kernel_runs_into_a_sandbox_of_its_own(forked, checker, tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "the grader's secret")
    forked()  # the server is busy with this kernel: a checker is still forked at once
    server = only_server()
    started = time.monotonic()
    checker.begin(["numpy"])
    report = _report(checker, tmp_path)
    took = time.monotonic() - started
    assert checker.forked, "the checker came from the fork server"
    assert report["numpy_loaded"]
    assert report["uid"] == report["gid"] == CHECKER_UID and report["groups"] == []
    assert report["uid"] != server.slot.uid
    assert all(int(v, 16) == 0 for v in report["caps"].values()), report["caps"]
    assert report["no_new_privs"] == "1" and report["seccomp"] == "2"
    assert report["pid"] == 1 and report["pids"] == [1], "it sees no kernel and no server"
    assert report["net"] != "connected" and report["interfaces"] == ["lo"]
    assert report["env"] == {"HOME": "/tmp", "USER": "checker", "GD_CHECKER_PROCESS": "1", "DB_PASSWORD": None}
    assert report["cwd"] == "/tmp"
    # None of the slot's folders: no student's files, no kernel's connection file, no server socket.
    slot_dir = str(server.slot.kernel_dir)
    assert not [p for p in report["mounts"] if p.startswith(slot_dir) or p == INPUT_DIR], report["mounts"]
    assert report["sandbox"] == ["input", "seed"] and "data.csv" not in json.dumps(report)
    # Out of the slot's cgroup, into the grader's own; the grader's limits, not a kernel's.
    pid = checker._proc.pid
    assert _cgroups(pid) == _cgroups(os.getpid())
    limits = {line[:26].strip(): line[26:].split()[0] for line in
              Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]}
    assert limits["Max cpu time"] == "unlimited" and limits["Max processes"] == "4096", limits
    print(f"forked checker ready and probed in {took:.2f} s")


def test_a_kernel_sees_neither_the_checker_nor_its_code_nor_its_socket(forked, checker, tmp_path):
    from autograder.checker import client

    _, kc = forked()
    checker.begin(["numpy"])
    _report(checker, tmp_path)
    assert checker.forked
    code = Path(client.__file__).parent
    socket_path = str(only_server().checker_socket_path)
    out: list[str] = []
    kc.execute_interactive(
        "import os\n"
        f"print('CODE', os.listdir({str(code)!r}) if os.path.isdir({str(code)!r}) else None)\n"
        f"print('SOCKET', os.path.exists({socket_path!r}))\n"
        "print('PIDS', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "import resource\n"
        "print('LIMITS', [resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in "
        "('NPROC', 'CPU', 'AS', 'NOFILE')])\n",
        output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
        timeout=60)
    text = "".join(out)
    assert "CODE []" in text or "CODE None" in text, text
    assert "SOCKET False" in text and "PIDS [1, 2]" in text, text
    # The server's hard limits are the checker's; every kernel has its own caps, soft and hard.
    caps = Limits()
    expected = [(caps.max_processes,) * 2, (caps.cpu_seconds,) * 2, (caps.memory_mb * 1024 * 1024,) * 2,
                (caps.max_open_files,) * 2]
    assert f"LIMITS {expected}" in text, text


def test_a_checker_that_dies_is_forked_again_and_dies_with_its_server(forked, checker, tmp_path):
    km, kc = forked()
    checker.begin(["numpy"])
    _report(checker, tmp_path)
    first = checker._proc.pid
    os.kill(first, signal.SIGKILL)
    checker._proc.wait(timeout=10)
    assert _report(checker, tmp_path)["numpy_loaded"], "a new checker for the next cell"
    second = checker._proc.pid
    assert checker.forked and second != first
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    forkserver.stop_all()  # the server goes: so does every checker it forked
    checker._proc.wait(timeout=10)
    assert _gone(second)
    report = _report(checker, tmp_path)  # no server now: a checker started by itself
    assert not checker.forked and report["uid"] == CHECKER_UID


def test_a_forked_checker_that_cannot_leave_the_slot_s_cgroup_is_not_used(forked, checker, tmp_path, monkeypatch):
    from autograder.sandbox import cgroups

    forked()
    if only_server().cgroup is None or only_server().cgroup.kind == "none":
        pytest.skip("no cgroups here: nothing to leave")
    forked_pids = []

    def refuse(pid):
        forked_pids.append(pid)
        raise PermissionError("cgroup.procs: refused")

    monkeypatch.setattr(cgroups, "join_own_groups", refuse)
    checker.begin(["numpy"])
    assert _report(checker, tmp_path)["uid"] == CHECKER_UID
    assert not checker.forked, "the checker started by itself instead"
    assert forked_pids and _gone(forked_pids[0]), "the forked one was killed"
