"""``spikex verilog``: write the Verilog of the PE array or of the whole accelerator."""

__all__ = ["register"]


def _verilog(args):
    import os
    import tempfile
    from .verilog import generate, generate_accelerator
    if args.what == "accelerator":
        from .verilog import parse_glb_split
        split = None if args.glb_split is None else parse_glb_split(args.glb_split)
        text = generate_accelerator(
            rows=args.rows, cols=args.cols, tws_max=args.tws_max, weight_bits=args.weight_bits,
            acc_bits=args.acc_bits, v_bits=args.v_bits, glb_kb=args.glb_kb,
            lbuf_kb=args.lbuf_kb, max_layers=args.max_layers, data_width=args.data_width,
            max_timesteps=args.max_timesteps, max_entries=args.max_entries, glb_split=split,
            max_blocks=args.max_blocks)
        what = "accelerator (spikex_top)"
    else:
        text = generate(rows=args.rows, cols=args.cols, tws_max=args.tws_max,
                        weight_bits=args.weight_bits, acc_bits=args.acc_bits, v_bits=args.v_bits,
                        skip_bits=args.skip_bits)
        what = "PE array"
    directory = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".v.tmp", delete=False) as file:
        file.write(text)
    os.replace(file.name, args.output)
    print(f"wrote {args.output}: {args.rows}x{args.cols} {what}, tws_max {args.tws_max}")


def register(subparsers):
    parser = subparsers.add_parser("verilog", help="write the PE array's or the accelerator's Verilog")
    parser.add_argument("--what", "--top", dest="what", choices=("array", "accelerator"),
                        default="array", help="the PE array (default) or the whole accelerator")
    parser.add_argument("--rows", type=int, default=8, help="PE array rows (default 8)")
    parser.add_argument("--cols", type=int, default=8, help="PE array columns (default 8)")
    parser.add_argument("--tws-max", type=int, default=10,
                        help="largest time-window size (default 10)")
    parser.add_argument("--weight-bits", type=int, default=8, help="weight width (default 8)")
    parser.add_argument("--acc-bits", type=int, default=24, help="accumulator width (default 24)")
    parser.add_argument("--v-bits", type=int, default=16, help="membrane width (default 16)")
    parser.add_argument("--skip-bits", type=int, default=16,
                        help="array only: width of the skipped-step count (default 16)")
    parser.add_argument("--glb-kb", type=float, default=54, help="accelerator: GLB KB (default 54)")
    parser.add_argument("--lbuf-kb", type=float, default=2, help="accelerator: LBUF KB (default 2)")
    parser.add_argument("--glb-split", metavar="S,W,O",
                        help="accelerator: KB of the GLB for input spikes, weights and output "
                             "spikes (default: half, a quarter, a quarter)")
    parser.add_argument("--max-layers", type=int, default=8,
                        help="accelerator: layers with counters (default 8)")
    parser.add_argument("--data-width", type=int, default=32,
                        help="accelerator: AXI data width (default 32)")
    parser.add_argument("--max-timesteps", type=int, default=64,
                        help="accelerator: most time steps of a time block (default 64)")
    parser.add_argument("--max-blocks", type=int, default=16,
                        help="accelerator: most time blocks per sample (default 16; 1: none)")
    parser.add_argument("--max-entries", type=int, default=4096,
                        help="accelerator: most active NTWUs per layer and sample (default 4096)")
    parser.add_argument("-o", "--output", required=True, help="FILE.v to write")
    parser.set_defaults(func=_verilog)
