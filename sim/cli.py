"""Subcommands of the ``spikex`` command that the analytic simulator drives."""


__all__ = ["register"]


def _figures_command(args):
    from tqdm import tqdm
    from sim.figures import make_figures
    paths = make_figures(args.output, args.full, progress=lambda it, desc=None: tqdm(it, desc=desc))
    print(f"wrote {len(paths)} files to {args.output}: " + ", ".join(p.name for p in paths))


def register(subparsers):
    """Add ``spikex figures -o DIR [--full]``."""
    parser = subparsers.add_parser("figures", help="re-run the paper's Figs. 9-12 on the analytic simulator")
    parser.add_argument("-o", "--output", required=True, help="directory for the PNGs and figures.md")
    parser.add_argument("--full", action="store_true",
                        help="the paper's sizes (slow); default: reduced sizes that run in CI")
    parser.set_defaults(func=_figures_command)
