"""What can be checked offline of deploy/: the hub config loads, templates render, the Docker/z2jh files agree.

The Dockerfile and the Zero to JupyterHub values are not built or deployed here
(no container runtime, no cluster): these tests only check that they parse and
that what they name exists.  The one-machine path is run for real by test_hub.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


class _Config(dict):
    """Enough of a traitlets Config for exec'ing a config file: c.A.b = v."""

    def __getattr__(self, name):
        return self.setdefault(name, _Config())

    def __setattr__(self, name, value):
        self[name] = value


def _load(path: Path, **env) -> _Config:
    c = _Config()
    code = compile(path.read_text(), str(path), "exec")
    exec(code, {"get_config": lambda: c, "__file__": str(path)})
    return c


def test_jupyterhub_config_loads_a_class_file(tmp_path, monkeypatch):
    klass = {"course_id": "gd-five-ways", "instructor": "teach", "students": ["ann", "bo"], "graders": ["ta1"],
             "students_group": "gd-five-ways-students", "graders_group": "gd-five-ways-graders",
             "env": "/opt/gd-five-ways/venv", "proxy": "/opt/chp", "hub_state": str(tmp_path),
             "course_root": "/home/teach/gd-five-ways", "formgrader_port": 9990,
             "jupyter_config_dir": "/etc/gd-five-ways/gd-five-ways"}
    (tmp_path / "class.json").write_text(json.dumps(klass))
    monkeypatch.setenv("GD_CLASS_FILE", str(tmp_path / "class.json"))
    monkeypatch.delenv("GD_HUB_IP", raising=False)
    monkeypatch.delenv("GD_HUB_API_TOKEN", raising=False)
    c = _load(DEPLOY / "jupyterhub_config.py")
    assert c.JupyterHub.ip == "127.0.0.1"  # loopback unless told otherwise
    assert c.JupyterHub.spawner_class == "localprocess"
    assert c.Authenticator.allowed_users == {"ann", "bo", "teach", "ta1"}
    assert c.Authenticator.admin_users == set()  # the instructor needs no hub admin rights
    assert c.Spawner.cmd == ["/opt/gd-five-ways/venv/bin/jupyterhub-singleuser"]
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert set(services) == {"gd-five-ways", "idle-culler"}  # no API token unless one is given
    formgrader = services["gd-five-ways"]
    assert formgrader["user"] == "teach" and formgrader["cwd"] == "/home/teach/gd-five-ways"
    assert formgrader["url"] == "http://127.0.0.1:9990"
    assert formgrader["environment"]["JUPYTER_CONFIG_PATH"] == "/etc/gd-five-ways/gd-five-ways/service"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["formgrader-gd-five-ways"]["groups"] == ["gd-five-ways-graders"]
    assert "access:services!service=gd-five-ways" in roles["formgrader-gd-five-ways"]["scopes"]
    assert set(c.JupyterHub.load_groups["gd-five-ways-graders"]["users"]) == {"teach", "ta1"}
    assert "delete:servers" in roles["idle-culler"]["scopes"]
    assert "jupyterhub_idle_culler" in services["idle-culler"]["command"]


def test_nbgrader_templates_render():
    from autograder.classroom.accounts import render

    values = {"course_id": "c1", "exchange": "/x/ex", "root": "/home/t/c1", "source": "/home/t/c1/source"}
    for name in ("nbgrader_config.system.py", "nbgrader_config.instructor.py"):
        text = render(DEPLOY / name, values)
        compile(text, name, "exec")
        assert '"/x/ex"' in text and '"c1"' in text
        for dotted in re.findall(r'"(autograder\.classroom\.exchange\.\w+)"', text):
            module, _, attr = dotted.rpartition(".")
            assert hasattr(__import__(module, fromlist=[attr]), attr), dotted


def test_dockerfile_copies_files_that_exist_and_installs_the_project():
    text = (DEPLOY / "singleuser" / "Dockerfile").read_text()
    assert "UNTESTED" in text
    copies = re.findall(r"^COPY\s+(.+?)\s+\S+$", text, re.M)
    assert copies
    for line in copies:
        for source in line.split():
            assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
    assert re.search(r"pip install .*\s\.\s", text + " "), "the image installs the project from its pyproject.toml"
    assert "--require-hashes --no-deps -r requirements/lock.txt" in text, "the image installs the lock"
    torch_pin = (REPO / "requirements" / "torch.txt").read_text()
    assert "torch==2.13.0" in torch_pin and "torch==2.13.0+cpu" in text
    assert "jupyterhub" in (REPO / "pyproject.toml").read_text()  # jupyterhub-singleuser comes with it


def test_z2jh_values_reference_what_exists():
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())
    assert "UNTESTED" in (DEPLOY / "z2jh" / "values.yaml").read_text()
    pvc = yaml.safe_load((DEPLOY / "z2jh" / "exchange-pvc.yaml").read_text())
    single = values["singleuser"]
    volumes = {v["name"]: v for v in single["storage"]["extraVolumes"]}
    mounts = {m["name"]: m for m in single["storage"]["extraVolumeMounts"]}
    assert set(volumes) == set(mounts)
    claim = volumes["nbgrader-exchange"]["persistentVolumeClaim"]["claimName"]
    assert claim == pvc["metadata"]["name"] and "ReadWriteMany" in pvc["spec"]["accessModes"]
    image_config = (DEPLOY / "z2jh" / "nbgrader_config.py").read_text()
    assert f'c.Exchange.root = "{mounts["nbgrader-exchange"]["mountPath"]}"' in image_config
    assert single["image"]["name"] in (DEPLOY / "singleuser" / "Dockerfile").read_text()
    admins = set(values["hub"]["config"]["Authenticator"]["admin_users"])
    assert admins <= set(values["hub"]["config"]["Authenticator"]["allowed_users"])


def _unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit's keys (a key may repeat: Environment=)."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


def test_systemd_unit_starts_the_hub_with_the_readme_paths():
    import shutil
    import subprocess

    from autograder.classroom.accounts import ClassFile
    from autograder.classroom.locations import DEFAULT_CLASS_FILE, DEFAULT_PREFIX

    unit = DEPLOY / "gd-five-ways-hub.service"
    keys = _unit(unit)
    exe, flag, config = keys["ExecStart"][0].split()
    assert exe == str(DEFAULT_PREFIX / "venv" / "bin" / "jupyterhub") and flag == "-f"
    assert Path(config).name == "jupyterhub_config.py" and Path(config).parent.name == "deploy"
    env = dict(value.split("=", 1) for value in keys["Environment"])
    assert env["GD_CLASS_FILE"] == str(DEFAULT_CLASS_FILE)
    assert keys["WorkingDirectory"] == [ClassFile().hub_state]  # create-class makes it (root only)
    assert keys["User"] == ["root"] and keys["Restart"] == ["on-failure"]
    readme = (REPO / "README.md").read_text()
    assert "cp -r deploy /opt/gd-five-ways/" in readme and "gd-five-ways-hub.service" in readme
    if shutil.which("systemd-analyze") and Path(exe).exists():
        done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_sample_roster_is_a_roster_create_class_reads(tmp_path):
    from autograder.classroom.accounts import read_roster

    assert read_roster(DEPLOY / "roster.sample.csv") == ["ada", "alan", "grace"]


def test_each_role_sees_its_own_nbgrader_tools(tmp_path, monkeypatch):
    """The role folders create-class writes, read back by JupyterLab's own page-config loader."""
    from jupyterlab_server.config import get_page_config

    from autograder.classroom import roles

    roles.write_role_configs(tmp_path, "/home/teach/c1", {"students": "# students\n", "graders": "# graders\n"})
    bundle = (Path(__import__("sys").prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader")
    shipped = " ".join(p.read_text(errors="replace") for p in bundle.glob("static/*.js"))
    for name in roles.NBGRADER_PLUGINS:  # the plugin ids are nbgrader's own (a rename would show here)
        assert f'"@jupyter/nbgrader:{name}"' in shipped or f"@jupyter/nbgrader:{name}" in shipped, name
    disabled = {}
    for role in roles.ROLES:
        monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / role))
        page = get_page_config([], str(tmp_path / role / "lab-settings"))
        found = page.get("disabledExtensions", [])  # JupyterLab hands the page a list of the disabled ones
        found = [name for name, off in found.items() if off] if isinstance(found, dict) else found
        disabled[role] = {name.split(":")[1] for name in found if name.startswith("@jupyter/nbgrader:")}
    assert disabled["students"] == {"formgrader", "create-assignment", "course-list"}
    assert disabled["graders"] == {"assignment-list", "formgrader"}
    assert disabled["service"] == set()
    server = json.loads((tmp_path / "service" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["root_dir"] == "/home/teach/c1"
    assert server["ServerApp"]["tornado_settings"]["headers"]["Content-Security-Policy"] == "frame-ancestors 'self'"
    students = json.loads((tmp_path / "students" / "jupyter_server_config.json").read_text())
    assert students["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    overrides = json.loads((tmp_path / "students" / "lab-settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert overrides["@jupyterlab/htmlviewer-extension:plugin"]["trustByDefault"] is True
    assert (tmp_path / "students" / "nbgrader_config.py").read_text() == "# students\n"
    assert roles.role_problems(tmp_path) == []


def test_doctor_judges_reachability_not_mode_bits(tmp_path):
    import os

    from autograder.classroom.doctor import who_can_read

    root = tmp_path / "course"
    root.mkdir()
    gradebook = root / "gradebook.db"
    gradebook.write_text("")
    os.chmod(gradebook, 0o644)
    for folder in [tmp_path, *tmp_path.parents]:
        if not os.stat(folder).st_mode & 0o001:
            break
    else:
        os.chmod(root, 0o755)
        assert who_can_read(gradebook) == "every account"
    os.chmod(root, 0o700)
    assert who_can_read(gradebook) is None  # a 0644 file in a 0700 folder: nobody else reaches it
    os.chmod(root, 0o750)
    os.chmod(gradebook, 0o640)
    group_reach = who_can_read(gradebook)
    assert group_reach is None or group_reach.startswith("the group")
    assert who_can_read(gradebook, allowed_gids={os.stat(gradebook).st_gid}) is None


def test_provision_swaps_versions_in_one_exchange_and_ignores_byte_code(tmp_path):
    """The pieces of provision-env's live upgrade, on small folders: the swap keeps exactly one
    complete environment at PREFIX/venv at every moment, and __pycache__ is no change."""
    import os
    import subprocess
    import sys

    from autograder.classroom import provision

    prefix = tmp_path / "prefix"
    (prefix / "venv").mkdir(parents=True)
    (prefix / "venv" / "old").write_text("old")
    nxt = prefix / provision.NEXT
    nxt.mkdir()
    (nxt / "new").write_text("new")
    inode_of_new = os.stat(nxt).st_ino
    how = provision._switch(prefix, prefix / "venv", nxt)
    assert os.stat(prefix / "venv").st_ino == inode_of_new and (prefix / "venv" / "new").exists()
    assert (prefix / provision.PREVIOUS / "old").exists() and not nxt.exists()
    assert "atomic" in how

    source = tmp_path / "source"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(source)], check=True)
    site = next(source.glob("lib/python*/site-packages"))
    (site / "mod.py").write_text("x = 1\n")
    (site / "pkg").mkdir()
    (site / "pkg" / "__init__.py").write_text("")
    before = provision.environment_fingerprint(source)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(site)], check=True)
    assert (site / "__pycache__").is_dir() and (site / "pkg" / "__pycache__").is_dir()
    assert provision.environment_fingerprint(source) == before
    (site / "mod2.py").write_text("y = 2\n")
    assert provision.environment_fingerprint(source) != before  # a new module is a change
