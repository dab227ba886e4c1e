"""Time to first contact: a fresh clone to ``make lab`` answering, and to ``make test`` starting its tests.

Each measurement clones this repository's committed ``HEAD`` into a new folder
(no ``.venv``) and gives the installers empty caches (``UV_CACHE_DIR``,
``PIP_CACHE_DIR``), as on a fresh machine; the machine's own package sources
(pip's configuration, the local torch wheel) are used as ``make`` would use them.
``installer="pip"`` runs the same with ``GD_INSTALLER=pip``: the before/after of
moving setup to uv.

* ``make lab``: until the JupyterLab server answers HTTP on its port (any status:
  it answers 403 without the token), then the server is stopped.
* ``make test``: ``make test PYTEST_ARGS='--collect-only -q'``, i.e. setup, the
  system packages check and collecting every test: what runs before the first test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import Timing, scratch_home

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_clone(installer: str) -> tuple[Path, dict]:
    folder = Path(tempfile.mkdtemp(prefix="bench-clone-"))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder / "repo")], check=True)
    home = scratch_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "GD_"))}
    env.update(HOME=home, UV_CACHE_DIR=str(folder / "uv-cache"), PIP_CACHE_DIR=str(folder / "pip-cache"),
               GD_INSTALLER=installer, PATH=":".join(p for p in env["PATH"].split(":") if ".venv" not in p))
    return folder, env


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
    except urllib.error.HTTPError:
        return True  # 403 without the token: the server is up
    except OSError:
        return False
    return True


def time_lab(installer: str = "uv", limit: float = 1800) -> float:
    folder, env = _fresh_clone(installer)
    port = _free_port()
    log = open(folder / "lab.log", "wb")
    start = time.perf_counter()
    lab = subprocess.Popen(["make", "lab", f"PORT={port}"], cwd=folder / "repo", env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while not _answers(port):
            if lab.poll() is not None or time.perf_counter() - start > limit:
                raise RuntimeError(f"make lab stopped or took too long; see {folder / 'lab.log'}")
            time.sleep(0.5)
        return time.perf_counter() - start
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def time_test_start(installer: str = "uv") -> float:
    folder, env = _fresh_clone(installer)
    try:
        start = time.perf_counter()
        done = subprocess.run(["make", "test", "PYTEST_ARGS=--collect-only -q"], cwd=folder / "repo", env=env,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"make test --collect-only failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return elapsed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(installers=("uv", "pip")) -> dict:
    rows, result = [], {}
    for installer in installers:
        lab = Timing(f"fresh clone -> make lab answering ({installer}, empty cache)")
        lab.seconds.append(time_lab(installer))
        test = Timing(f"fresh clone -> make test at its first test ({installer}, empty cache)")
        test.seconds.append(time_test_start(installer))
        rows += [lab.row(), test.row()]
        result[f"first_contact_lab_s_{installer}"] = lab.median
        result[f"first_contact_test_s_{installer}"] = test.median
    return {"rows": rows, **result}
