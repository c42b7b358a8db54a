"""The PE array's Verilog under Icarus and Verilator (cocotb), bit-exact against the golden model.

Each hardware configuration is built once into its own directory under ``build/`` and runs
``tb/test_array.py``: a stall-free timing check of every pass against the dataflow formula,
then random conv and fc layers with random stalls on all four streams (:data:`LAYERS`).
The 2x3-v8 configuration has v_bits = 8, so saturating weights clamp the membrane; the 8x8
has the default, sparse PE, the others each of the other two (``hw.config.PE_KINDS``).
"""

import shutil

import pytest

from tb.runner import build, run


CONFIGS = {
    "1x1-serial": dict(rows=1, cols=1, tws_max=10, v_bits=16, pe="serial"),
    "2x3-v8-serial": dict(rows=2, cols=3, tws_max=5, v_bits=8, pe="serial"),
    "8x8": dict(rows=8, cols=8, tws_max=10, v_bits=16),
    "2x3-parallel": dict(rows=2, cols=3, tws_max=5, v_bits=16, pe="parallel"),
}


def _available(simulator):
    if simulator == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")


#: Random layers a simulation: Verilator runs one in a fraction of a second, Icarus takes
#: seconds at 8x8 (the same Verilog; it checks that another simulator agrees).
LAYERS = {"icarus": 4, "verilator": 20}


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_array_matches_golden(simulator, config):
    _available(simulator)
    built = build(simulator, **CONFIGS[config])
    tests, failed = run(built, layers=LAYERS[simulator], seed=sum(map(ord, config)))
    assert tests >= 2 and failed == 0, f"{failed} of {tests} cocotb tests failed ({simulator}, {config})"
