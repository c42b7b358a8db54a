"""A memory of two banks whose reads share true-dual-port block RAM with its write: the
spike GLB and the location tags (docs/memory.md, "The GLB split and its banks")."""

from amaranth.hdl import Assert, Format, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, MemoryData, ReadPort, WritePort
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from hw.pe import check_parameter


__all__ = ["BankedMemory", "BLOCK_WORDS"]


#: Words of a block RAM at its widest (an iCE40 EBR: 256 x 16; an ECP5 DP16KD: 512 x 36).
BLOCK_WORDS = 256


class BankedMemory(wiring.Component):
    """``depth`` words of ``width`` bits: a write port, ``readers`` read ports and, with
    ``writer_reads``, a read port of the writer's own, built for true-dual-port block RAM.

    The words ``[0, depth // 2)`` and ``[depth // 2, depth)`` are two banks, each its own
    physical memories. Copies of a bank take its read ports two at a time (``read[0]`` and
    the writer's read, or ``read[0]`` and ``read[1]``; then the next two, ...), and the
    first port of each copy also takes the writes to the bank, its address muxed between
    the write's and its read's, so that synthesis maps the write and that read to one
    read/write port of the block RAM. So ``read[r]`` must not read a bank in a cycle that
    writes it: the users keep to that (the input loader fills one bank while the gather and
    the dispatcher read the other, or loads a block before they read it: the controller's
    ``in_bank``), a simulation asserts it, and each copy's reads are gated off while its
    bank is written (which tells synthesis that they never meet the write). The writer's
    read may meet its writes. A read enables its port's copies in both banks (those not
    written), so that its enable, a block RAM's clock enable, waits on no decode of its
    address; the word comes from the bank its address chose, registered with it (for the
    writer's read, the address is registered and the bank compared from it while the block
    RAM reads).

    Word ``a`` of the second bank is at index ``a - depth // 2`` of its memories, or, where a
    memory of a power-of-two depth ``2**k`` costs no more block RAM (it holds no more blocks
    of :data:`BLOCK_WORDS` words), at index ``a mod 2**k``: the bank's words are consecutive,
    so no two share an index, and the address needs no subtraction on its way to the block
    RAM (:meth:`index` gives either).

    Parameters
    ----------
    depth : int
        Words (``max_inputs``).
    width : int
        Bits of a word (``max_timesteps``).
    readers : int
        Read ports (the spike GLB: the PE array's columns; the location tags: the dispatcher).
    writer_reads : bool
        A read port for the writer (the input loader's read-modify-write of the location
        tags), transparent to the write.

    Ports
    -----
    write : Out(WritePort.Signature(addr_width=ceil_log2(depth), shape=width))
    read : Out(ReadPort.Signature(addr_width=ceil_log2(depth), shape=width)).array(readers)
        As :class:`amaranth.lib.memory.Memory`'s read ports, not transparent to ``write``:
        the word the cycle after ``en``, held while ``en`` is low.
    writer_read : Out(ReadPort.Signature(addr_width=ceil_log2(depth), shape=width))
        With ``writer_reads``: a read port transparent to ``write``.

    Latency: one cycle from a read's address to its word, as from one memory.

    Attributes
    ----------
    banks : list of list of MemoryData
        ``banks[b][k]``: copy ``k`` of bank ``b`` (word ``a`` at index ``index(b, a)``), for
        a testbench to read or preload.
    """

    def __init__(self, *, depth, width, readers, writer_reads=False):
        check_parameter("depth", depth)
        check_parameter("width", width)
        check_parameter("readers", readers)
        self.depth, self.width, self.readers = depth, width, readers
        self.writer_reads = bool(writer_reads)
        self.half = depth // 2
        self.bases = [0, self.half] if self.half else [0]
        ends = self.bases[1:] + [depth]
        # Per bank: the low address bits that index its memories, or None (the address less
        # the bank's base). The first bank's base is 0: its address is its index.
        def blocks(words):
            return -(-words // BLOCK_WORDS)
        self._wrap = []
        depths = []
        for base, end in zip(self.bases, ends):
            size, bits = end - base, ceil_log2(end - base)
            wrap = bits if base and blocks(1 << bits) == blocks(size) else None
            self._wrap.append(wrap)
            depths.append(size if wrap is None else 1 << wrap)
        copies = -(-(readers + self.writer_reads) // 2)
        self.banks = [[MemoryData(shape=width, depth=d, init=[]) for _ in range(copies)]
                      for d in depths]
        addr_width = max(1, ceil_log2(depth))
        ports = {
            "write": Out(WritePort.Signature(addr_width=addr_width, shape=width)),
            "read": Out(ReadPort.Signature(addr_width=addr_width, shape=width)).array(readers),
        }
        if self.writer_reads:
            ports["writer_read"] = Out(ReadPort.Signature(addr_width=addr_width, shape=width))
        super().__init__(ports)

    def bank_of(self, addr):
        """The bank of word ``addr``: 0 or 1 (a value)."""
        return addr >= self.half if len(self.bases) == 2 else 0

    def index(self, bank, addr):
        """Index of word ``addr`` (a value, or an integer) in the memories of bank ``bank``."""
        wrap = self._wrap[bank]
        if wrap is None:
            return addr - self.bases[bank]
        return addr % (1 << wrap) if isinstance(addr, int) else addr[:wrap]

    def elaborate(self, platform):
        m = Module()
        # The copies' ports in order, two a copy (the first also takes the writes), with
        # each user's name for the assertion.
        users = [(port, f"read[{r}]") for r, port in enumerate(self.read)]
        if self.writer_reads:
            users.insert(1, (self.writer_read, "writer_read"))
        # Each user's bank, registered with its read: it picks that bank's word a cycle later.
        # For the writer's read, its address is registered instead and the bank compared
        # from the register while the block RAM reads: the input loader works out that
        # address from its state and the DRAM data's handshake, and with the comparison
        # behind it this was the whole 2x2's critical path at 695d74b (13.38 ns, into the
        # bank's register). Not for the other reads: there ABC folds the comparison into
        # each bit's multiplexer (at 4x4, 764 LUT4 more for the spike GLB's four columns).
        read_bank = []
        for i, (user, name) in enumerate(users):
            if name == "writer_read":
                addr = Signal.like(user.addr, name=f"read_addr_{i}")
                with m.If(user.en):
                    m.d.sync += addr.eq(user.addr)
                read_bank.append(self.bank_of(addr))
            else:
                bank = Signal(name=f"read_bank_{i}")
                with m.If(user.en):
                    m.d.sync += bank.eq(self.bank_of(user.addr))
                read_bank.append(bank)
        words = [[] for _ in users]
        for b, copies in enumerate(self.banks):
            write_here = self.write.en & (self.bank_of(self.write.addr) == b)
            for k, memory_data in enumerate(copies):
                m.submodules[f"bank{b}_copy{k}"] = memory = Memory(data=memory_data)
                write = memory.write_port()
                # One address for the write and the first read: one read/write port. Each is
                # made the bank's index before the choice, so that the bank comparison that
                # makes the choice and any subtraction are side by side, not one after the
                # other.
                first = users[2 * k][0]
                shared = Signal(range(memory_data.depth), name=f"bank{b}_copy{k}_addr")
                m.d.comb += [shared.eq(Mux(write_here, self.index(b, self.write.addr),
                                           self.index(b, first.addr))),
                             write.addr.eq(shared), write.data.eq(self.write.data),
                             write.en.eq(write_here)]
                for i in range(2 * k, min(2 * k + 2, len(users))):
                    user, name = users[i]
                    if name == "writer_read":
                        port = memory.read_port(transparent_for=(write,))
                        m.d.comb += [port.addr.eq(self.index(b, user.addr)),
                                     port.en.eq(user.en)]
                    else:
                        # Gated by the write, so that synthesis sees that they never meet.
                        port = memory.read_port()
                        m.d.comb += [port.addr.eq(shared if i == 2 * k
                                                  else self.index(b, user.addr)),
                                     port.en.eq(user.en & ~write_here)]
                        wanted = user.en & (self.bank_of(user.addr) == b)
                        m.d.sync += Assert(~(write_here & wanted), Format(
                            f"bank {b} written (word {{}}) and read by {name} (word {{}}) "
                            f"in one cycle", self.write.addr, user.addr))
                    words[i].append(port.data)
        for (user, _), bank, banks in zip(users, read_bank, words):
            m.d.comb += user.data.eq(Mux(bank, banks[1], banks[0]) if len(banks) == 2
                                     else banks[0])
        return m
