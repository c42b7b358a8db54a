"""The pass engine: a row group's passes, from the dispatcher's chunks to the output GLB
(paper §III-C and Fig. 1; docs/accelerator.md, "Passes")."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arith import times
from hw.array import PEArray
from hw.config import DEFAULTS, SKIP_BITS
from hw.dispatch import chunk_layout
from hw.gather import BeatGather, gather_config_layout, lbuf_entry_layout
from hw.output_glb import OutputWriteSignature, output_addr_bits


__all__ = ["PassEngine", "PassEngineControl", "pass_config", "pass_counts", "state_layout"]


def state_layout(rows, v_bits):
    """One word of the time-block state memory: a position's membranes and last step."""
    return data.StructLayout({"membranes": data.ArrayLayout(signed(v_bits), rows), "last": 16})


def pass_config(*, rows, tws_max):
    """The layer and row group, for the pass engine: ``tws``, ``threshold`` and
    ``leak_shift``; ``rows_used`` (rows that hold an output channel) and ``positions``
    (R·R', the output GLB row stride); ``result_bank`` (the output bank the passes write);
    ``blocked`` (the run has time blocks: each pass's state is kept), ``carry`` (a time
    block after the first: the columns that start a neuron take its state) and
    ``block_step`` (the block's first step)."""
    return data.StructLayout({
        "tws": range(tws_max + 1), "threshold": 32, "leak_shift": 32,
        "rows_used": range(rows + 1), "positions": 32, "result_bank": 1,
        "blocked": 1, "carry": 1, "block_step": 32})


def pass_counts(*, cols, lbuf_depth):
    """A cycle's additions to the layer's counters: ``lbuf_writes``, ``lbuf_reads``,
    ``acc_ops``, ``scratchpad_accesses``, ``glb_reads`` (a time-block state word) and
    ``glb_writes`` (result words and a state word); and ``array_busy`` (the array holds a
    pass)."""
    return data.StructLayout({
        "lbuf_writes": range(lbuf_depth + 1), "lbuf_reads": 1, "acc_ops": 48,
        "scratchpad_accesses": 48, "glb_reads": 1, "glb_writes": range(cols + 2),
        "array_busy": 1})


class PassEngineControl(wiring.Signature):
    """The pass engine's commands, seen from the controller."""

    def __init__(self, *, rows, cols, tws_max, lbuf_depth, dim_bits, count_bits):
        super().__init__({
            "gather_config": Out(gather_config_layout(dim_bits, count_bits, tws_max)),
            "config": Out(pass_config(rows=rows, tws_max=tws_max)),
            "active": Out(1),
            "begin": Out(1),
            "clear": Out(1),
            "state_clear": Out(1),
            "state_clear_index": Out(32),
            "group_done": In(1),
            "spike_reads": In(32),
            "weight_reads": In(32),
            "counts": In(pass_counts(cols=cols, lbuf_depth=lbuf_depth)),
        })


class PassEngine(wiring.Component):
    """Runs a row group's passes on the PE array.

    For each chunk of the active NTWU list (one entry per column) the gather fills one
    LBUF bank with the chunk's beats while the array streams the other; a pass longer than
    a bank streams through both in segments. Each pass's results are written into the
    output GLB (a row a cycle, each column's bits at its window's steps), the last
    column's membranes kept for a pass that continues the neuron (the membrane store),
    and with time blocks each position's membranes and last active step kept in the state
    memory between blocks.

    Parameters
    ----------
    rows, cols, tws_max, weight_bits, acc_bits, v_bits : int
        Of the PE array.
    max_timesteps, max_inputs, max_fan_in, max_outputs, lbuf_depth, tag_words : int
        Of the buffers (the spike, weight and output GLBs, an LBUF bank, a bank of input
        SP-MB tags).
    max_entries, dim_bits, count_bits : int
        The dispatcher's list depth; widths of a layer's sizes and counts.
    time_blocks : bool
        The state memory and the membranes carried between time blocks.
    max_positions : int or None
        Words of the state memory: the output positions of a row group it holds (default
        ``max_outputs``; the accelerator gives it the GLB's state share,
        :func:`hw.limits.accelerator_limits`).

    Ports
    -----
    chunk_request : Out(1)
        Pulse: the dispatcher cuts the next chunk.
    chunk_done : In(1)
        Pulse: ``chunk`` holds it.
    chunk : In(chunk_layout(...))
    control : In(PassEngineControl(...))
        ``gather_config`` (the layer, for the gather) and ``config`` (:func:`pass_config`).
        ``active``: the controller runs the row group's passes. ``begin``: a row group
        starts (its chunks from the first). ``group_done``: every chunk of the row group
        has run and its results are written. ``clear``: zero ``spike_reads`` and
        ``weight_reads``, the gather's GLB reads (a layer starts). ``state_clear``: clear
        state word ``state_clear_index`` (time blocks: a row group starts). ``counts``:
        this cycle's additions to the layer's counters (:func:`pass_counts`).
    tags, spikes, weights : In(ReadPort.Signature(...)); ``spikes`` an array of ``cols``
        The input SP-MB tags, the spike GLB and the weight GLB (synchronous reads), for the
        gather (addresses within the bank the controller chooses).
    results : Out(OutputWriteSignature(...)).array(cols)
        Column ``c``'s result bits, OR-ed into an output GLB word (zero outside its window).

    Latency: see docs/accelerator.md, "Passes".
    """

    def __init__(self, *, rows, cols, tws_max, weight_bits, acc_bits, v_bits, max_timesteps,
                 max_inputs, max_fan_in, max_outputs, lbuf_depth, tag_words, max_entries,
                 dim_bits, count_bits, time_blocks, max_positions=None, pe=DEFAULTS.pe):
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.pe = pe
        self.weight_bits, self.acc_bits, self.v_bits = weight_bits, acc_bits, v_bits
        self.max_timesteps, self.max_inputs, self.max_fan_in = max_timesteps, max_inputs, max_fan_in
        self.max_outputs, self.lbuf_depth, self.tag_words = max_outputs, lbuf_depth, tag_words
        self.dim_bits, self.count_bits, self.time_blocks = dim_bits, count_bits, time_blocks
        self.lbuf = MemoryData(shape=lbuf_entry_layout(rows, cols, tws_max, weight_bits,
                                                       pace=pe == "sparse"),
                               depth=2 * lbuf_depth, init=[])
        if time_blocks:
            # Between time blocks, per output position of the row group: the membranes of
            # its ``rows`` neurons and the step after its last active window (0: none yet).
            # ``max_positions`` words (default ``max_outputs``), in the GLB's bytes.
            self.glb_state = MemoryData(shape=state_layout(rows, v_bits),
                                        depth=max_positions or max_outputs, init=[])
        max_windows = max_timesteps
        self._chunk = chunk_layout(cols, max_outputs, dim_bits, max_windows)
        out_bits = output_addr_bits(max_outputs)
        super().__init__({
            "chunk_request": Out(1),
            "chunk_done": In(1),
            "chunk": In(self._chunk),
            "control": In(PassEngineControl(rows=rows, cols=cols, tws_max=tws_max,
                                            lbuf_depth=lbuf_depth, dim_bits=dim_bits,
                                            count_bits=count_bits)),
            "tags": In(ReadPort.Signature(addr_width=max(1, ceil_log2(tag_words)), shape=32)),
            "spikes": In(ReadPort.Signature(addr_width=max(1, ceil_log2(max_inputs)),
                                            shape=max_timesteps)).array(cols),
            "weights": In(ReadPort.Signature(addr_width=max(1, ceil_log2(max_fan_in)),
                                             shape=rows * weight_bits)),
            "results": Out(OutputWriteSignature(addr_bits=out_bits,
                                                max_timesteps=max_timesteps)).array(cols),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cols, T_max, cnt = self.rows, self.cols, self.max_timesteps, self.count_bits
        cfg = self.control.config
        tws = cfg.tws
        rows_used = cfg.rows_used
        ohalf = self.max_outputs // 2
        max_windows = T_max

        m.submodules.array = array = PEArray(rows=rows, cols=cols, tws_max=self.tws_max,
                                             weight_bits=self.weight_bits, acc_bits=self.acc_bits,
                                             v_bits=self.v_bits, skip_bits=SKIP_BITS,
                                             pe=self.pe)
        m.submodules.gather = gather = BeatGather(
            rows=rows, cols=cols, tws_max=self.tws_max, weight_bits=self.weight_bits,
            max_timesteps=T_max, spike_addr_width=max(1, ceil_log2(self.max_inputs)),
            weight_addr_width=max(1, ceil_log2(self.max_fan_in)), lbuf_depth=self.lbuf_depth,
            tag_addr_width=max(1, ceil_log2(self.tag_words)), dim_bits=self.dim_bits,
            count_bits=cnt, window_bits=ceil_log2(max_windows + 1), pace=self.pe == "sparse")
        m.submodules.lbuf = lbuf_mem = Memory(data=self.lbuf)
        lbuf_w = lbuf_mem.write_port()
        # Transparent: the gather writes a segment's last beat with its ``done`` or
        # ``segment``, and a streaming pass may take that bank's first beat, read in that
        # cycle, in the next.
        lbuf_r = lbuf_mem.read_port(transparent_for=(lbuf_w,))
        if self.time_blocks:
            m.submodules.glb_state = state_mem = Memory(data=self.glb_state)
            state_w = state_mem.write_port()       # one port each way: block RAM
            state_r = state_mem.read_port()
            m.d.comb += state_r.en.eq(0)           # read only in MEMBRANES (its en is 1 by default)

        # The gather: the layer, the chunk, its GLB reads.
        m.d.comb += [gather.config.eq(self.control.gather_config), gather.length.eq(self.chunk.len),
                     gather.clear.eq(self.control.clear), self.control.spike_reads.eq(gather.spike_reads),
                     self.control.weight_reads.eq(gather.weight_reads),
                     self.tags.addr.eq(gather.tags.addr), self.tags.en.eq(gather.tags.en),
                     gather.tags.data.eq(self.tags.data)]
        for c in range(cols):
            e = self.chunk.entries[c]
            m.d.comb += [gather.columns[c].oy.eq(e.oy), gather.columns[c].ox.eq(e.ox),
                         gather.columns[c].w.eq(e.w)]
            wiring.connect(m, gather.spikes[c], wiring.flipped(self.spikes[c]))
        # The rows of a last, partial row group that hold no output channel get zero weights
        # (their lanes still hold an earlier group's): they never fire nor decay, so they
        # never lengthen a pass.
        wb = self.weight_bits
        m.d.comb += [self.weights.addr.eq(gather.weights.addr),
                     self.weights.en.eq(gather.weights.en),
                     gather.weights.data.eq(Cat(
                         Mux(r < rows_used, self.weights.data[r * wb:(r + 1) * wb], 0)
                         for r in range(rows)))]

        # Membrane store: the last column of the previous pass.
        store = Signal(data.ArrayLayout(signed(self.v_bits), rows))

        # Bank info: what the launch side needs of a gathered chunk.
        pos_bits = len(self.chunk.entries[0].pos)
        bank_fields = {
            "full": 1, "first": 1, "final": 1,
            "beats": range(self.lbuf_depth + 1), "set_bits": cnt + 8,
            "len": range(cols + 1), "from_store": 1, "chain": data.ArrayLayout(1, cols),
            "skip": data.ArrayLayout(16, cols),
            "pos": data.ArrayLayout(pos_bits, cols),
            "shift": data.ArrayLayout(range(T_max + 1), cols),
        }
        if self.time_blocks:
            # A column that starts a neuron carried over from an earlier block: its
            # membranes (every row), and whether it has one.
            bank_fields["init"] = data.ArrayLayout(data.ArrayLayout(signed(self.v_bits), cols), rows)
            bank_fields["use_init"] = data.ArrayLayout(1, cols)
        bank_layout = data.StructLayout(bank_fields)
        banks = Array(Signal(bank_layout, name=f"bank{i}") for i in range(2))
        prep_bank, run_bank = Signal(), Signal()
        prep_end = Signal()
        running = Signal()
        streaming = Signal()
        beat_up = Signal(range(self.lbuf_depth + 2), init=1)    # the beat streamed, plus one
        mrow = Signal(range(cols + 1))
        chunk = self.chunk
        with m.If(self.control.begin):
            m.d.sync += prep_end.eq(0)

        if self.time_blocks:
            # The state word read in MEMBRANES, registered, and which bank column takes it.
            state_take = Signal()
            state_col = Signal(range(cols))
            state_starts = Signal()         # the column starts a neuron
            state_word = Signal.like(state_r.data)
            m.d.sync += [state_take.eq(0), state_word.eq(state_r.data)]
            taker = banks[prep_bank]        # the gather holds prep_bank past the take
            with m.If(state_take):
                last = state_word.last
                use = state_starts & (last != 0)
                with m.Switch(state_col):
                    for c in range(cols):
                        with m.Case(c):
                            m.d.sync += taker.use_init[c].eq(use)
                            m.d.sync += [taker.init[r][c].eq(
                                Mux(r < rows_used, state_word.membranes[r], 0))
                                for r in range(rows)]
                            with m.If(use):
                                m.d.sync += taker.skip[c].eq(cfg.block_step + taker.shift[c]
                                                             - last)

        with m.FSM(name="prep"):
            with m.State("IDLE"):
                with m.If(self.control.active & ~prep_end & ~banks[prep_bank].full):
                    m.d.comb += self.chunk_request.eq(1)
                    m.next = "CHUNK"
            with m.State("CHUNK"):
                with m.If(self.chunk_done):
                    with m.If(chunk.end):
                        m.d.sync += prep_end.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        info = banks[prep_bank]
                        m.d.sync += [info.len.eq(chunk.len), info.first.eq(1),
                                     info.from_store.eq(chunk.from_store),
                                     info.chain.eq(chunk.chain)]
                        for c in range(cols):
                            e = chunk.entries[c]
                            m.d.sync += [info.skip[c].eq(times(chunk.skip_windows[c],
                                                               tws, len(tws))),
                                         info.pos[c].eq(e.pos),
                                         info.shift[c].eq(times(e.w, tws, len(tws)))]
                        if self.time_blocks:
                            m.d.sync += [info.use_init.eq(0), mrow.eq(0)]
                            with m.If(cfg.carry):
                                m.next = "MEMBRANES"
                            with m.Else():
                                m.d.comb += gather.start.eq(1)
                                m.next = "GATHER"
                        else:
                            m.d.comb += gather.start.eq(1)
                            m.next = "GATHER"
            if self.time_blocks:
                with m.State("MEMBRANES"):
                    # Time blocks after the first: the state of each column's position (a
                    # cycle each: its rows' membranes and its last active step), for the
                    # columns that start a neuron; then the gather. Each word is registered
                    # as it leaves the block RAM and taken into the bank a cycle later
                    # (above), the last column's in the gather's first cycle, so that no
                    # clock enable waits on the block RAM's output.
                    # Only the chunk's columns are read: ``len`` state reads (``glb_reads``).
                    info = banks[prep_bank]
                    m.d.comb += [state_r.addr.eq(info.pos[mrow]),
                                 state_r.en.eq(mrow < info.len)]
                    # Rows without a channel (a last, partial row group) and columns past the
                    # chunk start from 0, so they never decay: they cost no cycle.
                    with m.Switch(mrow):
                        for c in range(cols):
                            with m.Case(c + 1):
                                starts = ~info.from_store if c == 0 else ~info.chain[c]
                                m.d.sync += [state_take.eq(1), state_col.eq(c),
                                             state_starts.eq(starts & (c < info.len))]
                    m.d.sync += mrow.eq(mrow + 1)
                    with m.If(mrow == cols):
                        m.d.comb += gather.start.eq(1)
                        m.next = "GATHER"
            with m.State("GATHER"):
                with m.If(gather.done | gather.segment):
                    m.d.sync += [banks[prep_bank].full.eq(1),
                                 banks[prep_bank].final.eq(gather.done),
                                 banks[prep_bank].beats.eq(gather.beats),
                                 banks[prep_bank].set_bits.eq(gather.set_bits),
                                 prep_bank.eq(~prep_bank)]
                    m.d.comb += self.control.counts.lbuf_writes.eq(gather.beats)
                    with m.If(gather.done):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SEGMENT"
            with m.State("SEGMENT"):
                # The pass goes on in the other bank once the array has streamed it.
                with m.If(~banks[prep_bank].full):
                    m.d.comb += gather.resume.eq(1)
                    m.d.sync += banks[prep_bank].eq(banks[~prep_bank])
                    m.d.sync += [banks[prep_bank].full.eq(0), banks[prep_bank].first.eq(0)]
                    m.next = "GATHER"
        m.d.comb += [lbuf_w.addr.eq(Mux(prep_bank, self.lbuf_depth, 0) + gather.lbuf.addr),
                     lbuf_w.en.eq(gather.lbuf.en), lbuf_w.data.eq(gather.lbuf.data)]

        # Launch: descriptor, beats from the LBUF banks (segment after segment), results.
        info = banks[run_bank]
        desc = array.passes.payload
        m.d.comb += [
            array.passes.valid.eq(self.control.active & info.full & info.first & ~running),
            desc.config.tws.eq(tws), desc.config.threshold.eq(cfg.threshold),
            desc.config.leak_shift.eq(cfg.leak_shift),
            desc.chain.eq(info.chain), desc.skip.eq(info.skip),
        ]
        for r in range(rows):
            if self.time_blocks:
                for c in range(cols):
                    m.d.comb += desc.membrane[r][c].eq(Mux(info.use_init[c], info.init[r][c], 0))
            with m.If(info.from_store):
                m.d.comb += desc.membrane[r][0].eq(store[r])
        take_pass = array.passes.valid & array.passes.ready
        take_beat = array.spike_words.valid & array.spike_words.ready
        # A final segment with no beat (tailoring dropped all its candidates) streams one
        # all-zero beat to end the pass; a non-final one with no beat is handed back at once.
        empty = info.beats == 0
        dummy = streaming & info.full & info.final & empty
        hand_back = streaming & info.full & ~info.final & empty
        last_beat = beat_up == info.beats
        segment_end = take_beat & ~info.final & last_beat
        pass_end = take_beat & info.final & (dummy | last_beat)
        # The LBUF is read a beat ahead, from registered addresses: this beat's and the
        # next one's.
        read_addr = Signal.like(lbuf_r.addr, name="read_addr")
        read_addr_up = Signal.like(lbuf_r.addr, name="read_addr_up")
        m.d.comb += lbuf_r.addr.eq(read_addr)
        with m.If(take_beat):
            m.d.comb += lbuf_r.addr.eq(read_addr_up)
            m.d.sync += [read_addr.eq(read_addr_up), read_addr_up.eq(read_addr_up + 1)]

        def read_from(bank):
            base = Mux(bank, self.lbuf_depth, 0)
            m.d.comb += lbuf_r.addr.eq(base)
            m.d.sync += [read_addr.eq(base), read_addr_up.eq(base + 1), beat_up.eq(1)]

        with m.If(take_pass):
            m.d.sync += [running.eq(1), streaming.eq(1)]
            read_from(run_bank)
        with m.If(segment_end | hand_back):
            m.d.sync += [info.full.eq(0), run_bank.eq(~run_bank)]
            read_from(~run_bank)
        m.d.comb += [
            lbuf_r.en.eq(1),
            array.spike_words.valid.eq(streaming & info.full & (~empty | info.final)),
            array.weights.valid.eq(streaming & info.full & (~empty | info.final)),
            array.spike_words.payload.words.eq(Mux(dummy, 0, lbuf_r.data.words)),
            array.spike_words.payload.last.eq(info.final & (dummy | last_beat)),
            array.weights.payload.eq(lbuf_r.data.weights),
        ]
        if self.pe == "sparse":
            # The all-zero beat that ends a pass with no beat takes one cycle.
            m.d.comb += array.spike_words.payload.pace.eq(Mux(dummy, 1, lbuf_r.data.pace))
        with m.If(take_beat):
            with m.If(~segment_end):
                m.d.sync += beat_up.eq(beat_up + 1)
            with m.If(pass_end):
                m.d.sync += streaming.eq(0)
            with m.If(~dummy):
                m.d.comb += self.control.counts.lbuf_reads.eq(1)

        # Results: capture, update the store, write the spikes to the output GLB region.
        writer_busy = Signal()
        state_busy = Signal()           # time blocks: the state writer (below) is busy
        result_spikes = Signal(data.ArrayLayout(data.ArrayLayout(self.tws_max, cols), rows))
        w_row = Signal(range(rows + 1))
        # Each column's output GLB address (its position in the row's channel, in the
        # result bank), a row further each cycle.
        w_addr = [Signal.like(self.results[c].addr, name=f"w_addr{c}") for c in range(cols)]
        w_len = Signal(range(cols + 1))
        w_pos = Signal(data.ArrayLayout(pos_bits, cols))
        w_shift = Signal(data.ArrayLayout(range(T_max + 1), cols))
        m.d.comb += array.results.ready.eq(~writer_busy & ~state_busy)
        take_result = array.results.valid & array.results.ready
        ops = times(info.set_bits, rows_used, len(rows_used))      # a pass's additions
        result = array.results.payload
        with m.If(take_result):
            m.d.sync += [w_addr[c].eq(info.pos[c] + Mux(cfg.result_bank, ohalf, 0))
                         for c in range(cols)]
            m.d.sync += [running.eq(0), writer_busy.eq(1), w_row.eq(0),
                         result_spikes.eq(result.spikes), w_len.eq(info.len),
                         w_pos.eq(info.pos), w_shift.eq(info.shift),
                         info.full.eq(0), run_bank.eq(~run_bank)]
            m.d.comb += [self.control.counts.acc_ops.eq(ops),
                         self.control.counts.scratchpad_accesses.eq(
                             2 * ops + 2 * times(times(info.len, tws, len(tws)),
                                                 rows_used, len(rows_used)))]
            with m.Switch(info.len):
                for n in range(1, cols + 1):
                    with m.Case(n):
                        m.d.sync += [store[r].eq(result.membrane[r][n - 1]) for r in range(rows)]
        writing_results = writer_busy & (w_row < rows_used)
        for c in range(cols):
            out = self.results[c]
            m.d.comb += [
                out.addr.eq(w_addr[c]),
                out.data.eq(result_spikes[w_row][c] << w_shift[c]),
                out.en.eq(writing_results & (c < w_len)),
            ]
        if self.time_blocks:
            # Time blocks: after each pass, column by column (a cycle each, beside the spike
            # writer), the state of each position a column ends (its last column in the
            # pass): its rows' membranes and the step after its window.
            result_membranes = Signal(data.ArrayLayout(data.ArrayLayout(signed(self.v_bits), cols),
                                                       rows))
            w_end = Signal(cols)
            w_col = Signal(range(cols + 1))
            with m.If(take_result & cfg.blocked):
                m.d.sync += [result_membranes.eq(result.membrane), state_busy.eq(1),
                             w_col.eq(0)]
                for c in range(cols):
                    ends = 1 if c == cols - 1 else (c + 1 >= info.len) | ~info.chain[c + 1]
                    m.d.sync += w_end[c].eq(ends)
            column = w_col[:ceil_log2(cols + 1)]
            m.d.comb += [
                state_w.addr.eq(w_pos[column]),
                state_w.data.last.eq(cfg.block_step + w_shift[column] + tws),
                state_w.en.eq(state_busy & (w_col < w_len) & w_end.bit_select(column, 1)),
            ]
            for r in range(rows):
                m.d.comb += state_w.data.membranes[r].eq(result_membranes[r][column])
            with m.If(state_busy):
                with m.If(w_col < w_len):
                    m.d.sync += w_col.eq(w_col + 1)
                with m.Else():
                    m.d.sync += state_busy.eq(0)
            with m.If(self.control.state_clear):
                m.d.comb += [state_w.addr.eq(self.control.state_clear_index), state_w.data.eq(0),
                             state_w.en.eq(1)]
            # The state memory's accesses are GLB accesses (it is the GLB's fourth part).
            m.d.comb += [self.control.counts.glb_reads.eq(state_r.en),
                         self.control.counts.glb_writes.eq(
                             Mux(writing_results, w_len, 0) + state_w.en)]
        else:
            m.d.comb += self.control.counts.glb_writes.eq(Mux(writing_results, w_len, 0))
        with m.If(writer_busy):
            with m.If(w_row < rows_used):
                m.d.sync += [w_row.eq(w_row + 1)]
                m.d.sync += [w_addr[c].eq(w_addr[c] + cfg.positions) for c in range(cols)]
            with m.Else():
                m.d.sync += writer_busy.eq(0)

        m.d.comb += [
            self.control.group_done.eq(self.control.active & prep_end & ~banks[0].full & ~banks[1].full &
                               ~running & ~writer_busy & ~state_busy),
            self.control.counts.array_busy.eq(~array.passes.ready | take_pass),
        ]
        return m
