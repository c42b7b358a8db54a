"""Double-buffered GLB and LBUF storage and activation-induced weight tailoring (paper §III-D).

Each level of the memory hierarchy (DRAM -> GLB -> LBUF, Fig. 1(a)) is a ping-pong pair
of banks per kind of data: one bank is filled with the next block while the other is
drained by the level below, so a transfer overlaps the compute of the current block.
:func:`buffer_partition` cuts a level's bytes into weight, spike and output regions;
:class:`PingPongBuffer` is one region; :class:`WeightTailoring` drops the weights of input
channels (fc: feature groups) whose SP-MB activity tag is zero on their way down a level.
"""

from typing import NamedTuple

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, MemoryData, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.pe import check_parameter
from spikex.netfile import SpikexError


__all__ = ["GLB_BYTES", "LBUF_BYTES", "GLB_SHARES", "LBUF_SHARES", "BufferPartition", "buffer_partition",
           "PingPongBuffer", "tailored_weight_layout", "WeightTailoring"]


GLB_BYTES = 54 * 1024
LBUF_BYTES = 2 * 1024
# (weights, spikes, outputs) shares, as sim/schedule.py's GLB_SHARES and LBUF_WEIGHT_SHARE:
# the LBUF holds weights and spike words only (results go from the array to the GLB).
GLB_SHARES = (1, 2, 1)
LBUF_SHARES = (1, 1, 0)


class BufferPartition(NamedTuple):
    """Depth of one bank of each region, in words of ``word_bits`` (0: no such region)."""
    weights: int
    spikes: int
    outputs: int
    word_bits: int


def buffer_partition(total_bytes, word_bits, shares=GLB_SHARES, *, name="buffer"):
    """Cut ``total_bytes`` into weight, spike and output regions, each double buffered.

    A region gets ``share / sum(shares)`` of the bytes, rounded down to whole words, and
    each of its two banks half of that. ``name`` ("GLB", "LBUF") appears in the errors.
    """
    if not isinstance(word_bits, int) or word_bits < 8 or word_bits % 8:
        raise SpikexError(f"{name}: word width must be a positive multiple of 8 bits, "
                          f"not {word_bits!r}")
    if (len(shares) != 3 or any(not isinstance(s, int) or s < 0 for s in shares)
            or not sum(shares)):
        raise SpikexError(f"{name}: shares must be three non-negative integers "
                          f"(weights, spikes, outputs), not all 0, not {shares!r}")
    word_bytes = word_bits // 8
    depths = [int(total_bytes * s // sum(shares)) // word_bytes // 2 for s in shares]
    if any(d < 1 for d, s in zip(depths, shares) if s):
        raise SpikexError(f"{name}: {total_bytes} bytes is too small for two banks of one "
                          f"{word_bits}-bit word per region with shares {shares}")
    return BufferPartition(*depths, word_bits)


class PingPongBuffer(wiring.Component):
    """Two banks of ``depth`` words: one filled while the other is drained.

    A bank is *empty* or *full*. The filler writes the empty bank it points at while
    ``fill_ready`` is high and marks it full with ``fill_done``, which moves it to the
    other bank; the drainer reads the full bank it points at while ``drain_valid`` is high
    and empties it with ``drain_release``, which moves it on likewise. Both start at bank
    0, so banks are drained in the order they were filled; a filler that finishes first
    waits (``fill_ready`` low) until the drainer releases, and a drainer waits for a
    full bank. ``fill_done`` and ``drain_release`` may come in the same cycle.

    Parameters
    ----------
    depth : int
        Words per bank.
    width : int
        Bits per word.
    counter_width : int
        Width of the access counters (they wrap).

    Ports
    -----
    fill : Out(WritePort.Signature(addr_width=ceil_log2(depth), shape=width))
        Write port of the bank being filled (``addr``, ``data``, ``en``); a write while
        ``fill_ready`` is low or to an address at or past ``depth`` is dropped.
    fill_ready : Out(1)
        The fill bank is empty: writes are taken.
    fill_done : In(1)
        Pulse: the fill bank is complete; it becomes full and the filler moves on.
    fill_bank : Out(1)
        Bank the filler points at.
    drain : Out(ReadPort.Signature(addr_width=ceil_log2(depth), shape=width))
        Read port of the bank being drained (``addr``, ``en``, ``data``). ``en`` is high
        unless driven: a drainer drives it low when it does not read, as every enabled
        cycle with ``drain_valid`` high counts as a read.
    drain_valid : Out(1)
        The drain bank is full: reads return its words.
    drain_level : Out(range(depth + 1))
        Words in the drain bank: one more than the highest address written.
    drain_release : In(1)
        Pulse: the drainer is done with its bank; it becomes empty.
    drain_bank : Out(1)
        Bank the drainer points at.
    reads, writes : Out(counter_width)
        Words read and written.

    Latency: ``drain.data`` holds the word one cycle after ``drain.addr`` with ``en``; a
    write is readable once its bank is full; ``fill_done`` and ``drain_release`` act on
    the next cycle (``fill_ready`` and ``drain_valid`` follow then).

    Attributes
    ----------
    data : MemoryData
        Both banks, word ``a`` of bank ``b`` at index ``b * depth + a``; a testbench may
        read or preload it.
    """

    def __init__(self, depth, width, *, counter_width=32):
        check_parameter("depth", depth)
        check_parameter("width", width)
        check_parameter("counter_width", counter_width)
        self._depth = depth
        self.data = MemoryData(shape=width, depth=2 * depth, init=[])
        addr_width = max(1, ceil_log2(depth))
        super().__init__({
            "fill": Out(WritePort.Signature(addr_width=addr_width, shape=width)),
            "fill_ready": Out(1),
            "fill_done": In(1),
            "fill_bank": Out(1),
            "drain": Out(ReadPort.Signature(addr_width=addr_width, shape=width)),
            "drain_valid": Out(1),
            "drain_level": Out(range(depth + 1)),
            "drain_release": In(1),
            "drain_bank": Out(1),
            "reads": Out(counter_width),
            "writes": Out(counter_width),
        })

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        m.submodules.memory = memory = Memory(data=self.data)
        write = memory.write_port()
        read = memory.read_port()

        full = Array(Signal(name=f"full_{b}") for b in range(2))
        level = Array(Signal(range(depth + 1), name=f"level_{b}") for b in range(2))
        fill_bank, drain_bank = self.fill_bank, self.drain_bank

        def bank_address(bank, addr):
            return Mux(bank, addr + depth, addr)

        writing = Signal()
        m.d.comb += [
            self.fill_ready.eq(~full[fill_bank]),
            self.drain_valid.eq(full[drain_bank]),
            self.drain_level.eq(level[drain_bank]),
            writing.eq(self.fill.en & self.fill_ready & (self.fill.addr < depth)),
            write.en.eq(writing),
            write.addr.eq(bank_address(fill_bank, self.fill.addr)),
            write.data.eq(self.fill.data),
            read.en.eq(self.drain.en),
            read.addr.eq(bank_address(drain_bank, self.drain.addr)),
            self.drain.data.eq(read.data),
        ]
        with m.If(writing):
            m.d.sync += self.writes.eq(self.writes + 1)
            with m.If(self.fill.addr >= level[fill_bank]):
                m.d.sync += level[fill_bank].eq(self.fill.addr + 1)
        with m.If(self.drain.en & self.drain_valid):
            m.d.sync += self.reads.eq(self.reads + 1)
        with m.If(self.fill_done & self.fill_ready):
            m.d.sync += [full[fill_bank].eq(1), fill_bank.eq(~fill_bank)]
        with m.If(self.drain_release & self.drain_valid):
            m.d.sync += [full[drain_bank].eq(0), level[drain_bank].eq(0),
                         drain_bank.eq(~drain_bank)]
        return m


def tailored_weight_layout(width, channels):
    """A weight word that passed :class:`WeightTailoring`, with its input channel."""
    return data.StructLayout({"weight": width, "channel": range(channels)})


class WeightTailoring(wiring.Component):
    """Activation-induced weight tailoring at one memory level (paper §III-D, Fig. 4).

    Weight words arrive grouped by input channel (fc: by group of 16 input features, one
    SP-MB each): the ``channel_words`` words of channel 0, then those of channel 1, up to
    channel ``channels_used - 1``, then channel 0 again (the next row group of output
    channels). For a row group of output channels ``m0 .. m0+R-1`` of a conv layer with
    weights ``[M, C, E, E]`` that is ``w[m0:m0+R].transpose(1, 0, 2, 3)`` flattened, one
    weight per word or packed, as the level's word width allows. Words of channels whose
    SP-MB tag is set pass on with their channel number; the others are taken and dropped.

    Parameters
    ----------
    width : int
        Bits per weight word.
    channels : int
        Most input channels (feature groups) of a layer: the width of ``tags``.
    count_width : int
        Width of ``channel_words``.
    counter_width : int
        Width of the ``passed`` and ``skipped`` counters (they wrap).

    Ports
    -----
    tags : In(channels)
        SP-MB activity tags, bit ``c`` for input channel ``c``; held while words flow.
    channels_used : In(range(channels + 1))
        Input channels of the layer, 1 .. ``channels``.
    channel_words : In(count_width)
        Words per channel, at least 1.
    weights : In(stream.Signature(width))
        Weight words in channel order.
    tailored : Out(stream.Signature(tailored_weight_layout(width, channels)))
        The words of active channels.
    passed, skipped : Out(counter_width)
        Words passed on and dropped.

    Latency: one cycle from a word taken on ``weights`` to it on ``tailored``; one word per
    cycle, and a dropped word never waits on ``tailored``.
    """

    def __init__(self, width, channels, *, count_width=16, counter_width=32):
        check_parameter("width", width)
        check_parameter("channels", channels)
        check_parameter("count_width", count_width)
        check_parameter("counter_width", counter_width)
        self._channels = channels
        super().__init__({
            "tags": In(channels),
            "channels_used": In(range(channels + 1)),
            "channel_words": In(count_width),
            "weights": In(stream.Signature(width)),
            "tailored": Out(stream.Signature(tailored_weight_layout(width, channels))),
            "passed": Out(counter_width),
            "skipped": Out(counter_width),
        })

    def elaborate(self, platform):
        m = Module()
        channel = Signal(range(self._channels))
        word = Signal.like(self.channel_words)
        active = Signal()
        taken = Signal()
        m.d.comb += [
            active.eq(self.tags.bit_select(channel, 1)),
            self.weights.ready.eq(~active | ~self.tailored.valid | self.tailored.ready),
            taken.eq(self.weights.valid & self.weights.ready),
        ]
        with m.If(self.tailored.ready):
            m.d.sync += self.tailored.valid.eq(0)
        with m.If(taken):
            with m.If(active):
                m.d.sync += [
                    self.tailored.valid.eq(1),
                    self.tailored.payload.weight.eq(self.weights.payload),
                    self.tailored.payload.channel.eq(channel),
                    self.passed.eq(self.passed + 1),
                ]
            with m.Else():
                m.d.sync += self.skipped.eq(self.skipped + 1)
            with m.If(word == self.channel_words - 1):
                m.d.sync += [word.eq(0),
                             channel.eq(Mux(channel == self.channels_used - 1, 0, channel + 1))]
            with m.Else():
                m.d.sync += word.eq(word + 1)
        return m
