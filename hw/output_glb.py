"""The output GLB: a row group's output spikes, in two banks of per-column block RAMs
(docs/accelerator.md, "Output GLB")."""

import functools
import operator

from amaranth.hdl import Assert, Format, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2


__all__ = ["OutputGlb", "OutputWriteSignature", "OutputReadSignature", "output_addr_bits",
           "next_read_address"]


def output_addr_bits(max_outputs):
    """Width of an output GLB address (one more bit than the words need, as the users'
    address arithmetic may run one past the end)."""
    return ceil_log2(max_outputs + 1) + 1


class OutputWriteSignature(wiring.Signature):
    """A write of spike bits, seen from the writer: with ``en``, the set bits of ``data`` are
    OR-ed into word ``addr`` (a clear: the word zeroed)."""

    def __init__(self, *, addr_bits, max_timesteps):
        super().__init__({
            "addr": Out(addr_bits),
            "data": Out(max_timesteps),
            "en": Out(1),
        })


class OutputReadSignature(wiring.Signature):
    """A synchronous read, seen from the reader: word ``addr`` of bank ``bank`` (an address
    within the bank, so that no comparison or subtraction lies between the reader's
    registers and the block RAMs), ``data`` the cycle after ``en``."""

    def __init__(self, *, addr_bits, max_timesteps):
        super().__init__({
            "addr": Out(addr_bits),
            "bank": Out(1),
            "en": Out(1),
            "data": In(max_timesteps),
        })


def next_read_address(bank, addr, max_outputs):
    """The output GLB word after word ``addr`` of bank ``bank``, as ``(bank, addr)``: a
    row group that needs more than half the words runs from bank 0 into bank 1."""
    half = max_outputs // 2
    wrap = ~bank & (addr + 1 == half)
    return bank | wrap, Mux(wrap, 0, addr + 1)


class OutputGlb(wiring.Component):
    """``max_outputs`` words of ``max_timesteps`` output spikes, in two banks.

    The banks are the ping-pong halves ``[0, max_outputs // 2)`` and the rest (a row
    group's outputs that need more than half span both), so that the output writer reads
    and clears words of one bank while the passes write the other. Each bank is one memory
    per column, holding the bits that column wrote; a word's spikes are the OR of its
    columns' words. Each memory has one write port and one read port: block RAM. Column
    ``c``'s write ORs its result bits into the word as a read-modify-write (read in the cycle
    ``write[c]`` gives them, written the next), or else a clear; its read port serves that
    read or else ``read``. The users never use one bank from both sides at once, nor one
    column's same word two cycles running, so nothing waits, and no read meets a write of
    its word: the memories carry Yosys's ``no_rw_check``, so that synthesis does not build
    the bypass registers and multiplexers that would give a colliding read the old word. A
    word is cleared as it goes out and each output bit is written once between clears (one
    NTWU, one window), so an OR is the write: no bit mask is needed.

    Parameters
    ----------
    cols : int
        Columns of the PE array (one write port each).
    max_outputs : int
        Words.
    max_timesteps : int
        Bits of a word.

    Ports
    -----
    write : In(OutputWriteSignature(...)).array(cols)
        Column ``c``'s result bits: ``data`` OR-ed into word ``addr`` when ``en``.
    clear : In(OutputWriteSignature(...))
        Word ``addr`` to zero (a column's write to the word in the same cycle wins).
    read : In(OutputReadSignature(...))
        Word ``addr`` of bank ``bank``, the OR of its columns, in ``data`` the cycle after
        ``en``.

    Attributes
    ----------
    banks : tuple of tuple of MemoryData
        Per bank, per column, the memory contents (for a testbench).
    """

    def __init__(self, *, cols, max_outputs, max_timesteps):
        self.cols, self.max_outputs, self.max_timesteps = cols, max_outputs, max_timesteps
        half = max_outputs // 2
        self.banks = tuple(
            tuple(MemoryData(shape=max_timesteps, depth=depth, init=[]) for _ in range(cols))
            for depth in (max(half, 1), max_outputs - half))
        bits = output_addr_bits(max_outputs)
        super().__init__({
            "write": In(OutputWriteSignature(addr_bits=bits, max_timesteps=max_timesteps)
                        ).array(cols),
            "clear": In(OutputWriteSignature(addr_bits=bits, max_timesteps=max_timesteps)),
            "read": In(OutputReadSignature(addr_bits=bits, max_timesteps=max_timesteps)),
        })

    def elaborate(self, platform):
        m = Module()
        half = self.max_outputs // 2
        # ``write``, a cycle later: the read-modify-write's write.
        rmw = [Signal.like(port.addr, name=f"rmw{c}_addr") for c, port in enumerate(self.write)]
        rmw_data = [Signal(self.max_timesteps, name=f"rmw{c}_data") for c in range(self.cols)]
        rmw_en = [Signal(name=f"rmw{c}_en") for c in range(self.cols)]
        for c, port in enumerate(self.write):
            m.d.sync += [rmw[c].eq(port.addr), rmw_data[c].eq(port.data), rmw_en[c].eq(port.en)]
        reads = []
        for i, bank in enumerate(self.banks):
            base = half if i else 0

            def here(addr, i=i):
                return (addr >= half) if i else (addr < half)
            words = []
            for c, column in enumerate(bank):
                # No read meets a write of the same word (above), so synthesis may leave a
                # collision undefined, as the block RAM does, and need not emulate one.
                mem = m.submodules[f"bank{i}_col{c}"] = Memory(data=column,
                                                               attrs={"no_rw_check": 1})
                write, read = mem.write_port(), mem.read_port()
                with m.If(rmw_en[c] & here(rmw[c])):
                    m.d.comb += [write.addr.eq(rmw[c] - base), write.en.eq(1),
                                 write.data.eq(read.data | rmw_data[c])]
                with m.Elif(self.clear.en & here(self.clear.addr)):
                    m.d.comb += [write.addr.eq(self.clear.addr - base), write.data.eq(0),
                                 write.en.eq(1)]
                port = self.write[c]
                column_read = port.en & here(port.addr)
                with m.If(column_read):
                    m.d.comb += [read.addr.eq(port.addr - base), read.en.eq(1)]
                with m.Else():
                    # Both banks read (the word comes from the one ``bank`` chose, registered
                    # as ``high``), so that the block RAMs' clock enables do not wait on the
                    # reader's bank, which its ``ready`` chooses.
                    m.d.comb += [read.addr.eq(self.read.addr), read.en.eq(self.read.en)]
                # A read whose word is used never meets a write of that word (no_rw_check):
                # the column's own, or the reader's of this bank.
                used = column_read | (self.read.en & (self.read.bank == i))
                m.d.sync += Assert(~(used & read.en & write.en & (read.addr == write.addr)),
                                   Format(f"output GLB bank {i} column {c}: word {{}} read and "
                                          f"written in one cycle", read.addr))
                words.append(read.data)
            reads.append(functools.reduce(operator.or_, words))
        high = Signal()                 # the registered read came from the second bank
        with m.If(self.read.en):
            m.d.sync += high.eq(self.read.bank)
        m.d.comb += self.read.data.eq(Mux(high, reads[1], reads[0]))
        return m
