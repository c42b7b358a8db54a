"""Simulated cycles per second of the 8x8 PE array under amaranth.sim, Icarus and Verilator.

Every simulator runs the same conv layer (``tb.test_array.benchmark_layer``) through the same
driver (``tb.array_driver.rtl_layer``), with no stalls, and is checked against the golden
model. Under Icarus and Verilator the stimulus comes from cocotb, one Python step per cycle,
so the figures are those of this verification flow, not of the bare simulators. Builds are
not timed (they are cached under ``build/``).

    .venv/bin/python bench/bench_array.py [--rows 8 --cols 8]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from amaranth.sim import Simulator  # noqa: E402

from hw.verilog import make_array  # noqa: E402
from sim.golden import run_layer  # noqa: E402
from tb.array_driver import AmaranthArray, rtl_layer  # noqa: E402
from tb.runner import build, run  # noqa: E402
from tb.test_array import benchmark_layer  # noqa: E402


def bench_amaranth(parameters):
    design = make_array(**parameters)
    layer, weights, spikes = benchmark_layer(design)
    outcome = {}

    async def bench(ctx):
        array = AmaranthArray(ctx, design)
        outcome["spikes"] = await rtl_layer(layer, weights, spikes, design.v_bits, array=array)
        outcome["cycles"] = array.cycles

    sim = Simulator(design)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    start = time.perf_counter()
    sim.run()
    seconds = time.perf_counter() - start
    assert np.array_equal(outcome["spikes"], run_layer(layer, weights, spikes, design.v_bits))
    return outcome["cycles"], seconds


def bench_cocotb(simulator, parameters):
    built = build(simulator, **parameters)
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "bench.json"
        tests, failed = run(built, testcase="throughput", extra_env={"SPIKEX_BENCH_OUT": str(out)})
        if failed or not out.exists():
            raise SystemExit(f"{simulator}: the throughput run failed")
        result = json.loads(out.read_text())
    return result["cycles"], result["seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--tws-max", type=int, default=10)
    args = parser.parse_args()
    parameters = dict(rows=args.rows, cols=args.cols, tws_max=args.tws_max)
    rows = []
    for name, fn in (("amaranth.sim", lambda: bench_amaranth(parameters)),
                     ("icarus (cocotb)", lambda: bench_cocotb("icarus", parameters)),
                     ("verilator (cocotb)", lambda: bench_cocotb("verilator", parameters))):
        cycles, seconds = fn()
        rows.append((name, cycles, seconds))
    print(f"\n{args.rows}x{args.cols} PE array, tws_max {args.tws_max}")
    print(f"{'simulator':<20}{'cycles':>10}{'seconds':>10}{'cycles/s':>12}")
    for name, cycles, seconds in rows:
        print(f"{name:<20}{cycles:>10}{seconds:>10.2f}{cycles / seconds:>12.0f}")


if __name__ == "__main__":
    main()
