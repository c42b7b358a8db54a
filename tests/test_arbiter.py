"""The DRAM arbiter (hw/arbiter.py) under amaranth.sim, against tb.amaranth_host's AXI4
slave: each client gets its own data, a request that finds the register busy is held and
served later, writes land, and ``abort`` drains a transfer in flight."""

import random

import pytest
from amaranth.sim import Simulator

from hw.arbiter import DramArbiter
from tb.amaranth_host import DramModel


BASE = 0x1000
WORDS = 2048


def memory():
    return bytearray(b"".join((0xA5000000 + i).to_bytes(4, "little") for i in range(WORDS)))


def word(addr):
    return 0xA5000000 + (addr - BASE) // 4


def run(dut, dram, drive, sample, cycles):
    """Each cycle: ``drive(ctx, cycle)`` sets the clients' signals, the DRAM answers, then
    ``sample(ctx, cycle)`` sees the cycle's handshakes (False: done)."""
    async def bench(ctx):
        for cycle in range(cycles):
            drive(ctx, cycle)
            await dram.step(ctx, dut.m_axi)
            if sample(ctx, cycle) is False:
                return
            await ctx.tick()
        raise AssertionError(f"not done after {cycles} cycles")
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


class Reader:
    """A read client: asks for its requests one after another, takes their words."""

    def __init__(self, port, requests, rng):
        self.port, self.requests, self.rng = port, list(requests), rng
        self.words, self.taken_at, self.outstanding = [], [], 0

    def drive(self, ctx):
        asking = bool(self.requests) and self.outstanding == 0
        ctx.set(self.port.request.valid, asking)
        if asking:
            addr, nbytes = self.requests[0]
            ctx.set(self.port.request.payload, {"addr": addr, "length": nbytes})
        ctx.set(self.port.data.ready, self.rng.random() < 0.8)

    def sample(self, ctx, cycle):
        port = self.port
        if ctx.get(port.data.valid):
            assert self.outstanding, "data reached a client with no request in flight"
            if ctx.get(port.data.ready):
                self.words.append(ctx.get(port.data.payload))
                self.outstanding -= 1
        if ctx.get(port.request.valid) and ctx.get(port.request.ready):
            self.taken_at.append(cycle)
            self.outstanding = self.requests.pop(0)[1] // 4

    @property
    def done(self):
        return not self.requests and self.outstanding == 0


# The bus as wide as the clients' words, and wider (the port takes the words out of beats).
WIDTHS = pytest.mark.parametrize("data_width", [32, 128])


@WIDTHS
def test_each_reader_gets_its_own_words_and_a_busy_register_holds_a_request(data_width):
    rng = random.Random(1)
    dut = DramArbiter(readers=3, writers=1, data_width=data_width, word_width=32)
    dram = DramModel(memory(), BASE)
    plans = [[(BASE + 0x100, 40), (BASE + 0x404, 8)], [(BASE + 0x800, 12)],
             [(BASE + 0x200, 64), (BASE + 0x0, 4)]]
    readers = [Reader(dut.read[i], plans[i], rng) for i in range(3)]

    def drive(ctx, cycle):
        for r in readers:
            r.drive(ctx)

    def sample(ctx, cycle):
        for r in readers:
            r.sample(ctx, cycle)
        return not all(r.done for r in readers)

    run(dut, dram, drive, sample, 3000)
    for r, plan in zip(readers, plans):
        assert r.words == [word(a + 4 * k) for a, n in plan for k in range(n // 4)]
    # All three asked in cycle 0: client 0 was taken then, the others later, one at a time.
    firsts = [r.taken_at[0] for r in readers]
    assert firsts[0] == 0 and firsts[1] > 0 and firsts[2] > 0 and firsts[1] != firsts[2]
    assert len({t for r in readers for t in r.taken_at}) == sum(len(p) for p in plans)


@WIDTHS
def test_abort_drains_a_read_and_the_next_request_is_served(data_width):
    rng = random.Random(2)
    dut = DramArbiter(readers=2, writers=1, data_width=data_width, word_width=32)
    dram = DramModel(memory(), BASE)
    first = Reader(dut.read[1], [(BASE + 0x600, 64)], rng)
    second = Reader(dut.read[0], [(BASE + 0x40, 16)], rng)
    state = {"phase": "read"}

    def drive(ctx, cycle):
        if state["phase"] == "read":
            first.drive(ctx)
        elif state["phase"] == "abort":
            # The run stopped: the rest of the burst is taken and dropped, no client sees it.
            ctx.set(dut.read[1].request.valid, 0)
            ctx.set(dut.read[1].data.ready, 0)
        else:
            ctx.set(dut.abort, 0)
            second.drive(ctx)

    def sample(ctx, cycle):
        if state["phase"] == "read":
            first.sample(ctx, cycle)
            if len(first.words) == 3:
                # Registered: from the next cycle on.
                ctx.set(dut.abort, 1)
                state["phase"] = "abort"
        elif state["phase"] == "abort":
            assert not ctx.get(dut.read[1].data.valid), "a client saw data while aborted"
            if not ctx.get(dut.busy):
                state["phase"] = "next"
        else:
            second.sample(ctx, cycle)
            return not second.done

    run(dut, dram, drive, sample, 2000)
    assert first.words == [word(BASE + 0x600 + 4 * k) for k in range(3)]
    assert second.words == [word(BASE + 0x40 + 4 * k) for k in range(4)]


@WIDTHS
def test_writes_without_abort_land_exactly(data_width):
    rng = random.Random(3)
    dut = DramArbiter(readers=1, writers=1, data_width=data_width, word_width=32)
    data = memory()
    dram = DramModel(data, BASE)
    values = [rng.getrandbits(32) for _ in range(40)]
    state = {"sent": 0, "asked": False}
    write = dut.write[0]

    def drive(ctx, cycle):
        ctx.set(write.request.valid, not state["asked"])
        ctx.set(write.request.payload, {"addr": BASE + 0xF84, "length": 4 * len(values)})
        state["sending"] = state["sent"] < len(values) and rng.random() < 0.6
        ctx.set(write.data.valid, state["sending"])
        if state["sending"]:
            ctx.set(write.data.payload, values[state["sent"]])

    def sample(ctx, cycle):
        if state["sending"] and ctx.get(write.data.ready):
            assert state["asked"], "write data was taken before its request"
            state["sent"] += 1
        if ctx.get(write.request.valid) and ctx.get(write.request.ready):
            state["asked"] = True
        return not (state["sent"] == len(values) and not ctx.get(dut.write_busy))

    run(dut, dram, drive, sample, 2000)
    # 0xF84 + 160 bytes crosses the 4 KB page at 0x2000: the port splits the burst. The
    # words around the write, in its first and last beats when a beat is wider, keep theirs.
    got = [int.from_bytes(data[0xF84 + 4 * k:0xF88 + 4 * k], "little") for k in range(40)]
    assert got == values
    assert data[0xF80:0xF84] == memory()[0xF80:0xF84]
    assert data[0xF84 + 160:0xF84 + 176] == memory()[0xF84 + 160:0xF84 + 176]
