"""The grader's checker, forked by the fork server from its already-imported state.

A checker started by itself (:mod:`autograder.checker.launch`) imports NumPy,
the course and the frameworks its checks use: TensorFlow and Keras cost ~4
core-seconds, once per grading process, beside the fork server's own import of
the same modules.  The fork server has them already, and no student code has
ever run in it, so the grader asks it for the checker too (on a socket of its
own, answered even while a kernel runs).

The checker gets a sandbox of its own, built here before anything else runs:

* new mount, PID, IPC, network and UTS namespaces: it sees no kernel and no
  server, and shares no loopback or abstract socket with them;
* none of the slot's folders: the server's sockets, the kernels' socket folder
  (their connection files) and ``input/`` (the students' files) are unmounted,
  and every mount left is checked against an allow-list (else it does not start);
* fresh tmpfs ``/tmp``, ``/dev/shm`` and ``/home``, a /proc of its own;
* uid ``nobody``, no groups, no capabilities, ``no_new_privs``, the kernels'
  seccomp filter, and the limits of a checker started by itself (the server's
  hard limits allow them; each kernel lowers them to its own);
* only the descriptors the grader passed: the channel (a unix socket, its
  stdin and stdout) and a file for its stderr.

Its first byte on the channel lets the grader learn its pid (``SCM_CREDENTIALS``)
and move it out of the slot's cgroup into the grader's own, so a student's
memory hog in the slot can neither starve it nor kill it.
Stdlib only: the checker's module is the one the grader names in the config.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys

from . import namespaces

#: The byte the checker sends first, once its sandbox is built.
HELLO = b"\x01"


def spawn(conn: socket.socket, config: dict, close_in_child) -> None:
    """Answer one checker request on ``conn``: fork the checker (it outlives the request)."""
    message, fds, _, _ = socket.recv_fds(conn, 65536, 2)
    try:
        request = json.loads(message.decode())
        env = request.get("env")
        if len(fds) != 2 or not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("a checker request passes its environment, its channel and its stderr")
        middle = os.fork()
        if middle == 0:
            _middle(conn, fds, env, config, close_in_child)  # never returns
    finally:
        for fd in fds:
            os.close(fd)
    _, status = os.waitpid(middle, 0)
    conn.sendall(json.dumps({"forked": os.waitstatus_to_exitcode(status) == 0}).encode() + b"\n")


def _middle(conn, fds, env, config, close_in_child) -> None:
    """Unshare, fork the checker (PID 1 of its namespaces) and leave: the server waits for nobody."""
    code = 70
    try:
        for sock in close_in_child:
            sock.close()
        conn.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        namespaces.unshare_for_checker()
        if os.fork() == 0:
            _checker(fds, env, config)  # never returns
        code = 0
    except BaseException:  # noqa: BLE001 - a child never returns into the server's loop
        pass
    os._exit(code)


def _checker(fds, env: dict, config: dict) -> None:
    try:
        channel, stderr = fds
        # Hidden: the server's sockets, the kernels' connection files, the students' input; every
        # mount left is checked against the grader's allow-list (forkserver.checker_mounts).
        hide = [os.path.dirname(config["socket"]), config["conn_dir"], config["input_dir"]]
        uid = int(config["checker_uid"])
        namespaces.enter_sandbox((channel, channel, stderr), hide=hide, tmp_bytes=config["tmp_bytes"],
                                 cmdline="gd-checker", rlimits=config["checker_rlimits"], uid=uid, gid=uid,
                                 seccomp=bytes.fromhex(config["seccomp"]), allowed=config["checker_mounts"])
        namespaces.copy_tree(config["seed_dir"], "/tmp")
        os.chdir("/tmp")
        os.environ.clear()
        os.environ.update(env)
        for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
    except BaseException as error:  # noqa: BLE001 - no checker without its sandbox
        os.write(2, f"gd-sandbox: the checker's sandbox could not be made: {error}\n".encode())
        os._exit(71)
    code = 0
    try:
        os.write(1, HELLO)
        # The module the grader names, as `python -m` would run it (the checker's, not this package's).
        importlib.import_module(config["checker_main"]).main()  # leaves with os._exit
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)
