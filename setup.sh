#!/usr/bin/env bash
# Set-up for a fresh Debian machine.
#   ./setup.sh          the main job: a virtualenv in .venv with the package. Installs nothing system-wide
#                       (python3-venv only if this Python has no venv module, as root).
#   ./setup.sh --test   also the test tools: pytest and friends in .venv, and, as root, the Debian packages
#                       listed in tests/apt-packages.txt (a browser for the report tests, qemu for the guest
#                       lab, gdb...), installed with --no-upgrade so no unrelated system package changes.
# Idempotent; the lab's own rootfs (Docker, CRIU) is built by the lab on first use, not here.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;;
  esac
done
apt_install() {
  # Only what is missing, never an upgrade of what the machine already has.
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then echo "setup: not root; not installing ${missing[*]} (tests that need them skip)" >&2; return 0; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}"
}
if ! "$PY" -m venv --help >/dev/null 2>&1; then apt_install python3-venv python3-pip; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ "$TEST" = 1 ]; then EXTRA='.[test]'; else EXTRA='.'; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$EXTRA"
# Bytecode once: where PYTHONDONTWRITEBYTECODE is set (it is on these machines) Python would otherwise
# recompile the package on every command, a third of a small command's time.
.venv/bin/python -m compileall -q forensics
if [ "$TEST" = 1 ]; then
  mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' tests/apt-packages.txt)
  apt_install "${pkgs[@]}"
fi
