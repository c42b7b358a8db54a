"""Subcommands of the ``spikex`` command that the analytic simulator drives."""


__all__ = ["register"]


def _figures_command(args):
    from tqdm import tqdm
    progress = lambda it, desc=None: tqdm(it, desc=desc)
    if args.fig == "13":
        paths = _fig13_command(args, progress)
    else:
        from sim.figures import make_figures
        paths = make_figures(args.output, args.full, progress=progress)
    print(f"wrote {len(paths)} files to {args.output}: " + ", ".join(p.name for p in paths))


def _fig13_command(args, progress):
    from sim.fig13 import make_fig13
    from spikex.netfile import SpikexError, load
    sources = {"baseline": args.baseline, "ht": args.ht, "has": args.has}
    missing = [f"--{key}" for key, path in sources.items() if path is None and key != "ht"]
    if missing:
        raise SpikexError(f"--fig 13 needs {', '.join(missing)}: network files compiled on "
                          f"the same recordings (docs/figures.md)")
    sources = {key: path for key, path in sources.items() if path is not None}
    nets = {key: load(path) for key, path in sources.items()}
    if args.samples is not None:
        nets = {key: net.with_input(net.input[:args.samples],
                                    None if net.labels is None else net.labels[:args.samples])
                for key, net in nets.items()}
    choices = None if args.tws is None else _tws_choices(args.tws, nets["baseline"].timesteps)
    # The RTL backends' DRAM model, as spikex run gives the analytic backend (spikex/cli.py).
    options = {"jobs": args.jobs, "dram_latency": 1, "dram_one_burst": True,
               "glb_kb": args.glb_kb}
    return make_fig13(args.output, nets, sources, options, choices, args.rtl_samples,
                      progress=progress, note=args.note)


def _tws_choices(text, timesteps):
    """``--tws``: positive integers dividing ``timesteps`` (default: its divisors up to 15)."""
    from spikex.netfile import SpikexError
    if text is None:
        return [t for t in range(1, min(timesteps, 15) + 1) if timesteps % t == 0]
    try:
        choices = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        choices = []
    if not choices or choices[0] < 1:
        raise SpikexError(f"--tws must be a comma list of positive integers, not {text!r}")
    for tws in choices:
        if timesteps % tws:
            raise SpikexError(f"--tws: {tws} does not divide the {timesteps} time steps the "
                              f"fit runs (--timesteps)")
    return choices


def _fit_edp_command(args):
    import json
    from tqdm import tqdm
    from sim.edp_fit import edp_piecewise, fit_network_edp
    from spikex.cli import hardware_options
    from spikex.netfile import SpikexError, load, write_atomic
    net = load(args.net)
    timesteps = args.timesteps or net.timesteps
    choices = _tws_choices(args.tws, timesteps)
    options = hardware_options(args)
    if options["tws_max"] is not None and choices[-1] > options["tws_max"]:
        raise SpikexError(f"--tws: {choices[-1]} exceeds --tws-max {options['tws_max']}")
    try:
        fit = fit_network_edp(net, choices, options, timesteps=timesteps, batch=args.batch,
                              knots=args.knots, seed=args.seed,
                              progress=lambda it, desc: tqdm(it, desc=desc, leave=False))
    except ValueError as error:         # a time block or GLB split this network cannot take
        raise SpikexError(f"{args.net}: {error}") from None
    fit["source"] = str(args.net)
    text = json.dumps(fit, indent=1)
    write_atomic(args.output, lambda f: f.write(text.encode()))
    print(f"{args.net}: EDP (pJ*s per sample) of each layer against its active-TW density, "
          f"{timesteps} steps, {options['memory']} memory model, {options['dataflow']}")
    print(f"{'layer':<6}{'kind':<6}{'tws':>4}{'knots':>6}{'EDP at 0':>12}{'at 0.5':>12}{'at 1':>12}")
    for entry in fit["layers"]:
        for tws, model in entry["models"].items():
            at = [float(edp_piecewise(d, model)) for d in (0.0, 0.5, 1.0)]
            print(f"{entry['layer']:<6}{entry['kind']:<6}{tws:>4}{len(model['breakpoints']):>6}"
                  + "".join(f"{value:>12.4g}" for value in at))
    print(f"wrote {args.output} (spikex-edp-v1; spikex train --edp-model {args.output})")


def register(subparsers):
    """Add ``spikex figures -o DIR [--full]`` and ``spikex fit-edp NET.npz -o EDP.json``."""
    from spikex.cli import add_hardware_arguments
    fit = subparsers.add_parser(
        "fit-edp", help="fit each layer's EDP against active-TW density (for train --edp-model)")
    fit.add_argument("net", help="network file (spikex-net-v1 .npz): its layers, weights, "
                                 "thresholds and leaks; its input is not used")
    fit.add_argument("-o", "--output", required=True, help="EDP.json to write (spikex-edp-v1)")
    fit.add_argument("--tws", default=None,
                     help="TWS choices, comma list (default: the divisors of T up to 15)")
    fit.add_argument("--timesteps", type=int, default=None,
                     help="steps of the synthetic inputs (default: the network's T)")
    fit.add_argument("--batch", type=int, default=2, help="samples per input rate (default 2)")
    fit.add_argument("--knots", type=int, default=6,
                     help="breakpoints of each piecewise-linear curve (default 6)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs")
    add_hardware_arguments(fit)
    fit.set_defaults(func=_fit_edp_command)

    parser = subparsers.add_parser("figures", help="re-run the paper's Figs. 9-12 (synthetic) or "
                                                   "Fig. 13 (trained networks)")
    parser.add_argument("-o", "--output", required=True, help="directory for the PNGs and tables")
    parser.add_argument("--fig", choices=("9-12", "13"), default="9-12",
                        help="9-12: the synthetic experiments (default); 13: SpikeX, HT and "
                             "HAS against PTB on trained networks")
    parser.add_argument("--full", action="store_true",
                        help="9-12: the paper's sizes (slow); default: reduced sizes that run in CI")
    fig13 = parser.add_argument_group("--fig 13 (network files compiled on the same recordings)")
    fig13.add_argument("--baseline", help="the beta = 0 network at its fixed TWS (PTB and SpikeX)")
    fig13.add_argument("--ht", help="the network trained with HT at the same fixed TWS (SpikeX+HT; "
                                    "optional: left out of the figure without it)")
    fig13.add_argument("--has", help="the network trained with HT and HAS (SpikeX+HAS)")
    fig13.add_argument("--samples", type=int, default=None, help="only the first N recordings")
    fig13.add_argument("--tws", default=None,
                       help="PTB's TWS choices, comma list (default: the divisors of T up to 15)")
    fig13.add_argument("--rtl-samples", type=int, default=0, metavar="N",
                       help="also run the first N recordings of each variant on Verilator and "
                            "check its counters against the analytic model's (default 0)")
    fig13.add_argument("--note", default=None,
                       help="a sentence for the table's header, e.g. where the recordings "
                            "come from")
    fig13.add_argument("--jobs", type=int, default=None, help="Verilator simulations at once")
    fig13.add_argument("--glb-kb", type=float, default=None,
                       help="GLB size in KB of the accelerator (default 54, the paper's)")
    parser.set_defaults(func=_figures_command)
