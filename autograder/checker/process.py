"""The checker process: runs grade cells for the grader, asks the learner's kernel only for data.

``python -m autograder.checker.process`` talks to the grader over its stdin
and stdout in :mod:`autograder.kernel.wire` frames; nothing else of it is
reachable (the grader starts it sandboxed, without network, see
:mod:`.launch`).  No student code ever runs here: the learner's names are
data or proxies (:mod:`.proxy`), and every request to their kernel goes out
as a frame that the grader relays to the kernel's agent.

From the grader: ``begin`` (a new student: a fresh namespace), ``cell``
(``source``, ``labels``, ``call_timeout``, ``max_output_chars``), and during a
cell the kernel's answers.  To the grader: ``request`` frames, then ``done``
with the cell's outputs.
"""

from __future__ import annotations

import os
import sys

from autograder.kernel import wire

from .cells import run_cell
from .session import Session


class _Pipe:
    def __init__(self, read_fd: int, write_fd: int):
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._writer = os.fdopen(write_fd, "wb", buffering=0)

    def read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self._reader.read(left)
            if not chunk:
                raise EOFError("the grader closed the pipe")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self):
        header, blobs, _ = wire.read_frame(self.read_exact)
        return header, blobs

    def send(self, header: dict, blobs=()) -> None:
        self._writer.write(wire.pack(header, list(blobs)))


def _preload(names) -> None:
    """Import what the assignment's checks will need, before the first cell asks for it."""
    for name in names:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 (a missing framework: its checks say so when they run)
            pass


def serve(pipe: _Pipe) -> None:
    namespace: dict = {"__name__": "__grade__"}
    session: Session | None = None
    while True:
        header, _ = pipe.receive()
        kind = header.get("kind")
        if kind == "quit":
            return
        if kind == "begin":
            namespace = {"__name__": "__grade__"}
            _preload(header.get("preload", []))
            pipe.send({"kind": "ready"})
            continue
        if kind != "cell":
            continue

        def transport(request, blobs):
            pipe.send(dict(request, kind="request"), blobs)
            return pipe.receive()

        session = Session(transport, float(header.get("call_timeout", 120)))
        outputs = run_cell(str(header.get("source", "")), namespace, session,
                           header.get("labels") if isinstance(header.get("labels"), dict) else {},
                           int(header.get("max_output_chars", 100_000)))
        pipe.send({"kind": "done", "outputs": outputs})


def main() -> None:
    # The protocol owns the real stdin/stdout; anything printed at the C level goes to stderr.
    read_fd, write_fd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdin = open(os.devnull)
    try:
        serve(_Pipe(read_fd, write_fd))
    except EOFError:
        pass
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
