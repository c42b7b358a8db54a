"""The paper's full-size DVSG-Medium at T = 300 on the accelerator RTL, in time blocks.

One sample of Bernoulli input at ``--rate`` (1%) with random int8 weights
(``sim.figures.synthetic_network``: threshold 128, leak_shift 2, tws 5), on the 8x8
accelerator with a 2 KB LBUF and a ``--glb-kb`` GLB (default 64: with the time-block state
counted in the GLB, CONV1's 1,024 positions need 18 KB of it, and the network does not fit
the paper's 54 KB in any time block); ``spikex run`` picks the time block (20 blocks of 15
steps at 64 KB). Prints, per layer, the cycles of the counter registers beside the
analytic model of the RTL (``memory="rtl"``), checks every spike against golden, and the
wall time, the Verilog generation and the build included unless they are cached (about
95 s under Verilator on an idle 2-core machine from an empty ``$SPIKEX_BUILD``); ``--ptb``
also runs PTB (about three times as long).

    .venv/bin/python bench/bench_dvsg_rtl.py [--rate 0.01] [--glb-kb 64] [--ptb] [--simulator verilator]
"""

import argparse
import time

import numpy as np

from sim.analytic import run_analytic
from sim.figures import synthetic_network
from sim.golden import run_network
from sim.configure import check_fits, rtl_parameters
from sim.rtl import run_rtl


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--glb-kb", type=float, default=64.0,
                        help="GLB size in KB, the time-block state included (default 64)")
    parser.add_argument("--ptb", action="store_true", help="also run the PTB dataflow")
    parser.add_argument("--simulator", default="verilator", choices=("icarus", "verilator"))
    args = parser.parse_args()
    net = synthetic_network("dvsg-medium", firing_rate=args.rate, tws=5, batch=1, seed=0)
    parameters = rtl_parameters(net, {"glb_kb": args.glb_kb})
    check_fits(net, parameters, "dvsg-medium")
    state = int(args.glb_kb * 1024) - sum(parameters["glb_split"])
    print(f"DVSG-Medium, T={net.timesteps}, input {args.rate:.2%}, {args.glb_kb:g} KB GLB: time "
          f"blocks of {parameters['block_steps']} steps, GLB split {parameters['glb_split']} "
          f"bytes and {state} bytes of time-block state")
    golden = run_network(net)
    for dataflow in ("spikex", "ptb") if args.ptb else ("spikex",):
        options = {"dataflow": dataflow, "glb_kb": args.glb_kb}
        start = time.perf_counter()
        outputs, counters = run_rtl(net, options, "dvsg-medium", args.simulator)
        wall = time.perf_counter() - start
        exact = all(np.array_equal(got, want) for got, want in zip(outputs, golden))
        _, model = run_analytic(net, {**options, "memory": "rtl", "dram_latency": 1,
                                      "dram_one_burst": True}, "dvsg-medium")
        print(f"{dataflow}: {counters['cycles']} cycles (model {model['cycles']}), spikes "
              f"{'equal' if exact else 'DIFFER from'} golden, {wall:.0f} s with the build")
        for k, (rtl, ours) in enumerate(zip(counters["layers"], model["layers"])):
            print(f"  layer {k} ({net.layers[k].kind}): {rtl['cycles']} cycles, model "
                  f"{ours['cycles']}")


if __name__ == "__main__":
    main()
