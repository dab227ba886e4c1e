#!/usr/bin/env bash
# `make lock`: re-resolve pyproject.toml's ranges into the exact, hash-checked versions that
# tools/setup_env.sh installs everywhere (students, the grader, CI, the JupyterHub image).
#
#   requirements/lock.txt   every package, for Linux, macOS and Windows and Python >= 3.10
#                           (one universal file, platform markers inside), each with its sha256
#                           hashes: `--require-hashes` installs refuse anything else.
#   requirements/torch.txt  the one package kept out of the hashed lock: torch, pinned exactly.
#                           Why: PyPI's Linux torch is the CUDA build (gigabytes of nvidia-*
#                           wheels); the CPU build that the course uses has a local version label
#                           (2.13.0+cpu) and comes from PyTorch's CPU index or a machine's own
#                           mirror, whose files are not PyPI's, so no single set of hashes fits
#                           every machine. setup_env.sh installs it in its own step (see there).
#                           torch's own dependencies (sympy, networkx, filelock, ...) ARE in the
#                           hashed lock; the CUDA-only ones (nvidia-*, cuda-*, triton) are not.
#   requirements/uv.txt     the installer itself, pinned with hashes (setup_env.sh pip-installs it).
#
# Resolves against PyPI (uv does not read pip's configuration, so a machine's pip mirror does not
# narrow the choice of versions). Needs the network; takes well under a minute.
# Upgrade everything within the ranges:  make lock LOCK_ARGS=--upgrade
# Upgrade one package:                   make lock LOCK_ARGS='--upgrade-package jupyterlab'
set -euo pipefail
cd "$(dirname "$0")/.."

out=requirements
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gd-lock.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# uv: the venv's (setup_env.sh puts it there), one on PATH, or a throw-away one from requirements/uv.txt.
if [ -x .venv/bin/uv ]; then
    uv=.venv/bin/uv
elif command -v uv >/dev/null 2>&1; then
    uv=$(command -v uv)
else
    echo "lock: installing uv into a temporary environment"
    python3 -m venv "$tmp/uv-env"
    "$tmp/uv-env/bin/python" -m pip install -q --require-hashes -r "$out/uv.txt"
    uv="$tmp/uv-env/bin/uv"
fi
echo "lock: $("$uv" --version)"

# setup_env.sh builds the course with --no-build-isolation, so the build backend is locked too.
python=$(command -v python3.11 || command -v python3)
"$python" - >"$tmp/build.in" <<'EOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))
EOF

compile=("$uv" pip compile --universal --python-version 3.10 --extra test --quiet
         --no-header --no-annotate ${LOCK_ARGS:-})
# uv keeps the versions already in the --output-file unless told to upgrade: seed it with the lock.
if [ -f "$out/lock.txt" ]; then cp "$out/lock.txt" "$tmp/pass1.txt"; fi

# Pass 1: resolve (torch as PyPI describes it) to learn torch's version and its CUDA-only packages.
echo "lock: resolving pyproject.toml (+ test extra, + build backend) for Linux, macOS and Windows"
"${compile[@]}" pyproject.toml "$tmp/build.in" --output-file "$tmp/pass1.txt" >/dev/null
torch_pin=$(grep -E '^torch==' "$tmp/pass1.txt" | sed -E 's/ *;.*//' | sort -u)
if [ "$(echo "$torch_pin" | wc -l)" -ne 1 ] || [ -z "$torch_pin" ]; then
    echo "lock: expected exactly one torch version, got: ${torch_pin:-none}" >&2
    exit 1
fi
cuda_only=$(grep -oE '^(nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+|triton)==' "$tmp/pass1.txt" | sed 's/==//' | sort -u)
no_emit=(--no-emit-package torch)
for p in $cuda_only; do no_emit+=(--no-emit-package "$p"); done

# Pass 2: the same resolution (pass 1's versions preferred), with hashes, without torch and its
# CUDA-only packages.
cp "$tmp/pass1.txt" "$tmp/pass2.txt"
"${compile[@]}" --generate-hashes "${no_emit[@]}" pyproject.toml "$tmp/build.in" --output-file "$tmp/pass2.txt" >/dev/null
count=$(grep -cE '^[A-Za-z0-9]' "$tmp/pass2.txt")
{
    echo "# Every package the course installs, exactly, with hashes. Do not edit: run \`make lock\`."
    echo "# Made by tools/lock.sh (uv $("$uv" --version | awk '{print $2}')) from pyproject.toml; installed by tools/setup_env.sh."
    echo "# Not here, on purpose: torch (requirements/torch.txt says why) and its CUDA-only packages"
    echo "# ($(echo $cuda_only | tr ' ' ',')), which the CPU build does not use."
    cat "$tmp/pass2.txt"
} >"$out/lock.txt"
{
    echo "# torch, pinned exactly, outside the hashed lock. Do not edit: run \`make lock\`."
    echo "# PyPI's Linux wheel of this version is the CUDA build; tools/setup_env.sh installs the CPU"
    echo "# build (+cpu) on Linux from the machine's pip sources or PyTorch's CPU index, and PyPI's"
    echo "# wheel (CPU-only already) on macOS and Windows. Its dependencies are in lock.txt."
    echo "$torch_pin"
} >"$out/torch.txt"
uv_version=$("$uv" --version | awk '{print $2}')
echo "uv==$uv_version" >"$tmp/uv.in"
"$uv" pip compile --universal --generate-hashes --quiet --no-header --no-annotate "$tmp/uv.in" --output-file "$tmp/uv.txt" >/dev/null
{
    echo "# The installer that tools/setup_env.sh pip-installs into .venv (hash-checked). Run \`make lock\` to change."
    cat "$tmp/uv.txt"
} >"$out/uv.txt"
echo "lock: wrote $out/lock.txt ($count packages), $out/torch.txt ($torch_pin), $out/uv.txt (uv $uv_version)"
