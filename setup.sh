#!/usr/bin/env bash
# One set-up for a fresh Debian machine: a virtualenv in .venv with the package and its test tools.
# Idempotent; the lab's own rootfs (Docker, CRIU) is built by the lab on first use, not here.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! "$PY" -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# Bytecode once: where PYTHONDONTWRITEBYTECODE is set (it is on these machines) Python would otherwise
# recompile the package on every command, a third of a small command's time.
.venv/bin/python -m compileall -q forensics
# The HTML report's browser tests drive Debian's Chromium headless; only root can install it.
if [ "$(id -u)" = 0 ] && [ ! -x /usr/bin/chromium ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
