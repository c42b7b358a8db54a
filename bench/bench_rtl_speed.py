"""Simulated cycles per second of the whole accelerator RTL, and the wall time of a whole
network file through it.

1. Side by side, the first ``--samples`` samples of a compiled network (default
   ``out/nmnist-test.npz``, the main job's; the built-in example network when that file is
   missing) on the accelerator under Verilator, the old way and the new: the cocotb host
   (tb/run_top.py, cocotb's VPI build) and the Verilog host (tb/spikex_host.v, no Python
   per cycle), one simulation and one per CPU core. Builds come first, not timed; each run
   is timed whole (image, start-up, the run, read-out and dump) against the cycles of the
   counter registers. ``--simulators verilator,icarus`` adds Icarus' two hosts.
2. Every sample of the file through the Verilog host under Verilator, as ``spikex run
   --backend verilator`` runs it, in an empty build directory so that the build is
   counted, checked spike for spike against the golden model.

    .venv/bin/python bench/bench_rtl_speed.py [NET.npz] [--samples 2] [--simulators verilator]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from sim.golden import run_network
from sim.image import pack
from sim.configure import rtl_parameters
from sim.rtl import build_hosted, dram_words, run_rtl
from spikex.example import example_network
from spikex.netfile import load


def timed(net, options, source, simulator, harness):
    start = time.perf_counter()
    outputs, counters = run_rtl(net, options, source, simulator, harness)
    return outputs, counters, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", nargs="?", default="out/nmnist-test.npz")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--simulators", default="verilator")
    parser.add_argument("--glb-kb", type=float, default=54.0)
    parser.add_argument("--lbuf-kb", type=float, default=2.0)
    parser.add_argument("--skip-whole", action="store_true", help="only part 1")
    args = parser.parse_args()
    path = Path(args.network)
    whole = load(path) if path.exists() else example_network()
    source = str(path) if path.exists() else "example network"
    net = whole.with_input(whole.input[:args.samples])
    options = {"glb_kb": args.glb_kb, "lbuf_kb": args.lbuf_kb}
    cores = os.cpu_count() or 1
    print(f"{source}: {net.batch} sample(s), {len(net.layers)} layers, GLB {args.glb_kb} KB, "
          f"LBUF {args.lbuf_kb} KB, 8x8, {cores} CPU cores")
    print(f"{'simulator':<10}{'host':<22}{'cycles':>10}{'seconds':>9}{'cycles/s':>10}{'x cocotb':>10}")
    for simulator in args.simulators.split(","):
        runs = [("cocotb", "cocotb", {}), ("verilog", "verilog, 1 simulation", {"jobs": 1}),
                ("verilog", f"verilog, {min(cores, net.batch)} at once", {"jobs": cores})]
        for harness, _, extra in runs[:2]:          # builds, not timed
            run_rtl(net.with_input(net.input[:1]), {**options, **extra}, source, simulator, harness)
        base = None
        for harness, name, extra in runs:
            _, counters, wall = timed(net, {**options, **extra}, source, simulator, harness)
            rate = counters["cycles"] / wall
            base = base or rate
            print(f"{simulator:<10}{name:<22}{counters['cycles']:>10}{wall:>9.1f}{rate:>10.0f}"
                  f"{rate / base:>10.1f}")
    if args.skip_whole:
        return
    with tempfile.TemporaryDirectory(prefix="spikex-bench-build-") as build:
        os.environ["SPIKEX_BUILD"] = build
        start = time.perf_counter()
        parameters = rtl_parameters(whole, options)
        build_hosted("verilator", parameters,
                     dram_words(pack(whole, block_steps=parameters["block_steps"]), hosted=True))
        built = time.perf_counter() - start
        outputs, counters, wall = timed(whole, options, source, "verilator", "verilog")
    golden = run_network(whole)
    exact = all(np.array_equal(a, b) for a, b in zip(outputs, golden))
    print(f"{source}, all {whole.batch} samples, Verilator, Verilog host, {min(cores, whole.batch)} "
          f"at once, from an empty build directory: {built + wall:.1f} s wall ({built:.1f} s "
          f"generating and building, {wall:.1f} s running {counters['cycles']} cycles: "
          f"{counters['cycles'] / wall:.0f} cycles/s); every spike equal to golden: "
          f"{'yes' if exact else 'NO'}")


if __name__ == "__main__":
    main()
