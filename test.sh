#!/usr/bin/env bash
# Runs the SpikeX test suite (installing first, if ./setup.sh has not yet run).
#   ./test.sh                 everything CI runs
#   ./test.sh -k golden       any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh --no-run
# Test files are shared out between one pytest-xdist worker per core (a file's tests stay
# together; builds shared across files are locked, sim/rtl.py); -n 0 runs them in this process.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
