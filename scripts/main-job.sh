#!/usr/bin/env bash
# The main job of ./setup.sh: the built-in default network through the backends that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
spikex=.venv/bin/spikex
mkdir -p out
$spikex example -o out/example.npz
$spikex info out/example.npz
$spikex run out/example.npz --backend golden -o out/example-golden.npz
