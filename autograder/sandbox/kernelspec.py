"""The ``gd-sandbox`` kernelspec: an ipykernel whose provisioner is the sandbox.

It lives in the environment's own ``share/jupyter/kernels`` (like
``ipykernel install --sys-prefix``), so every process of that environment
finds it whatever ``JUPYTER_DATA_DIR`` says.  ``"python"`` in ``argv`` is
replaced by jupyter_client with the running interpreter, so a copied
environment needs no rewrite.  Interrupts go as messages: a SIGINT to the
process group would kill bubblewrap itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL_NAME = "gd-sandbox"
PROVISIONER_NAME = "gd-sandbox"


def kernelspec() -> dict:
    return {
        # No history database: a test cell's source must not outlive the cell (autograder.kernel.forget).
        # -P (safe path): the working folder, a copy of the student's, is never on sys.path, so a
        # submitted ipykernel_launcher.py, numpy.py or course.py shadows nothing (IPython's own
        # init_path respects it too).
        "argv": ["python", "-P", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--HistoryManager.enabled=False"],
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
        "env": {},
        "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": {}},
                     "debugger": False},
    }


def kernelspec_dir(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def ensure_kernelspec(prefix: str | Path = sys.prefix) -> Path | None:
    """Write the kernelspec where it is missing or out of date; ``None`` if the prefix is read-only."""
    folder = kernelspec_dir(prefix)
    text = json.dumps(kernelspec(), indent=1) + "\n"
    path = folder / "kernel.json"
    try:
        if path.exists() and path.read_text() == text:
            return path
        folder.mkdir(parents=True, exist_ok=True)
        # Atomic: a grading run starting at this moment reads the old file or the new, never half.
        partial = folder / f".kernel.json.{os.getpid()}"
        partial.write_text(text)
        os.replace(partial, path)
    except OSError:
        return None
    return path
