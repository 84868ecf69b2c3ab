#!/usr/bin/env bash
# Set up (once) a virtual environment in .venv with phaselib, the dashboards and the test tools, make sure
# Debian's chromium is there for the browser tests, then run the test suite (what CI runs: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
if [ ! -x /usr/bin/chromium ]; then
    echo "Installing Debian's chromium for the browser tests (apt-get)..."
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null \
        || { echo "Could not install chromium: the browser tests need /usr/bin/chromium." >&2; exit 1; }
fi
# two processes (pytest-xdist), each test file in one of them (its module fixtures made once); PHASELIB_TEST_WORKERS=0
# runs it in this process
exec .venv/bin/python -m pytest -q -n "${PHASELIB_TEST_WORKERS:-2}" --dist loadfile "$@"
