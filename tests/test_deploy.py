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
    klass = {"course_id": "gd-five-ways", "instructor": "teach", "students": ["ann", "bo"],
             "env": "/opt/gd-five-ways/venv", "proxy": "/opt/chp", "hub_state": str(tmp_path),
             "jupyter_config_dir": "/etc/jupyter"}
    (tmp_path / "class.json").write_text(json.dumps(klass))
    monkeypatch.setenv("GD_CLASS_FILE", str(tmp_path / "class.json"))
    monkeypatch.delenv("GD_HUB_IP", raising=False)
    monkeypatch.delenv("GD_HUB_API_TOKEN", raising=False)
    c = _load(DEPLOY / "jupyterhub_config.py")
    assert c.JupyterHub.ip == "127.0.0.1"  # loopback unless told otherwise
    assert c.JupyterHub.spawner_class == "localprocess"
    assert c.Authenticator.allowed_users == {"ann", "bo", "teach"}
    assert c.Authenticator.admin_users == {"teach"}
    assert c.Spawner.cmd == ["/opt/gd-five-ways/venv/bin/jupyterhub-singleuser"]
    assert "services" not in c.JupyterHub  # no API token unless one is given


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
