"""The AXI DRAM port and register file under Icarus, against cocotbext-axi (tb/test_axi_port.py)."""

import gc
import re
import shutil
from pathlib import Path

import pytest

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from hw.axi import AxiDramPort, ControlRegisters, verilog


ROOT = Path(__file__).resolve().parents[1]

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")


def run_cocotb(component, toplevel, tests, config):
    """Write ``component`` as Verilog into ``build/<config>/``, build it with Icarus and run
    the cocotb tests of ``tb.test_axi_port`` whose names match ``tests``."""
    build_dir = ROOT / "build" / config
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    source.write_text(verilog(component, toplevel))
    runner = get_runner("icarus")
    runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                 timescale=("1ns", "1ps"), always=True)
    results = runner.test(test_module="tb.test_axi_port", hdl_toplevel=toplevel,
                          build_dir=build_dir, test_dir=build_dir, test_filter=tests,
                          seed=1)
    ran, failed = get_results(results)
    assert ran > 0 and failed == 0, f"{failed} of {ran} cocotb tests failed ({config})"


@needs_icarus
@pytest.mark.parametrize("data_width, word_width", [(32, 32), (64, 64), (64, 32), (128, 32),
                                                    (512, 32)])
def test_dram_port(data_width, word_width):
    run_cocotb(AxiDramPort(data_width=data_width, word_width=word_width), "axi_dram_port",
               "dram_", f"axi_dram_{data_width}_{word_width}")


@needs_icarus
@pytest.mark.parametrize("counter_width", [32, 64])
def test_control_registers(counter_width):
    run_cocotb(ControlRegisters(counters=5, counter_width=counter_width), "control_registers",
               "registers_", f"axi_registers_{counter_width}")


def test_verilog_port_names():
    text = verilog(ControlRegisters(counters=2), "control_registers")
    ports = set(re.findall(r"^\s*(?:input|output) (?:\[\d+:0\] )?(\w+);", text, re.M))
    assert {"s_axil_awaddr", "s_axil_wstrb", "s_axil_rdata", "s_axil_bresp", "start",
            "counters", "clk", "rst"} <= ports
    assert not any("__" in port for port in ports)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameter_checks():
    with pytest.raises(ValueError, match=r"^data_width must be one of 32, 64, 128, 256, 512, "
                                         r"not 48$"):
        AxiDramPort(data_width=48)
    with pytest.raises(ValueError, match=r"^counter_width must be 32 or 64, not 16$"):
        ControlRegisters(counter_width=16)
    with pytest.raises(ValueError, match=r"^addr_width 9 is too small for 40 64-bit counters "
                                         r"\(the map ends at 0x240\)$"):
        ControlRegisters(counters=40, counter_width=64, addr_width=9)
    gc.collect()    # the half-built components warn when collected; inside the filter
