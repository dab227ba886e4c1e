"""The process jupyter_client starts for a forked kernel: it asks the slot's fork server for one.

``python -m autograder.sandbox.fork_client SOCKET ARGV_JSON`` passes its own
stdin, stdout and stderr to the server (the kernel writes where a kernel
started by itself would), forwards the signals it gets, and exits with the
kernel's exit code.  When it is killed (jupyter_client's shutdown), its
socket closes and the server kills the kernel with its whole PID namespace.
So to jupyter_client this process *is* the kernel.  Stdlib only: it starts
in milliseconds.
"""

from __future__ import annotations

import json
import signal
import socket
import sys

#: Exit code when the fork server could not be reached or gave no kernel.
NO_KERNEL = 75


def main(argv: list[str]) -> int:
    path, kernel_argv = argv[0], json.loads(argv[1])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.connect(path)
        socket.send_fds(server, [json.dumps({"argv": kernel_argv}).encode()], [0, 1, 2])
    except OSError as error:
        print(f"gd-sandbox: the fork server at {path} cannot be reached: {error}", file=sys.stderr)
        return NO_KERNEL

    def forward(signum, _frame):
        try:
            server.sendall(json.dumps({"signal": signum}).encode() + b"\n")
        except OSError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, forward)
    reader = server.makefile("rb")
    code = NO_KERNEL
    for line in reader:
        message = json.loads(line)
        if message.get("pid") == 0:
            print("gd-sandbox: the fork server could not start a kernel", file=sys.stderr)
        if "exit" in message:
            code = int(message["exit"])
            break
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
