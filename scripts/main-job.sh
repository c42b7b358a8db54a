#!/usr/bin/env bash
# The main job of ./setup.sh: the shipped N-MNIST model (model/zoo/nmnist.pt, trained on
# Train/ with HT and HAS) compiled with the 100 real Test/ recordings, then run on the
# golden model, compared (SpikeX against the PTB baseline) on the analytic simulator, and
# all 100 samples run on the accelerator RTL under Verilator (the Verilog host, one
# simulation per CPU core), every spike checked against golden, the RTL's accuracy printed.
# The RTL runs at the paper's 54 KB GLB and 2 KB LBUF, the GLB split as the network needs.
set -euo pipefail
cd "$(dirname "$0")/.."
spikex=.venv/bin/spikex
data=../shared/data/nmnist-small
mkdir -p out
if [ ! -d "$data" ]; then
    echo "main job: $data not found; running the built-in example network instead" >&2
    $spikex example -o out/example.npz
    $spikex info out/example.npz
    $spikex run out/example.npz --backend golden -o out/example-golden.npz
    $spikex compare out/example.npz
    exit 0
fi
$spikex compile model/zoo/nmnist.pt --data "$data" --split Test -o out/nmnist-test.npz
$spikex info out/nmnist-test.npz
$spikex run out/nmnist-test.npz --backend golden -o out/nmnist-golden.npz
$spikex compare out/nmnist-test.npz
$spikex run out/nmnist-test.npz --backend verilator --check -o out/nmnist-rtl.npz
