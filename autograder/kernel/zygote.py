"""The fork server: inside one slot's sandbox, import the frameworks once and fork a kernel per student.

Run by the grader as ``python -P -m autograder.kernel.zygote CONFIG`` inside
bubblewrap (:func:`autograder.sandbox.policy.zygote_command`), as root of no
user namespace but with only the capabilities it needs to build a child's
sandbox.  It imports the assignment's frameworks (the modules its set-up
cell imports before ``setup()``, chosen by :mod:`autograder.sandbox.preload`:
trusted, instructor code) and ``ipykernel``, then serves one kernel at a time
on a unix socket only root can reach.

Each kernel is a fresh process forked from that state, and gets a sandbox of
its own before any student code runs:

* new mount, PID and IPC namespaces: the kernel sees no other process (not
  this server, not the previous student's), only a small init as PID 1 (as
  under bubblewrap), and everything it starts dies with it;
* fresh, size-capped tmpfs ``/tmp``, ``/dev/shm`` and home, its working
  directory copied from the slot's ``input/``, this server's socket unmounted;
* the slot's uid and gid, no supplementary groups, an empty capability
  bounding set and ``no_new_privs``;
* no file descriptor of this server: only the grader's stdin/stdout/stderr,
  passed over the socket, exactly where a kernel started by itself writes.

What the student's code could learn of the server is what it imported, which
is what a kernel started by itself imports in its set-up cell.  Stdlib only.

On a second socket the server also forks the grader's checker from the same
state, into a sandbox of its own (:mod:`.checker_fork`); kernels never see
that socket nor the checker's code.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import sys

from . import checker_fork, namespaces

#: What follows the interpreter in a kernel's command line (the ``gd-sandbox`` kernelspec's argv).
#: This server runs with ``-P`` too, so the kernels it forks never have their folder on sys.path.
KERNEL_ARGS = ["-P", "-m", "ipykernel_launcher"]


def _redo_import_time_checks() -> None:
    """What the preloaded modules would have done had they been imported inside a kernel.

    TensorFlow routes ``tf.print`` into the notebook's stdout when ``get_ipython`` exists at its
    import (``logging_ops``); imported here first, it would print to the kernel's stderr.
    (Keras and PyTorch look for IPython only when used; matplotlib's backend is set before the
    imports, see :meth:`Zygote.preload`.)
    """
    logging_ops = sys.modules.get("tensorflow.python.ops.logging_ops")
    if logging_ops is not None:
        logging_ops.enable_interactive_logging()


class Zygote:
    def __init__(self, config: dict):
        self.config = config
        self.env = dict(os.environ)  # the kernel's environment, as bubblewrap set it
        self.path = list(sys.path)
        self.listener: socket.socket | None = None
        self.checker_listener: socket.socket | None = None  # the grader's requests for a checker

    # -- start-up ---------------------------------------------------------------------------------
    def preload(self) -> list[str]:
        """Import the assignment's frameworks (failures are the kernel's to meet, not ours)."""
        failed = []
        added = {}
        # The frameworks may import matplotlib (Keras imports pyplot), which takes its backend from
        # MPLBACKEND at import: set it as ipykernel's init_gui_pylab does before any user code.
        wanted = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
                  **self.config.get("env_before_import", {})}
        # matplotlib's font list, as a kernel's sandbox gets it (else the server rebuilds it: ~2 s)
        namespaces.copy_tree(self.config["seed_dir"], "/tmp")
        for name, value in wanted.items():
            if name not in os.environ:
                os.environ[name] = added[name] = value
        for name in self.config.get("preload", []):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the kernel imports it again and shows the error
                failed.append(name)
        import ipykernel.kernelapp  # noqa: F401 - the kernel itself

        # The kernel's environment: what bubblewrap set and the imports changed, not what we added
        # for them (the set-up cell sets those itself, as a kernel started by itself would).
        for name, value in added.items():
            if os.environ.get(name) == value:
                del os.environ[name]
        self.env = dict(os.environ)
        return failed

    def listen(self) -> None:
        self.listener = self._listen(self.config["socket"])
        if self.config.get("checker_socket") and self.config.get("checker_code"):
            self.checker_listener = self._listen(self.config["checker_socket"])

    @staticmethod
    def _listen(path: str) -> socket.socket:
        if os.path.exists(path):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(4)
        return listener

    def _listeners(self) -> list[socket.socket]:
        return [s for s in (self.listener, self.checker_listener) if s is not None]

    def _checker_request(self) -> None:
        """Fork the grader's checker (:mod:`.checker_fork`): milliseconds, so it is answered even
        while a kernel runs (the grader asks for one at its first grade cell)."""
        conn, _ = self.checker_listener.accept()
        try:
            checker_fork.spawn(conn, self.config, self._listeners())
        except Exception as error:  # noqa: BLE001 - one bad request must not end the server
            print(f"gd-sandbox fork server: checker request failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            conn.close()

    # -- serving ----------------------------------------------------------------------------------
    def serve(self) -> None:
        """One kernel at a time; stops when the grader closes our stdin (its lifeline)."""
        while True:
            ready, _, _ = select.select([*self._listeners(), sys.stdin], [], [])
            if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
                return
            if self.checker_listener in ready:
                self._checker_request()
            if self.listener in ready:
                conn, _ = self.listener.accept()
                try:
                    self.run_one(conn)
                except Exception as error:  # noqa: BLE001 - one bad request must not end the server
                    print(f"gd-sandbox fork server: request failed: {error!r}", file=sys.stderr, flush=True)
                finally:
                    conn.close()

    def run_one(self, conn: socket.socket) -> None:
        message, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        try:
            request = json.loads(message.decode())
            if request.get("ping"):  # answered only once the previous kernel is gone, namespace and all
                conn.sendall(b'{"idle": true}\n')
                return
            argv = request["argv"]
            if len(fds) != 3 or argv[1:4] != KERNEL_ARGS:
                raise ValueError("a kernel request names -P -m ipykernel_launcher and passes three descriptors")
            report_r, report_w = os.pipe()
            middle = os.fork()
            if middle == 0:
                self._middle(conn, fds, argv, report_r, report_w)  # never returns
            os.close(report_w)
        finally:
            for fd in fds:
                os.close(fd)
        kernel = self._read_pid(report_r)
        os.close(report_r)
        conn.sendall(json.dumps({"pid": kernel}).encode() + b"\n")
        self._supervise(conn, middle, kernel)

    @staticmethod
    def _read_pid(fd: int) -> int:
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(fd, 64)
            if not chunk:
                break
            data += chunk
        return int(data or b"0")

    def _supervise(self, conn: socket.socket, middle: int, kernel: int) -> None:
        """Forward the client's signals; kill the kernel when the client goes; report its exit."""
        buffer = b""
        while True:
            done, status = os.waitpid(middle, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                try:
                    conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
                except OSError:
                    pass
                return
            watched = [conn] + ([self.checker_listener] if self.checker_listener else [])
            ready, _, _ = select.select(watched, [], [], 0.02)
            if self.checker_listener in ready:
                self._checker_request()
            if conn not in ready:
                continue
            chunk = conn.recv(4096)
            if not chunk:  # the client was stopped: so is the kernel, and its whole PID namespace
                for pid in (kernel, middle):
                    if pid > 0:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                os.waitpid(middle, 0)
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    signum = int(json.loads(line)["signal"])
                    if kernel > 0 and signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGQUIT):
                        os.kill(kernel, signum)
                except (ValueError, KeyError, TypeError, ProcessLookupError):
                    pass

    # -- the child --------------------------------------------------------------------------------
    def _middle(self, conn, fds, argv, report_r, report_w) -> None:
        """In new namespaces: fork the kernel (PID 1 there), tell the server its pid, wait for it."""
        code = 70
        try:
            os.close(report_r)
            for listener in self._listeners():
                listener.close()
            conn.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            namespaces.unshare_for_kernel()
            kernel = os.fork()
            if kernel == 0:
                os.close(report_w)
                self._kernel(fds, argv)  # never returns
            for fd in fds:
                os.close(fd)
            os.write(report_w, f"{kernel}\n".encode())
            os.close(report_w)
            _, status = os.waitpid(kernel, 0)
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code
        except BaseException:  # noqa: BLE001 - a child never returns into the server's loop
            try:
                os.write(report_w, b"0\n")
            except OSError:
                pass
        os._exit(code)

    def _kernel(self, fds, argv) -> None:
        """PID 1 of the kernel's namespaces: build its sandbox, then fork the kernel and reap.

        The kernel itself is PID 2, as under bubblewrap's own init: a PID 1 ignores the signals
        it sent itself (``os.kill(os.getpid(), SIGKILL)`` must kill a kernel, as it does alone).
        When the kernel exits so does this init, and with it everything left in the namespace.
        """
        config = self.config
        try:
            # Hidden: the server's socket folder, and the grader's checker (not the kernel's). The
            # server's hard limits are the checker's: lowered to the kernel's own here.
            hide = [os.path.dirname(config["socket"])]
            if config.get("checker_code"):
                hide.append(config["checker_code"])
            namespaces.enter_sandbox(fds, hide=hide, tmp_bytes=config["tmp_bytes"], cmdline="gd-sandbox-init",
                                     rlimits=config.get("kernel_rlimits"), uid=config["uid"], gid=config["gid"],
                                     seccomp=bytes.fromhex(config["seccomp"]))
            work = config["work_dir"]
            os.makedirs(work)
            namespaces.copy_tree(config["input_dir"], work)
            namespaces.copy_tree(config["seed_dir"], "/tmp")
            os.chdir(work)
            kernel = os.fork()
        except BaseException as error:  # noqa: BLE001 - no kernel without its sandbox
            os.write(2, f"gd-sandbox: the kernel's sandbox could not be made: {error}\n".encode())
            os._exit(71)
        if kernel == 0:
            self._start_kernel(argv)  # never returns

        def forward(signum, _frame):
            try:
                os.kill(kernel, signum)
            except ProcessLookupError:
                pass

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(signum, forward)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(70)
            if pid == kernel:
                code = os.waitstatus_to_exitcode(status)
                os._exit(code if code >= 0 else 128 - code)

    def _start_kernel(self, argv) -> None:
        """What ``python -m ipykernel_launcher ARGS`` does, in this already-prepared process."""
        for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        namespaces.set_cmdline(argv)
        os.environ.clear()
        os.environ.update(self.env)
        sys.path[:] = self.path
        _redo_import_time_checks()
        code = 0
        try:
            import ipykernel_launcher  # noqa: F401 - what `python -m ipykernel_launcher` is
        except ImportError:
            pass
        try:
            from ipykernel import kernelapp

            sys.argv = [getattr(sys.modules.get("ipykernel_launcher"), "__file__", "ipykernel_launcher"),
                        *argv[len(KERNEL_ARGS) + 1:]]
            kernelapp.launch_new_instance()
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    zygote = Zygote(config)
    failed = zygote.preload()
    zygote.listen()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's ^C reaches the kernels, not us
    print(json.dumps({"ready": True, "failed": failed}), flush=True)
    zygote.serve()
    # Nothing to save: leave without Python's finalisation, which with TensorFlow and PyTorch
    # loaded takes ~1.6 s, paid at the end of every grading run (the grader waits for us).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
