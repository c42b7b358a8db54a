"""The weight loader: a row group's weights, DRAM to the weight GLB, tailored by the input
SP-MB tags (paper §III-D, weight tailoring; docs/accelerator.md, "Weight loader")."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramReadSignature
from hw.arith import ReadAheadIndex, times


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
            "written": In(1),
        })


class WeightLoader(wiring.Component):
    """Loads a row group's weights row by row, one DRAM request per SP-MB run.

    In SpikeX only the runs whose input SP-MB tag is set are read (weight tailoring at the
    DRAM to GLB level); in PTB every run. The weights go into bank ``bank`` of the weight
    GLB: with ping-pong, half the memory each, so that the next row group loads while this
    one computes; a layer whose weights need more than half uses the whole memory, from 0.

    Parameters
    ----------
    rows, weight_bits : int
        Of the PE array: a GLB word holds a fan-in's weight for each row.
    max_fan_in : int
        Words of the weight GLB.
    tag_words : int
        Words of the input SP-MB tags.

    Ports
    -----
    dram : Out(DramReadSignature())
    control : In(WeightLoaderControl())
        ``config`` (:func:`weight_loader_config`), held while loading. ``start``: load
        the row group whose first output channel is ``base``, its weights at DRAM address
        ``addr``, into bank ``bank``. ``abort``: back to idle at once (the run stopped).
        ``busy``: high from the cycle after ``start`` until the group's last weight is
        written. ``written``: a weight is written this cycle (the layer's ``glb_writes``).
    tags : In(ReadPort.Signature(...))
        The input SP-MB tags: a synchronous read port, transparent to the tags' write port
        (the loader addresses it with the SP-MB of the next cycle).
    weights : In(WritePort.Signature(..., granularity=weight_bits))
        The weight GLB (one row's weight a write).

    Latency: ``start`` in cycle ``n`` is taken in cycle ``n + 1``; then a cycle per SP-MB
    run, its request, and a cycle per weight of each bus word.
    """

    def __init__(self, *, rows, weight_bits, max_fan_in, tag_words):
        self.rows, self.weight_bits, self.max_fan_in = rows, weight_bits, max_fan_in
        super().__init__({
            "dram": Out(DramReadSignature()),
            "control": In(WeightLoaderControl()),
            "tags": In(ReadPort.Signature(addr_width=max(1, ceil_log2(tag_words)), shape=32)),
            "weights": In(WritePort.Signature(addr_width=max(1, ceil_log2(max_fan_in)),
                                              shape=rows * weight_bits,
                                              granularity=weight_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cfg = self.rows, self.control.config
        rdata, half = self.dram.data, self.max_fan_in // 2
        wbytes, F, run_len = cfg.weight_bytes, cfg.fan_in, cfg.run

        start = Signal()                # ``start``, a cycle later
        base = Signal(32)               # first output channel of the group being loaded
        bank = Signal()
        lrow = Signal(range(rows + 1))
        row_addr = Signal(32)
        m.d.sync += start.eq(0)
        ctl = self.control
        with m.If(ctl.start):
            m.d.sync += [start.eq(1), ctl.busy.eq(1), base.eq(ctl.base), bank.eq(ctl.bank),
                         row_addr.eq(ctl.addr)]

        lrows = Signal(range(rows + 1))
        rows_done = Signal()            # ``lrow == lrows``
        remaining = Signal(32)
        slot = Signal(2)
        fan_first, fan_end = Signal(32), Signal(32)     # fan-in range of the weight run
        # The run's fan-in range and bytes, kept as running sums so that a request needs
        # one addition: ``first`` (the run's first fan-in, ``spmb * run``), ``after``
        # (``first + run``), their bytes, and whether ``after`` is inside the fan-in.
        first, after = Signal(32), Signal(32)
        first_bytes, after_bytes, after_bytes_up = Signal(32), Signal(32), Signal(32)
        after_inside = Signal()
        # Per layer (the configuration is held while loading): a run's and the fan-in's bytes.
        run_bytes, fan_bytes_up = Signal(32), Signal(32)
        fan_less_run = Signal(signed(34))
        m.d.sync += [run_bytes.eq(times(run_len, wbytes, 2)),
                     fan_bytes_up.eq((times(F, wbytes, 2) + 3) & ~3),
                     fan_less_run.eq(F - run_len)]
        f = Signal(32)                  # the fan-in of the weight slot in WORDS
        f_addr = Signal.like(self.weights.addr)     # its weight GLB address
        # The SP-MB of the run; its tag is read a cycle ahead, through a synchronous port.
        spmb = ReadAheadIndex(m, cfg.spmbs, name="spmb")
        m.d.comb += self.tags.addr.eq(spmb.next[5:])
        spmb_active = ~cfg.tailor | self.tags.data.bit_select(spmb.value[:5], 1)

        def first_run():
            m.d.sync += [first.eq(0), after.eq(run_len), first_bytes.eq(0),
                         after_bytes.eq(run_bytes), after_bytes_up.eq((run_bytes + 3) & ~3),
                         after_inside.eq(run_len < F)]
            spmb.restart(m)

        def next_run():
            m.d.sync += [first.eq(after), after.eq(after + run_len), first_bytes.eq(after_bytes),
                         after_bytes.eq(after_bytes + run_bytes),
                         after_bytes_up.eq((after_bytes + run_bytes + 3) & ~3),
                         after_inside.eq(after < fan_less_run)]
            spmb.advance(m)

        def stop_on_abort():
            # Last in each state, so that it wins: back to idle at once.
            with m.If(self.control.abort):
                m.d.sync += self.control.busy.eq(0)
                m.next = "IDLE"

        with m.FSM(name="loader"):
            with m.State("IDLE"):
                with m.If(start):
                    left = cfg.out_channels - base
                    group_rows = Mux(left < rows, left, rows)[:len(lrows)]
                    m.d.sync += [lrows.eq(group_rows), lrow.eq(0), rows_done.eq(group_rows == 0)]
                    first_run()
                    m.next = "RUN"
                stop_on_abort()
            with m.State("RUN"):
                # Next SP-MB run of the next row's weights. What WORDS starts from is set in
                # every cycle here, so that only the state waits on the arbiter's ``ready``.
                byte0 = first_bytes & ~3
                nbytes = Mux(after_inside, after_bytes_up, fan_bytes_up) - byte0
                f0 = Mux(wbytes == 1, byte0, byte0 >> 1)
                m.d.sync += [fan_first.eq(first), fan_end.eq(Mux(after_inside, after, F)),
                             f.eq(f0), f_addr.eq(f0 + Mux(bank, half, 0)), slot.eq(0),
                             remaining.eq(nbytes >> 2)]
                with m.If(rows_done):
                    m.d.sync += self.control.busy.eq(0)
                    m.next = "IDLE"
                with m.Elif(spmb.at_end):
                    m.d.sync += [lrow.eq(lrow + 1), rows_done.eq(lrow + 1 == lrows),
                                 row_addr.eq(row_addr + cfg.row_bytes)]
                    first_run()
                with m.Elif(spmb_active):
                    m.d.comb += [self.dram.request.valid.eq(1),
                                 self.dram.request.payload.addr.eq(row_addr + byte0),
                                 self.dram.request.payload.length.eq(nbytes)]
                    with m.If(self.dram.request.ready):
                        m.next = "WORDS"
                with m.Else():
                    next_run()
                stop_on_abort()
            with m.State("WORDS"):
                # One weight slot of the current bus word per cycle.
                raw = Mux(wbytes == 1,
                          rdata.payload.word_select(slot, 8).as_signed(),
                          rdata.payload.word_select(slot[0], 16).as_signed())
                last_slot = Mux(wbytes == 1, slot == 3, slot == 1)
                m.d.comb += [self.weights.addr.eq(f_addr),
                             self.weights.data.eq(Cat(raw[:self.weight_bits] for _ in range(rows)))]
                with m.If(rdata.valid):
                    with m.If((f >= fan_first) & (f < fan_end)):
                        m.d.comb += [self.weights.en.eq(1 << lrow), self.control.written.eq(1)]
                    m.d.sync += [slot.eq(slot + 1), f.eq(f + 1), f_addr.eq(f_addr + 1)]
                    with m.If(last_slot):
                        m.d.comb += rdata.ready.eq(1)
                        m.d.sync += [slot.eq(0), remaining.eq(remaining - 1)]
                        with m.If(remaining == 1):
                            next_run()
                            m.next = "RUN"
                stop_on_abort()
        return m
