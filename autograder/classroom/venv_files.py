"""Files of a Python environment: its layout, hard-linked copies, files rewritten without touching
a shared inode, an ELF binary's RUNPATH, the packages of editable installs."""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import struct
import subprocess
from pathlib import Path


class ProvisionError(RuntimeError):
    """The course environment cannot be built or does not work for other accounts."""


def pyvenv_cfg(prefix: Path) -> dict[str, str]:
    cfg = prefix / "pyvenv.cfg"
    if not cfg.is_file():
        return {}
    values = {}
    for line in cfg.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def source_layout(source_prefix: Path) -> tuple[Path, str]:
    """(base prefix, 'pythonX.Y') of a virtual environment or a plain prefix."""
    source_prefix = source_prefix.absolute()
    cfg = pyvenv_cfg(source_prefix)
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


def world_runnable(path: Path) -> bool:
    """Can an account with no special groups reach and read ``path`` (by mode bits)?"""
    path = Path(os.path.realpath(path))
    for parent in [*reversed(path.parents)]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


def base_usable(base: Path, pyname: str) -> bool:
    exe = base / "bin" / pyname
    libdir = base / "lib"
    needed = [exe, base / "lib" / pyname / "os.py"]
    needed += list(libdir.glob("libpython*.so*"))
    return exe.exists() and all(world_runnable(p) for p in needed)


def copy_tree(src: Path, dst: Path) -> str:
    """Hard-link copy (``cp -al``) of ``src`` to ``dst``; a real copy where links fail."""
    if dst.exists() or dst.is_symlink():
        remove(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["cp", "-al", str(src), str(dst)], capture_output=True, text=True)
    if done.returncode == 0:
        return "hard links"
    remove(dst)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return "copy"


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` by a new file (never writes into a hard-linked inode)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    os.chmod(path, mode)


def patch_runpath(binary: Path, new: bytes = b"$ORIGIN/../lib") -> str | None:
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
                write_new(binary, bytes(data), os.stat(binary).st_mode & 0o7777)
                return old.decode()
    return None


def editable_projects(site_packages: Path) -> tuple[dict[str, Path], list[Path]]:
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
