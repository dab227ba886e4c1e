"""The accounts, hub and helpers of tests/test_hub.py: a class on a real JupyterHub on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_numpy_by_hand"
COURSE = "gd-five-ways"
SECOND = "gd-extra"  # the second course on the same hub
ENV_PREFIX = Path(os.environ.get("GD_CLASS_ENV", "/opt/gd-five-ways"))
PROXY = ENV_PREFIX / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"


def why_no_accounts() -> str | None:
    if sys.platform != "linux":
        return "a class on JupyterHub needs Linux accounts"
    if os.geteuid() != 0:
        return "creating the class's Linux accounts (useradd) needs root; run `make test` as root (CI does)"
    for tool in ("useradd", "userdel", "groupadd", "setpriv", "chpasswd"):
        if not shutil.which(tool):
            return f"{tool} is missing: cannot create the class's accounts"
    return None


def free_port() -> int:
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
        self.ta = f"gdt{suffix}"                                       # a TA of the first course
        self.instructor2, self.carol = f"gdj{suffix}", f"gdc{suffix}"  # the second course
        self.class_dir = tmp / "classes"
        self.class_file = self.class_dir / f"{COURSE}.json"
        self.class_file2 = self.class_dir / f"{SECOND}.json"
        self.exchange = tmp / "exchange"
        self.exchange2 = tmp / "exchange2"
        self.config_dir = tmp / "etc-gd" / COURSE
        self.config_dir2 = tmp / "etc-gd" / SECOND
        self.hub_dir = tmp / "hub"
        self.passwords = tmp / "passwords.csv"
        self.token = secrets.token_hex(32)
        self.port = free_port()
        self.hub: subprocess.Popen | None = None
        self.python = ENV_PREFIX / "venv" / "bin" / "python"
        self.log = tmp / "hub.log"

    # -- running things as someone -----------------------------------------------------
    @property
    def accounts(self) -> tuple[str, ...]:
        return (self.instructor, self.alice, self.bob, self.ta, self.instructor2, self.carol)

    def env_for(self, user: str) -> dict:
        home = pwd.getpwnam(user).pw_dir
        role = "graders" if user in (self.instructor, self.ta, self.instructor2) else "students"
        config = self.config_dir2 if user in (self.instructor2, self.carol) else self.config_dir
        return {"HOME": home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
                "PATH": f"{self.python.parent}:/usr/bin:/bin", "GD_CLASS_FILE": str(self.class_file),
                "JUPYTER_CONFIG_PATH": str(config / role), "TF_CPP_MIN_LOG_LEVEL": "3"}

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

    def instructor_cli(self, *args: str, timeout: float = 600, second: bool = False) -> subprocess.CompletedProcess:
        who = self.instructor2 if second else self.instructor
        root = Path(pwd.getpwnam(who).pw_dir) / (SECOND if second else COURSE)
        class_file = self.class_file2 if second else self.class_file
        exchange = ["--class-file", str(class_file)] if args[0] in ("exchange-release", "exchange-collect",
                                                                    "release-feedback") else []
        return self.as_user(who, [str(self.python), "-m", "autograder", *args, "--root", str(root),
                                  "--source", str(root / "source"), *exchange], timeout=timeout)

    @property
    def course_root(self) -> Path:
        return Path(pwd.getpwnam(self.instructor).pw_dir) / COURSE

    def create_class(self, *args: str) -> str:
        """``create-class`` as root, as the README has it; returns its output."""
        done = subprocess.run(
            [str(self.python), "-m", "autograder", "create-class", *args, "--env", str(ENV_PREFIX / "venv"),
             "--proxy", str(PROXY), "--hub-state", str(self.hub_dir), "--passwords", str(self.passwords),
             "--formgrader-port", str(free_port())],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PATH": f"{self.python.parent}:/usr/sbin:/usr/bin:/sbin:/bin"})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def doctor(self, class_file: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), "-m", "autograder", "doctor", "--quick", "--class-file",
                               str(class_file or self.class_file)], capture_output=True, text=True, timeout=300)

    def password(self, user: str) -> str:
        return dict(line.split(",", 1) for line in self.passwords.read_text().splitlines())[user]

    def user_token(self, user: str) -> str:
        r = self.api("POST", f"/hub/api/users/{user}/tokens", json={"note": "test_hub", "expires_in": 3600})
        assert r.status_code in (200, 201), f"token for {user}: {r.status_code} {r.text}"
        return r.json()["token"]

    def as_token(self, token: str, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", headers={"Authorization": f"token {token}"},
                                timeout=kwargs.pop("timeout", 120), allow_redirects=False, **kwargs)

    def wait_for_service(self, name: str, token: str, timeout: float = 120) -> None:
        """The formgrader service answers (the hub started it; its first start imports nbgrader)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                last = self.as_token(token, "GET", f"/services/{name}/formgrader/api/status", timeout=10)
                if last.status_code == 200:
                    return
            time.sleep(1)
        raise AssertionError(f"the {name} service did not answer: {last and (last.status_code, last.text[:300])}"
                             f"\n{self.log_tail()}")

    # -- the hub -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=kwargs.pop("timeout", 60),
                                **kwargs)

    def start_hub(self) -> None:
        self.hub_dir.mkdir(exist_ok=True)
        env = {"PATH": f"{self.python.parent}:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
               "GD_CLASS_FILE": str(self.class_file), "GD_HUB_API_TOKEN": self.token,
               "GD_HUB_PORT": str(self.port), "GD_HUB_INTERNAL_PORT": str(free_port()),
               "GD_HUB_PROXY_API_PORT": str(free_port())}
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
                          data={"course_id": COURSE, "assignment_id": ASSIGNMENT, **data})
        assert r.status_code == 200, f"{user} {action}: {r.status_code} {r.text[:2000]}"
        reply = r.json()
        assert reply.get("success"), f"{user} {action}: {json.dumps(reply)[:3000]}"
        return reply

    # -- the end -------------------------------------------------------------------------
    def stop(self) -> None:
        """The hub, its proxy, every user's server and kernel: all stopped."""
        uids = []
        for user in self.accounts:
            with contextlib.suppress(KeyError):
                uids.append(pwd.getpwnam(user).pw_uid)
        if self.hub is not None and self.hub.poll() is None:
            with contextlib.suppress(requests.RequestException):
                for user in self.accounts:
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
        for user in self.accounts:
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        for group in (f"{COURSE}-students", f"{COURSE}-graders", f"{SECOND}-students", f"{SECOND}-graders"):
            subprocess.run(["groupdel", group], capture_output=True)


