"""The whole accelerator in RTL simulation: SpikeX against PTB on the paper's Fig. 9/10 layers.

For N-MNIST CONV1 (Fig. 9) and DVSG-Medium CONV2 (Fig. 10) at input firing rates 5%,
0.5%, 0.05% and 0.01%, one sample each, both dataflows run on the RTL (Verilator by
default) and the table gives, side by side, the cycles, DRAM bytes and PE utilisation
(acc_ops / (cycles x rows x cols)) read from the accelerator's counter registers, the
analytic simulator's cycles for the same run with the paper's memory model
(``memory="blocks"``; ``memory="rtl"`` reproduces the RTL's counters exactly and is
checked by tests/test_rtl_vs_analytic.py instead), and the simulated cycles per second of the
RTL (build time excluded: each configuration is built once before it is timed).

N-MNIST CONV1 runs at the paper's T = 30, DVSG-Medium CONV2 at ``--dvsg-timesteps`` (the
paper's 300 by default; its input does not fit the GLB whole, so the RTL runs it in time
blocks, docs/accelerator.md). The GLB and LBUF are the paper's 54 KB (split as each layer
needs) and 2 KB (passes stream through it); the analytic column runs with the same sizes.

    .venv/bin/python bench/bench_top.py [--simulator icarus|verilator] [--rates 0.05,0.005]
                                        [--dvsg-timesteps 30]
"""

import argparse
import time

from sim.analytic import run_analytic
from sim.figures import FIGURE_LAYERS, figure_layer_network
from sim import image as dram_image
from sim.configure import rtl_parameters
from sim.rtl import build_hosted, dram_words, run_rtl


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulator", default="verilator", choices=("icarus", "verilator"))
    parser.add_argument("--rates", default="0.05,0.005,0.0005,0.0001")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--glb-kb", type=float, default=54.0)
    parser.add_argument("--lbuf-kb", type=float, default=2.0)
    parser.add_argument("--dvsg-timesteps", type=int, default=300)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    options = {"rows": args.rows, "cols": args.cols, "glb_kb": args.glb_kb, "lbuf_kb": args.lbuf_kb}
    print(f"{'layer':<19}{'T':>4}{'block':>6}{'rate':>8}{'dataflow':>9}{'cycles':>11}"
          f"{'analytic':>11}{'DRAM bytes':>12}{'PE util':>9}{'cycles/s':>10}")
    for name in FIGURE_LAYERS:
        for rate in rates:
            net = figure_layer_network(name, rate, steps=args.dvsg_timesteps if "DVSG" in name else None)
            parameters = rtl_parameters(net, options)
            image = dram_image.pack(net, block_steps=parameters["block_steps"])
            build_hosted(args.simulator, parameters, dram_words(image, hosted=True))  # not timed
            for dataflow in ("spikex", "ptb"):
                run_options = {**options, "dataflow": dataflow}
                start = time.perf_counter()
                _, counters = run_rtl(net, run_options, name, args.simulator)
                wall = time.perf_counter() - start
                _, predicted = run_analytic(net, {**run_options, "memory": "blocks"}, name)
                layer = counters["layers"][0]
                util = layer["acc_ops"] / max(layer["cycles"] * args.rows * args.cols, 1)
                print(f"{name:<19}{net.timesteps:>4}{parameters['block_steps'] or '-':>6}"
                      f"{rate:>8.2%}{dataflow:>9}{layer['cycles']:>11}"
                      f"{predicted['cycles']:>11}"
                      f"{layer['dram_read_bytes'] + layer['dram_write_bytes']:>12}{util:>9.2%}"
                      f"{layer['cycles'] / wall:>10.0f}")


if __name__ == "__main__":
    main()
