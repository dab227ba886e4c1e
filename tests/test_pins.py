"""pyproject.toml, environment.yml and the lock (requirements/) must agree.

pyproject.toml holds the ranges a person reads; environment.yml repeats them for conda;
requirements/lock.txt holds the exact versions (with hashes) that tools/setup_env.sh installs, and
requirements/torch.txt the torch pin kept out of the hashed lock (tools/lock.sh says why). When a
test here says the lock is stale, run `make lock` and commit requirements/.
"""

import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQ = ROOT / "requirements"
STALE = "requirements/lock.txt is stale: run `make lock` and commit requirements/"
# Where the lock is meant to install: the systems students use, every Python setup_env.sh may pick.
TARGETS = [
    {"sys_platform": plat, "platform_system": system, "os_name": os_name, "platform_machine": machine,
     "python_version": py, "python_full_version": f"{py}.0", "implementation_name": "cpython",
     "platform_python_implementation": "CPython", "extra": ""}
    for plat, system, os_name, machines in [("linux", "Linux", "posix", ["x86_64", "aarch64"]),
                                            ("darwin", "Darwin", "posix", ["arm64", "x86_64"]),
                                            ("win32", "Windows", "nt", ["AMD64"])]
    for machine in machines
    for py in ["3.10", "3.11", "3.12", "3.13"]
]
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


def _normalise(spec: str) -> tuple[str, str, str]:
    req = Requirement(spec)
    return (_name(req.name), str(req.specifier), str(req.marker or ""))


def _locked(path: Path) -> list[tuple[Requirement, list[str]]]:
    """The entries of a pip-compile style file: (requirement, its hashes), continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, *hashes = re.split(r"\s+--hash=", line)
        entries.append((Requirement(spec), hashes))
    return entries


def _pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", req
    return spec.version


def _lock_for(env: dict) -> dict[str, str]:
    """What the lock installs in one target environment: name -> exact version."""
    chosen: dict[str, str] = {}
    for req, _ in _locked(REQ / "lock.txt"):
        if req.marker is None or req.marker.evaluate(env):
            name = _name(req.name)
            assert name not in chosen, f"two versions of {name} for {env['sys_platform']} {env['python_version']}"
            chosen[name] = _pinned_version(req)
    return chosen


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


def _pyproject_specs() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    return [Requirement(s) for s in specs]


def _torch_pin() -> str:
    (entry,) = _locked(REQ / "torch.txt")
    req, _ = entry
    assert _name(req.name) == "torch" and req.marker is None
    return _pinned_version(req)


def test_the_lock_satisfies_every_pin_of_pyproject_everywhere():
    """Each range in pyproject.toml (test extra included) holds one locked version on each target."""
    for env in TARGETS:
        locked = _lock_for(env)
        for req in _pyproject_specs():
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = _name(req.name)
            if name == "torch":
                version = _torch_pin()
            else:
                assert name in locked, f"{name} is not locked for {env['sys_platform']} py{env['python_version']}: {STALE}"
                version = locked[name]
            assert req.specifier.contains(version, prereleases=True), f"{name}=={version} is outside {req}: {STALE}"


def test_the_lock_also_holds_the_build_backend():
    """setup_env.sh builds the course with --no-build-isolation: setuptools must be locked."""
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for env in TARGETS:
        locked = _lock_for(env)
        for spec in build:
            req = Requirement(spec)
            assert req.specifier.contains(locked[_name(req.name)]), f"{req}: {STALE}"


def test_every_locked_package_is_exact_and_hashed():
    for path in (REQ / "lock.txt", REQ / "uv.txt"):
        entries = _locked(path)
        assert entries, path
        for req, hashes in entries:
            _pinned_version(req)
            assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{req} in {path.name}"


def test_torch_is_pinned_outside_the_lock_at_2_13_0():
    """torch: 2.13.0 (pyproject's pin); not in the hashed lock, nor its CUDA-only packages."""
    assert _torch_pin() == "2.13.0"
    pyproject_torch = next(r for r in _pyproject_specs() if _name(r.name) == "torch")
    assert str(pyproject_torch.specifier) == f"=={_torch_pin()}"
    names = {_name(req.name) for req, _ in _locked(REQ / "lock.txt")}
    assert "torch" not in names
    assert not {n for n in names if CUDA_ONLY.match(n)}, "CUDA-only packages in the lock"


def test_the_lock_holds_what_the_cpu_torch_needs():
    """torch is installed with --no-deps, so its (CPU build's) requirements must come from the lock."""
    for env in TARGETS:
        locked = _lock_for(env)
        for name in ["filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec", "mpmath", "setuptools"]:
            assert name in locked, f"{name} for {env['sys_platform']} py{env['python_version']}: {STALE}"


def test_the_installer_is_pinned():
    ((req, _),) = _locked(REQ / "uv.txt")
    assert _name(req.name) == "uv"


def test_installed_versions_are_the_locks():
    """This environment is the lock's, exactly (else run `make setup`)."""
    from importlib.metadata import PackageNotFoundError, version
    from packaging.markers import default_environment

    env = dict(default_environment(), extra="")
    wrong = {}
    for name, want in _lock_for(env).items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != want:
            wrong[name] = (have, want)
    assert not wrong, f"installed differs from the lock (have, want): {wrong}; run `make setup`"
    assert version("torch").split("+")[0] == _torch_pin()
    if sys.platform == "linux":
        assert version("torch").endswith("+cpu"), "the Linux torch must be the CPU build"
