"""The ``spikex`` command (SPEC §5).

Each subcommand is registered by a ``register(subparsers)`` function next to the code it
drives; this module holds the commands about network files themselves (``run``,
``info``, ``example``) and the error handling: a :class:`SpikexError` becomes one line on
stderr and exit status 1, and no output file is left behind.
"""

import argparse
import json
import os
import sys

import numpy as np

from .checks import check_arguments
from .netfile import SpikexError, load, save, write_npz_atomic


__all__ = ["main", "build_parser", "hardware_options"]


def _run(args):
    from sim.golden import predict
    from .backends import BACKENDS, run_backend
    if args.backend not in BACKENDS:
        raise SpikexError(f"unknown backend {args.backend!r}; backends: {', '.join(BACKENDS)}")
    net = _first_samples(load(args.net), args.samples, args.net)
    outputs, counters = run_backend(args.backend, net, hardware_options(args), str(args.net))
    if args.check:
        _check_against_golden(net, outputs, args)
    counts, prediction = predict(outputs[-1])
    entries = {f"spikes_{k}": spikes for k, spikes in enumerate(outputs)}
    entries["counts"] = counts
    if counters is not None:
        entries["counters"] = np.array(json.dumps(counters))
    write_npz_atomic(args.output, entries)
    summary = f"{args.net}: {net.batch} samples, {len(net.layers)} layers, backend {args.backend}"
    if net.labels is not None:
        summary += f", accuracy {np.mean(prediction == net.labels):.4f}"
    if counters is not None:
        summary += f", {counters['cycles']} cycles, {counters['energy_pj']:.4g} pJ"
    print(f"{summary} -> {args.output}")


def _check_against_golden(net, outputs, args):
    from sim.golden import run_network
    for k, (got, want) in enumerate(zip(outputs, run_network(net, args.acc_bits, str(args.net)))):
        if not np.array_equal(got, want):
            where = [int(i) for i in np.argwhere(got != want)[0]]
            raise SpikexError(f"{args.net}: layer {k}: backend {args.backend} differs from the "
                              f"golden model in {int((got != want).sum())} spikes, first at "
                              f"[sample, t, ...] = {where}")
    print(f"{args.net}: every layer's spikes equal the golden model's")


def hardware_options(args):
    """The options dict a backend takes, from the parsed hardware arguments of ``run``."""
    options = {key: getattr(args, key) for key in ("dataflow", "rows", "cols", "acc_bits",
                                                   "tws_max", "glb_kb", "lbuf_kb", "energy_table",
                                                   "memory", "block_steps", "jobs",
                                                   "pe", "data_width")}
    if args.glb_split is not None:
        from hw.verilog import parse_glb_split
        options["glb_split"] = list(parse_glb_split(args.glb_split))
    # The RTL backends' DRAM model (tb/axi_ram.v) answers one burst at a time, one cycle late.
    return {**options, "dram_latency": 1, "dram_one_burst": True}


def _first_samples(net, samples, source):
    if samples is None:
        return net
    if samples < 1:
        raise SpikexError(f"{source}: --samples must be at least 1, not {samples}")
    labels = None if net.labels is None else net.labels[:samples]
    return net.with_input(net.input[:samples], labels)


def _compare(args):
    from sim.golden import predict
    from .backends import run_backend
    net = _first_samples(load(args.net), args.samples, args.net)
    runs = {}
    for dataflow in ("spikex", "ptb"):
        options = {**hardware_options(args), "dataflow": dataflow}
        outputs, runs[dataflow] = run_backend(args.backend, net, options, str(args.net))
        if runs[dataflow] is None:
            raise SpikexError(f"backend {args.backend} gives spikes but no counters; compare "
                              f"needs them (analytic, icarus or verilator)")
    _, prediction = predict(outputs[-1])
    accuracy = "" if net.labels is None else f", accuracy {np.mean(prediction == net.labels):.4f}"
    print(f"{args.net}: {net.batch} samples, backend {args.backend}, {args.rows}x{args.cols} array{accuracy}")
    print(f"{'layer':<7}{'SpikeX cycles':>15}{'PTB cycles':>15}{'speed-up':>10}"
          f"{'SpikeX uJ':>12}{'PTB uJ':>12}{'energy x':>10}{'DRAM B x':>10}")
    rows = list(zip(runs["spikex"]["layers"], runs["ptb"]["layers"]))
    for k, (s, p) in enumerate(rows):
        dram_s = s["dram_read_bytes"] + s["dram_write_bytes"]
        dram_p = p["dram_read_bytes"] + p["dram_write_bytes"]
        print(f"{k:<7}{s['cycles']:>15}{p['cycles']:>15}{p['cycles'] / max(s['cycles'], 1):>10.2f}"
              f"{s['energy_pj'] / 1e6:>12.3f}{p['energy_pj'] / 1e6:>12.3f}"
              f"{p['energy_pj'] / max(s['energy_pj'], 1e-12):>10.2f}{dram_p / max(dram_s, 1):>10.2f}")
    s, p = runs["spikex"], runs["ptb"]
    print(f"{'total':<7}{s['cycles']:>15}{p['cycles']:>15}{p['cycles'] / max(s['cycles'], 1):>10.2f}"
          f"{s['energy_pj'] / 1e6:>12.3f}{p['energy_pj'] / 1e6:>12.3f}"
          f"{p['energy_pj'] / max(s['energy_pj'], 1e-12):>10.2f}")
    print(f"EDP: SpikeX {s['edp']:.4g} pJ*s, PTB {p['edp']:.4g} pJ*s, "
          f"PTB/SpikeX {p['edp'] / max(s['edp'], 1e-30):.2f}x")


def _info(args):
    from sim.golden import run_network
    from sim.ntwu import active_window_density, input_firing_rate
    net = load(args.net)
    outputs = run_network(net, args.acc_bits, str(args.net))
    print(f"{args.net}: {net.batch} samples, T={net.timesteps}, weight_bits={net.weight_bits}, "
          f"v_bits={net.v_bits}, labels={'yes' if net.labels is not None else 'no'}")
    header = f"{'layer':<6}{'kind':<6}{'input':<16}{'output':<16}{'params':>9}{'thr':>6}" \
             f"{'leak':>5}{'tws':>5}{'in rate':>10}{'active TW':>11}"
    print(header)
    inputs = [net.input] + outputs[:-1]
    for k, (layer, w, spikes) in enumerate(zip(net.layers, net.weights, inputs)):
        print(f"{k:<6}{layer.kind:<6}{'x'.join(map(str, layer.in_shape)):<16}"
              f"{'x'.join(map(str, layer.out_shape)):<16}{w.size:>9}{layer.threshold:>6}"
              f"{layer.leak_shift:>5}{layer.tws:>5}{input_firing_rate(spikes):>10.4%}"
              f"{active_window_density(layer, spikes):>11.4%}")
    print(f"output firing rate of the last layer: {input_firing_rate(outputs[-1]):.4%}")


#: Most samples x time steps of ``spikex example`` (its input is 200 spikes a step, drawn
#: as 8-byte floats: 1.6 GB at the limit).
EXAMPLE_STEPS = 1 << 20


def _example(args):
    from .example import example_network
    if args.batch * args.timesteps > EXAMPLE_STEPS:
        raise SpikexError(f"--batch {args.batch} x --timesteps {args.timesteps} must be at most "
                          f"{EXAMPLE_STEPS} sample steps (the example's input is drawn in memory)")
    net = example_network(batch=args.batch, timesteps=args.timesteps,
                          firing_rate=args.firing_rate, seed=args.seed)
    save(net, args.output)
    print(f"wrote {args.output}: {len(net.layers)} layers, {net.batch} samples, T={net.timesteps}")


def add_hardware_arguments(parser):
    """Hardware parameters shared by the commands that model the accelerator."""
    from hw.config import DATA_WIDTHS
    parser.add_argument("--dataflow", choices=("spikex", "ptb"), default="spikex",
                        help="SpikeX agile dispatch or the PTB baseline (default spikex)")
    parser.add_argument("--rows", type=int, default=8, help="PE array rows (default 8)")
    parser.add_argument("--cols", type=int, default=8, help="PE array columns (default 8)")
    parser.add_argument("--acc-bits", type=int, default=24, help="accumulator width (default 24)")
    parser.add_argument("--tws-max", type=int, default=None,
                        help="largest TWS the PEs support (default: the network's largest)")
    from hw.cli import add_pe_argument
    add_pe_argument(parser)
    parser.add_argument("--glb-kb", type=float, default=54.0, help="GLB size in KB (default 54)")
    parser.add_argument("--lbuf-kb", type=float, default=2.0, help="LBUF size in KB (default 2)")
    parser.add_argument("--glb-split", metavar="S,W,O", default=None,
                        help="accelerator RTL: KB of the GLB for input spikes, weights and "
                             "output spikes; with time blocks what they leave of --glb-kb is "
                             "the time-block state's (default: as the network needs, spare "
                             "room to the ping-pong banks that hide the most, the rest to "
                             "spikes)")
    parser.add_argument("--time-block", dest="block_steps", type=int, default=None,
                        metavar="STEPS",
                        help="accelerator RTL: time steps per time block, a multiple of every "
                             "layer's tws (default: the whole sample when its input fits the "
                             "GLB, else the longest block that fits)")
    parser.add_argument("--data-width", type=int, default=None, metavar="BITS",
                        choices=DATA_WIDTHS,
                        help="the DRAM bus: 32 (default), 64, 128, 256 or 512 bits (the "
                             "components still move a 32-bit word a cycle)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="accelerator RTL: simulations run at once, the samples shared out "
                             "between them (default: one per CPU core)")
    parser.add_argument("--energy-table", default=None,
                        help="TOML file of per-access energies (default: the shipped 32 nm table)")
    parser.add_argument("--memory", choices=("rtl", "blocks"), default="rtl",
                        help="analytic memory model: rtl, the accelerator RTL as built (its "
                             "counters exactly), or blocks, the paper's (time blocks, DRAM "
                             "bandwidth; the figures use it) (default rtl)")


def _register(subparsers):
    run = subparsers.add_parser("run", help="run a network file on a backend")
    run.add_argument("net", help="network file (spikex-net-v1 .npz)")
    run.add_argument("--backend", default="golden",
                     help="golden, analytic, icarus or verilator (those that exist are listed "
                          "if you name another)")
    add_hardware_arguments(run)
    run.add_argument("--samples", type=int, default=None, help="run only the first N samples")
    run.add_argument("--check", action="store_true",
                     help="also run the golden model; fail, writing nothing, if a spike differs")
    run.add_argument("-o", "--output", required=True, help="RESULT.npz to write")
    run.set_defaults(func=_run)

    compare = subparsers.add_parser("compare", help="SpikeX against the PTB baseline, layer by layer")
    compare.add_argument("net", help="network file (spikex-net-v1 .npz)")
    compare.add_argument("--backend", default="analytic",
                         help="analytic (default), icarus or verilator")
    add_hardware_arguments(compare)
    compare.add_argument("--samples", type=int, default=None, help="run only the first N samples")
    compare.set_defaults(func=_compare)

    info = subparsers.add_parser("info", help="layers, shapes, firing rates, active-TW density")
    info.add_argument("net", help="network file (spikex-net-v1 .npz)")
    info.add_argument("--acc-bits", type=int, default=24, help="accumulator width (default 24)")
    info.set_defaults(func=_info)

    example = subparsers.add_parser("example", help="write the small deterministic example network")
    example.add_argument("-o", "--output", required=True, help="NET.npz to write")
    example.add_argument("--batch", type=int, default=4)
    example.add_argument("--timesteps", type=int, default=12)
    example.add_argument("--firing-rate", type=float, default=0.03)
    example.add_argument("--seed", type=int, default=0)
    example.set_defaults(func=_example)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error of the command."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="spikex", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register(subparsers)
    for register in _command_modules():
        register(subparsers)
    return parser


def _command_modules():
    """The ``register`` functions of the commands that live beside the code they drive."""
    from hw.cli import register as hw_commands
    from model.cli import register as model_commands
    from sim.cli import register as sim_commands
    return [hw_commands, sim_commands, model_commands]


def main(argv=None):
    """Run one command; return its exit status (argparse exits with 2 on a bad argument).

    Anything other than a :class:`SpikexError` is a bug or an environment this module did
    not foresee; it too becomes one line, naming the command and the exception, with the
    traceback only when the environment variable ``SPIKEX_DEBUG`` is set.
    """
    args = build_parser().parse_args(argv)
    try:
        check_arguments(args.command, args)
        args.func(args)
    except SpikexError as error:
        print(f"spikex: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:      # the last resort: still one line, still no output file
        if os.environ.get("SPIKEX_DEBUG"):
            raise
        text = " ".join(str(error).split()) or "no message"
        print(f"spikex {args.command}: internal error: {type(error).__name__}: {text} "
              f"(set SPIKEX_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
