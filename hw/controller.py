"""The controller: a run's samples and layers, their row groups and time blocks, the
registers and the counters (paper §III, Fig. 1; docs/accelerator.md)."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramReadSignature
from hw.arith import times
from hw.axi import AxiLiteSignature, ControlRegisters
from hw.dispatch import dispatch_config_layout
from hw.input_loader import InputLoaderControl
from hw.layout import (COUNTER_NAMES, DESCRIPTOR_FIELDS, DESCRIPTOR_WORDS, HEADER_FIELDS,
                       HEADER_WORDS, MAGIC, VERSION, Fields)
from hw.output_writer import OutputWriterControl
from hw.pass_engine import PassEngineControl
from hw.steps import TwsDivisibility
from hw.weight_loader import WeightLoaderControl


__all__ = ["Controller", "DispatchControl", "ERROR_CODES"]


#: ERROR_CODE values (docs/accelerator.md).
ERROR_CODES = {
    1: "bad magic",
    2: "bad version",
    3: "layer count is 0 or more than max_layers",
    4: "batch is 0",
    5: "time steps T are 0 or more than max_timesteps, or (time blocks) the block is more than "
       "max_timesteps or T needs more than max_blocks blocks",
    6: "weight_bits, bytes per weight or v_bits do not match the hardware",
    7: "layer kind is not 0 (conv) or 1 (fc)",
    8: "tws is 0, more than tws_max, or does not divide T or the time block",
    9: "a layer does not fit the buffers (inputs, fan-in, outputs, positions, sizes; C, M, "
       "H*W or R*R' wider than the count width)",
    10: "inconsistent layer descriptor (fan-in, SP-MB grouping, threshold, leak)",
    11: "the active NTWU list does not fit max_entries",
    12: "AXI error response",
}
(E_MAGIC, E_VERSION, E_LAYERS, E_BATCH, E_TIMESTEPS, E_WIDTHS, E_KIND, E_TWS, E_SIZE,
 E_DESCRIPTOR, E_ENTRIES, E_AXI) = range(1, 13)


class DispatchControl(wiring.Signature):
    """The NTWU dispatcher's commands, seen from the controller (``hw/dispatch.py``)."""

    def __init__(self, *, dim_bits, max_entries):
        super().__init__({
            "config": Out(dispatch_config_layout(dim_bits)),
            "build": Out(1),
            "rewind": Out(1),
            "built": In(1),
            "overflow": In(1),
            "entries": In(range(max_entries + 1)),
        })


class Controller(wiring.Component):
    """Runs a network from its DRAM image: the header, then per sample and layer the
    descriptor, its checks, and the row groups (and time blocks) of its passes, each step
    a command to the component that does it.

    Per layer: DESCRIPTOR (32 words) and DERIVE to CHECK (derived sizes and the error
    checks); the input (``inputs``), the NTWU list (``dispatch``), per row group the
    weights (``weights``, ping-pong when the fan-in fits half the weight GLB), the passes
    (``passes``) and the write-out (``outputs``, ping-pong when a group's outputs fit half
    the output GLB); with time blocks each row group runs block after block; then the
    output tags, the last write response, and COUNT (the layer's counters added into the
    counter memory the registers read). Error codes: :data:`ERROR_CODES`.

    Parameters
    ----------
    rows, cols, tws_max, weight_bits, v_bits : int
        Of the PE array.
    max_layers, max_timesteps, max_blocks, max_entries, dim_bits, count_bits : int
        As :class:`~hw.top.SpikeXAccelerator`'s (``count_bits`` its count width).
    max_inputs, max_fan_in, max_outputs, lbuf_depth, tag_words : int
        The buffers' (:func:`~hw.limits.accelerator_limits`; ``tag_words`` a bank of input
        or output SP-MB tags).
    max_positions : int
        With time blocks, the output positions of a row group the state memory holds; a
        blocked layer with more is refused (ERROR_CODE 9).

    Ports
    -----
    s_axil : In(AxiLiteSignature(addr_width=16))
        The registers (:class:`~hw.axi.ControlRegisters`, counters from the counter
        memory).
    irq_done : Out(1)
        High with STATUS.done.
    dram : Out(DramReadSignature())
        The header and the descriptors.
    dram_abort : Out(1)
        The run stops: the DRAM transfers in flight drain from the next cycle (the arbiter
        registers it), as long as it is high.
    dram_busy : In(1)
        A DRAM request waits or a transfer is in flight.
    bytes_read, bytes_written : In(32)
        Bytes moved at the DRAM port (for the layer's counters).
    axi_error : In(1)
        A DRAM response other than OKAY in this cycle.
    weights, inputs, outputs, passes, dispatch : Out(...Control)
        The commands of the weight loader, input loader, output writer, pass engine and
        NTWU dispatcher.
    in_bank, compute_bank : Out(1)
        The input bank (spikes, location and SP-MB tags) and the weight bank the passes
        read.

    Latency: docs/accelerator.md, "Cycle costs".
    """

    def __init__(self, *, rows, cols, tws_max, weight_bits, v_bits, max_layers, max_timesteps,
                 max_blocks, max_entries, dim_bits, count_bits, max_inputs, max_fan_in,
                 max_outputs, lbuf_depth, tag_words, max_positions=0):
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.weight_bits, self.v_bits = weight_bits, v_bits
        self.max_layers, self.max_timesteps, self.max_blocks = max_layers, max_timesteps, max_blocks
        self.time_blocks = max_blocks > 1
        self.max_entries, self.dim_bits, self.count_bits = max_entries, dim_bits, count_bits
        self.max_inputs, self.max_fan_in, self.max_outputs = max_inputs, max_fan_in, max_outputs
        self.lbuf_depth, self.max_positions = lbuf_depth, max_positions
        self.tag_words = self.out_tag_words = tag_words
        # The per-layer counters the registers read (``COUNTER_NAMES`` per layer).
        self.counters = MemoryData(shape=64, depth=len(COUNTER_NAMES) * max_layers, init=[])
        super().__init__({
            "s_axil": In(AxiLiteSignature(addr_width=16)),
            "irq_done": Out(1),
            "dram": Out(DramReadSignature()),
            "dram_abort": Out(1),
            "dram_busy": In(1),
            "bytes_read": In(32),
            "bytes_written": In(32),
            "axi_error": In(1),
            "weights": Out(WeightLoaderControl()),
            "inputs": Out(InputLoaderControl(tws_max=tws_max, max_timesteps=max_timesteps)),
            "outputs": Out(OutputWriterControl(max_timesteps=max_timesteps)),
            "passes": Out(PassEngineControl(rows=rows, cols=cols, tws_max=tws_max,
                                            lbuf_depth=lbuf_depth, dim_bits=dim_bits,
                                            count_bits=count_bits)),
            "dispatch": Out(DispatchControl(dim_bits=dim_bits, max_entries=max_entries)),
            "in_bank": Out(1),
            "compute_bank": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, T_max = self.rows, self.max_timesteps
        dim, cnt = self.dim_bits, self.count_bits
        n_counters = len(COUNTER_NAMES) * self.max_layers
        m.submodules.regs = regs = ControlRegisters(counters=n_counters, counter_width=64,
                                                    addr_width=16, run_registers=True,
                                                    counter_memory=True)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)

        # Banks: input ping-pong (time blocks, a layer whose input fits half the spike
        # memory: the passes read bank ``in_bank`` while the input loader fills the other
        # with the next block's); weight ping-pong (a layer whose weights fit half the
        # weight memory); output ping-pong (a row group's outputs fit half the output GLB).
        ihalf = self.max_inputs // 2
        in_pingpong = Signal()
        in_bank = self.in_bank
        half = self.max_fan_in // 2
        pingpong = Signal()
        compute_bank = self.compute_bank
        ohalf = self.max_outputs // 2
        out_pingpong = Signal()
        result_bank = Signal()           # output bank the passes write

        # ---------------------------------------------------------------- run state
        words = Array(Signal(32, name=f"word{i}") for i in range(DESCRIPTOR_WORDS))
        n_layers = Signal(32)
        batch = Signal(32)
        steps = Signal(32)
        table = Signal(32)
        sample = Signal(32)
        layer = Signal(range(self.max_layers + 1))
        tailor = Signal()               # SpikeX (DATAFLOW 0)
        busy, done, error = Signal(), Signal(), Signal()
        error_code = Signal(32)
        completed = Signal(32)
        m.d.comb += [regs.busy.eq(busy), regs.done.eq(done), regs.error.eq(error),
                     regs.error_code.eq(error_code), regs.layer.eq(completed),
                     self.irq_done.eq(done)]

        # The run header's and a layer descriptor's fields (hw/layout.py), as ``words``
        # holds one or the other.
        header = Fields(words, HEADER_FIELDS)
        d = Fields(words, DESCRIPTOR_FIELDS)
        kind, C, H, W = d.kind, d.in_channels, d.in_h, d.in_w
        M, R, Rp, E = d.out_channels, d.out_h, d.out_w, d.kernel
        stride, padding, threshold, leak_shift = d.stride, d.padding, d.threshold, d.leak_shift
        tws, F, g_in = d.tws, d.fan_in, d.in_group
        w_base, row_bytes = d.weights, d.weight_row_bytes
        in_base, in_sample = d.in_spikes, d.in_sample_bytes
        tag_base, tag_sample = d.in_tags, d.in_tag_sample_bytes
        out_base, out_sample = d.out_spikes, d.out_sample_bytes
        otag_base, otag_sample = d.out_tags, d.out_tag_sample_bytes
        g_out = d.out_group

        # Derived per layer (registered in DERIVE).
        wpi = Signal(range(T_max // 32 + 2))          # 32-bit words per input
        n_in, hw_in, positions, n_out, ee = (Signal(32, name=n) for n in
                                              ("n_in", "hw_in", "positions", "n_out", "ee"))
        n_spmb, n_out_spmb = Signal(32), Signal(32)
        run_len = Signal(32)
        in_addr, tag_addr, out_addr, otag_addr = (Signal(32, name=n) for n in
                                                  ("in_addr", "tag_addr", "out_addr", "otag_addr"))
        per_sample = Signal(32)         # DERIVE to CHECK: a region's bytes per sample
        sample_offset = Signal(32)      # ``sample * per_sample``
        rows_bits = ceil_log2(rows + 1)
        group_outputs = Signal(32)      # outputs of a row group: min(M, rows) * R * R'
        group_rows = Signal(rows_bits)  # min(M, rows), registered a state before the product
        # ``sample * bytes per sample`` of each layer's four regions (input spikes and tags,
        # output spikes and tags) as running sums, one word per layer and region: DERIVE to
        # CHECK read a region's a cycle ahead, and write it back plus the layer's bytes.
        m.submodules.sample_offsets = offsets_mem = Memory(shape=32, depth=4 * self.max_layers,
                                                           init=[])
        offsets_r = offsets_mem.read_port()
        offsets_w = offsets_mem.write_port()
        region = Signal(2)              # the region read this cycle (DESCRIPTOR to DERIVE3)
        layer_bits = layer[:ceil_log2(self.max_layers)]
        m.d.comb += [offsets_r.addr.eq(Cat(region, layer_bits)), sample_offset.eq(offsets_r.data),
                     offsets_w.addr.eq(Cat((region - 1)[:2], layer_bits)),
                     offsets_w.data.eq(sample_offset + per_sample)]
        # Time blocks: the run's block size (T when the sample is one block), the block in
        # progress, its first step and its steps, and where its data lives.
        blocked = Signal()
        bsize = Signal(32)
        block = Signal(range(self.max_blocks + 1))
        bstep0, bsteps = Signal(32), Signal(32)
        in_block_addr, out_block_addr, tag_block_addr = (
            Signal(32, name=n) for n in ("in_block_addr", "out_block_addr", "tag_block_addr"))
        in_block_bytes, out_block_bytes = Signal(32), Signal(32)
        tag_words_in, tag_words_out = Signal(32), Signal(32)
        btag_base = Signal(32)          # the block's first word of the output block tags
        # The next block, registered a cycle after what it is made of, which moves at least
        # two cycles before DISPATCH or WRITE_GROUP use it: whether there is one, its steps
        # and the DRAM addresses of its input spikes and SP-MB tags.
        more_blocks = Signal()
        next_bsteps = Signal(32)
        next_in_block_addr, next_tag_block_addr = Signal(32), Signal(32)
        pos_index = Signal(32)
        rest = steps - bstep0 - bsize
        m.d.sync += [more_blocks.eq(bstep0 + bsize < steps),
                     next_bsteps.eq(Mux(rest < bsize, rest, bsize)),
                     next_in_block_addr.eq(in_block_addr + in_block_bytes),
                     next_tag_block_addr.eq(tag_block_addr + (tag_words_in << 2))]
        tws_narrow = tws[:ceil_log2(self.tws_max + 1)]
        ok_sizes = Signal()
        ok_kind, ok_fit = Signal(), Signal()    # CHECK's compares, registered in DERIVE3
        ok_descriptor = Signal()
        ok_tws = Signal()
        c_ee = Signal(2 * cnt)          # C * E * E, registered in DERIVE2 for DERIVE3's check
        # T and the block are the run's, so their residues mod 1 .. tws_max are ready
        # (16 cycles after LAYER) long before DERIVE: no divider on the descriptor's tws.
        m.submodules.tws_check = tws_check = TwsDivisibility(tws_max=self.tws_max, steps_bits=16)
        m.d.comb += [tws_check.steps.eq(steps[:16]), tws_check.block.eq(bsize[:16]),
                     tws_check.tws.eq(tws_narrow)]

        # Per-layer counters of this sample, added into the counter memory after the layer
        # (COUNT), which the registers read the counters from.
        acc = {name: Signal(48, name=f"count_{name}") for name in COUNTER_NAMES}
        m.submodules.counters = counters_mem = Memory(data=self.counters)
        counters_w = counters_mem.write_port()
        counters_r = counters_mem.read_port()
        counting = Signal()             # COUNT has the counter memory's read port
        m.d.comb += [counters_r.addr.eq(regs.counter_addr), counters_r.en.eq(regs.counter_en),
                     regs.counter_ready.eq(~counting), regs.counter_data.eq(counters_r.data)]
        read_start, write_start = Signal(32), Signal(32)
        in_layer = Signal()
        # The layer's totals once it ended (COUNT): its cycles include LAYER_END's.
        totals = {**acc,
                  "dram_read_bytes": self.bytes_read - read_start,
                  "dram_write_bytes": self.bytes_written - write_start,
                  "glb_reads": acc["glb_reads"] + self.passes.spike_reads + self.passes.weight_reads}
        totals = Array(totals[name] for name in COUNTER_NAMES)
        total = Signal(64)              # COUNT: ``totals[count_j - 1]``, registered
        count_j = Signal(range(len(COUNTER_NAMES) + 1))
        # COUNT's counter memory addresses, registers: ``layer``'s first counter (``layer``
        # holds for the whole layer, so a cycle late is in time), counter j's and the one
        # written, counter j - 1's (so no multiplier or adder sits before the LUT RAM's
        # write enable).
        count_base = Signal.like(counters_r.addr)
        count_read, count_write = Signal.like(counters_r.addr), Signal.like(counters_w.addr)
        m.d.sync += count_base.eq(layer * len(COUNTER_NAMES))

        # AXI error monitor: any non-OKAY response during the run.
        axi_error = Signal()
        with m.If(self.axi_error):
            m.d.sync += axi_error.eq(1)

        # The controller's DRAM reads: the run header and the layer descriptors.
        request, rdata = self.dram.request, self.dram.data

        def dram_read(addr, nbytes):
            # Asked in this cycle; the caller moves on when ``request.ready``.
            m.d.comb += [request.valid.eq(1), request.payload.addr.eq(addr),
                         request.payload.length.eq(nbytes)]

        got = Signal(range(DESCRIPTOR_WORDS + 1))   # words received of a header/descriptor
        take = rdata.valid & rdata.ready

        m_base = Signal(32)          # first output channel of the row group
        rows_used = Signal(range(rows + 1))
        # What the row groups need, kept in registers as m_base moves (no product of it):
        # its channels left (M - m_base), its first output of the layer (m_base * R * R'),
        # its outputs, and the DRAM addresses of its weights and of the next group's.
        rows_left = Signal(32)
        group_first = Signal(32)
        group_size = Signal(32)
        # Registered with ``rows_left``: the rows of the group that starts at m_base, and
        # whether another group follows it (m_base + rows < M).
        rows_next = Signal(range(rows + 1))
        more_groups = Signal()

        def set_rows_left(value):
            value = value[:32]
            m.d.sync += [rows_left.eq(value), rows_next.eq(Mux(value < rows, value, rows)),
                         more_groups.eq(value > rows)]
        group_weights, next_group_weights = Signal(32), Signal(32)
        group_weight_bytes = Signal(32)     # rows * the bytes of a weight row
        # Registered a cycle after what they are made of, which is set at least a cycle
        # before they are used: the write-out's DRAM address and bytes, a group's weight
        # bytes (the descriptor's is in before DERIVE) and a block's active NTWUs (added to
        # the counter the cycle after DISPATCH).
        write_addr, write_bytes = Signal(32), Signal(32)
        ntwus = Signal(48)
        ntwus_add = Signal()
        m.d.sync += [
            write_addr.eq(out_block_addr + (times(group_first[:cnt], wpi, len(wpi)) << 2)),
            write_bytes.eq(times(group_size[:cnt], wpi, len(wpi)) << 2),
            group_weight_bytes.eq(sum(row_bytes << i for i in range(rows.bit_length())
                                      if rows >> i & 1)),
            ntwus_add.eq(0),
        ]
        with m.If(ntwus_add):
            m.d.sync += acc["active_ntwus"].eq(acc["active_ntwus"] + ntwus)
        wbytes = Signal(3)

        # Dispatcher and gather configuration.
        m.d.comb += [
            self.dispatch.config.in_h.eq(H), self.dispatch.config.in_w.eq(W),
            self.dispatch.config.out_h.eq(R), self.dispatch.config.out_w.eq(Rp),
            self.dispatch.config.kernel.eq(E), self.dispatch.config.stride.eq(stride),
            self.dispatch.config.padding.eq(padding),
            self.dispatch.config.temporal.eq(~tailor),
        ]
        g = self.passes.gather_config
        m.d.comb += [
            g.in_h.eq(H), g.in_w.eq(W), g.in_hw.eq(hw_in), g.kernel.eq(E), g.stride.eq(stride),
            g.padding.eq(padding), g.fan_in.eq(F), g.run.eq(run_len), g.tws.eq(tws),
            g.tailor.eq(tailor), g.fc.eq(kind[0]),
        ]

        # ---------------------------------------------------------------- passes
        passes_on = Signal()         # the controller is in the PASSES state of a row group
        p = self.passes.config
        m.d.comb += [
            self.passes.active.eq(passes_on),
            p.tws.eq(tws_narrow), p.threshold.eq(threshold), p.leak_shift.eq(leak_shift),
            p.rows_used.eq(rows_used), p.positions.eq(positions), p.result_bank.eq(result_bank),
            p.blocked.eq(blocked), p.carry.eq(blocked & (block != 0)), p.block_step.eq(bstep0),
        ]
        # The layer's counters: what the pass engine and the loaders did this cycle.
        # Added a cycle late, through registers: the layer's last additions are in long
        # before COUNT reads them.
        counts = self.passes.counts
        late = Signal.like(counts)
        glb_written = Signal(range(6))    # weights (up to 4) and an input word
        m.d.sync += [late.eq(counts), glb_written.eq(self.weights.written + self.inputs.written)]
        m.d.sync += [acc[name].eq(acc[name] + late[name])
                     for name in ("lbuf_writes", "lbuf_reads", "acc_ops", "scratchpad_accesses")]
        m.d.sync += acc["glb_writes"].eq(acc["glb_writes"] + late.glb_writes + glb_written)
        group_done = self.passes.group_done

        # Busy and stall cycles of the array.
        array_busy = counts.array_busy
        with m.If(in_layer & array_busy):
            m.d.sync += acc["busy_cycles"].eq(acc["busy_cycles"] + 1)
        with m.If(passes_on & ~array_busy):
            m.d.sync += acc["stall_cycles"].eq(acc["stall_cycles"] + 1)
        with m.If(in_layer):
            m.d.sync += acc["cycles"].eq(acc["cycles"] + 1)

        # ---------------------------------------------------------------- loaders, writer
        # Their layer configuration (the descriptor's fields and what DERIVE made of them);
        # the controller's commands are ``load``, ``start_input`` and ``start_write``.
        m.d.comb += [
            self.weights.config.out_channels.eq(M), self.weights.config.fan_in.eq(F),
            self.weights.config.run.eq(run_len), self.weights.config.spmbs.eq(n_spmb),
            self.weights.config.row_bytes.eq(row_bytes),
            self.weights.config.weight_bytes.eq(wbytes), self.weights.config.tailor.eq(tailor),
            self.inputs.config.tailor.eq(tailor), self.inputs.config.tws.eq(tws_narrow),
            self.inputs.config.locations.eq(hw_in), self.inputs.config.spmbs.eq(n_spmb),
            self.inputs.config.group.eq(g_in), self.inputs.config.inputs.eq(n_in),
            self.inputs.config.wpi.eq(wpi),
            self.outputs.config.wpi.eq(wpi), self.outputs.config.positions.eq(positions),
            self.outputs.config.fc.eq(g_out == 16), self.outputs.config.blocked.eq(blocked),
        ]
        # GLB reads of the output writer and of the time-block state (the gather's are its
        # own running counts, added in ``totals``), a cycle late as the others: the writer's
        # ``word_read`` waits on the write channel's ``ready``.
        word_read = Signal()
        m.d.sync += word_read.eq(self.outputs.word_read)
        m.d.sync += acc["glb_reads"].eq(acc["glb_reads"] + late.glb_reads + word_read)
        load_busy = self.weights.busy        # a row group's weights are loading
        ld_on, ld_done = self.inputs.busy, self.inputs.done
        wr_on = self.outputs.busy             # a write-out is in progress (until its B response)
        out_index = Signal(32)          # controller: the clear index
        # Given in every state (the writer clears only with ``clear``), so that the word's
        # address waits on no decode of the state.
        m.d.comb += self.outputs.clear_index.eq(out_index)

        # A state that may start a load names what it loads in the whole state
        # (``weight_group``, ``input_block``) and starts it under its conditions (``load``,
        # ``start_input``): so what goes to the loaders is chosen by the state alone, and
        # only the start waits on the conditions (a pulse just in, the descriptor's checks).
        def weight_group(base, bank, weights):
            # The weights of the row group from output channel ``base`` into bank ``bank``
            # (ping-pong: half the weight memory each, so the next group loads while this
            # one computes; a layer whose weights need more than half loads each group after
            # the previous one's passes, into the whole memory).
            m.d.comb += [self.weights.base.eq(base), self.weights.bank.eq(bank),
                         self.weights.addr.eq(weights)]

        def load():
            m.d.comb += self.weights.start.eq(1)

        def input_block(tag_address, tag_words, spike_address, block_steps, bank,
                        tags_only=False):
            # A block's input (or, with ``tags_only``, the SP-MB tags of the whole sample)
            # into input bank ``bank``; with input ping-pong the next time block loads while
            # the passes of this one run.
            block_in = self.inputs.block
            m.d.comb += [block_in.tags.eq(tag_address),
                         block_in.tag_words.eq(tag_words), block_in.spikes.eq(spike_address),
                         block_in.steps.eq(block_steps), block_in.bank.eq(bank),
                         block_in.tags_only.eq(tags_only)]

        def start_input():
            m.d.comb += self.inputs.start.eq(1)

        # ---------------------------------------------------------------- controller
        # The run header's or a layer descriptor's words, one a beat, into ``words``. A word
        # is taken on the data's ``valid`` alone, in any state: the controller's reads are
        # only the header's and the descriptors', each received whole in its state (which
        # is always ready), so that the words' clock enables wait on no decode of the state.
        with m.If(rdata.valid):
            m.d.sync += words[got].eq(rdata.payload)

        def receive(count, state):
            m.d.comb += rdata.ready.eq(1)
            with m.If(take):
                m.d.sync += got.eq(got + 1)
                with m.If(got == count - 1):
                    m.next = state

        # High exactly in DRAIN: a flip-flop, so that the aborts wait on no decode of the
        # state. The DRAM arbiter, whose abort gates every client's ``valid`` and
        # ``ready``, takes its next value and registers it beside itself.
        draining, draining_next = Signal(), Signal()
        m.d.comb += draining_next.eq(draining & self.dram_busy)
        m.d.sync += draining.eq(draining_next)
        m.d.comb += [self.dram_abort.eq(draining_next), self.outputs.abort.eq(draining),
                     self.inputs.abort.eq(draining), self.weights.abort.eq(draining)]

        def fail(code):
            m.d.sync += [error.eq(1), error_code.eq(code)]
            m.d.comb += draining_next.eq(1)
            m.next = "DRAIN"

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += rdata.ready.eq(1)
                with m.If(regs.start):
                    m.d.sync += [busy.eq(1), done.eq(0), error.eq(0), error_code.eq(0),
                                 completed.eq(0), axi_error.eq(0),
                                 tailor.eq(~regs.dataflow), out_index.eq(0)]
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                # Output GLB, output tags and counters all zero (a run that ended in error may
                # have left spikes and tags).
                m.d.comb += [self.outputs.clear.eq(1),
                             counters_w.addr.eq(out_index), counters_w.data.eq(0),
                             counters_w.en.eq(out_index < n_counters),
                             offsets_w.addr.eq(out_index), offsets_w.data.eq(0),
                             offsets_w.en.eq(out_index < 4 * self.max_layers)]
                clear_words = max(self.max_outputs, self.out_tag_words, n_counters,
                                  4 * self.max_layers,
                                  self.out_tag_words * self.max_blocks if self.time_blocks else 0)
                with m.If(out_index != clear_words - 1):
                    m.d.sync += out_index.eq(out_index + 1)
                with m.Else():
                    m.d.sync += got.eq(0)
                    dram_read(regs.descriptor, HEADER_WORDS * 4)
                    with m.If(request.ready):
                        m.next = "HEADER"
            with m.State("HEADER"):
                receive(HEADER_WORDS, "HEADER_CHECK")
            with m.State("HEADER_CHECK"):
                # The time block: 0, or not less than T, is one block of T steps.
                h = header
                blocked_now = (h.time_block != 0) & (h.time_block < h.timesteps)
                m.d.sync += [n_layers.eq(h.layers), batch.eq(h.batch), steps.eq(h.timesteps),
                             table.eq(h.descriptors), wbytes.eq(h.weight_bytes), sample.eq(0),
                             layer.eq(0), blocked.eq(blocked_now),
                             bsize.eq(Mux(blocked_now, h.time_block, h.timesteps))]
                with m.If(axi_error):
                    fail(E_AXI)
                with m.Elif(h.magic != MAGIC):
                    fail(E_MAGIC)
                with m.Elif(h.version != VERSION):
                    fail(E_VERSION)
                with m.Elif((h.layers == 0) | (h.layers > self.max_layers)):
                    fail(E_LAYERS)
                with m.Elif(h.batch == 0):
                    fail(E_BATCH)
                with m.Elif((h.timesteps == 0) | (h.timesteps >= 1 << 16) |
                            Mux(blocked_now, (h.time_block > T_max) |
                                (h.timesteps > h.time_block * self.max_blocks),
                                h.timesteps > T_max)):
                    fail(E_TIMESTEPS)
                with m.Elif((h.weight_bits < 2) | (h.weight_bits > self.weight_bits) |
                            (h.weight_bytes != Mux(h.weight_bits <= 8, 1, 2)) |
                            (h.v_bits != self.v_bits)):
                    fail(E_WIDTHS)
                with m.Else():
                    m.next = "LAYER"
            with m.State("LAYER"):
                m.d.sync += [got.eq(0), in_layer.eq(1), read_start.eq(self.bytes_read),
                             write_start.eq(self.bytes_written),
                             wpi.eq((bsize + 31) >> 5)]
                m.d.sync += [a.eq(0) for a in acc.values()]
                m.d.comb += [self.passes.clear.eq(1), tws_check.start.eq(1)]
                dram_read(table + layer * (DESCRIPTOR_WORDS * 4), DESCRIPTOR_WORDS * 4)
                with m.If(request.ready):
                    m.next = "DESCRIPTOR"
            with m.State("DESCRIPTOR"):
                receive(DESCRIPTOR_WORDS, "DERIVE")
                m.d.comb += region.eq(0)
            # The products of DERIVE to CHECK on narrow operands: sizes of at most ``dim``
            # bits, counts (C, M, H*W, R*R', n_in, n_out) of at most ``cnt`` bits, a wider
            # value refused with E_SIZE (a layer that fits has none: each is at most its
            # n_in or n_out, at most max_inputs) before any product of it is used; and the
            # four ``sample * bytes per sample`` offsets from their running sums, one a cycle.
            with m.State("DERIVE"):
                ok_tws_now = (tws != 0) & (tws <= self.tws_max)
                m.d.comb += [per_sample.eq(in_sample), region.eq(1), offsets_w.en.eq(1)]
                m.d.sync += [
                    hw_in.eq(H[:dim] * W[:dim]), positions.eq(R[:dim] * Rp[:dim]),
                    ee.eq(E[:dim] * E[:dim]),
                    ok_tws.eq(ok_tws_now & tws_check.divides),
                    in_addr.eq(in_base + sample_offset),
                ]
                m.next = "DERIVE2"
            with m.State("DERIVE2"):
                limit = (1 << dim) - 1
                m.d.comb += [per_sample.eq(tag_sample), region.eq(2), offsets_w.en.eq(1)]
                m.d.sync += [
                    tag_addr.eq(tag_base + sample_offset),
                    n_in.eq(C[:cnt] * hw_in[:cnt]), n_out.eq(M[:cnt] * positions[:cnt]),
                    run_len.eq(Mux(kind[0], 16, ee)), c_ee.eq(C[:cnt] * ee[:cnt]),
                    group_rows.eq(Mux(M < rows, M, rows)),
                    ok_sizes.eq((H <= limit) & (W <= limit) & (R <= limit) & (Rp <= limit) &
                                (E <= limit) & (stride <= limit) & (padding <= limit) &
                                (E != 0) & (stride != 0) & (M != 0) & (C != 0) &
                                (C >> cnt == 0) & (M >> cnt == 0) & (hw_in >> cnt == 0) &
                                (positions >> cnt == 0)),
                ]
                m.next = "DERIVE3"
            with m.State("DERIVE3"):
                fc_ok = (H == 1) & (W == 1) & (R == 1) & (Rp == 1) & (E == 1) & (stride == 1) & \
                    (padding == 0) & (g_in == 16)
                conv_ok = g_in == hw_in
                group_outputs_now = times(positions[:cnt], group_rows, rows_bits)
                m.d.comb += [per_sample.eq(out_sample), region.eq(3), offsets_w.en.eq(1)]
                m.d.sync += [
                    out_addr.eq(out_base + sample_offset),
                    in_block_bytes.eq(times(n_in[:cnt], wpi, len(wpi)) << 2),
                    out_block_bytes.eq(times(n_out[:cnt], wpi, len(wpi)) << 2),
                    group_outputs.eq(group_outputs_now),
                    n_spmb.eq(Mux(kind[0], (n_in + 15) >> 4, C)),
                    n_out_spmb.eq(Mux(g_out == 16, (n_out + 15) >> 4, M)),
                    ok_kind.eq(kind <= 1),
                    # (a row group's outputs are checked in CHECK, from their register)
                    ok_fit.eq((n_in <= self.max_inputs) & (F <= self.max_fan_in) &
                              (n_out <= self.max_inputs) &
                              (~blocked | (positions <= self.max_positions))),
                    ok_descriptor.eq(
                        (ee >> cnt == 0) & (F == c_ee) &
                        Mux(kind[0], fc_ok, conv_ok) &
                        ((g_out == 16) | (g_out == positions)) &
                        (threshold != 0) & (threshold < (1 << (self.v_bits - 1))) &
                        (leak_shift < self.v_bits)),
                ]
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += [per_sample.eq(otag_sample), region.eq(0), offsets_w.en.eq(1)]
                input_block(tag_addr, (n_spmb + 31) >> 5, in_addr, bsize, 0)
                m.d.sync += otag_addr.eq(otag_base + sample_offset)
                with m.If(axi_error):
                    fail(E_AXI)
                with m.Elif(~ok_kind):
                    fail(E_KIND)
                with m.Elif(~ok_tws):
                    fail(E_TWS)
                with m.Elif(~ok_sizes | ~ok_fit | (group_outputs > self.max_outputs)):
                    fail(E_SIZE)
                with m.Elif(~ok_descriptor):
                    fail(E_DESCRIPTOR)
                with m.Else():
                    set_rows_left(M)
                    m.d.sync += [out_index.eq(0), m_base.eq(0), group_first.eq(0),
                                 group_weights.eq(w_base),
                                 next_group_weights.eq(w_base + group_weight_bytes),
                                 pingpong.eq((F <= half) & ~blocked),
                                 out_pingpong.eq(group_outputs <= ohalf),
                                 result_bank.eq(0), in_bank.eq(0),
                                 tag_words_in.eq((n_spmb + 31) >> 5),
                                 tag_words_out.eq((n_out_spmb + 31) >> 5),
                                 block.eq(0), bstep0.eq(0), bsteps.eq(bsize),
                                 in_block_addr.eq(in_addr), out_block_addr.eq(out_addr)]
                    if self.time_blocks:
                        m.d.sync += in_pingpong.eq(blocked & (n_in <= ihalf))
                    with m.If(blocked):
                        m.next = "B_GROUP"
                    with m.Else():
                        start_input()
                        m.next = "INPUT"
            with m.State("B_GROUP"):
                # Time blocks: a row group starts with its weights, tailored by the SP-MB tags
                # of all blocks (the first tag words), and its positions' last steps cleared.
                m.d.sync += [block.eq(0), bstep0.eq(0), bsteps.eq(bsize), pos_index.eq(0),
                             in_block_addr.eq(in_addr), out_block_addr.eq(out_addr),
                             tag_block_addr.eq(tag_addr + (tag_words_in << 2)), btag_base.eq(0)]
                input_block(tag_addr, tag_words_in, 0, 0, 0, tags_only=True)
                weight_group(m_base, 0, group_weights)
                with m.If(tailor):
                    start_input()
                    m.next = "B_TAGS"
                with m.Else():
                    load()
                    m.next = "B_LOAD"
            with m.State("B_TAGS"):
                weight_group(m_base, 0, group_weights)
                with m.If(ld_done):
                    load()
                    m.next = "B_LOAD"
            with m.State("B_LOAD"):
                m.d.comb += [self.passes.state_clear.eq(pos_index < positions),
                             self.passes.state_clear_index.eq(pos_index)]
                with m.If(pos_index < positions):
                    m.d.sync += pos_index.eq(pos_index + 1)
                with m.Elif(~load_busy):
                    m.next = "B_BLOCK"
            with m.State("B_BLOCK"):
                # The block's input: its SP-MB tags, then the spikes of its active SP-MBs
                # (already loading, or loaded, into the other bank with input ping-pong).
                m.d.sync += in_bank.eq(in_pingpong & block[0])
                input_block(tag_block_addr, tag_words_in, in_block_addr, bsteps, 0)
                with m.If((block == 0) | ~in_pingpong):
                    start_input()
                m.next = "INPUT"
            with m.State("INPUT"):
                with m.If(ld_done | ~ld_on):
                    m.d.comb += self.dispatch.build.eq(1)
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                weight_group(0, 0, group_weights)
                input_block(next_tag_block_addr, tag_words_in, next_in_block_addr, next_bsteps,
                            ~block[0])
                with m.If(self.dispatch.built):
                    with m.If(self.dispatch.overflow):
                        fail(E_ENTRIES)
                    with m.Else():
                        # Time blocks: the row group's weights are in (B_LOAD), and the
                        # block's NTWUs are counted for its rows.
                        m.d.sync += [ntwus.eq(self.dispatch.entries *
                                              Mux(blocked, rows_next, M[:cnt])),
                                     ntwus_add.eq(1), compute_bank.eq(0)]
                        with m.If(~blocked):
                            load()
                        # Input ping-pong: the next block of the row group loads into the
                        # other bank while this block's passes run.
                        with m.If(in_pingpong & more_blocks):
                            start_input()
                        m.next = "GROUP"
            with m.State("GROUP"):
                # The row group's weights are in their bank: run its passes, and (ping-pong)
                # load the next group's weights into the other bank meanwhile.
                weight_group(m_base + rows, ~compute_bank, next_group_weights)
                with m.If(~load_busy):
                    m.d.comb += [self.dispatch.rewind.eq(1), self.passes.begin.eq(1)]
                    m.d.sync += [passes_on.eq(1), rows_used.eq(rows_next),
                                 group_size.eq(times(positions[:cnt], rows_next, len(rows_next)))]
                    with m.If(pingpong & more_groups):
                        load()
                    m.next = "PASSES"

            def start_write():
                # The group's output spikes go to DRAM from their bank (the output writer);
                # the next group's passes use the other bank (output ping-pong).
                group = self.outputs.group
                m.d.comb += [self.outputs.start.eq(1), group.addr.eq(write_addr),
                             group.bytes.eq(write_bytes),
                             group.bank.eq(result_bank), group.first.eq(group_first),
                             group.count.eq(group_size), group.channel.eq(m_base),
                             group.btag.eq(btag_base)]
                m.d.sync += result_bank.eq(out_pingpong & ~result_bank)
                m.next = "WRITE_GROUP"

            with m.State("PASSES"):
                weight_group(m_base + rows, 0, next_group_weights)
                with m.If(group_done):
                    m.d.sync += passes_on.eq(0)
                    with m.If(~pingpong & ~blocked & more_groups):
                        load()
                    with m.If(~wr_on):
                        start_write()
                    with m.Else():
                        m.next = "WRITE_START"
            with m.State("WRITE_START"):
                # The previous group's write-out (from the other bank) is still going on.
                with m.If(~wr_on):
                    start_write()
            with m.State("WRITE_GROUP"):
                # The group's write-out started (with one output bank: answered): the next
                # block of the group (time blocks), the next group, or (every write-out
                # answered) the layer's output tags, of all blocks, then of each block.
                more = (blocked & more_blocks) | more_groups
                with m.If(Mux(more, out_pingpong | ~wr_on, ~wr_on)):
                    with m.If(blocked & more_blocks):
                        m.d.sync += [block.eq(block + 1), bstep0.eq(bstep0 + bsize),
                                     bsteps.eq(next_bsteps), in_block_addr.eq(next_in_block_addr),
                                     out_block_addr.eq(out_block_addr + out_block_bytes),
                                     tag_block_addr.eq(next_tag_block_addr),
                                     btag_base.eq(btag_base + tag_words_out)]
                        m.next = "B_BLOCK"
                    with m.Else():
                        set_rows_left(rows_left - rows)
                        m.d.sync += [m_base.eq(m_base + rows),
                                     group_first.eq(group_first + group_size),
                                     group_weights.eq(next_group_weights),
                                     next_group_weights.eq(next_group_weights + group_weight_bytes)]
                        with m.If(~more_groups):
                            m.d.comb += [
                                self.outputs.tags_start.eq(1), self.outputs.tags.addr.eq(otag_addr),
                                self.outputs.tags.words.eq(Mux(blocked, btag_base + 2 * tag_words_out,
                                                         tag_words_out)),
                                self.outputs.tags.sample_words.eq(tag_words_out)]
                            m.next = "WRITE_TAGS"
                        with m.Elif(blocked):
                            m.next = "B_GROUP"
                        with m.Else():
                            m.d.sync += compute_bank.eq(pingpong & ~compute_bank)
                            m.next = "GROUP"
            with m.State("WRITE_TAGS"):
                # The output writer sends the layer's tags (of the sample, then each block's).
                with m.If(self.outputs.tags_done):
                    m.next = "WRITE_WAIT"
            with m.State("WRITE_WAIT"):
                with m.If(~self.dram_busy):
                    m.next = "LAYER_END"
            with m.State("LAYER_END"):
                with m.If(axi_error):
                    fail(E_AXI)
                with m.Else():
                    m.d.sync += [in_layer.eq(0), completed.eq(completed + 1), count_j.eq(0),
                                 count_read.eq(count_base)]
                    m.next = "COUNT"
            with m.State("COUNT"):
                # The layer's counters added into the counter memory, one a cycle: read
                # counter j while counter j - 1 is written (its read value plus the total).
                # No layer counts these cycles (``in_layer`` is low), so nothing stands
                # still but the next layer's start.
                m.d.comb += [counting.eq(1), counters_r.addr.eq(count_read),
                             counters_r.en.eq(1),
                             counters_w.addr.eq(count_write),
                             counters_w.data.eq(counters_r.data + total),
                             counters_w.en.eq(count_j != 0)]
                m.d.sync += [count_j.eq(count_j + 1), total.eq(totals[count_j]),
                             count_read.eq(count_read + 1), count_write.eq(count_read)]
                with m.If(count_j == len(COUNTER_NAMES)):
                    with m.If(layer + 1 == n_layers):
                        m.d.sync += [layer.eq(0), sample.eq(sample + 1)]
                        with m.If(sample + 1 == batch):
                            m.d.sync += [busy.eq(0), done.eq(1)]
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "LAYER"
                    with m.Else():
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "LAYER"
            with m.State("DRAIN"):
                # Finish any DRAM transfer in flight (reads dropped, zeros written), then stop.
                # (``draining`` aborts the loaders, the writer and the arbiter; it falls
                # with the state.)
                m.d.sync += [passes_on.eq(0), in_layer.eq(0)]
                with m.If(~self.dram_busy):
                    m.d.sync += [busy.eq(0), done.eq(1)]
                    m.next = "IDLE"
        return m
