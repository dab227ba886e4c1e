"""pyproject.toml and environment.yml must ask for the same packages with the same pins."""

import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> tuple[str, str, str]:
    req = Requirement(spec)
    return (re.sub(r"[-_.]+", "-", req.name.lower()), str(req.specifier), str(req.marker or ""))


def _pyproject_requirements() -> set:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    return {_normalise(s) for s in specs}


def _environment_requirements() -> set:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_normalise(s) for s in pip_section}


def test_environment_yml_and_pyproject_agree():
    from_pyproject = _pyproject_requirements()
    from_env = _environment_requirements()
    assert from_pyproject - from_env == set(), "in pyproject.toml but not environment.yml"
    assert from_env - from_pyproject == set(), "in environment.yml but not pyproject.toml"


def test_required_pins_are_present():
    reqs = {name: (spec, marker) for name, spec, marker in _pyproject_requirements()}
    assert reqs["torch"][0] == "==2.13.0"
    assert reqs["nbgrader"][0] == "==0.9.*"
    assert reqs["jupyterlab"][0].startswith("==4")
    assert reqs["ipywidgets"][0] == "==8.*"
    assert reqs["tensorflow-cpu"] == ("==2.21.*", 'sys_platform == "linux"')
    assert reqs["tensorflow"] == ("==2.21.*", 'sys_platform != "linux"')
    assert set(reqs["keras"][0].split(",")) == {">=3.10", "<4"}


def test_environment_yml_python_is_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    assert version("torch").split("+")[0] == "2.13.0"
    assert version("nbgrader").startswith("0.9.")
    assert version("jupyterlab").startswith("4.")
    assert version("keras").startswith("3.")
    tf_dist = "tensorflow-cpu" if sys.platform == "linux" else "tensorflow"
    assert version(tf_dist).startswith("2.21.")
