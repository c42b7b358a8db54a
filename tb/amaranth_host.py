"""The whole accelerator (hw/top.py) under amaranth.sim: a host on AXI4-Lite and a Python
DRAM model on AXI4, running a network from a DRAM image (sim/image.py); and the check of
a run's output spikes and SP-MB tags against the golden model.

:func:`run_top` is what tests/test_top_amaranth.py and tests/test_rtl_vs_analytic.py run;
its DRAM answers one cycle after AR and pipelines bursts (the analytic model's
``dram_latency=1, dram_one_burst=False``).
"""

import numpy as np
from amaranth.sim import Simulator

from hw.axi import ControlRegisters as Regs
from hw.layout import COUNTER_NAMES
from hw.top import SpikeXAccelerator
from sim import golden
from sim.image import pack, read_layer_spikes, read_layer_tags, spmb_tags, spmb_inputs


__all__ = ["BASE", "DramModel", "axil_write", "axil_read", "run_top", "check_outputs"]


BASE = 0x1000
OKAY, SLVERR = 0, 2


class DramModel:
    """An AXI4 slave over a bytearray: reads answer one beat per cycle from the cycle after
    AR, writes (their byte lanes as ``wstrb`` says) are acknowledged one cycle after
    ``wlast``. ``error_at`` answers SLVERR for accesses at or above that address. Beats are
    as wide as the bus's ``rdata``."""

    def __init__(self, data, base, error_at=None):
        self.data, self.base, self.error_at = data, base, error_at
        self.reads, self.writes, self.responses = [], [], []

    def _resp(self, addr):
        return SLVERR if self.error_at is not None and addr >= self.error_at else OKAY

    def _word(self, addr, lanes=4):
        offset = addr - self.base
        if 0 <= offset and offset + lanes <= len(self.data):
            return int.from_bytes(self.data[offset:offset + lanes], "little")
        return 0

    async def step(self, ctx, bus):
        lanes = len(bus.rdata) // 8
        # Drive this cycle's outputs from the state.
        ctx.set(bus.arready, 1)
        ctx.set(bus.awready, 1)
        if self.reads:
            addr, left = self.reads[0]
            ctx.set(bus.rvalid, 1)
            ctx.set(bus.rdata, self._word(addr, lanes))
            ctx.set(bus.rresp, self._resp(addr))
            ctx.set(bus.rlast, left == 1)
        else:
            ctx.set(bus.rvalid, 0)
        ctx.set(bus.wready, 1 if self.writes else 0)
        ctx.set(bus.bvalid, 1 if self.responses else 0)
        if self.responses:
            ctx.set(bus.bresp, self.responses[0])
        # Sample the handshakes.
        ar = ctx.get(bus.arvalid) and (ctx.get(bus.araddr), ctx.get(bus.arlen) + 1)
        aw = ctx.get(bus.awvalid) and (ctx.get(bus.awaddr), ctx.get(bus.awlen) + 1)
        if self.reads and ctx.get(bus.rready):
            addr, left = self.reads[0]
            self.reads[0] = (addr + lanes, left - 1)
            if left == 1:
                self.reads.pop(0)
        if self.writes and ctx.get(bus.wvalid):
            addr, left, resp = self.writes[0]
            offset = addr - self.base
            if 0 <= offset and offset + lanes <= len(self.data):
                data, strobe = ctx.get(bus.wdata).to_bytes(lanes, "little"), ctx.get(bus.wstrb)
                for lane in range(lanes):
                    if strobe >> lane & 1:
                        self.data[offset + lane] = data[lane]
            resp = max(resp, self._resp(addr))
            self.writes[0] = (addr + lanes, left - 1, resp)
            if left == 1:
                self.writes.pop(0)
                self.responses.append(resp)
        if self.responses and ctx.get(bus.bready) and ctx.get(bus.bvalid):
            self.responses.pop(0)
        if ar:
            self.reads.append(ar)
        if aw:
            self.writes.append((*aw, OKAY))


async def axil_write(ctx, bus, addr, value):
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, 0xF)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wvalid, 1)
    ctx.set(bus.bready, 1)
    await ctx.tick().until(bus.bvalid)
    resp = ctx.get(bus.bresp)
    ctx.set(bus.awvalid, 0)
    ctx.set(bus.wvalid, 0)
    await ctx.tick()
    ctx.set(bus.bready, 0)
    return resp


async def axil_read(ctx, bus, addr):
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    ctx.set(bus.rready, 1)
    await ctx.tick().until(bus.rvalid)
    value = ctx.get(bus.rdata)
    ctx.set(bus.arvalid, 0)
    await ctx.tick()
    ctx.set(bus.rready, 0)
    return value


def run_top(net, dataflow="spikex", *, image_data=None, error_at=None, max_cycles=2_000_000,
            block_steps=None, **hardware):
    """Run ``net`` on the accelerator under amaranth.sim, in time blocks of ``block_steps``
    steps when that is less than T.

    Returns ``(image, data, result)``: the packed image, the DRAM bytes after the run, and a
    dict with ``status``, ``error_code``, ``layer`` (LAYER register), ``cycles`` (start to
    ``irq_done``) and ``counters`` (one dict per layer of the network, ``COUNTER_NAMES``).
    """
    # Time blocks (and with them the state memory's GLB share) only for a blocked run,
    # unless ``hardware`` says otherwise.
    blocks = -(-net.timesteps // block_steps) if block_steps else 1
    params = dict(rows=2, cols=3, tws_max=4, glb_kb=8, lbuf_kb=2, max_layers=4,
                  max_entries=1024, max_blocks=blocks)
    params["v_bits"] = net.v_bits
    params.update(hardware)
    dut = SpikeXAccelerator(**params)
    image = pack(net, BASE, block_steps=block_steps)
    data = bytearray(image.data) if image_data is None else bytearray(image_data)
    dram = DramModel(data, BASE, error_at)
    result = {}

    async def bench(ctx):
        lite = dut.s_axil
        await axil_write(ctx, lite, Regs.DESCRIPTOR, BASE)
        await axil_write(ctx, lite, Regs.DATAFLOW, 1 if dataflow == "ptb" else 0)
        await axil_write(ctx, lite, Regs.CONTROL, 1)
        cycles = 0
        while not ctx.get(dut.irq_done):
            await dram.step(ctx, dut.m_axi)
            await ctx.tick()
            cycles += 1
            assert cycles < max_cycles, "the accelerator did not finish"
        result["cycles"] = cycles
        result["status"] = await axil_read(ctx, lite, Regs.STATUS)
        result["error_code"] = await axil_read(ctx, lite, Regs.ERROR_CODE)
        result["layer"] = await axil_read(ctx, lite, Regs.LAYER)
        layers = []
        for k in range(min(len(net.layers), params["max_layers"])):
            layer = {}
            for j, name in enumerate(COUNTER_NAMES):
                address = Regs.COUNTER + 8 * (k * len(COUNTER_NAMES) + j)
                low = await axil_read(ctx, lite, address)
                high = await axil_read(ctx, lite, address + 4)
                layer[name] = low | high << 32
            layers.append(layer)
        result["counters"] = layers

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return image, data, result


def check_outputs(net, image, data):
    expected = golden.run_network(net)
    for k, layer in enumerate(net.layers):
        got = read_layer_spikes(image, k, data)
        assert np.array_equal(got, expected[k]), f"layer {k} spikes differ from golden"
        nxt = net.layers[k + 1] if k + 1 < len(net.layers) else None
        group = spmb_inputs(nxt) if nxt else 16
        assert np.array_equal(read_layer_tags(image, k, data), spmb_tags(expected[k], group)), \
            f"layer {k} output SP-MB tags differ"
        if image.block_steps is not None:
            assert np.array_equal(read_layer_tags(image, k, data, blocks=True),
                                  spmb_tags(expected[k], group, image.block_steps)), \
                f"layer {k} output SP-MB tags of the time blocks differ"
