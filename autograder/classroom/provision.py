"""The course environment, placed where every account can run it.

Students' Jupyter servers (and the sandboxed grading kernels) run as ordinary
users.  They cannot use a ``.venv`` whose interpreter lives under root's or the
instructor's home directory (``/root`` is mode 0700; a pyenv interpreter is a
symlink into it).  :func:`provision_environment` builds ``PREFIX/venv``, a
virtual environment every account can read and run:

* the base interpreter (``sys.base_prefix`` of the source) is used as it is when
  an unprivileged user can run it; otherwise its standard library is hard-linked
  (``cp -al``; a real copy across file systems) to ``PREFIX/python`` and the
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

Files are never written in place (hard links share their contents with the
source): every rewritten file is unlinked and written anew.  A fingerprint of the
source is stored in ``PREFIX/.provisioned.json``: a second run with nothing
changed only compares it (well under a second) and returns.
:func:`check_environment` runs the result as an unprivileged user (``setpriv``
to ``nobody`` when run as root) and lists what is wrong.

``python -m autograder provision-env --prefix /opt/gd-five-ways``
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PREFIX = Path(os.environ.get("GD_CLASS_ENV", "/opt/gd-five-ways"))
STAMP = ".provisioned.json"
FORMAT = 1
NOBODY = 65534

#: what ``check_environment`` imports as the unprivileged user
CHECK_IMPORTS = ("course", "autograder", "nbgrader", "jupyterlab", "ipywidgets", "torch", "tensorflow")
#: JupyterLab extensions and Jupyter server extensions students need
LAB_EXTENSIONS = ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager")
SERVER_EXTENSIONS = ("nbgrader.server_extensions.assignment_list",
                     "nbgrader.server_extensions.validate_assignment",
                     "nbgrader.server_extensions.course_list")


class ProvisionError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- helpers

def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"provision-env: {message}", flush=True)


def _pyvenv_cfg(prefix: Path) -> dict[str, str]:
    cfg = prefix / "pyvenv.cfg"
    if not cfg.is_file():
        return {}
    values = {}
    for line in cfg.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _source_layout(source_prefix: Path) -> tuple[Path, str]:
    """(base prefix, 'pythonX.Y') of a virtual environment or a plain prefix."""
    source_prefix = source_prefix.absolute()
    cfg = _pyvenv_cfg(source_prefix)
    exe = source_prefix / "bin" / "python"
    if cfg.get("home"):
        base = Path(cfg["home"]).parent
    elif exe.exists():
        base = Path(os.path.realpath(exe)).parent.parent
    else:
        raise ProvisionError(f"{source_prefix} is not a Python environment (no bin/python)")
    version = cfg.get("version") or cfg.get("version_info")
    if version:
        major_minor = ".".join(version.split(".")[:2])
    else:
        out = subprocess.run([str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             check=True, capture_output=True, text=True).stdout.strip()
        major_minor = out
    return base.resolve(), f"python{major_minor}"


def _world_runnable(path: Path) -> bool:
    """Can an account with no special groups reach and read ``path`` (by mode bits)?"""
    path = Path(os.path.realpath(path))
    for parent in [*reversed(path.parents)]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


def _base_usable(base: Path, pyname: str) -> bool:
    exe = base / "bin" / pyname
    libdir = base / "lib"
    needed = [exe, base / "lib" / pyname / "os.py"]
    needed += list(libdir.glob("libpython*.so*"))
    return exe.exists() and all(_world_runnable(p) for p in needed)


def _copy_tree(src: Path, dst: Path) -> str:
    """Hard-link copy (``cp -al``) of ``src`` to ``dst``; a real copy where links fail."""
    if dst.exists() or dst.is_symlink():
        _remove(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["cp", "-al", str(src), str(dst)], capture_output=True, text=True)
    if done.returncode == 0:
        return "hard links"
    _remove(dst)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return "copy"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` by a new file (never writes into a hard-linked inode)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    os.chmod(path, mode)


def _patch_runpath(binary: Path, new: bytes = b"$ORIGIN/../lib") -> str | None:
    """Make an ELF file's DT_RUNPATH/DT_RPATH ``new`` in place (it must be a private copy).

    Returns the old value, or None when the file has none.
    """
    data = bytearray(binary.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ProvisionError(f"{binary}: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for _name, sh_type, _f, _a, offset, size, link, _i, _al, entsize in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                start = strtab_offset + value
                end = data.index(0, start)
                old = bytes(data[start:end])
                if old == new:
                    return old.decode()
                if len(new) > len(old):
                    raise ProvisionError(f"{binary}: RUNPATH {old!r} is shorter than {new!r}")
                data[start:end] = new + b"\0" * (len(old) - len(new))
                _write_new(binary, bytes(data), os.stat(binary).st_mode & 0o7777)
                return old.decode()
    return None


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
                for name in sorted(files):
                    st = os.lstat(os.path.join(root, name))
                    digest.update(f"{root}/{name} {st.st_size} {st.st_mtime_ns}".encode())
        else:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
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


def _editable_projects(site_packages: Path) -> tuple[dict[str, Path], list[Path]]:
    """Packages of editable installs (setuptools' ``__editable__`` finders) and their files."""
    mapping: dict[str, Path] = {}
    files: list[Path] = []
    for finder in sorted(site_packages.glob("__editable___*_finder.py")):
        match = re.search(r"^MAPPING\s*(?::[^=]*)?=\s*(\{.*?\})\s*$", finder.read_text(), re.M)
        if not match:
            continue
        for name, path in ast.literal_eval(match.group(1)).items():
            mapping[name] = Path(path)
        files.append(finder)
        stem = finder.name[len("__editable___"):-len("_finder.py")]
        files += [p for p in site_packages.glob("__editable__.*.pth")
                  if p.name.replace("-", "_").replace(".", "_").startswith(f"__editable___{stem}")]
    return mapping, files


# ----------------------------------------------------------------------------- provisioning

def provision_environment(prefix: Path, source_prefix: Path = Path(sys.prefix), *,
                          vendor_project: bool = True, check: bool = True,
                          quiet: bool = False) -> Path:
    """Build (or bring up to date) ``prefix/venv`` from ``source_prefix``; return its python.

    Idempotent: when the source has not changed since the last successful run this
    only compares a fingerprint.  Raises :class:`ProvisionError` when the result
    does not run as an unprivileged user (with ``check=True``).
    """
    prefix = Path(prefix).absolute()
    source_prefix = Path(source_prefix).absolute()
    venv = prefix / "venv"
    python = venv / "bin" / "python"
    if source_prefix == prefix or source_prefix == venv:
        raise ProvisionError("the source environment and the prefix are the same")
    base, pyname = _source_layout(source_prefix)
    site_src = source_prefix / "lib" / pyname / "site-packages"
    projects, editable_files = _editable_projects(site_src) if vendor_project else ({}, [])
    project_dirs = [path for path in projects.values() if path.is_dir()]

    prefix.mkdir(parents=True, exist_ok=True)
    os.chmod(prefix, 0o755)
    with open(prefix / ".provision.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint, project_print = _fingerprint(source_prefix, base, pyname, project_dirs)
        stamp_path = prefix / STAMP
        try:
            stamp = json.loads(stamp_path.read_text())
        except (OSError, ValueError):
            stamp = {}
        started = time.monotonic()
        if stamp.get("fingerprint") == fingerprint and python.exists():
            if stamp.get("project") == project_print:
                _log(f"{venv} is up to date", quiet)
                return python
            _copy_projects(projects, editable_files, venv / "lib" / pyname / "site-packages")
            if check:
                problems = check_environment(python, imports=tuple(projects))
                if problems:
                    raise ProvisionError("the provisioned environment does not work for other accounts:\n  "
                                         + "\n  ".join(problems))
            stamp["project"] = project_print
            stamp_path.write_text(json.dumps(stamp, indent=1))
            _log(f"project packages updated ({', '.join(sorted(projects))}) in "
                 f"{time.monotonic() - started:.1f} s", quiet)
            return python

        stamp_path.unlink(missing_ok=True)
        # 1. an interpreter every account can run
        if _base_usable(base, pyname):
            base_python = base / "bin" / pyname
            how_base = f"the base interpreter {base_python} as it is"
        else:
            target = prefix / "python"
            _remove(target)
            (target / "bin").mkdir(parents=True)
            (target / "lib").mkdir()
            how = _copy_tree(base / "lib" / pyname, target / "lib" / pyname)
            site = target / "lib" / pyname / "site-packages"
            _remove(site)  # the venv does not see the base's site-packages
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
            old = _patch_runpath(base_python)
            for alias in ("python3", "python"):
                (target / "bin" / alias).symlink_to(pyname)
            for folder in (target, target / "bin", target / "lib"):
                os.chmod(folder, 0o755)
            how_base = (f"the base interpreter {base} ({how}; RUNPATH {old} -> $ORIGIN/../lib) "
                        f"in {target}")
        _log(f"interpreter: {how_base}", quiet)

        # 2. the virtual environment, with the source's packages
        _remove(venv)
        subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(venv)], check=True)
        site_dst = venv / "lib" / pyname / "site-packages"
        how_site = _copy_tree(site_src, site_dst)
        for name in ("share", "etc", "include"):
            if (source_prefix / name).exists():
                _copy_tree(source_prefix / name, venv / name)
        _log(f"site-packages, share/, etc/ from {source_prefix} ({how_site})", quiet)

        # 3. scripts and config that name the source environment
        old_bytes, new_bytes = str(source_prefix).encode(), str(venv).encode()
        rewritten = 0
        for entry in sorted((source_prefix / "bin").iterdir()):
            dst = venv / "bin" / entry.name
            if entry.name.startswith(("python", "activate", "Activate")) or entry.name == "__pycache__":
                continue
            if entry.is_symlink():
                _remove(dst)
                dst.symlink_to(os.readlink(entry))
                continue
            if not entry.is_file():
                continue
            data = entry.read_bytes()
            if old_bytes in data[:1024] and b"\0" not in data[:1024]:
                data = data.replace(old_bytes, new_bytes)
                rewritten += 1
            _write_new(dst, data, entry.stat().st_mode & 0o7777)
        for folder in (venv / "share" / "jupyter" / "kernels", venv / "etc" / "jupyter"):
            for path in folder.rglob("*.json") if folder.exists() else []:
                data = path.read_bytes()
                if old_bytes in data:
                    _write_new(path, data.replace(old_bytes, new_bytes), 0o644)
                    rewritten += 1
        _log(f"{rewritten} scripts and config files now name {venv}", quiet)

        # 4. the project (editable install) copied in
        if projects:
            _copy_projects(projects, editable_files, site_dst)
            _log(f"project packages copied in: {', '.join(sorted(projects))}", quiet)

        _open_directories(venv)
        _log(f"built in {time.monotonic() - started:.1f} s", quiet)

        if check:
            problems = check_environment(python)
            if problems:
                raise ProvisionError("the provisioned environment does not work for other accounts:\n  "
                                     + "\n  ".join(problems))
        stamp_path.write_text(json.dumps({"fingerprint": fingerprint, "project": project_print,
                                          "source": str(source_prefix),
                                          "python": str(python), "built": time.time()}, indent=1))
        return python


def _copy_projects(projects: dict[str, Path], editable_files: list[Path], site_dst: Path) -> None:
    """Real copies of the editable project's packages; its ``__editable__`` hooks removed."""
    for path in editable_files:
        (site_dst / path.name).unlink(missing_ok=True)
    for name, path in projects.items():
        dst = site_dst / name
        _remove(dst)
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


# ----------------------------------------------------------------------------- checking

def as_user_command(uid: int | None = None, gid: int | None = None) -> list[str]:
    """The prefix that runs a command as an unprivileged account (empty unless root)."""
    if os.geteuid() != 0:
        return []
    uid = NOBODY if uid is None else uid
    gid = uid if gid is None else gid
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def check_environment(python: Path, uid: int | None = None, imports: tuple[str, ...] | None = None) -> list[str]:
    """What is wrong with ``python`` for an unprivileged account (empty: nothing).

    ``imports`` given: only those modules are imported (no extension listing).
    """
    python = Path(python)
    problems: list[str] = []
    if not python.exists():
        return [f"{python} does not exist: run `python -m autograder provision-env`"]
    bindir = python.parent
    with tempfile.TemporaryDirectory(prefix="gd-provision-check-") as home:
        os.chmod(home, 0o1777)
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
               "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
               "JUPYTER_RUNTIME_DIR": f"{home}/runtime", "IPYTHONDIR": f"{home}/.ipython",
               "MPLCONFIGDIR": f"{home}/mpl", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONNOUSERSITE": "1"}
        runner = as_user_command(uid)
        who = "nobody" if runner and uid is None else (f"uid {uid}" if runner else "this account")

        def run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
            return subprocess.run(runner + args, env=env, cwd=home, capture_output=True, text=True,
                                  timeout=timeout)

        code = ("import importlib, sys\n"
                f"for name in {tuple(imports or CHECK_IMPORTS)!r}:\n"
                "    importlib.import_module(name)\n"
                "print(sys.prefix)\n")
        done = run([str(python), "-c", code])
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            problems.append(f"as {who}, `{python} -c 'import {', '.join(imports or CHECK_IMPORTS)}'` failed: "
                            + " | ".join(tail))
            return problems
        if imports is not None:
            return problems
        done = run([str(bindir / "jupyter"), "labextension", "list"], timeout=120)
        listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        for name in LAB_EXTENSIONS:
            if not re.search(rf"{re.escape(name)} v\S+ enabled OK", listing):
                problems.append(f"as {who}, JupyterLab extension {name} is not enabled "
                                f"(`jupyter labextension list`)")
        done = run([str(bindir / "jupyter"), "server", "extension", "list"], timeout=120)
        listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        for name in SERVER_EXTENSIONS:
            if not re.search(rf"^\s*{re.escape(name)} enabled", listing, re.M):
                problems.append(f"as {who}, server extension {name} is not enabled "
                                f"(`jupyter server extension list`)")
    return problems


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
    parser.add_argument("--no-check", action="store_true", help="do not run it as nobody afterwards")


def run_command(args) -> int:
    started = time.monotonic()
    try:
        python = provision_environment(args.prefix, args.source_prefix, check=not args.no_check)
    except (ProvisionError, subprocess.CalledProcessError, OSError) as error:
        print(f"provision-env: {error}", file=sys.stderr)
        return 2
    print(f"provision-env: {python} ready for every account ({time.monotonic() - started:.1f} s); "
          f"put {python.parent} first on PATH (the hub's spawner does)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
