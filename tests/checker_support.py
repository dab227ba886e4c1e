"""Helpers of tests/test_checker.py: a learner's process running the real agent, and a rogue agent.

:func:`learner_kernel` starts a Python process that defines the names of
``code`` and runs :mod:`autograder.kernel.agent` (what the hidden cell does in
a graded kernel).  :class:`RogueAgent` is a unix-socket server that answers
each request with frames a test writes by hand: what a student who rewrote
the agent could send.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from autograder.kernel import wire

_KERNEL = """\
import sys
import autograder.kernel.agent as _agent
{code}
print(_agent.start(sys.argv[1]), flush=True)
sys.stdin.read()
"""


def learner_kernel(tmp_path: Path, code: str) -> tuple[subprocess.Popen, str]:
    """A process that holds ``code``'s names and answers the checker; ``(process, socket path)``."""
    script = tmp_path / "learner.py"
    script.write_text(_KERNEL.format(code=textwrap.dedent(code)))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "kernel.json")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    assert path.endswith(".agent"), path
    return proc, path


class RogueAgent:
    """Answers every request with ``respond(header) -> bytes`` (or nothing, when it returns None)."""

    def __init__(self, path: str, respond):
        self.path, self.respond = path, respond
        self.requests: list[dict] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        reader = conn.makefile("rb")
        while True:
            try:
                header, _, _ = wire.read_frame(lambda n: reader.read(n) if n else b"")
            except Exception:  # noqa: BLE001
                return
            self.requests.append(header)
            answer = self.respond(header)
            if answer:
                try:
                    conn.sendall(answer)
                except OSError:
                    return

    def close(self):
        self._listener.close()


def frame(header: dict, blobs=()) -> bytes:
    return wire.pack(header, list(blobs))


def names_reply(request_id, found_nodes: list, blobs=()) -> bytes:
    """An answer to a ``names`` request: ``found_nodes`` are ``[name, node]`` pairs, written by hand."""
    value = {"D": [["found", {"D": found_nodes}], ["missing", []]]}
    return frame({"id": request_id, "v": value, "out": [], "warnings": []}, blobs)
