"""cocotb tests of ``hw/axi.py`` against cocotbext-axi's bus models (run by tests/test_axi.py).

The ``dram_*`` tests need the Verilog of :class:`hw.axi.AxiDramPort`, the ``registers_*``
tests that of :class:`hw.axi.ControlRegisters`, both written by :func:`hw.axi.verilog`.
Widths are read from the design's ports.
"""

import itertools
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam, AxiResp


RAM_BYTES = 1 << 16
PAGE_BYTES = 4096


def random_pauses(seed, probability):
    rng = random.Random(seed)
    return (rng.random() < probability for _ in itertools.count())


async def reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class DramTB:
    """Owns the clock, reset, the AXI RAM (with random backpressure) and a burst monitor."""

    def __init__(self, dut, seed):
        self.dut = dut
        self.rng = random.Random(seed)
        self.lanes = len(dut.m_axi_wdata) // 8              # bytes of a beat
        self.word_lanes = len(dut.write_data_payload) // 8  # bytes of a client word
        self.addr_width = len(dut.m_axi_araddr)
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=RAM_BYTES)
        for n, channel in enumerate((self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                                     self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                                     self.ram.read_if.r_channel)):
            channel.set_pause_generator(random_pauses(seed * 8 + n, 0.3))
        self.bursts = {"aw": [], "ar": []}
        for dut_stream in ("read_request", "write_request", "write_data"):
            getattr(dut, f"{dut_stream}_valid").value = 0
        dut.read_data_ready.value = 0

    async def start(self):
        await reset(self.dut)
        for channel in self.bursts:
            cocotb.start_soon(self.monitor(channel))

    async def monitor(self, channel):
        """Record every burst and check it is at most 16 beats and inside one 4 KB page."""
        dut = self.dut
        valid, ready = getattr(dut, f"m_axi_{channel}valid"), getattr(dut, f"m_axi_{channel}ready")
        while True:
            await RisingEdge(dut.clk)
            if valid.value and ready.value:
                addr = int(getattr(dut, f"m_axi_{channel}addr").value)
                beats = int(getattr(dut, f"m_axi_{channel}len").value) + 1
                assert beats <= 16, f"{channel} burst of {beats} beats at {addr:#x}"
                last = addr + beats * self.lanes - 1
                assert addr // PAGE_BYTES == last // PAGE_BYTES, \
                    f"{channel} burst {addr:#x}..{last:#x} crosses a 4 KB boundary"
                self.bursts[channel].append((addr, beats))

    async def put(self, name, payload):
        """Offer ``payload`` on stream ``name`` (with idle cycles first) until it is taken."""
        dut = self.dut
        while self.rng.random() < 0.3:
            await RisingEdge(dut.clk)
        getattr(dut, f"{name}_payload").value = payload
        getattr(dut, f"{name}_valid").value = 1
        await RisingEdge(dut.clk)
        while not getattr(dut, f"{name}_ready").value:
            await RisingEdge(dut.clk)
        getattr(dut, f"{name}_valid").value = 0

    def request(self, addr, length):
        return addr | length << self.addr_width

    async def wait_idle(self):
        while self.dut.busy.value:
            await RisingEdge(self.dut.clk)

    async def write(self, addr, data):
        await self.put("write_request", self.request(addr, len(data)))
        for i in range(0, len(data), self.word_lanes):
            await self.put("write_data", int.from_bytes(data[i:i + self.word_lanes], "little"))
        await RisingEdge(self.dut.clk)
        await self.wait_idle()

    async def read(self, addr, length):
        dut = self.dut
        await self.put("read_request", self.request(addr, length))
        words = []
        while len(words) < length // self.word_lanes:
            ready = self.rng.random() < 0.7
            dut.read_data_ready.value = ready
            await RisingEdge(dut.clk)
            if ready and dut.read_data_valid.value:
                words.append(int(dut.read_data_payload.value))
        dut.read_data_ready.value = 0
        await RisingEdge(dut.clk)
        await self.wait_idle()
        return b"".join(w.to_bytes(self.word_lanes, "little") for w in words)


def transfers(lanes, word_lanes):
    """(address, length): one beat, one whole burst, 4 KB crossings, a long run; with client
    words narrower than a beat, also one word, and runs that start and end inside a beat."""
    cases = [
        (0x0000, lanes),
        (0x0100, 16 * lanes),
        (PAGE_BYTES - 3 * lanes, 8 * lanes),            # crosses 0x1000 three beats in
        (2 * PAGE_BYTES - 40 * lanes, 100 * lanes),     # several bursts, crosses 0x2000
        (0x5000 - lanes, 2 * lanes),                    # one beat each side of 0x5000
    ]
    if word_lanes < lanes:
        cases += [
            (0x6000 + word_lanes, word_lanes),                     # one word inside a beat
            (0x6100 + lanes - word_lanes, 2 * word_lanes),         # two words, two beats
            (0x7000 - 3 * lanes + word_lanes, 40 * lanes - word_lanes),   # crosses 0x7000
            (0x8000 + word_lanes, 17 * lanes - 2 * word_lanes),    # 17 beats, both ends partial
        ]
    return cases


def beats_of(addr, length, lanes):
    """The beats a request touches: from its first byte's beat to its last's."""
    return (addr + length - 1) // lanes - addr // lanes + 1


def expected_bursts(addr, length, lanes):
    """The bursts the port should issue: from the beat that holds the first byte, 16 beats
    at most, cut at every 4 KB boundary."""
    bursts, beats = [], beats_of(addr, length, lanes)
    addr -= addr % lanes
    while beats:
        n = min(16, beats, (PAGE_BYTES - addr % PAGE_BYTES) // lanes)
        bursts.append((addr, n))
        addr, beats = addr + n * lanes, beats - n
    return bursts


@cocotb.test(timeout_time=200, timeout_unit="us")
async def dram_write_then_read_back(dut):
    """Writes through the port land in the RAM; reads through the port return them."""
    tb = DramTB(dut, seed=1)
    await tb.start()
    moved = 0
    for addr, length in transfers(tb.lanes, tb.word_lanes):
        data = bytes(tb.rng.randrange(256) for _ in range(length))
        # The bytes of the first and last beats outside the request must stay as they were.
        start, end = addr - addr % tb.lanes, addr + beats_of(addr, length, tb.lanes) * tb.lanes
        around = bytes(tb.rng.randrange(256) for _ in range(end - start))
        tb.ram.write(start, around)
        await tb.write(addr, data)
        assert tb.ram.read(addr, length) == data, f"RAM at {addr:#x} differs after write"
        assert tb.ram.read(start, addr - start) == around[:addr - start], \
            f"RAM before {addr:#x} in its beat changed"
        assert tb.ram.read(addr + length, end - addr - length) == around[addr + length - start:], \
            f"RAM after {addr + length:#x} in its beat changed"
        assert await tb.read(addr, length) == data, f"read back at {addr:#x} differs"
        moved += beats_of(addr, length, tb.lanes) * tb.lanes
        for channel in ("aw", "ar"):
            issued, tb.bursts[channel] = tb.bursts[channel], []
            assert issued == expected_bursts(addr, length, tb.lanes), \
                f"{channel} bursts for {length} bytes at {addr:#x}: {issued}"
    assert int(dut.bytes_written.value) == moved
    assert int(dut.bytes_read.value) == moved
    assert not dut.error.value


@cocotb.test(timeout_time=200, timeout_unit="us")
async def dram_empty_requests_move_nothing(dut):
    """A request of no bytes, at the start of a beat or inside one, issues no burst."""
    tb = DramTB(dut, seed=3)
    await tb.start()
    for addr in (0x100, 0x100 + tb.word_lanes):
        await tb.write(addr, b"")
        assert await tb.read(addr, 0) == b""
    assert tb.bursts == {"aw": [], "ar": []}
    assert int(dut.bytes_read.value) == int(dut.bytes_written.value) == 0


@cocotb.test(timeout_time=200, timeout_unit="us")
async def dram_reads_preloaded_memory(dut):
    """A long read of data placed in the RAM by the test, not by the port."""
    tb = DramTB(dut, seed=2)
    await tb.start()
    data = bytes(tb.rng.randrange(256) for _ in range(3 * PAGE_BYTES // 4 - tb.word_lanes))
    addr = PAGE_BYTES * 3 - len(data) // 2 - tb.word_lanes // 2
    addr -= addr % tb.word_lanes
    tb.ram.write(addr, data)
    assert await tb.read(addr, len(data)) == data
    assert tb.bursts["ar"] == expected_bursts(addr, len(data), tb.lanes)
    assert int(dut.bytes_read.value) == beats_of(addr, len(data), tb.lanes) * tb.lanes


class RegistersTB:
    """Owns the clock, reset, the AXI-Lite master and a monitor of ``start`` pulses."""

    def __init__(self, dut):
        self.dut = dut
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.starts = 0
        for port in ("busy", "done", "error", "error_code", "counters"):
            getattr(dut, port).value = 0

    async def start(self):
        await reset(self.dut)
        cocotb.start_soon(self.count_starts())

    async def count_starts(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.starts += int(self.dut.start.value)

    async def read(self, addr):
        return int.from_bytes((await self.master.read(addr, 4)).data, "little")

    async def write(self, addr, value):
        return (await self.master.write(addr, value.to_bytes(4, "little"))).resp


@cocotb.test(timeout_time=50, timeout_unit="us")
async def registers_control_and_status(dut):
    tb = RegistersTB(dut)
    await tb.start()
    assert await tb.write(0x00, 1) == AxiResp.OKAY
    await ClockCycles(dut.clk, 4)
    assert tb.starts == 1, f"one write of 1 to CONTROL gave {tb.starts} start pulses"
    await tb.write(0x00, 0)
    await ClockCycles(dut.clk, 4)
    assert tb.starts == 1, "writing 0 must not start"
    for busy, done, error in itertools.product((0, 1), repeat=3):
        dut.busy.value, dut.done.value, dut.error.value = busy, done, error
        assert await tb.read(0x04) == busy | done << 1 | error << 2
    dut.error_code.value = 0xDEAD0007
    assert await tb.read(0x08) == 0xDEAD0007
    assert await tb.write(0x0C, 0x8000_1230) == AxiResp.OKAY
    assert int(dut.descriptor.value) == 0x8000_1230
    assert await tb.read(0x0C) == 0x8000_1230
    assert (await tb.master.write(0x0C, b"\x55")).resp == AxiResp.OKAY    # one byte lane
    assert await tb.read(0x0C) == 0x8000_1255
    # Read-only and unmapped addresses answer SLVERR and change nothing.
    assert await tb.write(0x04, 0xFFFF_FFFF) == AxiResp.SLVERR
    assert (await tb.master.read(0x14, 4)).resp == AxiResp.SLVERR
    assert tb.starts == 1


@cocotb.test(timeout_time=50, timeout_unit="us")
async def registers_counters(dut):
    tb = RegistersTB(dut)
    await tb.start()
    info = await tb.read(0x10)
    counters, words = info & 0xFFFF, info >> 16
    width = len(dut.counters) // counters
    assert width == 32 * words, f"INFO says {words} words for {width}-bit counters"
    rng = random.Random(3)
    values = [rng.randrange(1 << width) for _ in range(counters)]
    dut.counters.value = sum(v << (width * k) for k, v in enumerate(values))
    for k, value in enumerate(values):
        base = 0x100 + 4 * words * k
        got = await tb.read(base)
        if words == 2:
            # The high word was latched with the low one: a change in between is not seen.
            dut.counters.value = 0
            got |= await tb.read(base + 4) << 32
            dut.counters.value = sum(v << (width * k) for k, v in enumerate(values))
        assert got == value, f"counter {k}: {got:#x} != {value:#x}"
    assert (await tb.master.read(0x100 + 4 * words * counters, 4)).resp == AxiResp.SLVERR
