#!/usr/bin/env bash
# System packages the test suite needs, installed with Debian's apt where missing:
#   chromium, chromium-driver, fonts-liberation  -> the browser end-to-end test (tests/test_browser.py)
#   postgresql                                   -> the autograder's PostgreSQL gradebook test
#   bubblewrap                                   -> the grading sandbox (autograder/sandbox, tests/test_sandbox.py)
# `make test` runs this before pytest. CI runs it as root with CI=true and no stdin.
# When everything is already installed it only asks dpkg (well under a second).
set -euo pipefail

packages=(chromium chromium-driver fonts-liberation postgresql bubblewrap)

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "test-setup: this is not a Debian-based system (no dpkg-query)." >&2
    echo "test-setup: install by hand: Chromium + its chromedriver (the browser test expects /usr/bin/chromium) and a PostgreSQL server." >&2
    exit 1
fi

# configurable-http-proxy (npm) -> the JupyterHub class test (tests/test_hub.py).  A real class runs the
# same command (README, "Run a class on JupyterHub").  Into a prefix of its own, not `npm -g`.
chp_prefix="${GD_CLASS_ENV:-/opt/gd-five-ways}/proxy"
if [ "$(id -u)" -eq 0 ] && [ ! -x "$chp_prefix/node_modules/.bin/configurable-http-proxy" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "test-setup: installing configurable-http-proxy into $chp_prefix (npm, first time only)"
        npm install --prefix "$chp_prefix" --no-audit --no-fund --loglevel=error configurable-http-proxy@4 >/dev/null
    else
        echo "test-setup: npm is missing: the JupyterHub test needs configurable-http-proxy (apt-get install npm)" >&2
    fi
fi

missing=()
for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

# Root runs apt directly; anyone else may use sudo only if it needs no password (no stdin in CI).
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "test-setup: missing system packages: ${missing[*]}" >&2
    echo "test-setup: installing them needs root. Run once:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "test-setup: (or run the tests that need none of them: .venv/bin/python -m pytest -m 'not browser and not postgres')" >&2
    exit 1
fi

echo "test-setup: installing ${missing[*]} with apt-get (first time only)"
log=$(mktemp "${TMPDIR:-/tmp}/test-setup-apt.XXXXXX.log")
apt_opts=(-q -y --no-install-recommends -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update \
        && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"; \
     } </dev/null >"$log" 2>&1; then
    echo "test-setup: apt-get could not install ${missing[*]}; the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
fi

still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if [ "${#still_missing[@]}" -ne 0 ]; then
    echo "test-setup: apt-get finished but these are still not installed: ${still_missing[*]} (see $log)" >&2
    exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
    echo "test-setup: the chromium package is installed but /usr/bin/chromium is missing (see $log)" >&2
    exit 1
fi
rm -f "$log"
echo "test-setup: installed ${missing[*]}"
