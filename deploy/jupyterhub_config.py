"""JupyterHub (5 or 6) for a class on one machine: one Linux account per person, one or more courses.

Start it as root (the spawner switches to each user; PAM reads /etc/shadow)::

    jupyterhub -f deploy/jupyterhub_config.py     # or deploy/gd-five-ways-hub.service (systemd)

Everything class-specific comes from the class files that
``python -m autograder create-class`` writes: ``$GD_CLASS_FILE`` (default
``/etc/gd-five-ways/class.json``) and every other ``*.json`` class file in the
same folder (one per course).  Per course: its students and graders (hub groups
``<course>-students``, ``<course>-graders``), its formgrader as a hub service
``/services/<course>/`` started by the hub as the instructor in the course root,
open to the graders' group only (role ``formgrader-<course>``:
``access:services!service=<course>``), and each role's Jupyter config
(``JUPYTER_CONFIG_PATH``: the lab extensions and nbgrader config students and
graders see, autograder/classroom/roles.py).  The environment, proxy and hub
state come from ``$GD_CLASS_FILE``.  Idle servers are stopped by
jupyterhub-idle-culler (a hub service).

Environment overrides: ``GD_HUB_IP`` (default ``127.0.0.1``: only this machine;
put a TLS-terminating reverse proxy in front, or set ``0.0.0.0`` with
``GD_HUB_SSL_CERT``/``GD_HUB_SSL_KEY``), ``GD_HUB_PORT`` (8000),
``GD_HUB_CULL_IDLE_S`` (3600: a server idle that long is stopped; 0: never),
``GD_HUB_API_TOKEN`` (a service token with admin rights on users and servers,
for scripts and the tests; none by default), ``GD_HUB_ADMINS`` (hub admins,
comma-separated; none by default: the instructor needs no admin rights).
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (traitlets provides get_config)

class_file = Path(os.environ.get("GD_CLASS_FILE", "/etc/gd-five-ways/class.json"))
klass = json.loads(class_file.read_text())
courses = [klass] + [json.loads(p.read_text()) for p in sorted(class_file.parent.glob("*.json"))
                     if p.resolve() != class_file.resolve()]
courses = [k for k in courses if "course_id" in k and "students" in k]
env = Path(klass["env"])
state = Path(klass.get("hub_state") or "/srv/gd-five-ways-hub")


def _graders(k):
    return [k["instructor"], *k.get("graders", [])]


# -- where it listens ----------------------------------------------------------------------
c.JupyterHub.ip = os.environ.get("GD_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("GD_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("GD_HUB_INTERNAL_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(os.environ.get('GD_HUB_PROXY_API_PORT', '8001'))}"
if os.environ.get("GD_HUB_SSL_CERT"):
    c.JupyterHub.ssl_cert = os.environ["GD_HUB_SSL_CERT"]
    c.JupyterHub.ssl_key = os.environ["GD_HUB_SSL_KEY"]
c.ConfigurableHTTPProxy.command = [klass["proxy"]]
c.ConfigurableHTTPProxy.should_start = True

# -- the hub's own state (root only) -------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

# -- who may log in: the class, by their Linux passwords -----------------------------------
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {name for k in courses for name in [*k["students"], *_graders(k)]}
c.Authenticator.admin_users = {n.strip() for n in os.environ.get("GD_HUB_ADMINS", "").split(",") if n.strip()}
c.PAMAuthenticator.open_sessions = False  # no systemd-logind session per server

# -- each person's server runs as them, from the course environment ------------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(env / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
# The environment also holds the grading sandbox's kernelspec (instructors' autograde): students see theirs only.
c.Spawner.args = ["--KernelSpecManager.allowed_kernelspecs=['python3']"]
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
spawner_env = {
    "PATH": f"{env / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    # TensorFlow's start-up chatter would score a passing test 0 (nbgrader counts stderr).
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
c.Spawner.environment = spawner_env


def _role_config_path(name):
    """Each person's role folders (students/ or graders/ of their courses): their nbgrader tools."""
    folders = []
    for k in courses:
        role = "graders" if name in _graders(k) else "students" if name in k["students"] else None
        if role:
            folders.append(str(Path(k["jupyter_config_dir"]) / role))
    return os.pathsep.join(folders)


def _pre_spawn(spawner):
    spawner.environment = {**spawner_env, "JUPYTER_CONFIG_PATH": _role_config_path(spawner.user.name)}


c.Spawner.pre_spawn_hook = _pre_spawn
# The server's own token may also reach the services its user may (the graders: their course's
# formgrader), so nbgrader's Course List finds the course's formgrader; students hold no such scope.
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "access:services"]
groups = {}
for k in courses:
    groups[k["students_group"]] = {"users": list(k["students"])}
    groups[k["graders_group"]] = {"users": _graders(k)}
c.JupyterHub.load_groups = groups

# -- each course's formgrader: a hub service, as the instructor, in the course root ------------
services, roles = [], []
for k in courses:
    course = k["course_id"]
    services.append({
        "name": course,
        "display": True,
        "url": f"http://127.0.0.1:{k['formgrader_port']}",
        "command": [str(env / "bin" / "jupyterhub-singleuser")],
        "user": k["instructor"],
        "cwd": k["course_root"],  # nbgrader reads the course's nbgrader_config.py from here
        "environment": {**spawner_env, "JUPYTER_CONFIG_PATH": str(Path(k["jupyter_config_dir"]) / "service")},
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [f"access:services!service={course}"],
    })
    roles.append({"name": f"formgrader-{course}", "groups": [k["graders_group"]],
                  "scopes": [f"access:services!service={course}", f"read:services!service={course}"]})

# -- idle servers stopped (students who close the tab without logging out) ---------------------
cull_after = int(os.environ.get("GD_HUB_CULL_IDLE_S", "3600"))
if cull_after > 0:
    services.append({"name": "idle-culler",
                     "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={cull_after}",
                                 f"--cull-every={max(60, cull_after // 6)}"]})
    roles.append({"name": "idle-culler", "services": ["idle-culler"],
                  "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]})

# -- an API token for scripts (and the hub test) ------------------------------------------
token = os.environ.get("GD_HUB_API_TOKEN")
if token:
    services.append({"name": "gd-class-admin", "api_token": token})
    roles.append({
        "name": "gd-class-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users", "tokens",
                   "admin:groups", "list:services", "read:services"],
        "services": ["gd-class-admin"],
    })
c.JupyterHub.services = services
c.JupyterHub.load_roles = roles
