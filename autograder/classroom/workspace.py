"""The student's workspace: release every assignment with nbgrader, copy it in, open JupyterLab.

``make lab`` runs ``python -m autograder.classroom.workspace``.  The release
notebooks are made by nbgrader itself (solutions and hidden tests removed)
into a private build folder, then copied into ``workspace/<assignment>/``.
A file the learner already has is never overwritten: re-running ``make lab``
keeps their work and only adds what is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ..config import REPO_ROOT  # the repository: the course root of `make lab`


def list_assignments(source: Path) -> list[str]:
    """Assignment folders under ``source`` that hold a notebook, in course order."""
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def build_releases(source: Path, build: Path) -> Path:
    """Run nbgrader's ``generate_assignment`` for every assignment; return the release folder.

    The build folder has its own throw-away gradebook, so a student's
    ``make lab`` never touches an instructor's ``gradebook.db``.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    build.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.CourseDirectory.root = str(build)
    config.CourseDirectory.source_directory = str(source.resolve())
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.db_url = f"sqlite:///{build / 'release.db'}"
    config.CourseDirectory.course_id = "gd-five-ways"
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    for assignment in list_assignments(source):
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not release {assignment}:\n{result.get('error') or result.get('log')}")
    return build / "release"


def copy_missing(release: Path, workspace: Path) -> tuple[list[Path], list[Path]]:
    """Copy release files into the workspace unless the learner already has them.

    Returns (added, kept): the files copied now and the learner's files left alone.
    """
    added, kept = [], []
    for src in sorted(release.rglob("*")):
        if src.is_dir() or ".ipynb_checkpoints" in src.parts:
            continue
        dest = workspace / src.relative_to(release)
        if dest.exists():
            kept.append(dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        added.append(dest)
    return added, kept


def prepare_workspace(root: Path = REPO_ROOT, workspace: Path | None = None, build: Path | None = None) -> Path:
    """Release the course into ``workspace`` (default ``<root>/workspace``) and return its path."""
    root = Path(root).resolve()
    workspace = Path(workspace or root / "workspace").resolve()
    if not (root / "notebooks").is_dir():
        raise FileNotFoundError(f"no notebooks/ folder in {root}: is --root the course root?")
    release = build_releases(root / "notebooks", Path(build or root / ".workspace_build"))
    added, kept = copy_missing(release, workspace)
    print(f"workspace: {workspace}")
    print(f"  {len(added)} file(s) added from the releases, {len(kept)} of yours kept as they are")
    if kept:
        print("  (to start an assignment afresh, rename your copy and run `make lab` again)")
    return workspace


def has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def lab_command(workspace: Path, *, port: int, ip: str, token: str | None, open_browser: bool) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}", f"--port={port}",
           f"--ip={ip}", "--ServerApp.port_retries=0",
           # The grading sandbox's kernelspec lives in the same environment; students use their own.
           "--KernelSpecManager.allowed_kernelspecs=['python3']"]
    if not open_browser:
        cmd.append("--no-browser")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.classroom.workspace", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("GD_COURSE_ROOT", REPO_ROOT)),
                        help="course root holding notebooks/ (default: this repository)")
    parser.add_argument("--workspace", type=Path, default=None, help="where the learner works (default: ROOT/workspace)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8888)))
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--token", default=None, help="access token (default: JupyterLab makes one and prints the URL)")
    parser.add_argument("--no-browser", action="store_true", help="don't open a browser (automatic without a display)")
    parser.add_argument("--prepare-only", action="store_true", help="release into the workspace and stop")
    args = parser.parse_args(argv)

    try:
        workspace = prepare_workspace(args.root, args.workspace)
    except (RuntimeError, FileNotFoundError) as err:
        print(f"make lab: {err}", file=sys.stderr)
        return 1
    if args.prepare_only:
        return 0
    cmd = lab_command(workspace, port=args.port, ip=args.ip, token=args.token,
                      open_browser=not args.no_browser and has_display())
    print(f"starting JupyterLab on http://{args.ip}:{args.port}/lab (Ctrl-C to stop)", flush=True)
    os.execv(cmd[0], cmd)  # hand the terminal to JupyterLab: Ctrl-C stops it cleanly


if __name__ == "__main__":
    sys.exit(main())
