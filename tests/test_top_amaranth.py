"""The whole accelerator (hw/top.py) under amaranth.sim: a host on AXI4-Lite, a Python DRAM
model on AXI4, whole networks from a DRAM image (sim/image.py) against sim.golden."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.layout import COUNTER_NAMES
from hw.top import ERROR_CODES, SpikeXAccelerator
from sim import golden
from sim.image import pack, read_layer_spikes, read_layer_tags, spmb_tags, spmb_inputs
from spikex.example import example_network
from spikex.netfile import ConvLayer, FcLayer, Network
from tb.networks import random_network


BASE = 0x1000
OKAY, SLVERR = 0, 2


class DramModel:
    """An AXI4 slave over a bytearray: reads answer one beat per cycle from the cycle after
    AR, writes are acknowledged one cycle after ``wlast``. ``error_at`` answers SLVERR for
    accesses at or above that address."""

    def __init__(self, data, base, error_at=None):
        self.data, self.base, self.error_at = data, base, error_at
        self.reads, self.writes, self.responses = [], [], []

    def _resp(self, addr):
        return SLVERR if self.error_at is not None and addr >= self.error_at else OKAY

    def _word(self, addr):
        offset = addr - self.base
        if 0 <= offset and offset + 4 <= len(self.data):
            return int.from_bytes(self.data[offset:offset + 4], "little")
        return 0

    async def step(self, ctx, bus):
        # Drive this cycle's outputs from the state.
        ctx.set(bus.arready, 1)
        ctx.set(bus.awready, 1)
        if self.reads:
            addr, left = self.reads[0]
            ctx.set(bus.rvalid, 1)
            ctx.set(bus.rdata, self._word(addr))
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
            self.reads[0] = (addr + 4, left - 1)
            if left == 1:
                self.reads.pop(0)
        if self.writes and ctx.get(bus.wvalid):
            addr, left, resp = self.writes[0]
            offset = addr - self.base
            if 0 <= offset and offset + 4 <= len(self.data):
                self.data[offset:offset + 4] = ctx.get(bus.wdata).to_bytes(4, "little")
            resp = max(resp, self._resp(addr))
            self.writes[0] = (addr + 4, left - 1, resp)
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
    params = dict(rows=2, cols=3, tws_max=4, glb_kb=8, lbuf_kb=2, max_layers=4,
                  max_entries=1024)
    params["v_bits"] = net.v_bits
    params.update(hardware)
    dut = SpikeXAccelerator(**params)
    image = pack(net, BASE, block_steps=block_steps)
    data = bytearray(image.data) if image_data is None else bytearray(image_data)
    dram = DramModel(data, BASE, error_at)
    result = {}

    async def bench(ctx):
        lite = dut.s_axil
        await axil_write(ctx, lite, 0x0C, BASE)
        await axil_write(ctx, lite, 0x14, 1 if dataflow == "ptb" else 0)
        await axil_write(ctx, lite, 0x00, 1)
        cycles = 0
        while not ctx.get(dut.irq_done):
            await dram.step(ctx, dut.m_axi)
            await ctx.tick()
            cycles += 1
            assert cycles < max_cycles, "the accelerator did not finish"
        result["cycles"] = cycles
        result["status"] = await axil_read(ctx, lite, 0x04)
        result["error_code"] = await axil_read(ctx, lite, 0x08)
        result["layer"] = await axil_read(ctx, lite, 0x18)
        layers = []
        for k in range(min(len(net.layers), params["max_layers"])):
            layer = {}
            for j, name in enumerate(COUNTER_NAMES):
                address = 0x100 + 8 * (k * 12 + j)
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


def tiny_network(seed=0, batch=1, timesteps=8, rate=0.3):
    rng = np.random.default_rng(seed)
    conv = ConvLayer(in_channels=2, in_size=(5, 5), out_channels=3, kernel=3, stride=2,
                     padding=1, threshold=40, leak_shift=2, tws=2)
    fc = FcLayer(in_features=27, out_features=4, threshold=30, leak_shift=1, tws=4)
    weights = [rng.integers(-60, 100, size=conv.weight_shape),
               rng.integers(-60, 100, size=fc.weight_shape)]
    x = (rng.random((batch, timesteps, 2, 5, 5)) < rate).astype(np.uint8)
    return Network([conv, fc], weights, x, weight_bits=8, v_bits=16)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_tiny_network_matches_golden(dataflow):
    net = tiny_network()
    image, data, result = run_top(net, dataflow)
    assert result["status"] == 0b010, f"status {result['status']:#x}, error {result['error_code']}"
    check_outputs(net, image, data)
    assert result["layer"] == len(net.layers) * net.batch
    for layer in result["counters"][:len(net.layers)]:
        assert layer["cycles"] > layer["busy_cycles"] > 0
        assert layer["acc_ops"] > 0 and layer["active_ntwus"] > 0
        assert layer["lbuf_reads"] == layer["lbuf_writes"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_random_networks_match_golden(seed, dataflow):
    net = random_network(np.random.default_rng(seed))
    image, data, result = run_top(net, dataflow, v_bits=net.v_bits, rows=2, cols=2)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    check_outputs(net, image, data)


def test_example_network_batch():
    net = example_network(batch=2, timesteps=20, firing_rate=0.15, seed=0)
    image, data, result = run_top(net, "spikex", tws_max=5, glb_kb=16, rows=4, cols=4)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    check_outputs(net, image, data)
    assert result["layer"] == 6


# tests/test_rtl_vs_analytic.py also checks blocked runs against golden (with every
# counter); the cases here that it covers are marked slow.
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("timesteps, block", [pytest.param(24, 8, marks=pytest.mark.slow), (20, 8),
                                              pytest.param(24, 12, marks=pytest.mark.slow)],
                         ids=["3-blocks", "short-last-block", "2-blocks"])
def test_time_blocks_match_golden(timesteps, block, dataflow):
    # T longer than the 8- or 16-step spike words: each row group runs block after block,
    # membranes and last active steps carried over (20 = 8 + 8 + 4).
    net = tiny_network(batch=2, timesteps=timesteps, rate=0.2)
    image, data, result = run_top(net, dataflow, block_steps=block,
                                  max_timesteps=-(-block // 8) * 8)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    assert image.block_steps == block
    check_outputs(net, image, data)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_time_blocks_of_random_networks_match_golden(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, timesteps=(12, 18, 24), max_batch=2)
    unit = int(np.lcm.reduce([layer.tws for layer in net.layers]))
    block = int(rng.choice(range(unit, net.timesteps, unit)))
    image, data, result = run_top(net, ["spikex", "ptb"][seed % 2], block_steps=block,
                                  v_bits=net.v_bits, rows=2, cols=2,
                                  max_timesteps=-(-block // 8) * 8)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    check_outputs(net, image, data)


@pytest.mark.parametrize("what, code", [("too-many-blocks", 5), ("block-too-long", 5),
                                        ("tws", 8)])
def test_bad_time_block_ends_in_error(what, code):
    net = tiny_network(timesteps=24)
    image = pack(net, BASE, block_steps=8)
    if what == "too-many-blocks":       # 24 steps in blocks of 1 need 24 blocks; 16 at most
        data = patched(image, 40, 1)
    elif what == "block-too-long":      # spike words of 16 steps
        data = patched(image, 40, 20)
    else:                               # the fc layer's tws 4 does not divide a block of 6
        data = patched(image, 40, 6)
    _, _, result = run_top(net, image_data=data, max_timesteps=16)
    assert result["status"] == 0b110, f"status {result['status']:#x}"
    assert result["error_code"] == code, ERROR_CODES.get(result["error_code"])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_without_time_blocks_a_long_sample_is_refused():
    # max_blocks 1 builds no membrane memories: a blocked image ends in error 5.
    net = tiny_network(timesteps=24)
    image = pack(net, BASE, block_steps=8)
    _, _, result = run_top(net, image_data=image.data, block_steps=8, max_timesteps=8,
                           max_blocks=1)
    assert result["status"] == 0b110 and result["error_code"] == 5
    assert not hasattr(SpikeXAccelerator(max_blocks=1), "glb_state")


def patched(image, offset, value):
    data = bytearray(image.data)
    data[offset:offset + 4] = int(value).to_bytes(4, "little")
    return data


@pytest.mark.parametrize("what, code", [
    ("magic", 1), ("version", 2), ("layers", 3), ("batch", 4), ("timesteps", 5),
    ("kind", 7), ("tws", 8), ("size", 9), ("fan_in", 10), ("axi", 12)])
def test_bad_image_ends_in_error(what, code):
    net = tiny_network()
    image = pack(net, BASE)
    descriptor = image.layers[1].descriptor
    data, error_at = image.data, None
    if what == "magic":
        data = patched(image, 0, 0x12345678)
    elif what == "version":
        data = patched(image, 4, 2)
    elif what == "layers":
        data = patched(image, 8, 5)               # max_layers is 4
    elif what == "batch":
        data = patched(image, 12, 0)
    elif what == "timesteps":
        data = patched(image, 16, 65)
    elif what == "kind":
        data = patched(image, descriptor, 2)
    elif what == "tws":
        data = patched(image, descriptor + 12 * 4, 5)   # tws_max is 4
    elif what == "size":
        data = patched(image, descriptor + 1 * 4, 4000)  # fc inputs beyond the GLB
    elif what == "fan_in":
        data = patched(image, descriptor + 13 * 4, 26)
    elif what == "axi":
        error_at = BASE + image.layers[1].weights
    _, _, result = run_top(net, image_data=data, error_at=error_at)
    assert result["status"] == 0b110, f"status {result['status']:#x}"
    assert result["error_code"] == code, ERROR_CODES.get(result["error_code"])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"^data_width must be 32 \(the only width the "
                                         r"controller supports\), not 64$"):
        SpikeXAccelerator(data_width=64)
    with pytest.raises(ValueError, match=r"^weight_bits must be an integer in 2..16, not 17$"):
        SpikeXAccelerator(weight_bits=17, acc_bits=24)
    with pytest.raises(ValueError, match=r"^rows must be a positive integer, not 0$"):
        SpikeXAccelerator(rows=0)


def test_verilog_of_the_accelerator_compiles(tmp_path):
    import argparse
    import re
    import shutil
    import subprocess
    from hw.cli import register
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers())
    out = tmp_path / "spikex_top.v"
    args = parser.parse_args(["verilog", "--what", "accelerator", "--rows", "2", "--cols", "2",
                              "--tws-max", "4", "--glb-kb", "4", "-o", str(out)])
    args.func(args)
    text = out.read_text()
    assert "module spikex_top(" in text
    for port in ("input clk;", "input rst;", "output irq_done;", "output [31:0] m_axi_araddr;",
                 "input [31:0] m_axi_rdata;", "output m_axi_awid;", "input [15:0] s_axil_awaddr;",
                 "output [31:0] s_axil_rdata;"):
        assert re.search(r"^\s*" + re.escape(port), text, re.M), port
    if shutil.which("iverilog"):
        subprocess.run(["iverilog", "-g2012", "-s", "spikex_top", "-o", str(tmp_path / "top.vvp"),
                        str(out)], check=True)


def test_buffer_limits_follow_the_memories_the_top_builds():
    # hw/limits.py sizes the LBUF beat without Amaranth; it must be the gather's entry.
    from hw.gather import lbuf_entry_layout
    from hw.limits import accelerator_limits
    for rows, cols, tws_max, weight_bits in [(8, 8, 10, 8), (2, 3, 4, 8), (3, 2, 4, 12)]:
        dut = SpikeXAccelerator(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                                glb_kb=8, lbuf_kb=2, max_timesteps=32)
        limits = accelerator_limits(rows=rows, cols=cols, tws_max=tws_max,
                                    weight_bits=weight_bits, glb_kb=8, lbuf_kb=2, max_timesteps=32)
        entry_bytes = -(-lbuf_entry_layout(rows, cols, tws_max, weight_bits).size // 8)
        assert dut.lbuf_depth == limits["lbuf_depth"] == 2048 // 2 // entry_bytes
