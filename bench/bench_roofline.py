"""Roofline of SpikeX and PTB: per layer and in total, the cycles against the work bound and
the DRAM bound (``sim/roofline.py``; the columns are defined in docs/analytic.md, "Roofline").

On the shipped N-MNIST network (a ``spikex compile`` output, default ``out/nmnist-test.npz``:
its first ``--samples`` recordings) and on the Fig. 9/10 layers alone (N-MNIST CONV1 at T =
30 and DVSG-Medium CONV2 at T = 300, one sample each at every ``--rates`` input firing
rate, TWS 5, ``sim.figures.figure_layer_network``), both dataflows on the analytic model
(``--memory rtl``, the default: the RTL's counters exactly). With ``--rtl-samples N`` the
first N N-MNIST recordings also run on the RTL (``--simulator``, one simulation unless
``--jobs``); those rows are marked ``RTL`` and every counter is compared with the analytic
model's on the same samples.

Every figure is per sample (the batch's sum over its samples); the DRAM bound takes the
tailored weights once for the batch (``DRAM``, ``x must``, ``eff``) or once a sample
(``DRAM/1``, ``x must/1``, ``eff/1``).

    .venv/bin/python bench/bench_roofline.py [NET.npz] [--samples N] [--data-width BITS]
        [--rtl-samples N] [--rates 0.05,0.005,0.0005,0.0001] [hardware options of spikex run]
"""

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hw.config import DEFAULTS
from hw.layout import COUNTER_NAMES
from sim.analytic import analytic_hardware, run_analytic
from sim.figures import FIGURE_LAYERS, figure_layer_network
from sim.roofline import network_roofline
from spikex.cli import add_hardware_arguments, hardware_options
from spikex.netfile import load


DATAFLOWS = ("spikex", "ptb")
COLUMNS = ("network", "layer", "dataflow", "run", "cycles", "work", "DRAM", "DRAM/1", "bytes",
           "x must", "x must/1", "eff", "eff/1")


def _row(network, layer, dataflow, run, r, samples):
    per = lambda key: f"{r[key] / samples:,.0f}"
    return [network, layer, dataflow, run, per("cycles"), per("work"), per("dram"),
            per("dram_sample"), per("moved"), f"{r['moved'] / r['must']:.2f}",
            f"{r['moved'] / r['must_sample']:.2f}", f"{r['efficiency']:.1%}",
            f"{r['efficiency_sample']:.1%}"]


def _rows(network, run, runs, samples):
    """Table rows of one network's :func:`_roofline_runs`: each layer, then (several
    layers) the total."""
    roofs = {dataflow: roof for dataflow, (_, _, roof) in runs.items()}
    rows = []
    count = len(roofs[DATAFLOWS[0]]["layers"])
    for k in range(count):
        rows += [_row(network, str(k), dataflow, run, roofs[dataflow]["layers"][k], samples)
                 for dataflow in roofs]
    if count > 1:
        rows += [_row(network, "total", dataflow, run, roofs[dataflow]["total"], samples)
                 for dataflow in roofs]
    return rows


def _roofline_runs(net, options, backend, source, data_width):
    """``{dataflow: (outputs, counters, roofline)}`` of ``net`` on ``backend``."""
    block_steps = analytic_hardware(net, options, source).block_steps
    runs = {}
    for dataflow in tqdm(DATAFLOWS, desc=f"{source} ({backend})", leave=False):
        run_options = {**options, "dataflow": dataflow}
        if backend == "analytic":
            outputs, counters = run_analytic(net, run_options, source)
        else:
            from sim.rtl import run_rtl
            outputs, counters = run_rtl(net, run_options, source, backend)
        runs[dataflow] = (outputs, counters,
                          network_roofline(net, outputs, counters, block_steps, data_width))
    return runs


def _differences(rtl, analytic):
    """Where the RTL's spikes or counters differ from the analytic model's (whose spikes are
    the golden model's), one string each."""
    found = []
    for dataflow in DATAFLOWS:
        (rtl_spikes, rtl_counters, _), (spikes, counters, _) = rtl[dataflow], analytic[dataflow]
        for k, (got, want) in enumerate(zip(rtl_counters["layers"], counters["layers"])):
            if not np.array_equal(rtl_spikes[k], spikes[k]):
                found.append(f"{dataflow} layer {k}: {int((rtl_spikes[k] != spikes[k]).sum())} "
                             f"spikes differ")
            found += [f"{dataflow} layer {k} {name}: RTL {got[name]}, analytic {want[name]}"
                      for name in COUNTER_NAMES if got[name] != want[name]]
    return found


def _print_table(rows):
    widths = [max(len(str(row[i])) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    line = lambda cells: "| " + " | ".join(
        str(c).ljust(w) if i < 4 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(COLUMNS))
    print("|" + "|".join("-" * (w + 1) + (":" if i >= 4 else "-") for i, w in enumerate(widths)) + "|")
    for row in rows:
        print(line(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("net", nargs="?", default="out/nmnist-test.npz",
                        help="the N-MNIST network file (default out/nmnist-test.npz; make it with "
                             "spikex compile model/zoo/nmnist.pt --data DIR --split Test -o ...)")
    parser.add_argument("--samples", type=int, default=None,
                        help="only the first N recordings of NET (default all)")
    parser.add_argument("--rtl-samples", type=int, default=0, metavar="N",
                        help="also run the first N recordings on the RTL, rows marked RTL")
    parser.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    parser.add_argument("--rates", default="0.05,0.005,0.0005,0.0001",
                        help="input firing rates of the Fig. 9/10 layers (empty: none)")
    add_hardware_arguments(parser)      # --dataflow is not used: both run
    args = parser.parse_args()
    # --data-width (spikex run's): the accelerator's DRAM bus, for its cycles and bytes and
    # for the DRAM bound.
    args.data_width = args.data_width or DEFAULTS.data_width
    options = hardware_options(args)
    if args.rtl_samples and args.jobs is None:
        options["jobs"] = 1                 # the machine is shared: one simulation
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    if not Path(args.net).exists():
        parser.error(f"{args.net}: no such network file (spikex compile model/zoo/nmnist.pt "
                     f"--data DIR --split Test -o {args.net})")
    net = load(args.net)
    net = net.with_input(net.input[:args.samples])
    name = Path(args.net).stem

    rows = []
    runs = _roofline_runs(net, options, "analytic", args.net, args.data_width)
    rows += _rows(name, "analytic", runs, net.batch)
    differences = None
    if args.rtl_samples:
        first = net.with_input(net.input[:args.rtl_samples])
        exact = {**options, "memory": "rtl"}     # the model whose counters are the RTL's
        rtl = _roofline_runs(first, exact, args.simulator, args.net, args.data_width)
        rows += _rows(name, "RTL", rtl, first.batch)
        differences = _differences(rtl, _roofline_runs(first, exact, "analytic", args.net,
                                                       args.data_width))
    for layer_name in FIGURE_LAYERS:
        for rate in tqdm(rates, desc=layer_name, leave=False):
            layer_net = figure_layer_network(layer_name, rate)
            layer_runs = _roofline_runs(layer_net, options, "analytic", layer_name, args.data_width)
            rows += _rows(f"{layer_name} {rate:.2%}", "analytic", layer_runs, layer_net.batch)

    print(f"{args.net}: {net.batch} samples; {options['rows']}x{options['cols']} array, "
          f"{options['glb_kb']:g} KB GLB, {options['lbuf_kb']:g} KB LBUF, --memory "
          f"{options['memory']}; DRAM bound at {args.data_width // 8} bytes a cycle; "
          f"figures per sample")
    _print_table(rows)
    if differences is not None:
        print(f"RTL rows ({args.simulator}, first {args.rtl_samples} samples): "
              + ("every spike and counter equal to the analytic model's" if not differences
                 else "differ from the analytic model: " + "; ".join(differences)))


if __name__ == "__main__":
    main()
