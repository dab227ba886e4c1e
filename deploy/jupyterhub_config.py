"""JupyterHub (5 or 6) for a class on one machine: one Linux account per person.

Start it as root (the spawner switches to each user; PAM reads /etc/shadow)::

    jupyterhub -f deploy/jupyterhub_config.py

Everything class-specific comes from the class file that
``python -m autograder create-class`` writes (``$GD_CLASS_FILE``, default
``/etc/gd-five-ways/class.json``): the allow list (roster + instructor), the
admin (the instructor), the course environment every account can run
(``provision-env``), the proxy, the exchange's config folder.

Environment overrides: ``GD_HUB_IP`` (default ``127.0.0.1``: only this machine;
put a TLS-terminating reverse proxy in front, or set ``0.0.0.0`` with
``GD_HUB_SSL_CERT``/``GD_HUB_SSL_KEY``), ``GD_HUB_PORT`` (8000),
``GD_HUB_API_TOKEN`` (a service token with admin rights on users and servers,
for scripts and the tests; none by default).
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (traitlets provides get_config)

class_file = Path(os.environ.get("GD_CLASS_FILE", "/etc/gd-five-ways/class.json"))
klass = json.loads(class_file.read_text())
env = Path(klass["env"])
state = Path(klass.get("hub_state") or "/srv/gd-five-ways-hub")

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
c.Authenticator.allowed_users = set(klass["students"]) | {klass["instructor"]}
c.Authenticator.admin_users = {klass["instructor"]}
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
if klass.get("jupyter_config_dir", "/etc/jupyter") != "/etc/jupyter":
    # the system-wide nbgrader_config.py lives elsewhere (a test, or a second class)
    spawner_env["JUPYTER_CONFIG_PATH"] = klass["jupyter_config_dir"]
c.Spawner.environment = spawner_env

# -- an API token for scripts (and the hub test) ------------------------------------------
token = os.environ.get("GD_HUB_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "gd-class-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "gd-class-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
        "services": ["gd-class-admin"],
    }]
