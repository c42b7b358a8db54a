"""Differential campaign: random networks through several backends, each against golden.

    .venv/bin/python bench/bench_differential.py --n 10000 --backends golden,torch-int,analytic \
        --seed 0 --out out/differential
    .venv/bin/python bench/bench_differential.py --n 300 \
        --backends golden,torch-int,analytic,verilator
    .venv/bin/python bench/bench_differential.py --n 40 --backends golden,analytic,icarus \
        --configs 4x4,1x1-w16-v48,2x3-w2-v4,3x2-w12-v24

Network ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` by
:func:`sim.differential.random_network`, with hardware arguments (dataflow, memory model,
rows, cols) drawn beside it; every disagreement or crash is saved in ``--out`` as a
spikex-net-v1 file with a ``.json`` of the options and what differed. Backends other than
golden, torch-int and analytic (``icarus``, ``verilator``) run through
``spikex.backends.run_backend``; with one of them, the networks are drawn for the
accelerators of ``sim.differential.RTL_CONFIGS`` in turn and run one accelerator after the
other (one build each), their counters also against the analytic model of the RTL.
``--every NAME=K`` runs backend NAME on one round of those accelerators in K; ``--configs``
names the accelerators (Icarus takes minutes a network on the 8x8 one). Prints the counts
per backend; exits 1 if any backend differed or crashed.
"""

import argparse
import sys
import time
from pathlib import Path

# Import the checkout this file is in, not whichever spikex the environment installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.differential import BUILTIN_BACKENDS, RTL_CONFIGS, campaign  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="random networks (default 1000)")
    parser.add_argument("--backends", default=",".join(BUILTIN_BACKENDS),
                        help=f"comma list, golden is always the reference "
                             f"(default {','.join(BUILTIN_BACKENDS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/differential",
                        help="folder for the reproducers (default out/differential)")
    parser.add_argument("--max-timesteps", type=int, default=300,
                        help="longest T of a random network (default 300)")
    parser.add_argument("--every", action="append", default=[], metavar="NAME=K",
                        help="run backend NAME on one network in K (per round of accelerators)")
    parser.add_argument("--configs", default=None, metavar="NAME,...",
                        help=f"accelerators of an RTL campaign (default all: "
                             f"{','.join(config.name for config in RTL_CONFIGS)})")
    args = parser.parse_args(argv)
    import torch
    from tqdm import tqdm
    from spikex.backends import BACKENDS
    torch.set_num_threads(1)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    known = dict.fromkeys([*BUILTIN_BACKENDS, *BACKENDS])
    unknown = [name for name in backends if name not in known]
    if unknown:
        parser.error(f"unknown backend {unknown[0]!r}; backends: {', '.join(known)}")
    every = {}
    for item in args.every:
        name, _, k = item.partition("=")
        if name not in backends or not k.isdigit() or int(k) < 1:
            parser.error(f"--every takes NAME=K, a backend of --backends and a positive "
                         f"integer, not {item!r}")
        every[name] = int(k)
    by_name = {config.name: config for config in RTL_CONFIGS}
    names = by_name if args.configs is None else [name.strip() for name in args.configs.split(",")]
    if not names or any(name not in by_name for name in names):
        parser.error(f"--configs takes names among {', '.join(by_name)}, not {args.configs!r}")
    start = time.perf_counter()
    result = campaign(args.n, backends, args.seed, args.out,
                      progress=lambda it: tqdm(it, desc="networks", unit="net"), every=every,
                      configs=[by_name[name] for name in names], max_timesteps=args.max_timesteps)
    print(result.summary())
    print(f"{time.perf_counter() - start:.1f} s, seed {args.seed}")
    bad = sum(per["differ"] + per["crashed"] for per in result.counts.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
