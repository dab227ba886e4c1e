#!/usr/bin/env bash
# Create .venv and install the course with the exact versions of requirements/lock.txt.
#
# Re-running does nothing when nothing changed: a stamp keyed on pyproject.toml and the lock files.
# Installs with uv (seconds) and falls back to pip (minutes) where uv cannot be installed, or when
# GD_INSTALLER=pip. Every step says what it does; its output goes to .venv/install.log, and a
# failed step is named with the last lines of that log.
#
#   1. .venv with Python 3.11 (another Python >= 3.10 if there is none).
#   2. uv, pip-installed into .venv from requirements/uv.txt (pinned, hash-checked).
#   3. requirements/lock.txt: every package but torch, exact versions, --require-hashes, no resolving.
#   4. torch, exactly requirements/torch.txt's version, CPU build (see below), --no-deps.
#   5. the course itself (editable, no build isolation: its build backend is in the lock), then
#      `pip check` that every installed package's requirements are met.
#
# Where packages come from. The lock names versions and hashes, never an index, so the same lock
# installs from PyPI, from a mirror, or from a machine's own wheel folders:
#   - pip reads the machine's pip configuration (pip.conf, PIP_* variables) by itself.
#   - uv does not, so this script reads it (`pip config list`) and passes it on: the primary
#     index-url to every step; find-links and extra-index-urls to the torch step, which is what
#     they are usually there for (the lock's packages all come from PyPI, or the primary index).
#     Nothing machine-specific is written into the project.
# torch: PyPI's Linux wheel of torch 2.13.0 is the CUDA build (several GB with its nvidia-*
# packages); the course uses the CPU build, which carries a local version label (2.13.0+cpu) and
# lives on PyTorch's CPU index or a machine's mirror, files whose hashes differ from place to place.
# So torch is pinned outside the hashed lock (requirements/torch.txt), and on Linux this script asks
# for `torch==X+cpu` explicitly: from the machine's pip sources first, else PyTorch's CPU index
# (GD_TORCH_INDEX_URL overrides it). Asking for +cpu means a CUDA build can never be taken by
# accident; no source that has it fails the step. macOS and Windows get PyPI's wheel: CPU-only.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
LOCK=requirements/lock.txt
TORCH_PIN=requirements/torch.txt
UV_PIN=requirements/uv.txt
PYTORCH_CPU_INDEX=${GD_TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}

if command -v sha256sum >/dev/null 2>&1; then sha=(sha256sum); else sha=(shasum -a 256); fi  # macOS: shasum
want_hash=$(cat pyproject.toml "$LOCK" "$TORCH_PIN" "$UV_PIN" | "${sha[@]}" | cut -c1-16)
stamp="$VENV/.installed-$want_hash"

if [ -f "$stamp" ] && [ -x "$VENV/bin/python" ]; then
    exit 0
fi

started=$(date +%s)
steps=5
step=0
ticker=
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true' EXIT

pick_python() {
    if command -v python3.11 >/dev/null 2>&1 && python3.11 -c 'import sys' >/dev/null 2>&1; then
        echo python3.11; return
    fi
    for cand in python3.13 python3.12 python3.10 python3; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$cand"; return
        fi
    done
    echo "setup: no Python >= 3.10 found (Python 3.11 is recommended)" >&2
    exit 1
}

# run_step TITLE COMMAND...: announce the step, run it into the log, say every 15 s that it is still
# going (with the log's last line), and report how long it took. Returns the command's status.
run_step() {
    local title=$1; shift
    step=$((step + 1))
    local t0; t0=$(date +%s)
    printf 'setup [%d/%d] %s\n' "$step" "$steps" "$title"
    printf '\n=== [%d/%d] %s\n' "$step" "$steps" "$title" >>"$log"
    ( while sleep 15; do
          printf 'setup        ... %ss: %s\n' "$(( $(date +%s) - t0 ))" "$(tail -n 1 "$log" | cut -c1-100)"
      done ) &
    ticker=$!
    local rc=0
    "$@" >>"$log" 2>&1 || rc=$?
    kill "$ticker" 2>/dev/null || true
    wait "$ticker" 2>/dev/null || true
    ticker=
    [ "$rc" -eq 0 ] && printf 'setup        ok (%ss)\n' "$(( $(date +%s) - t0 ))"
    return "$rc"
}

fail() {
    echo "setup: step $step/$steps failed ($1); the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
}

# --- 1. the virtual environment -------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    py=$(pick_python)
    step=1
    printf 'setup [1/%d] creating %s with %s\n' "$steps" "$VENV" "$($py --version 2>&1)"
    "$py" -m venv "$VENV" || { echo "setup: could not create the virtual environment with $py (on Debian: apt-get install python3-venv)" >&2; exit 1; }
else
    step=1
    printf 'setup [1/%d] reusing %s (%s)\n' "$steps" "$VENV" "$("$VENV/bin/python" --version 2>&1)"
fi
log="$VENV/install.log"
: >"$log"
py="$VENV/bin/python"

# --- the machine's pip sources, for uv ------------------------------------------------------------
# `pip config list` prints e.g.  global.find-links='/wheels'  and  :env:.extra-index-url='a b'
# (every scope: PIP_* variables, user, site and global files). find-links and extra-index-url are
# collected from all scopes; index-url is taken from the scope pip itself would use.
find_links=()
extra_index=()
index_url=
index_rank=9
while IFS= read -r line; do
    scope=${line%%.*}; rest=${line#*.}; key=${rest%%=*}; value=${rest#*=}
    value=${value#\'}; value=${value%\'}
    case $key in
        find-links) for v in $value; do find_links+=("$v"); done ;;
        extra-index-url) for v in $value; do extra_index+=("$v"); done ;;
        index-url)
            case $scope in :env:) rank=0 ;; site) rank=1 ;; user) rank=2 ;; *) rank=3 ;; esac
            if [ "$rank" -lt "$index_rank" ]; then index_url=$value; index_rank=$rank; fi ;;
    esac
done < <("$py" -m pip config list 2>/dev/null | sort -u || true)
primary=()
[ -z "$index_url" ] || primary=(--index-url "$index_url")
machine_sources=()
for v in ${find_links[@]+"${find_links[@]}"}; do machine_sources+=(--find-links "$v"); done
for v in ${extra_index[@]+"${extra_index[@]}"}; do machine_sources+=(--extra-index-url "$v"); done

# --- 2. the installer -----------------------------------------------------------------------------
uv_version=$(sed -nE 's/^uv==([^ ;\\]+).*/\1/p' "$UV_PIN")
installer=uv
if [ "${GD_INSTALLER:-uv}" = pip ]; then
    installer=pip
    step=2
    printf 'setup [2/%d] installer: pip (GD_INSTALLER=pip; expect minutes rather than seconds)\n' "$steps"
elif [ -x "$VENV/bin/uv" ] && [ "$("$VENV/bin/uv" --version 2>/dev/null | awk '{print $2}')" = "$uv_version" ]; then
    step=2
    printf 'setup [2/%d] installer: uv %s (already in %s)\n' "$steps" "$uv_version" "$VENV"
elif ! run_step "installer: uv $uv_version (pip-installing it, hash-checked)" \
        "$py" -m pip install --require-hashes --no-deps -r "$UV_PIN"; then
    installer=pip
    echo "setup        uv could not be installed here (see $log); falling back to pip: expect minutes rather than seconds"
fi
uv="$VENV/bin/uv"

# --- 3. the locked packages -----------------------------------------------------------------------
if [ "$installer" = uv ]; then
    lock_cmd=("$uv" pip install --python "$py" --require-hashes --no-deps ${primary[@]+"${primary[@]}"} -r "$LOCK")
else
    lock_cmd=("$py" -m pip install --require-hashes --no-deps -r "$LOCK")
fi
run_step "locked packages: $LOCK with $installer (exact versions, hash-checked)" "${lock_cmd[@]}" \
    || fail "installing $LOCK"

# --- 4. torch, CPU build --------------------------------------------------------------------------
torch_version=$(sed -nE 's/^torch==([^ ;]+).*/\1/p' "$TORCH_PIN")
if [ "$(uname -s)" = Linux ]; then torch_spec="torch==$torch_version+cpu"; else torch_spec="torch==$torch_version"; fi

install_torch() {
    local attempt
    if [ "$(uname -s)" != Linux ]; then
        echo "--- $torch_spec from the default index (the CPU build on this system)"
        if [ "$installer" = uv ]; then
            "$uv" pip install --python "$py" --no-deps ${primary[@]+"${primary[@]}"} "$torch_spec"
        else
            "$py" -m pip install --no-deps "$torch_spec"
        fi
        return
    fi
    for attempt in machine pytorch; do
        if [ "$attempt" = machine ]; then
            echo "--- $torch_spec from this machine's pip sources (pip config list)"
            if [ "$installer" = uv ]; then
                [ "${#machine_sources[@]}" -gt 0 ] || { echo "(no find-links or extra-index-url configured)"; continue; }
                "$uv" pip install --python "$py" --no-deps --index-strategy unsafe-best-match \
                    ${primary[@]+"${primary[@]}"} "${machine_sources[@]}" "$torch_spec" && return 0
            else
                "$py" -m pip install --no-deps "$torch_spec" && return 0
            fi
        else
            echo "--- $torch_spec from PyTorch's CPU index $PYTORCH_CPU_INDEX"
            if [ "$installer" = uv ]; then
                "$uv" pip install --python "$py" --no-deps --index-url "$PYTORCH_CPU_INDEX" "$torch_spec" && return 0
            else
                "$py" -m pip install --no-deps --index-url "$PYTORCH_CPU_INDEX" "$torch_spec" && return 0
            fi
        fi
    done
    echo "no source had $torch_spec (the CPU build). Set GD_TORCH_INDEX_URL to an index that has it."
    return 1
}
run_step "$torch_spec (CPU build; pinned in $TORCH_PIN)" install_torch || fail "installing $torch_spec"

# --- 5. the course itself, and a consistency check ------------------------------------------------
install_course() {
    if [ "$installer" = uv ]; then
        "$uv" pip install --python "$py" --no-deps --no-build-isolation -e . && "$uv" pip check --python "$py"
    else
        "$py" -m pip install --no-deps --no-build-isolation -e . && "$py" -m pip check
    fi
}
run_step "the course (editable) and a check that every requirement is met" install_course \
    || fail "installing the course or checking the environment"

rm -f "$VENV"/.installed-*
touch "$stamp"
echo "setup: done in $(( $(date +%s) - started ))s with $installer (log: $log)"
