"""cocotb testbench of the simulation DRAM model ``tb/axi_ram.v``: cocotbext-axi's
``AxiMaster`` writes and reads bursts through it, and its ``$readmemh`` image and
``$writememh`` dump are checked against the files named by its plusargs."""


import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiMaster


@cocotb.test()
async def bursts_image_and_dump(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst)
    dut.dump.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    # The image loaded by $readmemh: word i holds i * 0x01010101 (the pytest side wrote it).
    first = await master.read(0, 64)
    assert bytes(first.data) == np.arange(16, dtype="<u4").__mul__(0x01010101).astype("<u4").tobytes()
    rng = np.random.default_rng(0)
    for address, length in ((0x100, 4), (0x204, 60), (0xFF0, 40), (0x3000, 1024)):
        payload = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
        await master.write(address, payload)
        back = await master.read(address, length)
        assert bytes(back.data) == payload, f"burst at {address:#x}, {length} bytes"
    await master.write(0x10, b"\xAA\xBB")          # a partial word: byte strobes
    dut.dump.value = 1
    await ClockCycles(dut.clk, 2)
