#!/usr/bin/env bash
# Sets up SpikeX on a fresh Debian machine and runs the main job.
#
#   ./setup.sh            install (once), then run the main job
#   ./setup.sh --no-run   install only (used by ./test.sh)
#
# A second run installs nothing: the virtual environment is rebuilt only when
# pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v iverilog >/dev/null 2>&1; then
    echo "setup: installing Icarus Verilog (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog >/dev/null
fi

stamp=.venv/.spikex-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: creating .venv and installing pinned dependencies"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e .
    echo "$want" > "$stamp"
fi

if [ "${1:-}" != "--no-run" ]; then
    exec bash scripts/main-job.sh
fi
