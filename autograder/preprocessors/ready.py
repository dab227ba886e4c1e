"""Waiting for a freshly started grading kernel, without jupyter_client's idle drain at the end.

``KernelClient.wait_for_ready`` sends ``kernel_info`` until a reply comes, checks that IOPub
delivers (a subscriber that joined late would lose the first cell's output), and then reads
IOPub until it has been silent for 0.2 s.  That last step only discards the start-up status
messages, and nbclient already ignores every IOPub message whose parent is not the cell it runs,
so for grading it is 0.2 s of idle wall time per student (a tenth of notebook 1's grading).
:func:`wait_for_kernel` is the same wait without that drain.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_core.utils import ensure_async


async def wait_for_kernel(client, manager, timeout: float | None) -> None:
    """Return once the kernel has answered ``kernel_info`` and IOPub delivers; raise like jupyter_client."""
    deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
    while True:
        client.kernel_info()
        try:
            reply = await ensure_async(client.shell_channel.get_msg(timeout=1))
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:  # IOPub connected: the reply's own busy/idle status arrives on it
                await ensure_async(client.iopub_channel.get_msg(timeout=0.2))
            except Empty:
                pass
            else:
                client._handle_kernel_info_reply(reply)
                return
        if not await ensure_async(manager.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
