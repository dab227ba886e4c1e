#!/usr/bin/env bash
# Create .venv and install the project with its pinned dependencies.
# Re-running does nothing when pyproject.toml is unchanged (a stamp keyed on its hash).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
want_hash=$(cat pyproject.toml | sha256sum | cut -c1-16)
stamp="$VENV/.installed-$want_hash"

if [ -f "$stamp" ] && [ -x "$VENV/bin/python" ]; then
    exit 0
fi

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

if [ ! -x "$VENV/bin/python" ]; then
    py=$(pick_python)
    echo "setup: creating $VENV with $($py --version 2>&1)"
    "$py" -m venv "$VENV" || { echo "setup: could not create the virtual environment with $py (on Debian: apt-get install python3-venv)" >&2; exit 1; }
fi

echo "setup: installing the course and its pinned dependencies (first time: several minutes)"
log="$VENV/install.log"
if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e '.[test]'; } >"$log" 2>&1; then
    echo "setup: pip install failed; the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "setup: done"
