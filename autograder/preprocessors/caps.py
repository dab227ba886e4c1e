"""Caps on everything a graded kernel sends to the grader: messages, widget state, outputs, bytes.

The kernel's own memory is capped by the sandbox; what it *sends* lands in the
grading worker, which nbclient lets keep all of it (every widget state, every
output).  :class:`TrafficCaps` holds one notebook's budget, checked message by
message by :class:`autograder.preprocessors.execute.SafeExecute`:

* **messages per second**: a token bucket (a burst, then a sustained rate);
  a kernel that keeps flooding is stopped, like a stuck one, and its later
  cells score zero;
* **widget (comm) bytes per notebook**: beyond the cap, comm messages are
  dropped (widget state is for showing, never for grading);
* **outputs per cell** and **output bytes per notebook**: beyond them, outputs
  are dropped, except error outputs and a cell's first stderr, which decide
  the score and are kept, shortened;
* and, below nbclient, a largest message (ZMQ's ``MAXMSGSIZE``): a bigger one
  never reaches the grader's memory (the kernel's connection is dropped and
  reconnects).

A student over any cap gets a note naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from time import monotonic

#: Largest single message a kernel may send the grader (bytes, ZMQ_MAXMSGSIZE).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class Limits:
    max_messages_per_second: int = 1_000
    message_burst: int = 20_000
    max_comm_bytes: int = 16 * 1024 * 1024
    max_outputs_per_cell: int = 1_000
    max_notebook_output_bytes: int = 32 * 1024 * 1024


def estimated_size(value, budget: int) -> int:
    """About how many bytes ``value`` (decoded JSON) takes, counting at most ``budget`` (then stops),
    so that sizing a huge message costs no more than the cap it is checked against."""
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray, memoryview)):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
    return total


def output_size(output) -> int:
    """Bytes of one notebook output, as the autograded notebook will store it."""
    kind = output.get("output_type")
    if kind == "stream":
        return len(output.get("text", ""))
    if kind == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(json.dumps(value)) if not isinstance(value, str) else len(value)
               for value in output.get("data", {}).values())


@dataclass
class TrafficCaps:
    limits: Limits = field(default_factory=Limits)
    #: cap name -> what was exceeded (for the note)
    exceeded: dict[str, str] = field(default_factory=dict)
    comm_bytes: int = 0
    output_bytes: int = 0
    _tokens: float = -1.0
    _last: float = 0.0

    def admit_message(self) -> bool:
        """One more message from the kernel; ``False`` once it has flooded past the rate cap."""
        now = monotonic()
        limits = self.limits
        if self._tokens < 0:
            self._tokens, self._last = float(limits.message_burst), now
        self._tokens = min(float(limits.message_burst),
                           self._tokens + (now - self._last) * limits.max_messages_per_second)
        self._last = now
        if self._tokens < 1:
            self.exceeded.setdefault(
                "messages", f"the kernel sent more than {limits.max_messages_per_second} messages a "
                            f"second (after a burst of {limits.message_burst})")
            return False
        self._tokens -= 1
        return True

    def admit_comm(self, msg: dict) -> bool:
        """A comm (widget) message: kept while the notebook's widget budget lasts."""
        room = self.limits.max_comm_bytes - self.comm_bytes
        size = sum(len(b) for b in msg.get("buffers") or []) + estimated_size(msg.get("content"), room)
        if size > room:
            self.comm_bytes = self.limits.max_comm_bytes
            self.exceeded.setdefault(
                "widgets", f"widget messages past {self.limits.max_comm_bytes // (1024 * 1024)} MiB "
                           "were dropped")
            return False
        self.comm_bytes += size
        return True

    def admit_output(self, outs: list, out) -> bool:
        """An output just appended to ``outs``: ``False`` if it must be dropped (the caller removes it)."""
        kind = out.get("output_type")
        decides_score = kind == "error" or (
            kind == "stream" and out.get("name") == "stderr"
            and not any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in outs[:-1]))
        size = output_size(out)
        too_many = len(outs) > self.limits.max_outputs_per_cell
        too_big = self.output_bytes + size > self.limits.max_notebook_output_bytes
        if too_many:
            self.exceeded.setdefault("outputs", f"outputs past {self.limits.max_outputs_per_cell} in one "
                                                "cell were dropped")
        if too_big:
            self.exceeded.setdefault("output-bytes", "outputs past "
                                     f"{self.limits.max_notebook_output_bytes // (1024 * 1024)} MiB in the "
                                     "notebook were dropped")
        if (too_many or too_big) and not decides_score:
            return False
        if decides_score and (too_many or too_big):  # kept, but small
            if kind == "error":
                out["traceback"] = [line[:2000] for line in out.get("traceback", [])[-20:]]
            else:
                out["text"] = out.get("text", "")[:2000]
            size = output_size(out)
        self.output_bytes += size
        return True
