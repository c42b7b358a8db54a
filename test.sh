#!/usr/bin/env bash
# Runs the SpikeX test suite (installing first, if ./setup.sh has not yet run).
#   ./test.sh                 everything CI runs
#   ./test.sh -k golden       any pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh --no-run
exec .venv/bin/python -m pytest "$@"
