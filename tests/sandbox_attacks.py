"""The hostile students of the sandbox test: one cell each, added to an otherwise correct notebook.

Each cell is what a student who wants a better grade, or wants to hurt the
class, would write knowing exactly where everything is (the test gives them
the real paths, ports and process ids).  Every attempt is wrapped so that
the rest of the notebook still runs: the attacker wants their own grade.
Whatever a cell manages to read it prints, so the test can check that no
solution, hidden test or secret ever reaches an output.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.demo import catalogue, synthetic

#: Written into every attacker's output when an attempt got through (the test looks for it).
BREACH = "SANDBOX-BREACH"

_WALK = '''
def _walk(top):
    import os
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
        for name in files:
            yield os.path.join(folder, name)
'''

ATTACKS = {
    "attack-gradebook": _WALK + '''
import sqlite3
for path in [{gradebook!r}] + [p for p in _walk("/") if p.endswith("gradebook.db")]:
    try:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET auto_score = 6993, manual_score = 6993")
        db.execute("UPDATE grade_cells SET max_score = 0")
        db.commit()
        print("{breach} wrote", path)
    except Exception as error:
        print("blocked:", type(error).__name__)
''',
    "attack-classmates": '''
import os, shutil
for step in ("submitted", "autograded"):
    for student in {victims!r}:
        target = os.path.join({root!r}, step, student)
        for attempt in ("edit", "add", "delete"):
            try:
                if attempt == "edit":
                    for folder, _, files in os.walk(target):
                        for name in files:
                            open(os.path.join(folder, name), "w").write("{{}}")
                            print("{breach} edited", name)
                elif attempt == "add":
                    open(os.path.join(target, "planted.ipynb"), "w").write("{{}}")
                    print("{breach} added to", target)
                else:
                    shutil.rmtree(target)
                    print("{breach} deleted", target)
            except Exception as error:
                print("blocked:", attempt, type(error).__name__)
''',
    "attack-solutions": _WALK + '''
import os
paths = [os.path.join(folder, name)
         for top in ({source!r}, os.path.join({root!r}, "release"), os.path.join({root!r}, "autograded"))
         for folder, _, names in os.walk(top) for name in names]
paths += [p for p in _walk("/") if p.endswith(".ipynb")]
for path in paths:
    try:
        text = open(path).read()
    except Exception as error:
        print("blocked:", type(error).__name__)
        continue
    # This course's notebooks (not nbgrader's own test notebooks in site-packages).
    if ("BEGIN SOLUTION" in text or "BEGIN HIDDEN TESTS" in text) and "checks.check_" in text:
        print("{breach} read", path)
        print(text)
''',
    "attack-environment": '''
import os
print(dict(os.environ))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print(pid, open(f"/proc/{{pid}}/environ").read())
        except Exception as error:
            print("blocked:", type(error).__name__)
if {secret!r} in str(dict(os.environ)):
    print("{breach} secret in the environment")
''',
    "attack-network": '''
import socket
try:
    s = socket.create_connection(("127.0.0.1", {tcp_port}), timeout=3)
    s.sendall(b"{breach} tcp")
    print("{breach} connected over TCP")
except Exception as error:
    print("blocked tcp:", type(error).__name__)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"{breach} udp", ("127.0.0.1", {udp_port}))
    print("sent a UDP datagram (to the sandbox's own loopback)")
except Exception as error:
    print("blocked udp:", type(error).__name__)
''',
    "attack-kill": '''
import os, signal
for pid in (os.getppid(), {grader_pid}, 1):
    try:
        os.kill(pid, signal.SIGKILL)
        print("sent SIGKILL to", pid)
    except Exception as error:
        print("blocked kill", pid, type(error).__name__)
''',
    "attack-fork-storm": '''
import os, time
children = 0
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError as error:
        print("fork stopped after", children, "children:", type(error).__name__)
        break
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    children += 1
''',
    "attack-big-file": '''
import os
block = b"x" * (1 << 20)
for path in ("huge.bin", "/tmp/huge.bin", os.path.join({root!r}, "huge.bin"),
             os.path.join({root!r}, "submitted", "huge.bin")):
    written = 0
    try:
        with open(path, "wb") as handle:
            for _ in range(1024):
                handle.write(block)
                written += 1
        print("wrote 1 GiB to", path)
    except Exception as error:
        print("stopped", path, "after", written, "MiB:", type(error).__name__)
''',
    # Issue 23's: break the folder of the kernel's sockets for whoever is graded next in the slot,
    # and plant a key in the kernel keyring as a channel to them (the classmates come after "attack-").
    "attack-sockets": '''
import os
args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
conn = os.path.dirname(args[args.index(b"-f") + 1].decode())
for target in (conn, os.path.dirname(conn)):
    try:
        os.chmod(target, 0)
        print("chmod 0:", target)
    except Exception as error:
        print("blocked chmod:", type(error).__name__)
''',
    "attack-keyring": '''
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
number = {{"x86_64": 248, "aarch64": 217}}.get(os.uname().machine)
key = libc.syscall(number, b"user", b"gd-channel", b"hello next student", 18, ctypes.c_long(-5)) if number else -1
if key >= 0:
    print("{breach} planted a key", key)
else:
    print("blocked add_key:", errno.errorcode.get(ctypes.get_errno()))
try:
    if "gd-channel" in open("/proc/keys").read():
        print("{breach} a key of an earlier student is here")
except Exception as error:
    print("no /proc/keys:", type(error).__name__)
''',
    # Make the grader's memory grow (800 MB of widget state), and its notebook (400 000 outputs).
    "attack-widget-flood": '''
import comm
for i in range(40):
    comm.create_comm(target_name="jupyter.widget", data={{"state": {{"value": "x" * 20_000_000}}, "buffer_paths": []}})
''',
    "attack-display-flood": '''
from IPython.display import display
for i in range(400_000):
    display(1)
''',
    "attack-fill-tmp": '''
import os
block = b"x" * (1 << 20)
args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
conn = os.path.dirname(args[args.index(b"-f") + 1].decode())  # the folder shared with the grader
for folder in ("/tmp", "/dev/shm", os.path.expanduser("~"), conn):
    written = 0
    try:
        # The socket folder is the host's (a plain folder for an ordinary grader): stop at 512 MiB there.
        for i in range(8 if folder == conn else 100000):
            with open(os.path.join(folder, f"fill-{{i}}"), "wb") as handle:
                for _ in range(64):
                    handle.write(block)
                    written += 1
    except Exception as error:
        print("stopped", "conn" if folder == conn else folder, "after", written, "MiB:", type(error).__name__)
    else:
        print("stopped", "conn" if folder == conn else folder, "after", written, "MiB: its own limit")
''',
}


#: Run after the first test cell: whatever the kernel still remembers of that cell's source.
HISTORY_ATTACK = '''
import glob, linecache, sqlite3, sys
print("In:", In)
print("inputs:", {k: v for k, v in globals().items() if k.startswith("_i")})
print("linecache:", [("".join(lines)) for _, _, lines, _ in linecache.cache.values()
                     if isinstance(lines, list)][-20:])
print("last:", getattr(sys, "last_value", None), get_ipython().last_execution_result)
for db in glob.glob("/tmp/**/*.sqlite", recursive=True) + glob.glob("/home/**/*.sqlite", recursive=True):
    try:
        print(db, sqlite3.connect(db).execute("select source from input").fetchall())
    except Exception as error:
        print("no history:", type(error).__name__)
'''


def _after_first_test(code: str):
    def change(nb):
        first = catalogue._index(nb, synthetic.test_ids(nb)[0])
        nb.cells.insert(first + 1, synthetic.nbformat.v4.new_code_cell(code))
    return change


@dataclass(frozen=True)
class Targets:
    """What the attackers are told: the real places and processes of the grading machine."""

    root: str
    source: str
    gradebook: str
    victims: tuple[str, ...]
    tcp_port: int
    udp_port: int
    grader_pid: int
    secret: str


def attack_variants(targets: Targets) -> list[synthetic.Variant]:
    values = {**targets.__dict__, "victims": list(targets.victims), "breach": BREACH}
    return [synthetic.Variant(name, f"the correct answers plus a cell that tries: {name[7:]}",
                              change=catalogue._insert_after_setup(code.format(**values)))
            for name, code in ATTACKS.items()] + [
        synthetic.Variant("attack-history", "the correct answers plus a cell after the first test that "
                          "prints what the kernel remembers of it", change=_after_first_test(HISTORY_ATTACK))]
