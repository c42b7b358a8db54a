"""cocotb host program for whole-network runs of ``spikex_tb`` (``sim.rtl.run_rtl(...,
harness="cocotb")``; ``spikex run`` uses the Verilog host tb/spikex_host.v, which does the
same without Python, and a test shows that both give the same spikes and counters).

It plays the CPU of an FPGA design: writes the image address and the dataflow to the
accelerator's AXI4-Lite registers, starts it, waits for ``irq_done`` (the simulator runs
free meanwhile: no Python per cycle), reads the status and the per-layer counter
registers, and asks the DRAM model to dump its contents. Its inputs and outputs are
files named in the environment by :mod:`sim.rtl`:

- ``SPIKEX_RUN``: JSON with ``base``, ``dataflow`` (0 SpikeX, 1 PTB), ``layers``,
  ``max_layers``, ``counters_per_layer``, ``timeout_cycles`` and ``result`` (path of the
  JSON this program writes: status, error code, counters, cycles).
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge, Timer

from hw.axi import ControlRegisters


CONTROL, STATUS, ERROR_CODE, DESCRIPTOR = (ControlRegisters.CONTROL, ControlRegisters.STATUS,
                                           ControlRegisters.ERROR_CODE, ControlRegisters.DESCRIPTOR)
DATAFLOW, LAYER, COUNTERS = ControlRegisters.DATAFLOW, ControlRegisters.LAYER, ControlRegisters.COUNTER
PERIOD_NS = 10


class AxiLiteHost:
    """A minimal AXI4-Lite master: a handful of transactions, so it may step per cycle."""

    def __init__(self, dut):
        self.dut = dut
        for name in ("awvalid", "wvalid", "bready", "arvalid", "rready"):
            getattr(dut, f"s_axil_{name}").value = 0
        dut.s_axil_wstrb.value = 0xF

    async def write(self, address, value):
        dut = self.dut
        dut.s_axil_awaddr.value = address
        dut.s_axil_wdata.value = value
        dut.s_axil_awvalid.value = 1
        dut.s_axil_wvalid.value = 1
        dut.s_axil_bready.value = 1
        aw_done = w_done = False
        while not (aw_done and w_done):
            await RisingEdge(dut.clk)
            aw_done = aw_done or bool(dut.s_axil_awready.value)
            w_done = w_done or bool(dut.s_axil_wready.value)
            if aw_done:
                dut.s_axil_awvalid.value = 0
            if w_done:
                dut.s_axil_wvalid.value = 0
        while not dut.s_axil_bvalid.value:
            await RisingEdge(dut.clk)
        response = int(dut.s_axil_bresp.value)
        await RisingEdge(dut.clk)
        dut.s_axil_bready.value = 0
        assert response == 0, f"AXI4-Lite write of {value:#x} to {address:#x} answered {response}"

    async def read(self, address):
        dut = self.dut
        dut.s_axil_araddr.value = address
        dut.s_axil_arvalid.value = 1
        dut.s_axil_rready.value = 1
        while True:
            await RisingEdge(dut.clk)
            if dut.s_axil_arready.value:
                dut.s_axil_arvalid.value = 0
                break
        while True:
            await ReadOnly()
            if dut.s_axil_rvalid.value:
                value, response = int(dut.s_axil_rdata.value), int(dut.s_axil_rresp.value)
                break
            await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.s_axil_rready.value = 0
        assert response == 0, f"AXI4-Lite read of {address:#x} answered {response}"
        return value


async def read_counters(host, layers, per_layer):
    counters = []
    for k in range(layers):
        row = []
        for j in range(per_layer):
            address = COUNTERS + 8 * (k * per_layer + j)
            low = await host.read(address)
            high = await host.read(address + 4)
            row.append(low | high << 32)
        counters.append(row)
    return counters


@cocotb.test()
async def run_network(dut):
    """Run the image in the DRAM model to completion (or error, or time-out)."""
    run = json.loads(os.environ["SPIKEX_RUN"])
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    host = AxiLiteHost(dut)
    dut.dump.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    await host.write(DESCRIPTOR, run["base"])
    await host.write(DATAFLOW, run["dataflow"])
    await host.write(CONTROL, 1)

    # Wait for done in slices, reading the LAYER register between them for progress.
    progress = open(run["progress"], "w") if run.get("progress") else None
    waited, slice_cycles = 0, run.get("slice_cycles", 200_000)
    timed_out = False
    while not dut.irq_done.value:
        status = await host.read(STATUS)
        if status & 0b100:
            break
        if waited >= run["timeout_cycles"]:
            timed_out = True
            break
        await First(RisingEdge(dut.irq_done), Timer(slice_cycles * PERIOD_NS, unit="ns"))
        waited += slice_cycles
        if progress:
            progress.write(f"{await host.read(LAYER)}\n")
            progress.flush()
    status = await host.read(STATUS)
    result = {"status": status, "error_code": await host.read(ERROR_CODE), "timed_out": timed_out}
    if not timed_out and status & 0b010:
        result["counters"] = await read_counters(host, run["layers"], run["counters_per_layer"])
    dut.dump.value = 1
    await ClockCycles(dut.clk, 2)
    with open(run["result"], "w") as f:
        json.dump(result, f)
