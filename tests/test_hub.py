"""A class on a real JupyterHub: one instructor and two students, real Linux accounts, nbgrader's exchange.

The whole cycle, as in the README's "Run a class on JupyterHub": create-class
(accounts, groups, exchange, configs), the hub on 127.0.0.1, exchange-release;
each student's server started through the hub's REST API, the assignment
fetched and submitted through the server's nbgrader handlers (alice correct,
bob with the named mistake ``sign_flip``); exchange-collect; sandboxed
autograde; feedback; release-feedback; each student fetches their feedback.
Isolation checks run as the other student's account.  One Chromium step: a
student logs in, opens the Assignments list, sees the assignment, submits.

Accounts are created with useradd and removed at the end; the hub and every
process it started are stopped in a ``finally``.  Skipped, with the reason, only
where accounts cannot be created (not root, no useradd).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

ASSIGNMENT = "01_numpy_by_hand"
MISTAKE = "sign_flip"
ENV_PREFIX = Path(os.environ.get("GD_CLASS_ENV", "/opt/gd-five-ways"))
PROXY = ENV_PREFIX / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.timeout(900)]


def _why_no_accounts() -> str | None:
    if sys.platform != "linux":
        return "a class on JupyterHub needs Linux accounts"
    if os.geteuid() != 0:
        return "creating the class's Linux accounts (useradd) needs root; run `make test` as root (CI does)"
    for tool in ("useradd", "userdel", "groupadd", "setpriv", "chpasswd"):
        if not shutil.which(tool):
            return f"{tool} is missing: cannot create the class's accounts"
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Class:
    """The accounts, paths and processes of one test class."""

    def __init__(self, tmp: Path):
        suffix = secrets.token_hex(3)
        self.tmp = tmp
        self.instructor, self.alice, self.bob = (f"gdi{suffix}", f"gda{suffix}", f"gdb{suffix}")
        self.class_file = tmp / "class.json"
        self.exchange = tmp / "exchange"
        self.config_dir = tmp / "etc-jupyter"
        self.hub_dir = tmp / "hub"
        self.passwords = tmp / "passwords.csv"
        self.token = secrets.token_hex(32)
        self.port = _free_port()
        self.hub: subprocess.Popen | None = None
        self.python = ENV_PREFIX / "venv" / "bin" / "python"
        self.log = tmp / "hub.log"

    # -- running things as someone -----------------------------------------------------
    def env_for(self, user: str) -> dict:
        home = pwd.getpwnam(user).pw_dir
        return {"HOME": home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
                "PATH": f"{self.python.parent}:/usr/bin:/bin", "GD_CLASS_FILE": str(self.class_file),
                "JUPYTER_CONFIG_PATH": str(self.config_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def as_user(self, user: str, args: list[str], check: bool = True, timeout: float = 600,
                cwd: str | None = None) -> subprocess.CompletedProcess:
        info = pwd.getpwnam(user)
        cmd = ["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--init-groups", "--"] + args
        done = subprocess.run(cmd, env=self.env_for(user), cwd=cwd or info.pw_dir, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"as {user}: {' '.join(args)} exited {done.returncode}\n"
                                 f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    def instructor_cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        root = self.course_root
        return self.as_user(self.instructor, [str(self.python), "-m", "autograder", *args, "--root", str(root),
                                              "--source", str(root / "source")], timeout=timeout)

    @property
    def course_root(self) -> Path:
        return Path(pwd.getpwnam(self.instructor).pw_dir) / "gd-five-ways"

    # -- the hub -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def start_hub(self) -> None:
        self.hub_dir.mkdir(exist_ok=True)
        env = {"PATH": f"{self.python.parent}:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
               "GD_CLASS_FILE": str(self.class_file), "GD_HUB_API_TOKEN": self.token,
               "GD_HUB_PORT": str(self.port), "GD_HUB_INTERNAL_PORT": str(_free_port()),
               "GD_HUB_PROXY_API_PORT": str(_free_port())}
        self.hub = subprocess.Popen(
            [str(self.python.parent / "jupyterhub"), "-f", str(REPO / "deploy" / "jupyterhub_config.py")],
            cwd=self.hub_dir, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise AssertionError(f"the hub exited {self.hub.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if self.api("GET", "/hub/api/").status_code == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer in 90 s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def start_server(self, user: str) -> None:
        r = self.api("POST", f"/hub/api/users/{user}/server")
        assert r.status_code in (201, 202), f"{user}: {r.status_code} {r.text}\n{self.log_tail()}"
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{user}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{user}'s server did not start:\n{self.log_tail()}")

    def user_api(self, user: str, method: str, path: str, **kwargs) -> requests.Response:
        return self.api(method, f"/user/{user}/{path}", **kwargs)

    def nbgrader(self, user: str, action: str, **data) -> dict:
        r = self.user_api(user, "POST", f"assignments/{action}",
                          data={"course_id": "gd-five-ways", "assignment_id": ASSIGNMENT, **data})
        assert r.status_code == 200, f"{user} {action}: {r.status_code} {r.text[:2000]}"
        reply = r.json()
        assert reply.get("success"), f"{user} {action}: {json.dumps(reply)[:3000]}"
        return reply

    # -- the end -------------------------------------------------------------------------
    def stop(self) -> None:
        """The hub, its proxy, every user's server and kernel: all stopped."""
        uids = []
        for user in (self.instructor, self.alice, self.bob):
            with contextlib.suppress(KeyError):
                uids.append(pwd.getpwnam(user).pw_uid)
        if self.hub is not None and self.hub.poll() is None:
            with contextlib.suppress(requests.RequestException):
                for user in (self.alice, self.bob):
                    self.api("DELETE", f"/hub/api/users/{user}/server")
            os.killpg(self.hub.pid, signal.SIGTERM)
            try:
                self.hub.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub.pid, signal.SIGKILL)
                self.hub.wait(10)
        # the proxy and user servers live in their own sessions: find them by owner / pid file
        pid_file = self.hub_dir / "jupyterhub-proxy.pid"
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        for uid in uids:
            subprocess.run(["pkill", "-KILL", "-U", str(uid)], capture_output=True)

    def remove_accounts(self) -> None:
        for user in (self.instructor, self.alice, self.bob):
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        for group in ("gd-five-ways-students", "gd-five-ways-graders"):
            subprocess.run(["groupdel", group], capture_output=True)


def _set_up_tools() -> None:
    from autograder.classroom.provision import provision_environment

    provision_environment(ENV_PREFIX, Path(sys.prefix), quiet=True)
    if not PROXY.exists():
        subprocess.run(["npm", "install", "--prefix", str(ENV_PREFIX / "proxy"), "--no-audit", "--no-fund",
                        "configurable-http-proxy@4"], check=True, capture_output=True, timeout=300)


def _notebook(variant_name: str | None) -> str:
    import nbformat

    from autograder.demo.catalogue import class_variants
    from autograder.demo.synthetic import Variant, build_student

    source = nbformat.read(REPO / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    variant = Variant("correct", "the solution")
    if variant_name:
        variant = next(v for v in class_variants(ASSIGNMENT) if MISTAKE in v.mistakes)
    return build_student(source, source, variant)


def _denied(klass: Class, user: str, *args: str) -> subprocess.CompletedProcess:
    done = klass.as_user(user, list(args), check=False)
    assert done.returncode != 0, f"as {user}, `{' '.join(args)}` succeeded: {done.stdout[:500]}"
    return done


@pytest.fixture(scope="module")
def hub_class():
    why = _why_no_accounts()
    if why:
        print(f"\nSKIPPED test_hub: {why}")
        pytest.skip(why)
    # Not pytest's tmp_path: that is mode 0700 under root's tmp; the students must reach the exchange.
    tmp = Path(tempfile.mkdtemp(prefix="gd-hub-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    klass = Class(tmp)
    try:
        _set_up_tools()
        yield klass
    finally:
        klass.stop()
        klass.remove_accounts()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_class_on_jupyterhub(hub_class: Class):
    k = hub_class
    started = time.monotonic()
    roster = k.tmp / "roster.csv"
    roster.write_text(f"id,first_name,last_name\n{k.alice},Alice,A\n{k.bob},Bob,B\n")
    # -- the instructor's set-up, as in the README (root) -------------------------------
    done = subprocess.run(
        [str(k.python), "-m", "autograder", "create-class", str(roster), "--instructor", k.instructor,
         "--exchange", str(k.exchange), "--jupyter-config-dir", str(k.config_dir), "--class-file",
         str(k.class_file), "--env", str(ENV_PREFIX / "venv"), "--proxy", str(PROXY), "--hub-state",
         str(k.hub_dir), "--passwords", str(k.passwords)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": f"{k.python.parent}:/usr/sbin:/usr/bin:/sbin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    doctor = subprocess.run([str(k.python), "-m", "autograder", "doctor", "--quick", "--class-file", str(k.class_file)],
                            capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "sandbox: ready" in doctor.stdout, doctor.stdout

    k.start_hub()
    k.instructor_cli("exchange-release", ASSIGNMENT)

    # -- students: servers through the REST API, fetch + submit through nbgrader's handlers --
    for user in (k.alice, k.bob):
        k.start_server(user)
        listed = k.user_api(user, "GET", "assignments", params={"course_id": "gd-five-ways"}).json()
        assert any(a["assignment_id"] == ASSIGNMENT for a in listed["value"]), listed
        k.nbgrader(user, "fetch")
    for user, variant in ((k.alice, None), (k.bob, MISTAKE)):
        path = f"api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        model = {"type": "notebook", "format": "json", "content": json.loads(_notebook(variant))}
        r = k.user_api(user, "PUT", path, json=model)
        assert r.status_code in (200, 201), r.text[:1000]
        k.nbgrader(user, "submit")

    # -- isolation, as the other student -----------------------------------------------
    inbound = k.exchange / "gd-five-ways" / "inbound"
    alice_sub = next(p for p in inbound.iterdir() if p.name.startswith(f"{k.alice}+"))
    _denied(k, k.bob, "ls", str(inbound))                                          # cannot list
    _denied(k, k.bob, "cat", str(alice_sub / f"{ASSIGNMENT}.ipynb"))                # cannot read by name
    _denied(k, k.bob, "ls", str(alice_sub))
    _denied(k, k.bob, "touch", str(alice_sub / "x"))                                 # cannot write in it
    _denied(k, k.bob, "mv", str(alice_sub), str(inbound / f"{k.alice}+gone"))        # cannot rename it away
    _denied(k, k.bob, "ls", str(k.course_root))                                      # instructor's root
    _denied(k, k.bob, "cat", str(k.course_root / "gradebook.db"))
    _denied(k, k.bob, "ls", pwd.getpwnam(k.alice).pw_dir)                            # alice's home
    # submit as alice: nbgrader accepts --student, the strict collect must not
    time.sleep(1.1)  # a later timestamp than alice's own: nbgrader would take it
    forged = k.as_user(k.bob, [str(k.python.parent / "nbgrader"), "submit", ASSIGNMENT, "--student", k.alice,
                               "--course", "gd-five-ways"], check=False, cwd=pwd.getpwnam(k.bob).pw_dir)
    assert forged.returncode == 0, forged.stderr  # nbgrader itself lets it through...

    # -- the instructor: collect, autograde (sandboxed), feedback, release ---------------
    collected = k.instructor_cli("exchange-collect", ASSIGNMENT)
    assert "Not collected" in collected.stderr and k.bob in collected.stderr, collected.stderr  # ...collect does not
    graded = k.instructor_cli("autograde", ASSIGNMENT, "--jobs", "2", "--no-progress", timeout=600)
    assert "sandbox" not in graded.stderr.lower() or "unavailable" not in graded.stderr.lower(), graded.stderr
    k.instructor_cli("feedback", ASSIGNMENT, "--no-progress")
    k.instructor_cli("release-feedback", ASSIGNMENT)

    # -- each student fetches their own feedback ---------------------------------------
    from course.mistakes import MISTAKES

    title = MISTAKES[MISTAKE].title
    pages = {}
    for user in (k.alice, k.bob):
        k.nbgrader(user, "fetch_feedback")
        found = glob.glob(f"{pwd.getpwnam(user).pw_dir}/{ASSIGNMENT}/feedback/*/{ASSIGNMENT}.html")
        assert found, f"{user} has no feedback"
        pages[user] = Path(found[-1]).read_text().replace("&#39;", "'")
        assert pwd.getpwuid(os.stat(found[-1]).st_uid).pw_name == user
    import re

    def score(html: str) -> tuple[float, float]:
        m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", html) or re.search(r"([\d.]+)\s*/\s*([\d.]+)", html)
        assert m, html[:2000]
        return float(m.group(1)), float(m.group(2))

    alice_score, bob_score = score(pages[k.alice]), score(pages[k.bob])
    assert alice_score[0] == alice_score[1] > 0, alice_score   # the forgery was not graded as alice's
    assert bob_score[0] < bob_score[1], bob_score
    assert title in pages[k.bob] and title not in pages[k.alice]
    # feedback in the exchange: not listable by a classmate
    _denied(k, k.bob, "ls", str(k.exchange / "gd-five-ways" / "feedback"))

    # -- Chromium: a student logs in, opens the Assignments list, sees it and submits ---
    _browser_submit(k, k.alice)
    print(f"\nhub class cycle: {time.monotonic() - started:.0f} s")


def _browser_submit(k: Class, user: str) -> None:
    from playwright import sync_api

    from browser_support import launch_browser

    password = dict(line.split(",", 1) for line in k.passwords.read_text().splitlines())[user]
    inbound = k.exchange / "gd-five-ways" / "inbound"
    before = {p.name for p in inbound.iterdir() if p.name.startswith(f"{user}+")}
    with sync_api.sync_playwright() as playwright:
        context = launch_browser(playwright, k.tmp / "chromium-profile")
        try:
            page = context.new_page()
            page.goto(f"{k.url}/hub/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password)
            page.click("input[type=submit], button[type=submit]")
            page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)
            page.goto(f"{k.url}/user/{user}/lab")
            page.get_by_text("Nbgrader", exact=True).first.click()
            page.get_by_text("Assignment List", exact=True).first.click()
            page.wait_for_selector(f"text={ASSIGNMENT}", timeout=60_000)
            page.locator("button:has-text('Submit')").first.click()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                after = {p.name for p in inbound.iterdir() if p.name.startswith(f"{user}+")}
                if after - before:
                    break
                time.sleep(0.5)
            else:
                page.screenshot(path=str(k.tmp / "assignments.png"))
                raise AssertionError("clicking Submit in the Assignments list made no new submission")
        finally:
            context.close()
