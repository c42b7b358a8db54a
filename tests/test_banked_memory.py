"""The banked memory of the spike GLB and the location tags (hw/banked_memory.py): under
amaranth.sim against a plain memory, and through Yosys, its block RAM count."""

import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.banked_memory import BankedMemory
from hw.synth import synthesise


class PlainMemory:
    """The memory it stands for: one array; a synchronous read gives the word before this
    cycle's write (the writer's read: after it) and holds while not enabled."""

    def __init__(self, depth, readers):
        self.words = [0] * depth
        self.data = [0] * readers
        self.writer_data = 0

    def clock(self, write, reads, writer_read):
        for r, addr in enumerate(reads):
            if addr is not None:
                self.data[r] = self.words[addr]
        if write is not None:
            self.words[write[0]] = write[1]
        if writer_read is not None:
            self.writer_data = self.words[writer_read]


def stimulus(rng, depth, readers, width):
    """A cycle as the users make it: a write or none, and reads (None: not enabled) of the
    bank not written (of either when nothing is written), the writer's read of any word."""
    half = depth // 2
    write = None
    banks = [range(0, half), range(half, depth)]
    readable = banks
    if rng.random() < 0.6:
        bank = rng.randrange(2)
        write = (rng.choice(banks[bank]), rng.getrandbits(width))
        readable = [banks[1 - bank]]
    reads = [rng.choice(rng.choice(readable)) if rng.random() < 0.7 else None
             for _ in range(readers)]
    writer_read = write[0] if write and rng.random() < 0.3 else rng.randrange(depth)
    return write, reads, writer_read


@pytest.mark.parametrize("readers, writer_reads", [(1, True), (3, False), (8, False)])
def test_reads_give_what_one_memory_gives(readers, writer_reads):
    depth, width, cycles = 37, 12, 400
    dut = BankedMemory(depth=depth, width=width, readers=readers, writer_reads=writer_reads)
    model = PlainMemory(depth, readers)
    rng = random.Random(readers)

    async def bench(ctx):
        for cycle in range(cycles):
            write, reads, writer_read = stimulus(rng, depth, readers, width)
            ctx.set(dut.write.en, write is not None)
            if write:
                ctx.set(dut.write.addr, write[0])
                ctx.set(dut.write.data, write[1])
            for port, addr in zip(dut.read, reads):
                ctx.set(port.en, addr is not None)
                ctx.set(port.addr, addr or 0)
            if writer_reads:
                ctx.set(dut.writer_read.addr, writer_read)
            await ctx.tick()
            model.clock(write, reads, writer_read if writer_reads else None)
            for r, port in enumerate(dut.read):
                assert ctx.get(port.data) == model.data[r], f"cycle {cycle}, read[{r}]"
            if writer_reads:
                assert ctx.get(dut.writer_read.data) == model.writer_data, f"cycle {cycle}"
        # Each bank's words are in each of its copies, word ``a`` at ``dut.index(b, a)``.
        ends = dut.bases[1:] + [dut.depth]
        for b, (base, end, copies) in enumerate(zip(dut.bases, ends, dut.banks)):
            for copy in copies:
                assert [ctx.get(copy[dut.index(b, a)]) for a in range(base, end)] == \
                    model.words[base:end]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("reader", [0, 1])
def test_a_read_of_the_bank_written_is_caught(reader):
    dut = BankedMemory(depth=16, width=4, readers=2)

    async def bench(ctx):
        ctx.set(dut.write.en, 1)
        ctx.set(dut.write.addr, 9)
        for port in dut.read:
            ctx.set(port.en, 0)
        ctx.set(dut.read[reader].en, 1)
        ctx.set(dut.read[reader].addr, 15)
        await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    with pytest.raises(AssertionError, match=f"bank 1 written .word 9. and read by "
                                             f"read.{reader}. .word 15. in one cycle"):
        sim.run()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("name, value, error, message", [
    ("depth", 0, ValueError, "depth must be a positive integer, not 0"),
    ("width", 1.5, TypeError, "width must be a positive integer, not 1.5"),
    ("readers", -1, ValueError, "readers must be a positive integer, not -1"),
])
def test_bad_parameters_are_named(name, value, error, message):
    parameters = dict(depth=16, width=4, readers=2) | {name: value}
    with pytest.raises(error, match=message):
        BankedMemory(**parameters)


# A bank of 1024 words of 18 bits is one DP16KD in its true-dual-port geometry: with the
# write and a read on one port, a copy serves two reads; with three ports, Yosys would
# double every copy.
@pytest.mark.parametrize("readers, writer_reads, brams", [(4, False, 4), (1, True, 2)])
def test_each_copy_is_one_block_ram_per_bank(tmp_path, readers, writer_reads, brams):
    dut = BankedMemory(depth=2048, width=18, readers=readers, writer_reads=writer_reads)
    text = verilog.convert(dut, name="banked_memory", emit_src=False)
    result = synthesise(text, "banked_memory", "ecp5-25k", what="banked memory",
                        workdir=tmp_path, place_and_route=False)
    assert result["resources"]["bram"]["used"] == brams
