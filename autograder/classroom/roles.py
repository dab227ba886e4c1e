"""Each role's Jupyter configuration: what students, graders and the course's formgrader service see.

``create-class`` writes one folder per role under the course's config folder
(``ClassFile.jupyter_config_dir``, default ``/etc/gd-five-ways/<course>``); the
hub (``deploy/jupyterhub_config.py``) points each person's server at theirs with
``JUPYTER_CONFIG_PATH``, so nbgrader itself is never edited:

* ``students/``: nbgrader's course id and exchange, the private submit; JupyterLab
  shows the Assignment List and Validate only (the formgrader, Create Assignment
  and Course List plugins disabled in ``labconfig/page_config.json``, the
  formgrader and course-list server extensions off); HTML files (the feedback)
  open trusted, so its formulas render;
* ``graders/``: the course id (the Course List finds the course's formgrader
  service by it); Create Assignment, Course List and Validate; no Assignment
  List (graders do not submit) and no local formgrader (the course's is the hub
  service, reached from the Course List);
* ``service/``: the formgrader service's server: everything nbgrader has, and a
  ``frame-ancestors 'self'`` policy so its JupyterLab can show the formgrader in a
  tab (jupyterhub-singleuser's default, ``'none'``, forbids even that).

Every role: JupyterLab's "Jupyter news" prompt off (it fetches from the internet).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NBGRADER_PLUGINS = ("assignment-list", "validate-assignment", "formgrader", "create-assignment", "course-list")
NBGRADER_SERVER_EXTENSIONS = ("assignment_list", "validate_assignment", "formgrader", "course_list")

#: the nbgrader JupyterLab plugins and server extensions each role keeps
ROLE_TOOLS = {
    "students": ("assignment-list", "validate-assignment"),
    "graders": ("validate-assignment", "create-assignment", "course-list"),
    "service": NBGRADER_PLUGINS,
}
SERVER_TOOLS = {
    "students": ("assignment_list", "validate_assignment"),
    "graders": ("validate_assignment", "course_list"),
    "service": NBGRADER_SERVER_EXTENSIONS,
}
ROLES = tuple(ROLE_TOOLS)

#: JupyterLab settings every role gets (schema defaults overridden, still changeable by the user)
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
STUDENT_OVERRIDES = {
    # the feedback HTML opens rendered (MathJax runs in the viewer's sandboxed frame): no "Trust HTML" step
    "@jupyterlab/htmlviewer-extension:plugin": {"trustByDefault": True},
}


def role_dir(course_config_dir: Path, role: str) -> Path:
    return Path(course_config_dir) / role


def disabled_plugins(role: str) -> dict[str, bool]:
    return {f"@jupyter/nbgrader:{name}": True for name in NBGRADER_PLUGINS if name not in ROLE_TOOLS[role]}


def server_config(role: str, course_root: str) -> dict:
    extensions = {f"nbgrader.server_extensions.{name}": name in SERVER_TOOLS[role]
                  for name in NBGRADER_SERVER_EXTENSIONS}
    config: dict = {"ServerApp": {"jpserver_extensions": extensions}}
    if role == "service":
        config["ServerApp"]["root_dir"] = course_root
        config["ServerApp"]["tornado_settings"] = {
            "headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
    return config


def lab_overrides(role: str) -> dict:
    overrides = dict(LAB_OVERRIDES)
    if role == "students":
        overrides.update(STUDENT_OVERRIDES)
    return overrides


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    path.write_text(text)
    os.chmod(path, 0o644)


def write_role_configs(course_config_dir: Path, course_root: str, nbgrader_configs: dict[str, str]) -> list[Path]:
    """Write every role's folder; ``nbgrader_configs`` maps a role to its ``nbgrader_config.py`` text."""
    written = []
    Path(course_config_dir).mkdir(parents=True, exist_ok=True)
    os.chmod(course_config_dir, 0o755)
    for role in ROLES:
        folder = role_dir(course_config_dir, role)
        files = {
            folder / "labconfig" / "page_config.json": {"disabledExtensions": disabled_plugins(role)},
            folder / "jupyter_server_config.json": {
                **server_config(role, course_root),
                # overrides.json in an app settings folder of the role's own (the environment has none)
                "LabApp": {"app_settings_dir": str(folder / "lab-settings")},
            },
            folder / "lab-settings" / "overrides.json": lab_overrides(role),
        }
        for path, data in files.items():
            _write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        if role in nbgrader_configs:
            _write(folder / "nbgrader_config.py", nbgrader_configs[role])
        written.append(folder)
    return written


def role_problems(course_config_dir: Path) -> list[str]:
    """For ``doctor``: each role's folder is there and readable by everyone."""
    problems = []
    for role in ROLES:
        folder = role_dir(course_config_dir, role)
        for name in ("labconfig/page_config.json", "jupyter_server_config.json", "lab-settings/overrides.json"):
            path = folder / name
            if not path.is_file():
                problems.append(f"{path} is missing: run `create-class` again")
            elif not os.stat(path).st_mode & 0o004:
                problems.append(f"{path} is not readable by every account (`chmod 644 {path}`)")
    return problems
