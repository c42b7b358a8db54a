"""Beat generation: gather one pass's beats from the GLB into an LBUF bank (docs/dataflow.md,
"One pass in the PE array", step 1; paper §III-D, weight tailoring at the GLB -> LBUF level).

For a column chunk (from :class:`hw.dispatch.NtwuDispatcher`), :class:`BeatGather` visits the
*candidate* fan-in inputs ``f = c*E*E + ky*E + kx`` (the image's weight order): in SpikeX only
those of input SP-MBs whose tag is set (conv: input channel ``c``; fc: 16 features), in PTB
all ``F``. For each candidate it reads, in one cycle, the input's spike bits under each
column's position (one GLB read port per column; zero outside the input: padding), cuts out
the column's window, and reads the rows' weights of ``f``. In SpikeX a beat whose words are
all zero is dropped (array-level weight tailoring); the others go to the LBUF bank with their
weights, so the array streams only the weights of the beats it uses.

Cycle cost, from ``start`` to ``done``: ``1 + issued + skipped_runs + 2`` where ``issued`` is
the number of candidates and ``skipped_runs`` the number of SP-MB runs dropped by their tag
(one cycle each). One candidate is issued per cycle; its GLB words are read the cycle after
and registered as they leave the memories, its columns' windows are cut out of them and
registered the cycle after that, and its beat is written the cycle after that, with ``done``.

**Streaming through the LBUF.** A bank holds ``lbuf_depth`` beats, fewer than a pass may
need. The gather cuts a pass into *segments* of ``lbuf_depth`` issued candidates (so a
segment's beats always fit a bank, whatever tailoring drops): after the ``lbuf_depth``-th
candidate of a segment, if candidates remain, it pulses ``segment`` (the bank holds
``beats`` beats and the pass goes on) and waits for ``resume`` (a free bank; ``beats``
restarts at 0). The check costs one cycle, as the final one does: a segment costs
``issued + skipped + 1`` cycles of ``RUN``, from ``start`` or ``resume``, and ``segment`` (or
``done``) comes two cycles after its last. The segmentation
depends only on the layer and the active SP-MB runs, never on the chunk, so every pass of a
layer is cut at the same fan-in indices. A segment may hold no beat (its candidates were all
zero, or only skipped runs followed the previous one): it is still pulsed.
"""

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.pe import check_parameter
from hw.arith import ReadAheadIndex, times


__all__ = ["DRAIN", "gather_config_layout", "lbuf_entry_layout", "popcount", "BeatGather"]


#: Cycles from a segment's last cycle of ``RUN`` (its check) to its ``done`` or ``segment``
#: pulse, with its last beat: the GLB read, the window and the LBUF write
#: (``sim/schedule.py`` builds the gather's cycles on it).
DRAIN = 2


def gather_config_layout(dim_bits, count_bits, tws_max):
    """Layer fields the gather needs; fc layers are 1x1 convolutions of ``N`` channels."""
    return data.StructLayout({
        "in_h": dim_bits, "in_w": dim_bits, "in_hw": count_bits,
        "kernel": dim_bits, "stride": dim_bits, "padding": dim_bits,
        "fan_in": count_bits,
        "run": count_bits,          # candidates per SP-MB run: conv E*E, fc 16
        "tws": range(tws_max + 1),
        "tailor": 1,                # SpikeX: drop inactive runs and all-zero beats
        "fc": 1,                    # a run is 16 inputs, not one input channel
    })


def lbuf_entry_layout(rows, cols, tws_max, weight_bits, pace=False):
    """One beat in the LBUF: the columns' spike words and the rows' weights; for the sparse
    PE also its pace, the most set bits of any of its words, at least 1
    (``hw.config.beat_cycles``). ``hw.limits.lbuf_entry_bits`` is its width."""
    fields = {
        "words": data.ArrayLayout(tws_max, cols),
        "weights": data.ArrayLayout(signed(weight_bits), rows),
    }
    if pace:
        fields["pace"] = range(1, tws_max + 1)
    return data.StructLayout(fields)


def _sum(values):
    """The sum of ``values`` (a tree of adders)."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def popcount(value):
    """Number of set bits of ``value`` (an adder tree)."""
    return _sum([value[i] for i in range(len(value))])


def _most(values):
    """The largest of ``values`` (a tree of compares)."""
    while len(values) > 1:
        pairs = []
        for i in range(0, len(values) - 1, 2):
            a, b = values[i], values[i + 1]
            pairs.append(Mux(a > b, a, b))
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return values[0]


class BeatGather(wiring.Component):
    """Writes the beats of one pass into an LBUF bank.

    Parameters
    ----------
    rows, cols, tws_max, weight_bits : int
        The PE array's.
    max_timesteps : int
        Width of a GLB spike word (one input's spike bits over the whole sample).
    spike_addr_width, weight_addr_width, lbuf_depth, tag_addr_width : int
        Address widths of the GLB spike and weight memories, beats per LBUF bank, address
        width of the SP-MB tag memory (32 tags per word).
    dim_bits, count_bits, window_bits, position_bits : int
        Widths of the layer geometry.

    Ports
    -----
    config : In(gather_config_layout)
        Held while gathering.
    columns : In(ArrayLayout(StructLayout({oy, ox, w}), cols)), length : In(range(cols + 1))
        The chunk: column ``c < length`` runs window ``w`` of output position ``(oy, ox)``.
    start : In(1)
        Pulse: gather the chunk.
    clear : In(1)
        Pulse: zero ``spike_reads`` and ``weight_reads``.
    done : Out(1)
        Pulse: the bank holds ``beats`` beats, the last of the pass.
    segment : Out(1)
        Pulse: the bank holds ``beats`` beats and the pass goes on in another bank.
    resume : In(1)
        Pulse, after ``segment``: go on into the (other) bank, from address 0.
    beats : Out(range(lbuf_depth + 1))
    set_bits : Out(count_bits + 8)
        Set spike bits of the pass's beats written so far (each is one addition per row).
    spike_reads, weight_reads : Out(32)
        Running counts of GLB spike-word reads (one per in-bounds column per candidate)
        and weight-word reads (one per candidate).
    tags : In(ReadPort.Signature(addr_width=tag_addr_width, shape=32))
        Synchronous read port of the input SP-MB tags, read a word ahead: word 0 while
        idle (taken with ``start``), then the word after the current run's.
    spikes : In(ReadPort.Signature(addr_width=spike_addr_width, shape=max_timesteps)).array(cols)
    weights : In(ReadPort.Signature(addr_width=weight_addr_width, shape=rows * weight_bits))
    lbuf : In(WritePort.Signature(addr_width=ceil_log2(lbuf_depth), shape=entry))
        Beat ``j`` is written at address ``j`` (the controller adds the bank).
    pace : bool
        Write each beat's pace into its entry (``lbuf_entry_layout``), for the sparse PE.
    """

    def __init__(self, *, rows, cols, tws_max, weight_bits, max_timesteps, spike_addr_width,
                 weight_addr_width, lbuf_depth, tag_addr_width, dim_bits, count_bits,
                 window_bits, position_bits=1, pace=False):
        for name, value in (("rows", rows), ("cols", cols), ("lbuf_depth", lbuf_depth)):
            check_parameter(name, value)
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.max_timesteps, self.lbuf_depth = max_timesteps, lbuf_depth
        self.dim_bits, self.count_bits = dim_bits, count_bits
        self.pace = pace
        self.entry_layout = lbuf_entry_layout(rows, cols, tws_max, weight_bits, pace)
        column = data.StructLayout({"oy": dim_bits, "ox": dim_bits, "w": window_bits})
        super().__init__({
            "config": In(gather_config_layout(dim_bits, count_bits, tws_max)),
            "columns": In(data.ArrayLayout(column, cols)),
            "length": In(range(cols + 1)),
            "start": In(1),
            "clear": In(1),
            "done": Out(1),
            "segment": Out(1),
            "resume": In(1),
            "beats": Out(range(lbuf_depth + 1)),
            "set_bits": Out(count_bits + 8),
            "spike_reads": Out(32),
            "weight_reads": Out(32),
            "tags": In(ReadPort.Signature(addr_width=tag_addr_width, shape=32)),
            "spikes": In(ReadPort.Signature(addr_width=spike_addr_width,
                                             shape=max_timesteps)).array(cols),
            "weights": In(ReadPort.Signature(addr_width=weight_addr_width,
                                              shape=rows * weight_bits)),
            "lbuf": In(WritePort.Signature(addr_width=max(1, ceil_log2(lbuf_depth)),
                                            shape=self.entry_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, cols, dim = self.config, self.cols, self.dim_bits

        # Per-column constants of the chunk, registered at start.
        base_y = [Signal(signed(dim + 2), name=f"base_y{c}") for c in range(cols)]
        base_x = [Signal(signed(dim + 2), name=f"base_x{c}") for c in range(cols)]
        shift = [Signal(range(self.max_timesteps + 1), name=f"shift{c}") for c in range(cols)]
        used = Signal(cols)
        # Per column, kept as the candidates go: the input row and column under it and the
        # GLB address of the input row's start (``c*in_h*in_w + y*in_w``). The address is
        # kept modulo the GLB's size, as wide as the read port's address: only its low bits
        # reach the port (``row_addr + x`` is a valid word whenever the column is inside),
        # so the product taken at ``start`` is a narrow one, not one as wide as the layer's
        # counts.
        addr_bits = len(self.spikes[0].addr)
        y = [Signal(signed(dim + 3), name=f"y{c}") for c in range(cols)]
        x = [Signal(signed(dim + 3), name=f"x{c}") for c in range(cols)]
        row_addr = [Signal(addr_bits, name=f"row_addr{c}") for c in range(cols)]
        # Per layer (the configuration is held while gathering): the products the chunk's
        # and the candidates' addresses need, modulo the GLB's size as ``row_addr``.
        stride_w, pad_w, kernel_w, channel_step = (Signal(addr_bits, name=n) for n in
                                                   ("stride_w", "pad_w", "kernel_w",
                                                    "channel_step"))
        m.d.sync += [stride_w.eq(cfg.stride * cfg.in_w), pad_w.eq(cfg.padding * cfg.in_w),
                     kernel_w.eq((cfg.kernel - 1) * cfg.in_w),
                     channel_step.eq(cfg.in_hw - kernel_w)]

        f = Signal(self.count_bits + 1)
        ky, kx = Signal(dim), Signal(dim)
        in_run = Signal(self.count_bits)
        issued = Signal()                   # a candidate was issued last cycle
        seg_issued = Signal(range(self.lbuf_depth + 1))     # candidates of this segment
        issued_inside = Signal(cols)
        # Registered with them, so that a cycle's step is chosen from flags (the tag bit
        # read this cycle comes late): ``f`` past the fan-in, ``kx`` and ``ky`` at the
        # kernel's last, ``in_run`` at the run's last, the segment's bank full.
        fan_done, kx_last, ky_last, run_last, seg_full = (
            Signal(name=n) for n in ("fan_done", "kx_last", "ky_last", "run_last", "seg_full"))

        def set_index(index, flag, value, end):
            value = Value.cast(value)
            value = value[:len(index)] if len(value) > len(index) else value
            m.d.sync += [index.eq(value), flag.eq(end(value))]

        def set_f(value):
            set_index(f, fan_done, value, lambda v: v >= cfg.fan_in)

        def set_kx(value):
            set_index(kx, kx_last, value, lambda v: v == cfg.kernel - 1)

        def set_ky(value):
            set_index(ky, ky_last, value, lambda v: v == cfg.kernel - 1)

        def set_in_run(value):
            set_index(in_run, run_last, value, lambda v: v == cfg.run - 1)

        def set_seg_issued(value):
            set_index(seg_issued, seg_full, value, lambda v: v == self.lbuf_depth)

        tws_mask = Signal(self.tws_max)
        m.d.comb += tws_mask.eq((1 << cfg.tws) - 1)

        # The SP-MB run of f. Its tag is bit 0 of ``tag_word``, a register that holds the
        # tags of the runs from this one to the end of its tag word: it shifts right as the
        # run advances, and takes the next word when the run crosses into it. The next
        # word is read ahead through the synchronous port (``tag_addr``: the word after the
        # run's; in IDLE, word 0, which ``start`` takes), so the step chosen from the tag bit
        # starts at a flip-flop, not at the tag memory and a 32:1 multiplexer.
        run = ReadAheadIndex(m, None, width=self.count_bits, name="run")
        tag_word = Signal(32)
        tag_addr = Signal(len(self.tags.addr))
        m.d.comb += self.tags.addr.eq(tag_addr)
        tag_bit = tag_word[0]
        active_run = ~cfg.tailor | tag_bit

        def advance_run():
            run.advance(m)
            with m.If(run.value[:5] == 31):
                m.d.sync += [tag_word.eq(self.tags.data), tag_addr.eq(tag_addr + 1)]
            with m.Else():
                m.d.sync += tag_word.eq(tag_word >> 1)

        # Stage 2: the GLB words of the candidate issued last cycle, registered as they leave
        # the memories (block RAM, then the bank's multiplexer: nothing more fits the cycle).
        spike_word = [Signal(self.max_timesteps, name=f"spike_word{c}") for c in range(cols)]
        weight_word = Signal.like(self.weights.data)
        read = Signal()                     # a candidate's words are in stage 3
        read_inside = Signal(cols)
        m.d.sync += [spike_word[c].eq(self.spikes[c].data) for c in range(cols)]
        m.d.sync += [weight_word.eq(self.weights.data), read.eq(issued),
                     read_inside.eq(issued_inside)]
        # Stage 3: of each spike word only its column's window (the shift is the chunk's,
        # set at start; zero outside the input), registered with its set bits, so that the
        # beat's pace, keep and count in stage 4 start at registers, not at popcounts.
        spike_window = [Signal(self.tws_max, name=f"spike_window{c}") for c in range(cols)]
        window_bits = [Signal(range(self.tws_max + 1), name=f"window_bits{c}")
                       for c in range(cols)]
        weight_data = Signal.like(self.weights.data)
        fetched = Signal()                  # a candidate's words are in stage 4
        for c in range(cols):
            window = Signal(self.tws_max, name=f"window{c}")
            m.d.comb += window.eq(Mux(read_inside[c], (spike_word[c] >> shift[c]) & tws_mask,
                                      0))
            m.d.sync += [spike_window[c].eq(window), window_bits[c].eq(popcount(window))]
        m.d.sync += [weight_data.eq(weight_word), fetched.eq(read)]
        # Stage 4: its beat, written into the LBUF. ``done`` and ``segment`` come two cycles
        # after the last candidate's check (``finish``, ``cut``), with that beat: ``beats``
        # and ``set_bits`` count it already.
        words = Signal(data.ArrayLayout(self.tws_max, cols))
        for c in range(cols):
            m.d.comb += words[c].eq(spike_window[c])
        keep = fetched & (~cfg.tailor | (words.as_value() != 0))
        written = Signal.like(self.beats)   # beats written
        bits = Signal.like(self.set_bits)   # their set bits
        total = _sum(window_bits)           # the beat's set bits
        m.d.comb += [
            self.lbuf.addr.eq(written),
            self.lbuf.en.eq(keep),
            self.lbuf.data.words.eq(words),
            self.lbuf.data.weights.eq(weight_data),
            self.beats.eq(written + keep),
            self.set_bits.eq(bits + Mux(keep, total, 0)),
        ]
        if self.pace:
            most = Signal(range(self.tws_max + 1))
            m.d.comb += [most.eq(_most(window_bits)),
                         self.lbuf.data.pace.eq(Mux(most == 0, 1, most))]
        with m.If(keep):
            m.d.sync += [written.eq(written + 1), bits.eq(self.set_bits)]

        # Stage 1: issue candidate f.
        inside = Signal(cols)
        for c in range(cols):
            m.d.comb += [
                inside[c].eq(used[c] & (y[c] >= 0) & (y[c] < cfg.in_h) & (x[c] >= 0) &
                             (x[c] < cfg.in_w)),
                self.spikes[c].addr.eq(row_addr[c] + x[c]),
            ]
        finish, cut = Signal(), Signal()
        m.d.sync += [self.done.eq(finish), self.segment.eq(cut)]
        m.d.sync += [finish.eq(0), cut.eq(0), issued.eq(0)]
        for c in range(cols):
            m.d.comb += self.spikes[c].en.eq(0)
        m.d.comb += [self.weights.addr.eq(f), self.weights.en.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                # The chunk's columns are taken in every cycle here (only RUN reads them, and
                # ``start``'s are the ones kept), so that their clock enable is the state,
                # not ``start``, which comes late (the pass engine's state and conditions).
                for c in range(cols):
                    column = self.columns[c]
                    top, left = column.oy * cfg.stride - cfg.padding, \
                        column.ox * cfg.stride - cfg.padding
                    m.d.sync += [
                        base_y[c].eq(top), base_x[c].eq(left), y[c].eq(top), x[c].eq(left),
                        row_addr[c].eq(column.oy[:addr_bits] * stride_w - pad_w),
                        shift[c].eq(times(column.w, cfg.tws, len(cfg.tws))),
                        used[c].eq(c < self.length),
                    ]
                with m.If(self.start):
                    set_f(0)
                    set_ky(0)
                    set_kx(0)
                    set_in_run(0)
                    set_seg_issued(0)
                    m.d.sync += [written.eq(0), bits.eq(0)]
                    run.restart(m)
                    m.d.sync += [tag_word.eq(self.tags.data), tag_addr.eq(1)]
                    m.next = "RUN"
            with m.State("RUN"):
                # Candidate f's words are read whether it is issued or its run skipped, so
                # that the read enables (the block RAMs' clock enables) wait on registers
                # only, not on the tag bit read this cycle; a skipped run's read goes unused
                # and uncounted. Only the words inside the input are read: a padding address,
                # or one past the fan-in, may fall in the bank the input loader is filling
                # (hw/banked_memory.py).
                with m.If(~fan_done & ~seg_full):
                    for c in range(cols):
                        m.d.comb += self.spikes[c].en.eq(inside[c])
                    m.d.comb += self.weights.en.eq(1)
                with m.If(fan_done):
                    m.d.sync += [finish.eq(1), tag_addr.eq(0)]
                    m.next = "IDLE"
                with m.Elif(seg_full):
                    # The bank is full of this segment's candidates; the pass goes on.
                    m.d.sync += cut.eq(1)
                    m.next = "WAIT"
                with m.Elif(~active_run):
                    # The whole SP-MB run is zero: skip its candidates in one cycle.
                    # (A run is skipped at its start: ky = kx = 0, each column at its base.)
                    step = Mux(cfg.fc, cfg.run, cfg.in_hw)
                    m.d.sync += [row_addr[c].eq(row_addr[c] + step) for c in range(cols)]
                    m.d.sync += [y[c].eq(base_y[c]) for c in range(cols)]
                    m.d.sync += [x[c].eq(base_x[c]) for c in range(cols)]
                    set_f(f + cfg.run)
                    set_in_run(0)
                    set_ky(0)
                    set_kx(0)
                    advance_run()
                with m.Else():
                    m.d.sync += [issued.eq(1), issued_inside.eq(inside),
                                 self.spike_reads.eq(self.spike_reads + popcount(inside)),
                                 self.weight_reads.eq(self.weight_reads + 1)]
                    set_f(f + 1)
                    set_seg_issued(seg_issued + 1)
                    with m.If(kx_last):
                        set_kx(0)
                        m.d.sync += [x[c].eq(base_x[c]) for c in range(cols)]
                        with m.If(ky_last):
                            set_ky(0)
                            m.d.sync += [y[c].eq(base_y[c]) for c in range(cols)]
                            m.d.sync += [row_addr[c].eq(row_addr[c] + channel_step)
                                         for c in range(cols)]
                        with m.Else():
                            set_ky(ky + 1)
                            m.d.sync += [y[c].eq(y[c] + 1) for c in range(cols)]
                            m.d.sync += [row_addr[c].eq(row_addr[c] + cfg.in_w)
                                         for c in range(cols)]
                    with m.Else():
                        set_kx(kx + 1)
                        m.d.sync += [x[c].eq(x[c] + 1) for c in range(cols)]
                    with m.If(run_last):
                        set_in_run(0)
                        advance_run()
                    with m.Else():
                        set_in_run(in_run + 1)
            with m.State("WAIT"):
                with m.If(self.resume):
                    set_seg_issued(0)
                    m.d.sync += written.eq(0)
                    m.next = "RUN"
        with m.If(self.clear):
            m.d.sync += [self.spike_reads.eq(0), self.weight_reads.eq(0)]
        return m
