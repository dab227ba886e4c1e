"""Goal 1: executing every source notebook, against starting a kernel and importing the frameworks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .common import interleave, scratch_home

ROOT = Path(__file__).resolve().parents[1]
FLOOR_CODE = (
    "from course.notebook import setup\nsetup(frameworks=True)\n"
    "import numpy, torch, tensorflow, keras\n"
)


def _isolated_env():
    home = scratch_home()
    os.environ.update(HOME=home, JUPYTER_CONFIG_DIR=f"{home}/.jupyter", JUPYTER_DATA_DIR=f"{home}/.local/share/jupyter")


def _run(nb, cwd: Path):
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    # The kernel's own start-up warnings (ipykernel: "running over TCP without encryption")
    # would bury the table; the notebooks' outputs still come back through the client.
    client.execute(stderr=subprocess.DEVNULL)


def notebooks() -> list[Path]:
    return sorted(ROOT.glob("notebooks/*/*.ipynb"))


def measure(runs: int = 3) -> dict:
    _isolated_env()
    paths = notebooks()

    def course():
        for path in paths:
            _run(nbformat.read(path, as_version=4), path.parent)

    def floor():
        for path in paths:  # one kernel per notebook, as the course pays
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_CODE)])
            _run(nb, path.parent)

    timings = interleave({f"execute {len(paths)} source notebooks": course,
                          f"floor: {len(paths)} kernels + import numpy/torch/tensorflow": floor}, runs)
    course_t, floor_t = timings.values()
    return {"rows": [course_t.row(), floor_t.row()], "course_vs_floor": course_t.median / floor_t.median,
            "notebooks": len(paths)}
