"""Simulated cycles per second of the whole accelerator RTL, as ``spikex run`` runs it.

A compiled network (default ``out/nmnist-test.npz``, the main job's; the built-in example
network when that file is missing) runs on the accelerator under each simulator: the
simulator is built first (not timed), then the run is timed, the whole of it
(simulator start-up, image load, the run, counter read-out and dump) against the cycles of
the counter registers. Both simulators run the same samples side by side.

    .venv/bin/python bench/bench_rtl_speed.py [NET.npz] [--samples 1] [--simulators verilator,icarus]
"""

import argparse
import time
from pathlib import Path

from sim.image import pack
from sim.rtl import _ram_words, build_top, rtl_parameters, run_rtl
from spikex.example import example_network
from spikex.netfile import Network, load


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("network", nargs="?", default="out/nmnist-test.npz")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--simulators", default="verilator,icarus")
    parser.add_argument("--glb-kb", type=float, default=54.0)
    parser.add_argument("--lbuf-kb", type=float, default=2.0)
    args = parser.parse_args()
    path = Path(args.network)
    net = load(path) if path.exists() else example_network()
    net = Network(net.layers, net.weights, net.input[:args.samples], weight_bits=net.weight_bits,
                  v_bits=net.v_bits)
    options = {"glb_kb": args.glb_kb, "lbuf_kb": args.lbuf_kb}
    print(f"{path if path.exists() else 'example network'}: {net.batch} sample(s), "
          f"{len(net.layers)} layers, GLB {args.glb_kb} KB, LBUF {args.lbuf_kb} KB, 8x8")
    print(f"{'simulator':<10}{'cycles':>10}{'seconds':>9}{'cycles/s':>10}")
    for simulator in args.simulators.split(","):
        build_top(simulator, rtl_parameters(net, options), _ram_words(pack(net, base=0)))  # not timed
        start = time.perf_counter()
        _, counters = run_rtl(net, options, str(path), simulator)
        wall = time.perf_counter() - start
        print(f"{simulator:<10}{counters['cycles']:>10}{wall:>9.1f}{counters['cycles'] / wall:>10.0f}")


if __name__ == "__main__":
    main()
