"""The weight loader: a row group's weights, DRAM to the weight GLB, tailored by the input
SP-MB tags (paper §III-D, weight tailoring; docs/accelerator.md, "Weight loader")."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramReadSignature
from hw.arith import ReadAheadIndex, times
from hw.limits import weight_slots


__all__ = ["WeightLoader", "WeightLoaderControl", "weight_loader_config"]


def weight_loader_config():
    """The layer, for the weight loader: its output channels (M), fan-in (F), fan-ins of an
    SP-MB run, input SP-MBs, bytes of a weight row, bytes of a weight (1 or 2) and the
    dataflow (``tailor``: SpikeX)."""
    return data.StructLayout({"out_channels": 32, "fan_in": 32, "run": 32, "spmbs": 32,
                              "row_bytes": 32, "weight_bytes": 3, "tailor": 1})


class WeightLoaderControl(wiring.Signature):
    """The weight loader's commands, seen from the controller."""

    def __init__(self):
        super().__init__({
            "config": Out(weight_loader_config()),
            "start": Out(1),
            "base": Out(32),
            "addr": Out(32),
            "bank": Out(1),
            "abort": Out(1),
            "busy": In(1),
            "written": In(3),
        })


class WeightLoader(wiring.Component):
    """Loads a row group's weights row by row, one DRAM request per range of consecutive
    loaded SP-MB runs, a bus word a cycle.

    In SpikeX only the runs whose input SP-MB tag is set are read (weight tailoring at the
    DRAM to GLB level); in PTB every run. Consecutive loaded runs of a row are contiguous in
    DRAM (docs/image.md) and are read by one request. The weights go into bank ``bank`` of
    the weight GLB: with ping-pong, half the memory each, so that the next row group loads
    while this one computes; a layer whose weights need more than half uses the whole
    memory, from 0.

    A weight GLB word holds the ``rows`` weights of :func:`~hw.limits.weight_slots` fan-in
    inputs, one 32-bit bus word of a weight row: the weights of fan-in ``f`` are lanes
    ``(f % slots) * rows .. + rows`` of word ``f // slots`` (of ``weight_bits`` each), so
    that a bus word's weights are written in one cycle.

    Parameters
    ----------
    rows, weight_bits : int
        Of the PE array.
    max_fan_in : int
        Fan-in inputs the weight GLB holds (a multiple of ``2 * slots``).
    tag_words : int
        Words of the input SP-MB tags.

    Ports
    -----
    dram : Out(DramReadSignature())
    control : In(WeightLoaderControl())
        ``config`` (:func:`weight_loader_config`), held while loading. ``start`` (only
        while not ``busy``): load the row group whose first output channel is ``base``, its
        weights at DRAM address ``addr``, into bank ``bank``. ``abort``: back to idle at
        once (the run stopped). ``busy``: high from the cycle after ``start`` until the
        group's last weight is written. ``written``: the weights written this cycle (the layer's ``glb_writes``).
    tags : In(ReadPort.Signature(...))
        The input SP-MB tags: a synchronous read port, addressed with the word of the SP-MB
        after the next cycle's (its bit registered a cycle before it is used), so the tags
        must not change while the weights load.
    weights : In(WritePort.Signature(..., granularity=weight_bits))
        The weight GLB, ``max_fan_in // slots`` words of ``slots * rows`` weights.

    Latency: ``start`` in cycle ``n`` is taken in cycle ``n + 1``; then, per row, a cycle
    per SP-MB run and one more, and per range of consecutive loaded runs a cycle for its
    request and the read (one bus word a cycle): ``sim.schedule._rtl_weight_loads``.
    """

    def __init__(self, *, rows, weight_bits, max_fan_in, tag_words):
        self.rows, self.weight_bits, self.max_fan_in = rows, weight_bits, max_fan_in
        self.slots = weight_slots(weight_bits)
        assert max_fan_in % (2 * self.slots) == 0
        super().__init__({
            "dram": Out(DramReadSignature()),
            "control": In(WeightLoaderControl()),
            "tags": In(ReadPort.Signature(addr_width=max(1, ceil_log2(tag_words)), shape=32)),
            "weights": In(WritePort.Signature(
                addr_width=max(1, ceil_log2(max_fan_in // self.slots)),
                shape=self.slots * rows * weight_bits, granularity=weight_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cfg, slots = self.rows, self.control.config, self.slots
        rdata = self.dram.data
        half_words = self.max_fan_in // 2 // slots     # words of a ping-pong bank
        wbytes, F, run_len = cfg.weight_bytes, cfg.fan_in, cfg.run
        slot_shift = ceil_log2(slots)

        start = Signal()                # ``start``, a cycle later
        bank = Signal()
        lrow = Signal(range(rows + 1))
        row_addr = Signal(32)
        m.d.sync += start.eq(0)
        ctl = self.control
        with m.If(ctl.start):
            m.d.sync += [start.eq(1), ctl.busy.eq(1)]
        # The group is taken in every cycle while idle (the controller starts a load only
        # then), so that the registers' clock enable is ``busy``, a flip-flop, not ``start``,
        # which comes late (a decode of the controller's state and conditions).
        lrows = Signal(range(rows + 1))
        rows_done = Signal()            # ``lrow == lrows``
        # The group's rows, ``min(out_channels - base, rows)``, and whether there are none,
        # worked out as the group is taken (the configuration is held while loading, and
        # the controller's ``base`` is never past ``out_channels``), so that IDLE only
        # copies them.
        group_rows, no_rows = Signal.like(lrows), Signal()
        with m.If(~ctl.busy):
            left = cfg.out_channels - ctl.base
            m.d.sync += [bank.eq(ctl.bank), row_addr.eq(ctl.addr),
                         group_rows.eq(Mux(left < rows, left, rows)[:len(lrows)]),
                         no_rows.eq(cfg.out_channels == ctl.base)]
        remaining = Signal(32)          # bus words left of the request
        # The run's fan-in range and bytes, kept as running sums so that a request needs
        # one addition: ``first`` (the run's first fan-in, ``spmb * run``), ``after``
        # (``first + run``), their bytes (``first``'s rounded up to a word too), and whether
        # ``after`` is inside the fan-in.
        first, after = Signal(32), Signal(32)
        first_bytes, first_bytes_up = Signal(32), Signal(32)
        after_bytes, after_bytes_up = Signal(32), Signal(32)
        after_inside = Signal()
        # Per layer (the configuration is held while loading): a run's and the fan-in's bytes.
        run_bytes, fan_bytes_up = Signal(32), Signal(32)
        fan_less_run = Signal(signed(34))
        m.d.sync += [run_bytes.eq(times(run_len, wbytes, 2)),
                     fan_bytes_up.eq((times(F, wbytes, 2) + 3) & ~3),
                     fan_less_run.eq(F - run_len)]
        # The pending range of loaded runs: its first fan-in and its first word's byte.
        pending = Signal()
        p_first, p_byte0 = Signal(32), Signal(32)
        # The request being read: its GLB word, whether the bus word is its first, and the
        # weight slots of its first and last words that are inside the range.
        w_addr = Signal.like(self.weights.addr)
        first_word = Signal()
        lo = Signal(range(slots))       # slots below ``lo`` of the first word are outside
        hi = Signal(range(slots + 1))   # slots from ``hi`` on of the last word are outside
        # The SP-MB of the run.
        spmb = ReadAheadIndex(m, cfg.spmbs, name="spmb")
        # Its tag bit is a register: the tag word of ``up`` is read a cycle ahead (word 0
        # while idle, whose bit 0 is kept for the restarts), and the bit chosen from it for
        # an advance, so that no clock enable or request waits on the tags' read and a
        # 32-to-1 choice. (The tags are loaded before the weights that use them, never
        # while they are read.)
        idle = Signal()
        m.d.comb += self.tags.addr.eq(Mux(idle, 0, spmb.up_next[5:]))
        tag0 = Signal()                 # SP-MB 0's
        first_tag = Mux(idle, self.tags.data[0], tag0)
        m.d.sync += tag0.eq(first_tag)
        tag = spmb.follow(m, first_tag, self.tags.data.bit_select(spmb.up[:5], 1),
                          name="spmb_tag")
        spmb_active = ~cfg.tailor | tag

        def first_run():
            m.d.sync += [first.eq(0), after.eq(run_len), first_bytes.eq(0),
                         first_bytes_up.eq(0), after_bytes.eq(run_bytes),
                         after_bytes_up.eq((run_bytes + 3) & ~3),
                         after_inside.eq(run_len < F), pending.eq(0)]
            spmb.restart(m)

        def next_run():
            m.d.sync += [first.eq(after), after.eq(after + run_len), first_bytes.eq(after_bytes),
                         first_bytes_up.eq(after_bytes_up),
                         after_bytes.eq(after_bytes + run_bytes),
                         after_bytes_up.eq((after_bytes + run_bytes + 3) & ~3),
                         after_inside.eq(after < fan_less_run)]
            spmb.advance(m)

        def stop_on_abort():
            # Last in each state, so that it wins: back to idle at once.
            with m.If(self.control.abort):
                m.d.sync += self.control.busy.eq(0)
                m.next = "IDLE"

        with m.FSM(name="loader") as fsm:
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [lrows.eq(group_rows), lrow.eq(0), rows_done.eq(no_rows)]
                    first_run()
                    m.next = "RUN"
                stop_on_abort()
            with m.State("RUN"):
                # Next SP-MB run of the next row's weights: a loaded run joins the pending
                # range, which is read when a run that is not loaded, or the row's end,
                # closes it (that run is looked at again after the read). What WORDS starts
                # from is set in every cycle here, so that only the state waits on the
                # arbiter's ``ready``.
                end_fan = Mux(spmb.at_end, F, first)
                end_bytes_up = Mux(spmb.at_end, fan_bytes_up, first_bytes_up)
                nbytes = end_bytes_up - p_byte0
                m.d.sync += [w_addr.eq((p_byte0 >> 2) + Mux(bank, half_words, 0)),
                             first_word.eq(1), remaining.eq(nbytes >> 2),
                             lo.eq(p_first[:slot_shift] if slots > 1 else 0),
                             hi.eq(Mux(end_fan[:slot_shift] == 0, slots, end_fan[:slot_shift])
                                   if slots > 1 else 1)]
                # The three cases, each written so that the tag bit (``spmb_active``, late:
                # a tag word just read and a bit chosen from it) is the last term of its
                # condition: the row's end (restart), the next run (advance; a loaded run
                # joins the pending range), else the pending range is read.
                with m.If(rows_done):
                    m.d.sync += self.control.busy.eq(0)
                    m.next = "IDLE"
                with m.Elif(spmb.at_end & ~pending):
                    m.d.sync += [lrow.eq(lrow + 1), rows_done.eq(lrow + 1 == lrows),
                                 row_addr.eq(row_addr + cfg.row_bytes)]
                    first_run()
                with m.Elif(~spmb.at_end & (~pending | spmb_active)):
                    with m.If(~pending & spmb_active):
                        m.d.sync += [pending.eq(1), p_first.eq(first),
                                     p_byte0.eq(first_bytes & ~3)]
                    next_run()
                with m.Else():
                    m.d.comb += [self.dram.request.valid.eq(1),
                                 self.dram.request.payload.addr.eq(row_addr + p_byte0),
                                 self.dram.request.payload.length.eq(nbytes)]
                    with m.If(self.dram.request.ready):
                        m.d.sync += pending.eq(0)
                        m.next = "WORDS"
                stop_on_abort()
            with m.State("WORDS"):
                # A bus word a cycle: its weight slots inside the range into lane ``lrow``
                # of their fan-in inputs, one GLB word.
                bits = 8 * (1 if self.weight_bits <= 8 else 2)
                last_word = remaining == 1
                inside = [(~first_word | (i >= lo)) & (~last_word | (i < hi))
                          for i in range(slots)]
                m.d.comb += [
                    self.weights.addr.eq(w_addr),
                    self.weights.data.eq(Cat(
                        Cat(rdata.payload.word_select(i, bits)[:self.weight_bits]
                            for _ in range(rows))
                        for i in range(slots))),
                ]
                with m.If(rdata.valid):
                    m.d.comb += [
                        self.weights.en.eq(Cat(
                            Cat(inside[i] & (lrow == r) for r in range(rows))
                            for i in range(slots))),
                        self.control.written.eq(sum(inside)),
                        rdata.ready.eq(1),
                    ]
                    m.d.sync += [w_addr.eq(w_addr + 1), first_word.eq(0),
                                 remaining.eq(remaining - 1)]
                    with m.If(last_word):
                        m.next = "RUN"
                stop_on_abort()
        m.d.comb += idle.eq(fsm.ongoing("IDLE"))
        return m
