"""The course environment, placed where every account can run it.

Students' Jupyter servers (and the sandboxed grading kernels) run as ordinary
users.  They cannot use a ``.venv`` whose interpreter lives under root's or the
instructor's home directory (``/root`` is mode 0700; a pyenv interpreter is a
symlink into it).  :func:`provision_environment` builds ``PREFIX/venv``, a
virtual environment every account can read and run:

* the base interpreter (``sys.base_prefix`` of the source) is used as it is when
  an unprivileged user can run it; otherwise its standard library is hard-linked
  (``cp -al``; a real copy across file systems) to ``PREFIX/python-<tag>`` and the
  interpreter binary is copied with its ``RUNPATH`` made relative
  (``$ORIGIN/../lib``), so it finds its own ``libpython`` and not root's;
* ``PREFIX/venv`` is created from that interpreter (``-m venv --without-pip``);
  the source environment's ``site-packages``, ``share/`` (JupyterLab extensions:
  nbgrader's Assignments and Validate, ipywidgets) and ``etc/`` (the server
  extensions' config) are hard-linked in; ``bin/`` scripts are copied with their
  shebangs pointing at the new interpreter;
* the project itself (an editable install pointing into the repository) is
  copied into ``site-packages`` so the environment does not depend on the
  repository being readable (or being bound into a sandbox).

Each build is a new version, made beside the live one in ``PREFIX/.venv-next``
(naming ``PREFIX/venv``, where it will live), checked as an unprivileged account,
and only then swapped with ``PREFIX/venv`` by one atomic
``renameat2(RENAME_EXCHANGE)``: nothing ever sees a half-built environment, and a
failed build leaves the live one as it was.  The version before moves to
``PREFIX/.venv-previous`` (kept until the next upgrade).  The copy of the base
interpreter, where one is needed, is ``PREFIX/python-<tag>``: one per base
interpreter, shared by every version built from it.  Servers already running keep
the code they have loaded and their interpreter; modules they import afterwards,
and every new server and kernel, come from the new version.  (A symlink would
not do: the grading sandbox shows the environment at its real path, and a
``sys.executable`` through the link is not found inside it.)

Files are never written in place (hard links share their contents with the
source): every rewritten file is unlinked and written anew.  A fingerprint of the
source (names, sizes and mtimes; ``__pycache__`` left out, so byte-compiling the
source is no change) is stored in ``PREFIX/.provisioned.json``: a second run with
nothing changed only compares it (well under a second) and returns.
:func:`check_environment` runs the result as an unprivileged user (``setpriv``
to ``nobody`` when run as root) and lists what is wrong.

``python -m autograder provision-env --prefix /opt/gd-five-ways``
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from .env_check import check_environment
from .locations import DEFAULT_PREFIX
from .venv_files import (
    ProvisionError, base_usable, copy_tree, editable_projects, patch_runpath, pyvenv_cfg, remove,
    source_layout, write_new,
)

STAMP = ".provisioned.json"
NEXT, PREVIOUS = ".venv-next", ".venv-previous"  # the version being built; the one live before
FORMAT = 2  # 2: versions beside the live one, __pycache__ ignored


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"provision-env: {message}", flush=True)


def _fingerprint(source_prefix: Path, base: Path, pyname: str, project_dirs: list[Path]) -> tuple[str, str]:
    """Cheap signatures (names, sizes, mtimes) of the environment and of the project's packages."""
    digest = hashlib.sha256()
    digest.update(f"{FORMAT} {source_prefix} {base} {pyname}".encode())

    def add_entries(folder: Path, recursive: bool) -> None:
        if not folder.exists():
            digest.update(f"missing {folder}".encode())
            return
        if recursive:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(f for f in files if not f.endswith((".pyc", ".pyo"))):
                    st = os.lstat(os.path.join(root, name))
                    digest.update(f"{root}/{name} {st.st_size} {st.st_mtime_ns}".encode())
        else:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name == "__pycache__":
                    continue  # byte-compiling the source is not a change
                if entry.is_dir(follow_symlinks=False):
                    digest.update(f"{entry.name}/".encode())  # a folder's mtime moves when Python writes in it
                    continue
                st = entry.stat(follow_symlinks=False)
                digest.update(f"{entry.name} {st.st_size} {st.st_mtime_ns}".encode())

    add_entries(source_prefix / "lib" / pyname / "site-packages", recursive=False)
    for dist in sorted((source_prefix / "lib" / pyname / "site-packages").glob("*.dist-info")):
        add_entries(dist, recursive=False)
    add_entries(source_prefix / "bin", recursive=False)
    add_entries(source_prefix / "etc", recursive=True)
    add_entries(source_prefix / "share" / "jupyter", recursive=True)
    environment = digest.hexdigest()
    digest = hashlib.sha256()
    for project in project_dirs:
        add_entries(project, recursive=True)
    return environment, digest.hexdigest()


def environment_fingerprint(source_prefix: Path = Path(sys.prefix)) -> str:
    """The fingerprint of the source environment (its project's own files left out) that decides a rebuild."""
    source_prefix = Path(source_prefix).absolute()
    base, pyname = source_layout(source_prefix)
    return _fingerprint(source_prefix, base, pyname, [])[0]


# ----------------------------------------------------------------------------- provisioning

def provision_environment(prefix: Path, source_prefix: Path = Path(sys.prefix), *,
                          vendor_project: bool = True, check: bool = True,
                          quiet: bool = False, force: bool = False) -> Path:
    """Build (or bring up to date) ``prefix/venv`` from ``source_prefix``; return its python.

    Idempotent: when the source has not changed since the last successful run this
    only compares a fingerprint (``force``: build anyway).  A change is built beside
    the live environment and swapped in atomically (see the module's docstring).
    Raises :class:`ProvisionError` when the result does not run as an unprivileged
    user (with ``check=True``); the live environment is then left as it was.
    """
    prefix = Path(prefix).absolute()
    source_prefix = Path(source_prefix).absolute()
    live = prefix / "venv"
    if source_prefix in (prefix, live) or prefix in source_prefix.parents:
        raise ProvisionError("the source environment is inside the prefix")
    base, pyname = source_layout(source_prefix)
    site_src = source_prefix / "lib" / pyname / "site-packages"
    projects, editable_files = editable_projects(site_src) if vendor_project else ({}, [])
    project_dirs = [path for path in projects.values() if path.is_dir()]

    prefix.mkdir(parents=True, exist_ok=True)
    os.chmod(prefix, 0o755)
    with open(prefix / ".provision.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"waiting for another provision-env on {prefix} to finish...", quiet)
            fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint, project_print = _fingerprint(source_prefix, base, pyname, project_dirs)
        stamp_path = prefix / STAMP
        try:
            stamp = json.loads(stamp_path.read_text())
        except (OSError, ValueError):
            stamp = {}
        if (not force and stamp.get("fingerprint") == fingerprint and stamp.get("project") == project_print
                and (live / "bin" / "python").exists()):
            _log(f"{live} is up to date (version {stamp.get('version', '?')})", quiet)
            return live / "bin" / "python"

        started = time.monotonic()
        version_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{fingerprint[:8]}"
        nxt = prefix / NEXT
        remove(nxt)
        _log(f"building version {version_id} beside the live one (in {nxt})", quiet)
        python = _build(prefix, nxt, live, source_prefix, base, pyname, site_src, projects, editable_files, quiet)
        _log(f"built in {time.monotonic() - started:.1f} s", quiet)
        if check:
            _log("checking it as an unprivileged account (imports, JupyterLab and server extensions)...", quiet)
            checked = time.monotonic()
            problems = check_environment(python)
            if problems:
                remove(nxt)
                raise ProvisionError("the new environment does not work for other accounts (the live one "
                                     "is unchanged):\n  " + "\n  ".join(problems))
            _log(f"checked in {time.monotonic() - checked:.1f} s", quiet)
        how = _switch(prefix, live, nxt)
        _prune_interpreters(prefix)
        stamp_path.write_text(json.dumps({"fingerprint": fingerprint, "project": project_print,
                                          "source": str(source_prefix), "version": version_id,
                                          "python": str(live / "bin" / "python"), "built": time.time()}, indent=1))
        _log(f"version {version_id} is live ({how})", quiet)
        return live / "bin" / "python"


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one system call (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        return True
    return False


def _switch(prefix: Path, live: Path, nxt: Path) -> str:
    """Make ``nxt`` the live environment; the one before moves to ``PREFIX/.venv-previous``."""
    previous = prefix / PREVIOUS
    if not live.exists():
        os.rename(nxt, live)
        return "first version"
    if _rename_exchange(nxt, live):
        remove(previous)
        os.rename(nxt, previous)
        return f"one atomic exchange; the version before is in {previous}"
    remove(previous)
    os.rename(live, previous)  # no renameat2 here: two renames, a moment without an environment
    os.rename(nxt, live)
    return f"two renames (this file system cannot exchange); the version before is in {previous}"


def _prune_interpreters(prefix: Path) -> None:
    """Interpreter copies that neither the live environment nor the one before uses."""
    used = set()
    for venv in (prefix / "venv", prefix / PREVIOUS):
        home = pyvenv_cfg(venv).get("home")
        if home:
            used.add(Path(home).parent)
    for folder in [prefix / "python", *prefix.glob("python-*")]:
        if folder.is_dir() and folder not in used:
            remove(folder)


def _build(prefix: Path, venv: Path, live: Path, source_prefix: Path, base: Path, pyname: str, site_src: Path, projects: dict, editable_files: list, quiet: bool) -> Path:
    """The interpreter (where needed), the venv in ``venv`` naming ``live`` (where it will be), its
    scripts, the project and the sandbox's kernelspec.  Returns its python."""
    python = venv / "bin" / "python"
    # 1. an interpreter every account can run
    if base_usable(base, pyname):
        base_python = base / "bin" / pyname
        how_base = f"the base interpreter {base_python} as it is"
    else:
        # One copy per base interpreter, shared by the versions built from it: an upgrade of the
        # packages never removes the standard library a running server still imports from.
        exe_stat = os.stat(os.path.realpath(base / "bin" / pyname))
        tag = hashlib.sha256(f"{base} {pyname} {exe_stat.st_size} {exe_stat.st_mtime_ns}".encode()).hexdigest()[:10]
        target = prefix / f"python-{tag}"
        base_python = target / "bin" / pyname
        if (target / ".complete").exists() and base_python.exists():
            how_base = f"the copy of the base interpreter {base} already in {target}"
        else:
            remove(target)
            (target / "bin").mkdir(parents=True)
            (target / "lib").mkdir()
            how = copy_tree(base / "lib" / pyname, target / "lib" / pyname)
            site = target / "lib" / pyname / "site-packages"
            remove(site)  # the venv does not see the base's site-packages
            site.mkdir()
            for lib in base.glob("lib/libpython*.so*"):
                dst = target / "lib" / lib.name
                if lib.is_symlink():
                    dst.symlink_to(os.readlink(lib))
                else:
                    try:
                        os.link(lib, dst)
                    except OSError:
                        shutil.copy2(lib, dst)
            real_exe = Path(os.path.realpath(base / "bin" / pyname))
            base_python = target / "bin" / pyname
            shutil.copy2(real_exe, base_python)  # a private copy: its RUNPATH is patched
            old = patch_runpath(base_python)
            for alias in ("python3", "python"):
                (target / "bin" / alias).symlink_to(pyname)
            for folder in (target, target / "bin", target / "lib"):
                os.chmod(folder, 0o755)
            (target / ".complete").touch()
            how_base = f"the base interpreter {base} ({how}; RUNPATH {old} -> $ORIGIN/../lib) in {target}"
    _log(f"interpreter: {how_base}", quiet)

    # 2. the virtual environment, with the source's packages
    subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    site_dst = venv / "lib" / pyname / "site-packages"
    how_site = copy_tree(site_src, site_dst)
    for name in ("share", "etc", "include"):
        if (source_prefix / name).exists():
            copy_tree(source_prefix / name, venv / name)
    _log(f"site-packages, share/, etc/ from {source_prefix} ({how_site})", quiet)

    # 3. scripts and config that name the source environment
    old_bytes, new_bytes = str(source_prefix).encode(), str(live).encode()  # where it will be live
    rewritten = 0
    for entry in sorted((source_prefix / "bin").iterdir()):
        dst = venv / "bin" / entry.name
        if entry.name.startswith(("python", "activate", "Activate")) or entry.name == "__pycache__":
            continue
        if entry.is_symlink():
            remove(dst)
            dst.symlink_to(os.readlink(entry))
            continue
        if not entry.is_file():
            continue
        data = entry.read_bytes()
        if old_bytes in data[:1024] and b"\0" not in data[:1024]:
            data = data.replace(old_bytes, new_bytes)
            rewritten += 1
        write_new(dst, data, entry.stat().st_mode & 0o7777)
    for folder in (venv / "share" / "jupyter" / "kernels", venv / "etc" / "jupyter"):
        for path in folder.rglob("*.json") if folder.exists() else []:
            data = path.read_bytes()
            if old_bytes in data:
                write_new(path, data.replace(old_bytes, new_bytes), 0o644)
                rewritten += 1
    _log(f"{rewritten} scripts and config files now name {live}", quiet)

    # 4. the project (editable install) copied in; the grading sandbox's kernelspec
    if projects:
        _copy_projects(projects, editable_files, site_dst)
        _log(f"project packages copied in: {', '.join(sorted(projects))}", quiet)
    if "autograder" in projects or (site_dst / "autograder").is_dir():
        subprocess.run([str(python), "-c", "from autograder.sandbox.kernelspec import ensure_kernelspec as e; "
                        "assert e(), 'read-only'"], check=True, capture_output=True, text=True,
                       env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(venv)})
    _open_directories(venv)
    return python


def _copy_projects(projects: dict[str, Path], editable_files: list[Path], site_dst: Path) -> None:
    """Real copies of the editable project's packages; its ``__editable__`` hooks removed."""
    for path in editable_files:
        (site_dst / path.name).unlink(missing_ok=True)
    for name, path in projects.items():
        dst = site_dst / name
        remove(dst)
        if path.is_dir():
            shutil.copytree(path, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            shutil.copy2(path, dst)
    _open_directories(site_dst)


def _open_directories(venv: Path) -> None:
    """Make the venv's directories searchable by all (``cp -al`` creates new ones).

    Files are left alone: a hard link shares its mode with the source's file, so
    widening it would change the instructor's environment too.  Unreadable files
    show up in :func:`check_environment` instead.
    """
    for root, dirs, _files in os.walk(venv):
        for d in dirs:
            path = os.path.join(root, d)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode) and (st.st_mode & 0o055) != 0o055:
                os.chmod(path, st.st_mode | 0o055)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="gd-autograder provision-env", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


def add_arguments(parser) -> None:
    parser.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX,
                        help=f"where to build it (default $GD_CLASS_ENV or {DEFAULT_PREFIX})")
    parser.add_argument("--from", dest="source_prefix", type=Path, default=Path(sys.prefix),
                        help="the environment to copy (default: this one)")
    parser.add_argument("--no-check", action="store_true", help="do not run it as nobody before it goes live")
    parser.add_argument("--force", action="store_true", help="build a new version even if nothing changed")


def run_command(args) -> int:
    started = time.monotonic()
    try:
        python = provision_environment(args.prefix, args.source_prefix, check=not args.no_check,
                                       force=args.force)
    except (ProvisionError, subprocess.CalledProcessError, OSError) as error:
        print(f"provision-env: {error}", file=sys.stderr)
        return 2
    print(f"provision-env: {python} ready for every account ({time.monotonic() - started:.1f} s); "
          f"put {python.parent} first on PATH (the hub's spawner does)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
