"""``spikex verilog``: write the PE array's Verilog."""

__all__ = ["register"]


def _verilog(args):
    import os
    import tempfile
    from .verilog import generate
    text = generate(rows=args.rows, cols=args.cols, tws_max=args.tws_max,
                    weight_bits=args.weight_bits, acc_bits=args.acc_bits, v_bits=args.v_bits,
                    skip_bits=args.skip_bits)
    directory = os.path.dirname(os.path.abspath(args.output))
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".v.tmp", delete=False) as file:
        file.write(text)
    os.replace(file.name, args.output)
    print(f"wrote {args.output}: {args.rows}x{args.cols} PE array, tws_max {args.tws_max}")


def register(subparsers):
    parser = subparsers.add_parser("verilog", help="write the PE array's Verilog")
    parser.add_argument("--rows", type=int, default=8, help="PE array rows (default 8)")
    parser.add_argument("--cols", type=int, default=8, help="PE array columns (default 8)")
    parser.add_argument("--tws-max", type=int, default=10,
                        help="largest time-window size (default 10)")
    parser.add_argument("--weight-bits", type=int, default=8, help="weight width (default 8)")
    parser.add_argument("--acc-bits", type=int, default=24, help="accumulator width (default 24)")
    parser.add_argument("--v-bits", type=int, default=16, help="membrane width (default 16)")
    parser.add_argument("--skip-bits", type=int, default=16,
                        help="width of the skipped-step count (default 16)")
    parser.add_argument("-o", "--output", required=True, help="FILE.v to write")
    parser.set_defaults(func=_verilog)
