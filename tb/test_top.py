"""cocotb testbench of the whole accelerator (``spikex_top``) on its real bus interfaces.

cocotbext-axi's ``AxiRam`` is the DRAM, with random pauses on all five channels, and
``AxiLiteMaster`` the host. Random networks (conv and fc, strides, padding, leaks, firing
rates, batches) run in both dataflows and every layer's spikes, read back from DRAM, are
compared bit for bit with the golden model; bad images must end in the error status.
The hardware parameters come from ``SPIKEX_TOP`` (JSON, the dict the Verilog was
generated from), the stimulus from ``SPIKEX_SEED`` and ``SPIKEX_NETWORKS``.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from hw.axi import ControlRegisters
from sim import golden, image as dram_image
from tb.networks import random_network


CONTROL, STATUS, ERROR_CODE, DESCRIPTOR, DATAFLOW = (
    ControlRegisters.CONTROL, ControlRegisters.STATUS, ControlRegisters.ERROR_CODE,
    ControlRegisters.DESCRIPTOR, ControlRegisters.DATAFLOW)
RAM_BYTES = 1 << 20
BASE = 0x1000
TIMEOUT_CYCLES = int(os.environ.get("SPIKEX_TIMEOUT", "200000"))


def random_pauses(seed, probability):
    rng = np.random.default_rng(seed)
    while True:
        yield bool(rng.random() < probability)


class TopTB:
    """Owns the clock, the reset, the DRAM model and the host of one ``spikex_top``."""

    def __init__(self, dut, seed):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=RAM_BYTES)
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        channels = (self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                    self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                    self.ram.read_if.r_channel)
        for n, channel in enumerate(channels):
            channel.set_pause_generator(random_pauses(seed * 8 + n, 0.25))

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    def states(self):
        """The controller's FSM states, for a message that says where a run stopped."""
        names = ("control_state", "prep_state", "passes_on", "prep_end", "running", "streaming",
                 "beat", "run_bank", "prep_bank", "writer_busy")
        return ", ".join(f"{name} {int(getattr(self.dut, name).value)}" for name in names
                         if hasattr(self.dut, name))

    async def run(self, data, dataflow):
        """Load an image at ``BASE``, start, wait for done or error; return ``(status, error_code, dram)``."""
        self.ram.write(BASE, bytes(data))
        await self.host.write_dword(DESCRIPTOR, BASE)
        await self.host.write_dword(DATAFLOW, dataflow)
        await self.host.write_dword(CONTROL, 1)
        for _ in range(TIMEOUT_CYCLES // 10_000):
            status = await self.host.read_dword(STATUS)
            if status & 0b110:
                break
            await First(RisingEdge(self.dut.irq_done), Timer(100_000, unit="ns"))
        else:
            raise AssertionError(f"no done or error within {TIMEOUT_CYCLES} cycles; {self.states()}")
        status = await self.host.read_dword(STATUS)
        code = await self.host.read_dword(ERROR_CODE)
        return status, code, bytearray(self.ram.read(BASE, len(data)))


def _parameters():
    return json.loads(os.environ["SPIKEX_TOP"])


async def run_and_check(tb, net, packed, label):
    """Run ``packed`` in both dataflows; every layer's spikes and output SP-MB tags (of the
    sample and, with time blocks, of each block) must be golden's."""
    expected = golden.run_network(net)
    for dataflow in (0, 1):
        status, code, dram = await tb.run(packed.data, dataflow)
        assert status & 0b110 == 0b010, f"{label}, dataflow {dataflow}: status {status:#x}, error {code}"
        for k, spikes in enumerate(expected):
            where = f"{label}, dataflow {dataflow}, layer {k}"
            got = dram_image.read_layer_spikes(packed, k, dram)
            assert np.array_equal(got, spikes), f"{where}: {int((got != spikes).sum())} spikes differ"
            group = dram_image.output_group(net, k)
            tags = dram_image.read_layer_tags(packed, k, dram)
            assert np.array_equal(tags, dram_image.spmb_tags(spikes, group)), \
                f"{where}: output SP-MB tags differ"
            if packed.block_steps is not None:
                tags = dram_image.read_layer_tags(packed, k, dram, blocks=True)
                assert np.array_equal(tags, dram_image.spmb_tags(spikes, group, packed.block_steps)), \
                    f"{where}: output SP-MB tags of the time blocks differ"


@cocotb.test()
async def random_networks_match_golden(dut):
    """Random networks, both dataflows, random DRAM stalls: every layer bit-exact with golden."""
    parameters = _parameters()
    seed = int(os.environ.get("SPIKEX_SEED", "0"))
    tb = TopTB(dut, seed)
    await tb.reset()
    rng = np.random.default_rng(seed)
    for n in range(int(os.environ.get("SPIKEX_NETWORKS", "3"))):
        net = random_network(rng, max_size=7, timesteps=(4, 6, 12), rates=(0.0001, 0.01, 0.1, 0.3),
                             tws=tuple(t for t in (1, 2, 3) if t <= parameters["tws_max"]),
                             v_bits=(parameters["v_bits"],), max_batch=2)
        await run_and_check(tb, net, dram_image.pack(net, base=BASE), f"network {n}")


@cocotb.test()
async def time_blocks_match_golden(dut):
    """Samples longer than the spike words, cut into time blocks, both dataflows, random DRAM
    stalls: every layer bit-exact with golden, tags of the sample and of each block."""
    parameters = _parameters()
    assert parameters.get("max_blocks", 1) >= 2, "build the accelerator with max_blocks >= 2"
    seed = int(os.environ.get("SPIKEX_SEED", "0"))
    tb = TopTB(dut, seed + 100)
    await tb.reset()
    rng = np.random.default_rng(seed + 100)
    block_max = min(parameters["max_timesteps"], 12)
    for n in range(int(os.environ.get("SPIKEX_NETWORKS", "3"))):
        net = random_network(rng, max_size=6, timesteps=(2 * block_max, 3 * block_max - 6),
                             rates=(0.01, 0.1), tws=tuple(t for t in (1, 2, 3) if t <= parameters["tws_max"]),
                             v_bits=(parameters["v_bits"],), max_batch=2)
        unit = int(np.lcm.reduce([layer.tws for layer in net.layers]))
        block = block_max // unit * unit
        blocks = -(-net.timesteps // block)
        assert 1 < blocks <= parameters["max_blocks"], (net.timesteps, block)
        await run_and_check(tb, net, dram_image.pack(net, base=BASE, block_steps=block),
                            f"network {n} (T {net.timesteps}, blocks of {block})")


@cocotb.test()
async def bad_images_end_in_error(dut):
    """A corrupt header or descriptor ends in STATUS.error with a code, never a hang."""
    parameters = _parameters()
    tb = TopTB(dut, 1)
    await tb.reset()
    net = random_network(np.random.default_rng(5), max_size=5, tws=(1,), timesteps=(4,),
                         v_bits=(parameters["v_bits"],), max_batch=1)
    good = dram_image.pack(net, base=BASE)

    def broken(word_at, value):
        data = bytearray(good.data)
        data[word_at:word_at + 4] = int(value).to_bytes(4, "little")
        return data

    descriptor0 = good.layers[0].descriptor
    cases = {
        "magic": broken(0, 0x12345678),
        "version": broken(4, 99),
        "layer count": broken(8, parameters["max_layers"] + 1),
        "tws above tws_max": broken(descriptor0 + 12 * 4, parameters["tws_max"] + 1),
        "tws zero": broken(descriptor0 + 12 * 4, 0),
        "kind": broken(descriptor0, 7),
    }
    codes = {}
    for name, data in cases.items():
        status, code, _ = await tb.run(data, 0)
        assert status & 0b100, f"{name}: status {status:#x} does not report an error"
        assert code != 0, f"{name}: error status with error code 0"
        codes[name] = code
    # After an error, a good image still runs.
    status, code, dram = await tb.run(good.data, 0)
    assert status & 0b110 == 0b010, f"after errors: status {status:#x}, error {code}"
    assert np.array_equal(dram_image.read_layer_spikes(good, len(net.layers) - 1, dram),
                          golden.run_network(net)[-1])
    dut._log.info("error codes: %s", codes)
