"""The accelerator's AXI interfaces: a DRAM master port and a control register file.

- :class:`AxiDramPort` is the AXI4 master through which the controller moves weights,
  spikes and results between DRAM and the GLB: a request (byte address, byte length)
  becomes INCR bursts of at most 16 beats that never cross a 4 KB boundary, with the
  data as a stream of bus-wide words.
- :class:`ControlRegisters` is the AXI4-Lite slave through which a host starts a run,
  polls its status, gives the descriptor address and reads the performance counters.

:func:`verilog` writes Verilog whose port names follow the AXI convention
(``m_axi_awaddr``, ``s_axil_rdata``), which Amaranth's own naming (``m_axi__awaddr``) does
not, so that bus models such as cocotbext-axi's ``AxiBus.from_prefix(dut, "m_axi")`` bind.
"""

from amaranth.back import verilog as amaranth_verilog
from amaranth.hdl import Cat, Module, Mux, Signal, ValueCastable
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hw.config import DATA_WIDTHS
from hw.limits import PAGE_BYTES
from hw.pe import check_parameter


__all__ = ["OKAY", "SLVERR", "BURST_BEATS", "AxiReadSignature", "AxiWriteSignature",
           "AxiSignature", "AxiLiteSignature", "dram_request_layout", "AxiBurstReader",
           "AxiBurstWriter", "AxiDramPort", "ControlRegisters", "verilog"]


OKAY, SLVERR = 0, 2
INCR = 1
BURST_BEATS = 16          # longest burst the port issues


def _read_members(addr_width, data_width, id_width):
    return {
        "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3),
        "arburst": Out(2), "arvalid": Out(1), "arready": In(1),
        "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    }


def _write_members(addr_width, data_width, id_width):
    return {
        "awid": Out(id_width), "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3),
        "awburst": Out(2), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
    }


class AxiReadSignature(wiring.Signature):
    """The AR and R channels of an AXI4 master, with AXI's own signal names."""

    def __init__(self, *, addr_width=32, data_width=32, id_width=1):
        super().__init__(_read_members(addr_width, data_width, id_width))


class AxiWriteSignature(wiring.Signature):
    """The AW, W and B channels of an AXI4 master, with AXI's own signal names."""

    def __init__(self, *, addr_width=32, data_width=32, id_width=1):
        super().__init__(_write_members(addr_width, data_width, id_width))


class AxiSignature(wiring.Signature):
    """A whole AXI4 master interface: the members of both the read and the write signature."""

    def __init__(self, *, addr_width=32, data_width=32, id_width=1):
        super().__init__({**_read_members(addr_width, data_width, id_width),
                          **_write_members(addr_width, data_width, id_width)})


class AxiLiteSignature(wiring.Signature):
    """An AXI4-Lite master interface (32-bit data); a slave takes it flipped."""

    def __init__(self, *, addr_width):
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


def dram_request_layout(addr_width, length_width):
    """A DRAM transfer: byte address and byte length, both multiples of the bus width."""
    return data.StructLayout({"addr": addr_width, "length": length_width})


def _check_bus(data_width, addr_width, length_width, counter_width, word_width=None):
    widths = ", ".join(map(str, DATA_WIDTHS))
    if data_width not in DATA_WIDTHS:
        raise ValueError(f"data_width must be one of {widths}, not {data_width!r}")
    if word_width is not None and word_width not in DATA_WIDTHS:
        raise ValueError(f"word_width must be one of {widths}, not {word_width!r}")
    if word_width is not None and word_width > data_width:
        raise ValueError(f"word_width {word_width} is wider than data_width {data_width}")
    check_parameter("addr_width", addr_width, minimum=13, maximum=64)
    check_parameter("length_width", length_width)
    check_parameter("counter_width", counter_width)


def _burst_beats(m, addr, beats_left, size):
    """Beats of the next burst: at most 16, what is left, and up to the next 4 KB boundary.

    Written for short logic: a page holds a multiple of 16 beats, so only the last 16 beats
    of a page are nearer the boundary than 16, and ``beats_left`` is compared in 5 bits.
    """
    offset = addr[size:exact_log2(PAGE_BYTES)]          # beat within the page
    low = exact_log2(BURST_BEATS)
    at_page_end = offset[low:].all()                      # the page's last 16 beats
    capped = Signal(range(BURST_BEATS + 1))
    beats = Signal(range(BURST_BEATS + 1))
    m.d.comb += [
        capped.eq(BURST_BEATS - Mux(at_page_end, offset[:low], 0)),
        beats.eq(Mux((beats_left[low + 1:] == 0) & (beats_left[:low + 1] < capped),
                     beats_left[:low + 1], capped)),
    ]
    return beats


class _BurstEngine(wiring.Component):
    """What the reader and the writer share: parameters, request port, counters.

    A client word (``word_width``) narrower than a beat (``data_width``): requests are in
    whole words, anywhere in a beat; the bursts cover the beats that hold them, and the
    words are taken out of (put into) their beats with no cycle added."""

    def __init__(self, members, *, data_width, addr_width, length_width, counter_width,
                 word_width):
        _check_bus(data_width, addr_width, length_width, counter_width, word_width)
        self._size = exact_log2(data_width // 8)
        self._word_size = exact_log2(word_width // 8)
        self._ratio = data_width // word_width
        super().__init__({
            "request": In(stream.Signature(dram_request_layout(addr_width, length_width))),
            **members,
            "busy": Out(1),
            "error": Out(1),
            "bytes": Out(counter_width),
        })

    def _beats(self, addr, length):
        """Beats of a request: of the whole words from ``addr`` on, the beats they touch."""
        if self._ratio == 1:
            return length >> self._size
        offset = addr[self._word_size:self._size] << self._word_size
        return Mux(length == 0, 0, (offset + length + (1 << self._size) - 1) >> self._size)

    def _word_state(self, name):
        """The word of the beat in hand (``word``) and whether it is the request's last
        (``last``, registered), for a client word narrower than a beat."""
        word = Signal(range(self._ratio), name=f"{name}_word")
        last = Signal(name=f"{name}_last")
        words_left = Signal(self.request.payload.length.shape(), name=f"{name}_words_left")
        return word, last, words_left

    def _words_taken(self, m, word, last, words_left, start):
        """A request is taken: its first word's place in its beat, and its word count."""
        length = self.request.payload.length >> self._word_size
        m.d.sync += [word.eq(start[self._word_size:self._size]), words_left.eq(length),
                     last.eq(length == 1)]

    def _word_moved(self, m, word, last, words_left, beat_end):
        m.d.sync += [word.eq(Mux(beat_end, 0, word + 1)), words_left.eq(words_left - 1),
                     last.eq(words_left == 2)]

    def _aligned(self, addr):
        return addr & ~((1 << self._size) - 1)

    def _next_burst(self, m, addr, left, name):
        """The next burst's beats, a register worked out from the registers ``addr`` and
        ``left`` (beats still to request) a cycle behind them, and whether it is up to date
        (``settled``): so that no path has both the burst's length and the address's and
        the count's arithmetic. :meth:`_burst_taken` and :meth:`_burst_issued` keep it."""
        beats = Signal(range(BURST_BEATS + 1), name=f"{name}_beats")
        settled = Signal(name=f"{name}_settled")
        m.d.sync += [beats.eq(_burst_beats(m, addr, left, self._size)), settled.eq(1)]
        return beats, settled

    def _burst_taken(self, m, beats, settled, start, length):
        """A request is taken: its first burst's beats from the request itself."""
        m.d.sync += [beats.eq(_burst_beats(m, start, length, self._size)), settled.eq(1)]

    def _burst_issued(self, m, settled):
        """A burst is issued: the next one's beats are a cycle behind the new address."""
        m.d.sync += settled.eq(0)


class AxiBurstReader(_BurstEngine):
    """Reads DRAM by INCR bursts and streams the words out, earliest address first.

    Bursts are issued back to back ahead of the data (several may be outstanding); each
    has at most 16 beats and stays inside a 4 KB page.

    Parameters
    ----------
    data_width : int
        AXI data width in bits: 32, 64, 128, 256 or 512.
    addr_width : int
        AXI address width in bits, 13 .. 64.
    length_width : int
        Width of a request's byte length.
    counter_width : int
        Width of the ``bytes`` counter (it wraps).
    word_width : int
        Width of a word of ``data`` (default ``data_width``): at most ``data_width``.

    Ports
    -----
    request : In(stream.Signature(dram_request_layout(addr_width, length_width)))
        A transfer; ``addr`` and ``length`` are multiples of ``word_width // 8`` (the low
        bits are ignored). Taken when the reader is idle.
    data : Out(stream.Signature(word_width))
        The words read, little-endian within a word (AXI byte lanes).
    axi : Out(AxiReadSignature(addr_width=addr_width, data_width=data_width))
    busy : Out(1)
        A transfer is in progress.
    error : Out(1)
        Sticky: some beat came back with a response other than OKAY.
    bytes : Out(counter_width)
        Bytes read at the bus: every beat's ``data_width // 8``, the words of a first or
        last beat outside the request included.

    Latency: the first AR one cycle after the request is taken, a further one at the
    earliest two cycles after the one before (its length is a register worked out a cycle
    behind the address); each R beat's first word is passed to ``data`` in the same cycle,
    its next ones a cycle each (``rready`` is ``data.ready`` on the beat's last word of the
    request).
    """

    def __init__(self, *, data_width=32, addr_width=32, length_width=24, counter_width=32,
                 word_width=None):
        word_width = data_width if word_width is None else word_width
        super().__init__({
            "data": Out(stream.Signature(word_width)),
            "axi": Out(AxiReadSignature(addr_width=addr_width, data_width=data_width)),
        }, data_width=data_width, addr_width=addr_width, length_width=length_width,
            counter_width=counter_width, word_width=word_width)

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        addr = Signal.like(axi.araddr)
        issue_left = Signal.like(self.request.payload.length)    # beats still to request
        data_left = Signal.like(self.request.payload.length)     # beats still to receive
        beats, settled = self._next_burst(m, addr, issue_left, "ar")
        # ``issue_left != 0`` and ``data_left != 0``, registered: ``busy`` feeds the arbiter
        # and, through its ``ready``, every client's state machine in the same cycle.
        issuing, receiving = Signal(), Signal()

        m.d.comb += [
            self.busy.eq(issuing | receiving),
            self.request.ready.eq(~self.busy),
            axi.araddr.eq(addr),
            axi.arlen.eq(beats - 1),
            axi.arsize.eq(self._size),
            axi.arburst.eq(INCR),
            axi.arvalid.eq(issuing & settled),
            self.data.valid.eq(axi.rvalid),
        ]
        if self._ratio == 1:
            m.d.comb += [self.data.payload.eq(axi.rdata), axi.rready.eq(self.data.ready)]
        else:
            # The beat's words a cycle each; the beat is taken with the last word the
            # request wants of it.
            word, last, words_left = self._word_state("r")
            beat_end = (word == self._ratio - 1) | last
            m.d.comb += [self.data.payload.eq(axi.rdata.word_select(word, len(self.data.payload))),
                         axi.rready.eq(self.data.ready & beat_end)]
            with m.If(self.data.valid & self.data.ready):
                self._word_moved(m, word, last, words_left, beat_end)
        with m.If(self.request.valid & self.request.ready):
            length = self._beats(self.request.payload.addr, self.request.payload.length)
            start = self._aligned(self.request.payload.addr)
            m.d.sync += [addr.eq(start),
                         issue_left.eq(length), data_left.eq(length),
                         issuing.eq(length != 0), receiving.eq(length != 0)]
            self._burst_taken(m, beats, settled, start, length)
            if self._ratio > 1:
                self._words_taken(m, word, last, words_left, self.request.payload.addr)
        with m.If(axi.arvalid & axi.arready):
            m.d.sync += [addr.eq(addr + (beats << self._size)), issue_left.eq(issue_left - beats),
                         issuing.eq(issue_left != beats)]
            self._burst_issued(m, settled)
        with m.If(axi.rvalid & axi.rready):
            m.d.sync += [data_left.eq(data_left - 1), receiving.eq(data_left != 1),
                         self.bytes.eq(self.bytes + (1 << self._size))]
            with m.If(axi.rresp != OKAY):
                m.d.sync += self.error.eq(1)
        return m


class AxiBurstWriter(_BurstEngine):
    """Writes a stream of words to DRAM by INCR bursts.

    The AW side issues the bursts as soon as the request is taken; the W side cuts the
    data stream at the same burst boundaries (``wlast``) and may run behind it; the
    transfer ends when every burst's B response has come back.

    Parameters
    ----------
    data_width, addr_width, length_width, counter_width : int
        As for :class:`AxiBurstReader`.

    Ports
    -----
    request : In(stream.Signature(dram_request_layout(addr_width, length_width)))
        A transfer, as for :class:`AxiBurstReader`.
    data : In(stream.Signature(word_width))
        The words to write, ``length // (word_width // 8)`` of them; the byte lanes of the
        words outside the request in a first or last beat are not written (``wstrb``).
    axi : Out(AxiWriteSignature(addr_width=addr_width, data_width=data_width))
    busy : Out(1)
        A transfer is in progress (bursts to issue, words to send or responses to await).
    error : Out(1)
        Sticky: some B response was not OKAY.
    bytes : Out(counter_width)
        Bytes written at the bus: every beat's ``data_width // 8``, as the reader's.

    Latency: the first AW one cycle after the request is taken, a further one at the
    earliest two cycles after the one before (as the reader's ARs); a beat goes out on W in
    the cycle its last word of the request comes (``data.ready`` is ``wready`` for that word
    during a transfer, 1 for the words before it, which are kept in registers).
    """

    def __init__(self, *, data_width=32, addr_width=32, length_width=24, counter_width=32,
                 word_width=None):
        word_width = data_width if word_width is None else word_width
        super().__init__({
            "data": In(stream.Signature(word_width)),
            "axi": Out(AxiWriteSignature(addr_width=addr_width, data_width=data_width)),
        }, data_width=data_width, addr_width=addr_width, length_width=length_width,
            counter_width=counter_width, word_width=word_width)

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        length = self.request.payload.length
        aw_addr = Signal.like(axi.awaddr)
        aw_left = Signal.like(length)          # beats still to request
        # The W side cuts the same bursts beat by beat: a burst ends after 16 beats, at a
        # page's last beat or at the transfer's last, so no burst length is computed.
        w_left = Signal.like(length)           # beats still to send
        w_active = Signal()                    # ``w_left != 0``, registered
        w_final = Signal()                     # ``w_left == 1``, registered
        w_page = Signal(exact_log2(PAGE_BYTES) - self._size)   # the beat's place in its page
        w_beat = Signal(range(BURST_BEATS))    # beat within its burst
        responses = Signal.like(length)        # bursts issued whose B has not come back
        aw_beats, aw_settled = self._next_burst(m, aw_addr, aw_left, "aw")
        # ``aw_left != 0`` and ``responses != 0``, registered, as the reader's ``busy``.
        issuing, awaiting = Signal(), Signal()

        aw_fire = Signal()
        b_fire = Signal()
        m.d.comb += [
            self.busy.eq(issuing | w_active | awaiting),
            self.request.ready.eq(~self.busy),
            axi.awaddr.eq(aw_addr),
            axi.awlen.eq(aw_beats - 1),
            axi.awsize.eq(self._size),
            axi.awburst.eq(INCR),
            axi.awvalid.eq(issuing & aw_settled),
            aw_fire.eq(axi.awvalid & axi.awready),
            axi.wlast.eq((w_beat == BURST_BEATS - 1) | w_page.all() | w_final),
            axi.bready.eq(1),
            b_fire.eq(axi.bvalid),
        ]
        if self._ratio == 1:
            m.d.comb += [axi.wdata.eq(self.data.payload), axi.wstrb.eq(-1),
                         axi.wvalid.eq(self.data.valid & w_active),
                         self.data.ready.eq(axi.wready & w_active)]
        else:
            # The words before a beat's last (of the request) wait in registers, with their
            # strobes; the beat goes out with its last word, passed straight through.
            word, last, words_left = self._word_state("w")
            width = len(self.data.payload)
            held = Signal(self._ratio * width)
            held_strobe = Signal(self._ratio)
            beat_end = (word == self._ratio - 1) | last
            lanes = width // 8
            m.d.comb += [
                axi.wdata.eq(Cat(Mux(word == j, self.data.payload, held.word_select(j, width))
                                 for j in range(self._ratio))),
                axi.wstrb.eq(Cat((held_strobe[j] | (word == j)).replicate(lanes)
                                 for j in range(self._ratio))),
                axi.wvalid.eq(self.data.valid & w_active & beat_end),
                self.data.ready.eq(w_active & (axi.wready | ~beat_end)),
            ]
            with m.If(self.data.valid & self.data.ready):
                self._word_moved(m, word, last, words_left, beat_end)
                with m.If(~beat_end):
                    m.d.sync += [held.word_select(word, width).eq(self.data.payload),
                                 held_strobe.bit_select(word, 1).eq(1)]
            with m.If(axi.wvalid & axi.wready):
                m.d.sync += held_strobe.eq(0)
        with m.If(self.request.valid & self.request.ready):
            start = self._aligned(self.request.payload.addr)
            beats = self._beats(self.request.payload.addr, length)
            m.d.sync += [aw_addr.eq(start), aw_left.eq(beats), issuing.eq(beats != 0),
                         w_left.eq(beats), w_active.eq(beats != 0), w_final.eq(beats == 1),
                         w_page.eq(start[self._size:]), w_beat.eq(0)]
            self._burst_taken(m, aw_beats, aw_settled, start, beats)
            if self._ratio > 1:
                self._words_taken(m, word, last, words_left, self.request.payload.addr)
        with m.If(aw_fire):
            m.d.sync += [aw_addr.eq(aw_addr + (aw_beats << self._size)),
                         aw_left.eq(aw_left - aw_beats), issuing.eq(aw_left != aw_beats)]
            self._burst_issued(m, aw_settled)
        with m.If(axi.wvalid & axi.wready):
            m.d.sync += [self.bytes.eq(self.bytes + (1 << self._size)),
                         w_left.eq(w_left - 1), w_active.eq(~w_final), w_final.eq(w_left == 2),
                         w_page.eq(w_page + 1), w_beat.eq(Mux(axi.wlast, 0, w_beat + 1))]
        m.d.sync += [responses.eq(responses + aw_fire - b_fire),
                     awaiting.eq(Mux(aw_fire == b_fire, responses != 0,
                                     aw_fire | (responses != 1)))]
        with m.If(b_fire & (axi.bresp != OKAY)):
            m.d.sync += self.error.eq(1)
        return m


class AxiDramPort(wiring.Component):
    """The accelerator's DRAM port: an :class:`AxiBurstReader` and an :class:`AxiBurstWriter`
    on one AXI4 master interface (ID 0 for every transaction).

    Parameters
    ----------
    data_width, addr_width, length_width, counter_width, word_width : int
        As for :class:`AxiBurstReader`.

    Ports
    -----
    m_axi : Out(AxiSignature(addr_width=addr_width, data_width=data_width))
    read_request, read_data, write_request, write_data
        The reader's ``request`` and ``data`` and the writer's (see those classes).
    busy : Out(1)
        Either engine is busy.
    write_busy : Out(1)
        The writer is busy (a write request in flight, data or its response outstanding).
    error : Out(1)
        Sticky: either engine saw a response other than OKAY.
    bytes_read, bytes_written : Out(counter_width)
        Bytes moved at the DRAM port.

    Latency: that of the engines; reads and writes run independently.
    """

    def __init__(self, *, data_width=32, addr_width=32, length_width=24, counter_width=32,
                 word_width=None):
        word_width = data_width if word_width is None else word_width
        _check_bus(data_width, addr_width, length_width, counter_width, word_width)
        self._params = dict(data_width=data_width, addr_width=addr_width,
                            length_width=length_width, counter_width=counter_width,
                            word_width=word_width)
        request = stream.Signature(dram_request_layout(addr_width, length_width))
        super().__init__({
            "m_axi": Out(AxiSignature(addr_width=addr_width, data_width=data_width)),
            "read_request": In(request),
            "read_data": Out(stream.Signature(word_width)),
            "write_request": In(request),
            "write_data": In(stream.Signature(word_width)),
            "busy": Out(1),
            "write_busy": Out(1),
            "error": Out(1),
            "bytes_read": Out(counter_width),
            "bytes_written": Out(counter_width),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = AxiBurstReader(**self._params)
        m.submodules.writer = writer = AxiBurstWriter(**self._params)
        wiring.connect(m, wiring.flipped(self.read_request), reader.request)
        wiring.connect(m, reader.data, wiring.flipped(self.read_data))
        wiring.connect(m, wiring.flipped(self.write_request), writer.request)
        wiring.connect(m, wiring.flipped(self.write_data), writer.data)
        for engine in (reader, writer):
            for name, member in engine.axi.signature.members.items():
                outer, inner = getattr(self.m_axi, name), getattr(engine.axi, name)
                m.d.comb += outer.eq(inner) if member.flow == Out else inner.eq(outer)
        m.d.comb += [
            self.busy.eq(reader.busy | writer.busy),
            self.write_busy.eq(writer.busy),
            self.error.eq(reader.error | writer.error),
            self.bytes_read.eq(reader.bytes),
            self.bytes_written.eq(writer.bytes),
        ]
        return m


class ControlRegisters(wiring.Component):
    """The AXI4-Lite register file a host drives the accelerator through.

    Register map (byte offsets; 32-bit registers):

    ========  ==========  ====  ===============================================
    offset    name        R/W   meaning
    ========  ==========  ====  ===============================================
    0x00      CONTROL     W     bit 0: write 1 to start (a one-cycle ``start``)
    0x04      STATUS      R     bit 0 busy, bit 1 done, bit 2 error
    0x08      ERROR_CODE  R     ``error_code``
    0x0C      DESCRIPTOR  R/W   DRAM address of the run's descriptor
    0x10      INFO        R     bits 0-15 counters, bits 16-19 words per counter
    0x14      DATAFLOW    R/W   with ``run_registers``: bit 0, 0 SpikeX, 1 PTB baseline
    0x18      LAYER       R     with ``run_registers``: ``layer`` (layers completed)
    0x100     COUNTER     R     counter ``k`` at ``0x100 + 4 * words * k``, low word first
    ========  ==========  ====  ===============================================

    With 64-bit counters, reading a counter's low word latches its high word, which the
    next read of ``+ 4`` returns, so a counter read low word first is consistent. Reading
    CONTROL returns 0; an unmapped address, or a write to a read-only register, answers
    SLVERR and changes nothing.

    Parameters
    ----------
    counters : int
        Number of performance counters.
    counter_width : int
        32 or 64.
    addr_width : int
        AXI4-Lite address width; the map must fit.
    run_registers : bool
        Add DATAFLOW and LAYER (otherwise their addresses are unmapped).
    counter_memory : bool
        The counters live in a memory outside (block RAM) rather than arrive as one vector:
        a counter read asks for its word on the ``counter_*`` port, waits for
        ``counter_ready``, and answers R one cycle after it was granted.

    Ports
    -----
    s_axil : In(AxiLiteSignature(addr_width=addr_width))
    start : Out(1)
        One-cycle pulse per write of 1 to CONTROL bit 0.
    busy, done, error : In(1)
        Status from the controller.
    error_code : In(32)
    descriptor : Out(32)
    counters : In(data.ArrayLayout(counter_width, counters))
        Without ``counter_memory``.
    counter_addr : Out(range(counters)), counter_en : Out(1), counter_ready : In(1),
    counter_data : In(counter_width)
        With ``counter_memory``: the memory read port. The memory reads ``counter_addr``
        in a cycle where ``counter_en`` and ``counter_ready`` are both high, and gives it on
        ``counter_data`` in the next.
    dataflow : Out(1), layer : In(32)
        Only with ``run_registers``.

    Latency: a write is acknowledged (B) and takes effect one cycle after both AW and W are
    valid; a read returns (R) one cycle after AR is valid (a ``counter_memory`` counter:
    two cycles after, or later while ``counter_ready`` is low).
    """

    CONTROL, STATUS, ERROR_CODE, DESCRIPTOR, INFO, COUNTER = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x100
    DATAFLOW, LAYER = 0x14, 0x18

    def __init__(self, *, counters=8, counter_width=32, addr_width=12, run_registers=False,
                 counter_memory=False):
        check_parameter("counters", counters, maximum=0xFFFF)
        if counter_width not in (32, 64):
            raise ValueError(f"counter_width must be 32 or 64, not {counter_width!r}")
        check_parameter("addr_width", addr_width, minimum=9, maximum=32)
        self._words = counter_width // 32
        end = self.COUNTER + 4 * self._words * counters
        if end > 1 << addr_width:
            raise ValueError(f"addr_width {addr_width} is too small for {counters} "
                             f"{counter_width}-bit counters (the map ends at {end:#x})")
        self._counters = counters
        self._run_registers = run_registers
        self._counter_memory = counter_memory
        extra = {"dataflow": Out(1), "layer": In(32)} if run_registers else {}
        if counter_memory:
            extra |= {"counter_addr": Out(range(counters)), "counter_en": Out(1),
                      "counter_ready": In(1), "counter_data": In(counter_width)}
        else:
            extra |= {"counters": In(data.ArrayLayout(counter_width, counters))}
        super().__init__({
            **extra,
            "s_axil": In(AxiLiteSignature(addr_width=addr_width)),
            "start": Out(1),
            "busy": In(1),
            "done": In(1),
            "error": In(1),
            "error_code": In(32),
            "descriptor": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil

        # Write: take AW and W together, answer on B.
        writing = Signal()
        m.d.comb += [
            writing.eq(bus.awvalid & bus.wvalid & ~bus.bvalid),
            bus.awready.eq(writing),
            bus.wready.eq(writing),
        ]
        m.d.sync += self.start.eq(0)
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        with m.If(writing):
            m.d.sync += [bus.bvalid.eq(1), bus.bresp.eq(OKAY)]
            with m.Switch(bus.awaddr[2:]):
                with m.Case(self.CONTROL >> 2):
                    m.d.sync += self.start.eq(bus.wdata[0] & bus.wstrb[0])
                with m.Case(self.DESCRIPTOR >> 2):
                    for lane in range(4):
                        with m.If(bus.wstrb[lane]):
                            m.d.sync += self.descriptor.word_select(lane, 8).eq(
                                bus.wdata.word_select(lane, 8))
                if self._run_registers:
                    with m.Case(self.DATAFLOW >> 2):
                        with m.If(bus.wstrb[0]):
                            m.d.sync += self.dataflow.eq(bus.wdata[0])
                with m.Default():
                    m.d.sync += bus.bresp.eq(SLVERR)

        # Read: take AR, answer on R one cycle later (a counter in memory: once read).
        reading = Signal()
        high_word = Signal(32)       # latched when a 64-bit counter's low word is read
        asking = Signal()            # counter_memory: a counter's low word is asked for
        fetched = Signal()           # counter_memory: its value is on counter_data
        m.d.comb += [reading.eq(bus.arvalid & ~bus.rvalid & ~asking & ~fetched),
                     bus.arready.eq(reading)]
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        if self._counter_memory:
            m.d.comb += self.counter_en.eq(asking)
            m.d.sync += fetched.eq(asking & self.counter_ready)
            with m.If(asking & self.counter_ready):
                m.d.sync += asking.eq(0)
            with m.If(fetched):
                m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(self.counter_data[:32])]
                if self._words == 2:
                    m.d.sync += high_word.eq(self.counter_data[32:])
        with m.If(reading):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(OKAY), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                with m.Case(self.CONTROL >> 2):
                    pass
                with m.Case(self.STATUS >> 2):
                    m.d.sync += bus.rdata.eq(Cat(self.busy, self.done, self.error))
                with m.Case(self.ERROR_CODE >> 2):
                    m.d.sync += bus.rdata.eq(self.error_code)
                with m.Case(self.DESCRIPTOR >> 2):
                    m.d.sync += bus.rdata.eq(self.descriptor)
                with m.Case(self.INFO >> 2):
                    m.d.sync += bus.rdata.eq(self._counters | self._words << 16)
                if self._run_registers:
                    with m.Case(self.DATAFLOW >> 2):
                        m.d.sync += bus.rdata.eq(self.dataflow)
                    with m.Case(self.LAYER >> 2):
                        m.d.sync += bus.rdata.eq(self.layer)
                if not self._counter_memory:
                    for k in range(self._counters):
                        word = (self.COUNTER >> 2) + self._words * k
                        with m.Case(word):
                            m.d.sync += bus.rdata.eq(self.counters[k][:32])
                            if self._words == 2:
                                m.d.sync += high_word.eq(self.counters[k][32:])
                        if self._words == 2:
                            with m.Case(word + 1):
                                m.d.sync += bus.rdata.eq(high_word)
                with m.Default():
                    if self._counter_memory:
                        # The counters: the word's index decoded, not one case per counter.
                        offset = bus.araddr - self.COUNTER
                        index = offset >> (2 + self._words - 1)
                        high = offset[2] if self._words == 2 else 0
                        with m.If((bus.araddr >= self.COUNTER) &
                                  (offset < 4 * self._words * self._counters)):
                            with m.If(high):
                                m.d.sync += bus.rdata.eq(high_word)
                            with m.Else():
                                m.d.sync += [bus.rvalid.eq(0), asking.eq(1),
                                             self.counter_addr.eq(index)]
                        with m.Else():
                            m.d.sync += bus.rresp.eq(SLVERR)
                    else:
                        m.d.sync += bus.rresp.eq(SLVERR)
        return m


def verilog(component, name):
    """Verilog of ``component`` with ports named by joining member paths with ``_``.

    Amaranth joins with ``__``; AXI tools expect ``m_axi_awaddr``.
    """
    ports = {}
    for path, _member, value in component.signature.flatten(component):
        port = "_".join(map(str, path))
        if port in ports:
            raise ValueError(f"two ports of {name} would both be named {port!r}")
        if isinstance(value, ValueCastable):
            value = value.as_value()
        ports[port] = (value, None)      # the direction follows from what drives it
    return amaranth_verilog.convert(component, name=name, ports=ports, emit_src=False)
