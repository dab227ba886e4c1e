"""nbgrader's ``Execute`` that survives a dead or stuck kernel and caps each cell's output."""

from __future__ import annotations

from time import monotonic

from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.preprocessors import Execute
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Bool, Integer

from ..notes import add_note, is_autograder_cell
from . import caps
from .common import _grade_id
from .ready import wait_for_kernel


def _error_output(ename: str, message: str) -> NotebookNode:
    return from_dict({"output_type": "error", "ename": ename, "evalue": message,
                      "traceback": [f"\x1b[0;31m{ename}\x1b[0m: {message}"]})


#: Both the kernel (autograder.kernel.guard) and SafeExecute mark cut output with this phrase.
CUT_NOTICE = "output cut by the grader"


def _first_and_more(places: list[str]) -> str:
    first = f"`{places[0]}`"
    return first if len(places) == 1 else f"{first} (and {len(places) - 1} later cells)"


_output_size = caps.output_size


#: The sandbox's kernelspec (autograder.sandbox.kernelspec.KERNEL_NAME; not imported, to keep
#: the preprocessors free of the sandbox's own imports).
SANDBOX_KERNEL = "gd-sandbox"

GARBLED_REASON = ("the kernel sent messages the grader could not read (did the code fork processes "
                  "that use the kernel's connection?)")

STUCK_REASON = ("the cell ran past the time limit and the kernel did not respond to the interrupt "
                "(does the code catch KeyboardInterrupt, or ignore SIGINT?)")


class SafeExecute(Execute):
    """nbgrader's ``Execute`` that never loses a whole submission to one bad cell.

    * The kernel dies (``os._exit``, a crash, the memory cap hit inside C
      code): the cell gets an error saying so, the cells after it are marked
      "not run" (tests there score zero), the cells before keep their
      results, and nbgrader goes on to save the grades.
    * A cell times out and the kernel does not come back after the
      interrupt (it swallowed ``KeyboardInterrupt``): the same.
    * Output beyond ``max_output_chars`` per cell is cut (errors and stderr
      are kept, shortened, because they decide the score).
    """

    memory_mb = Integer(0, help="The kernel's memory cap in MiB, for the messages").tag(config=True)
    max_output_chars = Integer(100_000, help="Characters of output kept per cell (0: no cap)").tag(config=True)
    responsive_wait = Integer(15, help="Seconds a timed-out kernel has to answer again").tag(config=True)
    max_messages_per_second = Integer(caps.Limits.max_messages_per_second,
                                      help="Sustained messages a second a kernel may send").tag(config=True)
    message_burst = Integer(caps.Limits.message_burst, help="Messages a kernel may send at once").tag(config=True)
    max_comm_bytes = Integer(caps.Limits.max_comm_bytes, help="Widget (comm) bytes kept per notebook").tag(config=True)
    max_outputs_per_cell = Integer(caps.Limits.max_outputs_per_cell, help="Outputs kept per cell").tag(config=True)
    max_notebook_output_bytes = Integer(caps.Limits.max_notebook_output_bytes,
                                        help="Output bytes kept per notebook").tag(config=True)
    checker = Bool(False, help="Run grade cells in the checker process, never in the student's kernel "
                               "(autograder.checker)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        # Same as nbconvert's ExecutePreprocessor.preprocess, with a try around each cell.
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._output_chars: dict[int, int] = {}
        self._traffic = caps.TrafficCaps(caps.Limits(
            max_messages_per_second=self.max_messages_per_second, message_burst=self.message_burst,
            max_comm_bytes=self.max_comm_bytes, max_outputs_per_cell=self.max_outputs_per_cell,
            max_notebook_output_bytes=self.max_notebook_output_bytes))
        self._flooded = False
        self._timed_out = False
        stopped: tuple[int, str, str] | None = None
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            route = self._checker_route()
            for index, cell in enumerate(self.nb.cells):
                if stopped is not None:
                    if cell.cell_type == "code" and cell.source.strip():
                        cell.outputs = [_error_output(
                            "NotRun", f"not run: the kernel stopped at an earlier cell ({stopped[2]})")]
                    continue
                if route is not None and route.takes(cell):
                    route.run(cell)  # a grade cell: run by the checker, never sent to this kernel
                    continue
                self._timed_out = False
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    stopped = ((index, "kernel-flood", self._traffic.exceeded["messages"]) if self._flooded
                               else (index, "kernel-died", self._death_reason()))
                except CellTimeoutError:
                    stopped = (index, "kernel-stuck", STUCK_REASON)
                except ValueError as error:  # e.g. "Invalid Signature": a forked child wrote to the sockets
                    stopped = (index, "kernel-died", f"{GARBLED_REASON} ({str(error)[:80]})")
                if stopped is None and self._timed_out and not self._kernel_responds():
                    stopped = (index, "kernel-stuck", STUCK_REASON)
                if stopped is not None and stopped[0] == index:
                    cell.outputs = list(cell.get("outputs", [])) + [
                        _error_output("KernelStopped", stopped[2])]
            if route is not None:
                route.end()
        self.set_widgets_metadata()
        self._add_notes(stopped)
        if self.kernel_name != SANDBOX_KERNEL:
            add_note(self.nb, "unsandboxed",
                     "This notebook was graded without the grader's OS sandbox (the instructor's "
                     "choice: `--no-sandbox`).")
        return self.nb, self.resources

    def _checker_route(self):
        if not self.checker:
            return None
        from ..checker.route import CheckerRoute

        return CheckerRoute(self, sandbox=self.kernel_name == SANDBOX_KERNEL)

    async def async_start_new_kernel_client(self):
        """nbclient's, with :func:`.ready.wait_for_kernel` for jupyter_client's ``wait_for_ready``."""
        from jupyter_core.utils import ensure_async
        from nbclient.util import run_hook

        import zmq

        try:
            self.kc = self.km.client()
            # A message bigger than this never reaches the grader's memory (the connection drops).
            self.kc.context.setsockopt(zmq.MAXMSGSIZE, caps.MAX_MESSAGE_BYTES)
            await ensure_async(self.kc.start_channels())
            await wait_for_kernel(self.kc, self.km, self.startup_timeout)
        except Exception as error:
            self.log.error("Error occurred while starting new kernel client for kernel %s: %s",
                           getattr(self.km, "kernel_id", None), error)
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    def start_new_kernel_client(self):
        from jupyter_core.utils import run_sync

        return run_sync(self.async_start_new_kernel_client)()

    def _death_reason(self) -> str:
        limit = f" (limit {self.memory_mb} MiB)" if self.memory_mb else ""
        return ("the kernel died while running this cell: the code called os._exit, crashed the "
                f"interpreter, or ran out of memory{limit}")

    def _kernel_responds(self) -> bool:
        """After an interrupted timeout: does the kernel answer a request again?"""
        from jupyter_core.utils import run_sync
        from queue import Empty

        try:
            msg_id = self.kc.kernel_info()
            deadline = monotonic() + self.responsive_wait
            while (left := deadline - monotonic()) > 0:
                msg = run_sync(self.kc.shell_channel.get_msg)(timeout=left)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except (Empty, TimeoutError, RuntimeError):
            return False
        return False

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        reply = kwargs.get("execute_reply") or {}
        if reply.get("content", {}).get("ename") == "CellTimeoutError":
            self._timed_out = True

    def _add_notes(self, stopped) -> None:
        """Summarise timeouts, memory errors, cut output and a stopped kernel at the top."""
        timeouts, memory, cut = [], [], []
        code_cells = [c for c in self.nb.cells if c.cell_type == "code" and not is_autograder_cell(c)]
        for number, cell in enumerate(code_cells, start=1):
            where = _grade_id(cell) or f"code cell {number}"
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    timeouts.append(where)
                elif output.get("output_type") == "error" and output.get("ename") == "MemoryError":
                    memory.append(where)
                elif output.get("output_type") == "stream" and CUT_NOTICE in output.get("text", ""):
                    cut.append(where)
        if timeouts:
            add_note(self.nb, "timeout",
                     f"{_first_and_more(timeouts)} ran longer than {self.timeout} s and was stopped; "
                     "a test stopped this way scores zero, and whatever the cell should have defined "
                     "is missing later.")
        if memory:
            limit = f" of {self.memory_mb} MiB" if self.memory_mb else ""
            add_note(self.nb, "memory",
                     f"{_first_and_more(memory)} ran out of memory (the grader's limit{limit}).")
        over = {name: text for name, text in self._traffic.exceeded.items() if name != "messages"}
        if over:
            add_note(self.nb, "traffic-cap",
                     "The kernel sent more than the grader keeps: " + "; ".join(over.values()) + ".")
        if cut:
            add_note(self.nb, "output-cut",
                     f"The output of {_first_and_more(cut)} was cut after {self.max_output_chars} "
                     "characters.")
        if stopped is not None:
            index, kind, reason = stopped
            cell = self.nb.cells[index]
            where = _grade_id(cell) or "a code cell"
            add_note(self.nb, kind,
                     f"While running {where}, {reason}. Cells after it were not run and their tests "
                     "score zero; tests before it kept their points.")

    # -- traffic and output caps ------------------------------------------------------------
    def process_message(self, msg, cell, cell_index):
        kind = msg.get("msg_type", "")
        if kind != "status":  # the idle status ends the cell: always let it through
            if self._flooded:
                return None
            if not self._traffic.admit_message():
                self._stop_flooding_kernel()
                return None
            if kind.startswith("comm") and not self._traffic.admit_comm(msg):
                return None
        return super().process_message(msg, cell, cell_index)

    def _stop_flooding_kernel(self) -> None:
        """Kill the kernel (its whole sandbox goes with the launcher): nbclient then sees it dead."""
        self._flooded = True
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            process.kill()

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None and outs and outs[-1] is out and not self._traffic.admit_output(outs, out):
            outs.pop()
            return None
        if out is None or not self.max_output_chars or not outs or outs[-1] is not out:
            return out
        used = self._output_chars.get(cell_index, 0)
        size = _output_size(out)
        self._output_chars[cell_index] = used + size
        if used + size <= self.max_output_chars:
            return out
        room = max(self.max_output_chars - used, 0)
        kind = out.get("output_type")
        notice = f"\n... {CUT_NOTICE} after {self.max_output_chars} characters ...\n"
        if kind == "stream":
            already_cut = any(o.get("output_type") == "stream" and o.get("name") == out.get("name")
                              and o.get("text", "").endswith(notice) for o in outs[:-1])
            if already_cut:
                outs.pop()  # stderr stays recorded by the earlier (cut) output: the score is unchanged
                return None
            out["text"] = out.get("text", "")[:room] + notice
        elif kind == "error":
            out["traceback"] = [line[:2000] for line in out.get("traceback", [])[-20:]]
        else:
            text = out.get("data", {}).get("text/plain", "")
            if isinstance(text, list):
                text = "".join(text)
            out["data"] = {"text/plain": (text[:min(room, 2000)] or "") + notice}
        return out
