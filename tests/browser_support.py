"""Harness for the browser end-to-end tests: Jupyter servers, Debian's Chromium, screenshots, JupyterLab steps.

The servers run as real subprocesses with an isolated HOME / Jupyter config; the browser is Debian's
`chromium` driven by Playwright (Playwright's own browser download is not used).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT_DIR = ROOT / "tests" / "screenshots"
CHROMIUM = Path(os.environ.get("COURSE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Headless, no sandbox (CI runs as root), and nothing that phones home: the machine has no internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
# Generous: CI is a busy 2-core machine and the first kernel start imports NumPy/matplotlib.
UI_TIMEOUT_MS = 60_000
SERVER_START_TIMEOUT_S = 180.0


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(home: Path) -> dict:
    """Environment for a Jupyter subprocess that reads no user config and writes only under `home`."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "jupyter_config"),
        JUPYTER_DATA_DIR=str(home / "jupyter_data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter_runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab_settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab_workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        MPLCONFIGDIR=str(home / "matplotlib"),
        # nbgrader runs `alembic` from PATH: the venv's bin must come first.
        PATH=venv_bin + os.pathsep + env.get("PATH", ""),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_TOKEN", None)
    # CI runs as root, and jupyter_server refuses to start as root unless told it may.
    config_dir = home / "jupyter_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"allow_root": True}}))
    # No "get notified about Jupyter news?" toast over the page (it would also try the internet).
    news = home / "lab_settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    # Every cell in the page: the default windowing leaves cells far below the view out of the DOM,
    # and the tests read each cell's prompt and outputs from the DOM.
    tracker = home / "lab_settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    return env


class JupyterServer:
    """A Jupyter server subprocess (plain `jupyter lab` or `python -m autograder.classroom.workspace`).

    It runs in its own session so that stop() can end the whole process group; kernels start in their
    own sessions (jupyter_client does that), so stop() also ends every process whose command line names
    this server's runtime directory (the kernels' connection files live there).
    """

    def __init__(self, argv: list[str], *, cwd: Path, env: dict, port: int, token: str, log_path: Path):
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.port = port
        self.token = token
        self.log_path = log_path
        self.runtime_dir = env["JUPYTER_RUNTIME_DIR"]
        self.process: subprocess.Popen | None = None
        self._log_file = None

    # -- addresses
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 10.0):
        """JSON from the server's REST API (None for an empty body)."""
        request = urllib.request.Request(
            f"{self.base}/api/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in ("POST", "PUT") else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- life cycle
    def start(self, timeout: float = SERVER_START_TIMEOUT_S) -> "JupyterServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(self.argv)} exited with {self.process.returncode} before answering; "
                    f"its log:\n{self.log_tail()}"
                )
            try:
                status = self.api("status", timeout=5)
                if status is not None and "started" in status:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"the server did not answer on port {self.port} within {timeout:.0f} s; log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # A clean shutdown first: the server then shuts its kernels down itself.
            try:
                self.api("shutdown", method="POST", timeout=10)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # The launcher (workspace.py) may have left its process group; end the rest of it too.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._kill_leftover_kernels()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _kill_leftover_kernels(self) -> None:
        import psutil  # a dependency of ipykernel

        mine = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if any(self.runtime_dir in part for part in cmdline):
                mine.append(proc)
        for proc in mine:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(mine, timeout=5)

    def running_kernels(self) -> list:
        return self.api("kernels")


def new_token() -> str:
    return secrets.token_hex(16)


def copy_course(dest: Path) -> Path:
    """A throw-away course root holding a copy of the source notebooks, so that nothing the tests
    generate (release/, gradebooks, workspace/) lands in the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


# --------------------------------------------------------------------------- browser


def launch_browser(playwright, user_data_dir: Path):
    """A persistent Chromium context with a fresh profile (Debian's binary, headless)."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run tools/test_setup.sh (as root) to install Debian's chromium"
        )
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    return context


def is_blank(png: Path) -> tuple[bool, str]:
    """True when a screenshot shows (nearly) nothing: one flat colour or almost no drawn pixels."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 18)
        n_colours = len(colours) if colours is not None else 1 << 18
        grey = rgb.convert("L")
        background = max(colours)[1] if colours else None
        histogram = grey.histogram()
        dominant_share = max(histogram) / sum(histogram)
    blank = n_colours < 16 or dominant_share > 0.995
    return blank, f"{n_colours} colours, dominant grey level covers {dominant_share:.1%} (background {background})"


class Screenshots:
    """Numbered screenshots of each step in tests/screenshots/<folder>/, each checked not to be blank."""

    def __init__(self, folder: str):
        self.folder = SCREENSHOT_DIR / folder
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.count = 0
        self.paths: list[Path] = []

    def take(self, page, name: str, *, full_page: bool = False, check_blank: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.paths.append(path)
        if check_blank:
            blank, why = is_blank(path)
            assert not blank, f"screenshot {path.name} looks blank ({why})"
        return path


# --------------------------------------------------------------------------- JupyterLab steps


def open_lab(page, server: JupyterServer, path: str = "lab") -> None:
    """Load JupyterLab and wait until its shell and file browser are drawn."""
    page.goto(server.url(path), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", state="visible")
    page.wait_for_selector(".jp-DirListing-content", state="visible")


def dir_listing_item(page, name: str):
    text = page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    return page.locator(".jp-DirListing-item", has=text)


def open_in_file_browser(page, *parts: str) -> None:
    """Double-click through the file browser: folders, then the file (a notebook opens in a tab)."""
    for name in parts:
        item = dir_listing_item(page, name)
        item.wait_for(state="visible")
        item.dblclick()
        if name != parts[-1]:
            # Wait for the breadcrumbs to show the folder we entered.
            page.locator(".jp-BreadCrumbs").get_by_text(name, exact=True).wait_for(state="visible")


def menu_command(page, menu: str, label: str) -> None:
    """Click a menu bar entry, then its item with this label (e.g. "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^\s*{re.escape(menu)}\s*$")).click()
    label_locator = page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled)", has=label_locator).first
    item.wait_for(state="visible")
    item.click()
