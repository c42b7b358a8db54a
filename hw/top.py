"""The SpikeX accelerator: controller and top level (paper §III, Fig. 1; docs/accelerator.md).

``SpikeXAccelerator`` runs whole networks from a DRAM image (docs/image.md)::

    host --AXI4-Lite--> ControlRegisters --start--> controller FSM
    DRAM <--AXI4--> AxiDramPort --> GLB: spikes (+ activity tags), weights, outputs
                                         |           |
                       NtwuDispatcher (active list, chunks)
                                         |
                       BeatGather --> LBUF (ping-pong) --> PEArray --> outputs, membrane store

For each sample and layer the controller reads the layer descriptor, loads the input SP-MB
tags (SpikeX), loads the spike words of the active SP-MBs into the GLB while computing the
window and location activity tags, builds the active NTWU list, then per row group runs the
passes on the row group's weights (SpikeX: only active SP-MBs' runs), loaded by the weight
loader into one of two banks while the previous group computes (when a layer's weights fit
half the weight memory; else after it): the gather fills one LBUF bank while the array
streams the other, a pass longer than a bank streaming through both in segments. After each
group the output writer sends its output spikes (time-major packed) to DRAM, from one of two
output banks while the next group computes in the other (when a group's outputs fit half
the output memory), and after the last the output SP-MB tags. A sample longer than a GLB
spike word runs in time blocks: each row group loads its weights once, then runs block after
block (the block's tags, spikes, list, passes and outputs), each position's membranes and
last active step kept in the state memory between blocks; the input loader fills the other
input bank with the next block while a block computes (when the input fits half the spike
memory). Cycle costs and error codes: docs/accelerator.md.
"""

import functools
import operator
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.array import PEArray, check_array_parameters
from hw.axi import OKAY, AxiDramPort, AxiLiteSignature, AxiSignature, ControlRegisters
from hw.dispatch import NtwuDispatcher
from hw.config import DEFAULTS, SKIP_BITS
from hw.gather import BeatGather, lbuf_entry_layout
from hw.layout import (COUNTER_NAMES, DESCRIPTOR_FIELDS, DESCRIPTOR_WORDS, HEADER_FIELDS,
                       HEADER_WORDS, MAGIC, VERSION, Fields)
from hw.limits import accelerator_limits
from hw.pe import check_parameter
from hw.steps import TwsDivisibility, times_small as _times


__all__ = ["ERROR_CODES", "SpikeXAccelerator", "TOPLEVEL", "state_layout"]


TOPLEVEL = "spikex_top"

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


def state_layout(rows, v_bits):
    """One word of the time-block state memory: a position's membranes and last step."""
    return data.StructLayout({"membranes": data.ArrayLayout(signed(v_bits), rows), "last": 16})


def _window_tags(m, bits, tws, tws_max, width):
    """Window activity tags of a ``width``-step spike vector for the run-time ``tws``."""
    tags = Signal(width)
    with m.Switch(tws):
        for t in range(1, tws_max + 1):
            with m.Case(t):
                m.d.comb += tags.eq(Cat(bits[w * t:(w + 1) * t].any() for w in range(width // t)))
    return tags


class SpikeXAccelerator(wiring.Component):
    """The whole accelerator: AXI4 master to DRAM, AXI4-Lite registers, one PE array.

    Parameters
    ----------
    rows, cols, tws_max, weight_bits, acc_bits, v_bits : int
        The PE array's (``weight_bits`` at most 16).
    glb_kb, lbuf_kb : number
        GLB and LBUF sizes; they set the layer limits (:func:`accelerator_limits`).
    glb_split : (int, int, int) or None
        Bytes of the GLB for input spikes, weights and output spikes (None: half, a quarter
        and a quarter; :func:`glb_split_bytes`).
    max_layers : int
        Layers with counters; a longer network is refused (ERROR_CODE 3).
    data_width : int
        AXI data width; this controller supports 32.
    max_timesteps : int
        Most time steps of a time block (one GLB spike word holds an input's block); a sample
        of at most ``max_timesteps`` steps runs as one block.
    max_blocks : int
        Most time blocks of a sample (1: no time blocks, and no state memory). A layer
        of a blocked network runs each row group block after block, the membranes and each
        position's last active step kept between blocks.
    max_entries : int
        Most active NTWUs ``(pos, w)`` of a layer and sample (dispatcher list depth).
    dim_bits : int
        Width of a layer size, kernel, stride or padding.

    Ports
    -----
    m_axi : Out(AxiSignature(addr_width=32, data_width=data_width))
    s_axil : In(AxiLiteSignature(addr_width=16))
    irq_done : Out(1)
        High with STATUS.done (the run ended, with or without error).
    """

    def __init__(self, *, rows=DEFAULTS.rows, cols=DEFAULTS.cols, tws_max=DEFAULTS.tws_max,
                 weight_bits=DEFAULTS.weight_bits, acc_bits=DEFAULTS.acc_bits,
                 v_bits=DEFAULTS.v_bits, glb_kb=DEFAULTS.glb_kb, lbuf_kb=DEFAULTS.lbuf_kb,
                 max_layers=DEFAULTS.max_layers, data_width=DEFAULTS.data_width,
                 max_timesteps=DEFAULTS.max_timesteps, max_entries=DEFAULTS.max_entries,
                 dim_bits=12, glb_split=DEFAULTS.glb_split, max_blocks=DEFAULTS.max_blocks):
        check_array_parameters(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                               acc_bits=acc_bits, v_bits=v_bits, skip_bits=SKIP_BITS)
        check_parameter("weight_bits", weight_bits, minimum=2, maximum=16)
        check_parameter("max_layers", max_layers, maximum=1024)
        check_parameter("max_timesteps", max_timesteps, minimum=tws_max, maximum=1024)
        check_parameter("max_entries", max_entries)
        check_parameter("max_blocks", max_blocks, maximum=1024)
        check_parameter("dim_bits", dim_bits, minimum=2, maximum=16)
        if data_width != 32:
            raise ValueError(f"data_width must be 32 (the only width the controller supports), "
                             f"not {data_width!r}")
        for name, value in (("glb_kb", glb_kb), ("lbuf_kb", lbuf_kb)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        limits = accelerator_limits(rows=rows, cols=cols, tws_max=tws_max,
                                    weight_bits=weight_bits, glb_kb=glb_kb, lbuf_kb=lbuf_kb,
                                    max_timesteps=max_timesteps, glb_split=glb_split)
        for name, value in limits.items():
            if value < 1:
                raise ValueError(f"glb_kb {glb_kb} and lbuf_kb {lbuf_kb} leave no room for "
                                 f"one word of {name}")
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.weight_bits, self.acc_bits, self.v_bits = weight_bits, acc_bits, v_bits
        self.max_layers, self.data_width, self.max_timesteps = max_layers, data_width, max_timesteps
        self.max_entries, self.dim_bits = max_entries, dim_bits
        self.max_blocks = max_blocks
        self.time_blocks = max_blocks > 1
        self.glb_kb, self.lbuf_kb = glb_kb, lbuf_kb
        self.limits = limits
        self.max_inputs = limits["max_inputs"]
        self.max_fan_in = limits["max_fan_in"]
        self.max_outputs = limits["max_outputs"]
        self.lbuf_depth = limits["lbuf_depth"]
        self.count_bits = ceil_log2(max(self.max_inputs, self.max_fan_in, self.max_outputs,
                                        max_entries) + 2) + 1
        self.tag_words = -(-self.max_inputs // 32)
        self.out_tag_words = -(-self.max_inputs // 32)     # a layer's outputs <= max_inputs
        # Memories, kept on the component so a testbench can inspect them.
        self.glb_spikes = MemoryData(shape=max_timesteps, depth=self.max_inputs, init=[])
        self.glb_weights = MemoryData(shape=rows * weight_bits, depth=self.max_fan_in, init=[])
        # Output spikes: two banks, the ping-pong banks [0, max_outputs // 2) and the rest
        # (a row group's outputs that need more than half span both), so that the output
        # writer clears words of one bank while the passes write the other; each bank one
        # memory per column, holding the bits that column wrote (a word's spikes are the OR
        # of its columns' words), each with one write and one read port: block RAM.
        half_outputs = self.max_outputs // 2
        self.glb_outputs = tuple(
            tuple(MemoryData(shape=max_timesteps, depth=depth, init=[]) for _ in range(cols))
            for depth in (max(half_outputs, 1), self.max_outputs - half_outputs))
        self.location_tags = MemoryData(shape=max_timesteps, depth=self.max_inputs, init=[])
        # With time blocks, two banks of input SP-MB tags (the next block's are prefetched).
        self.input_tags = MemoryData(shape=32, depth=self.tag_words * (2 if self.time_blocks else 1),
                                     init=[])
        self.output_tags = MemoryData(shape=32, depth=self.out_tag_words, init=[])
        if self.time_blocks:
            # Between time blocks, per output position of the row group: the membranes of
            # its ``rows`` neurons and the step after its last active window (0: none yet);
            # and the output SP-MB tags of every block.
            self.glb_state = MemoryData(shape=state_layout(rows, v_bits), depth=self.max_outputs,
                                        init=[])
            self.output_block_tags = MemoryData(shape=32, depth=self.out_tag_words * max_blocks,
                                                init=[])
        self.lbuf = MemoryData(shape=lbuf_entry_layout(rows, cols, tws_max, weight_bits),
                               depth=2 * self.lbuf_depth, init=[])
        # The per-layer counters the registers read (``COUNTER_NAMES`` per layer).
        self.counters = MemoryData(shape=64, depth=len(COUNTER_NAMES) * max_layers, init=[])
        super().__init__({
            "m_axi": Out(AxiSignature(addr_width=32, data_width=data_width)),
            "s_axil": In(AxiLiteSignature(addr_width=16)),
            "irq_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cols, T_max = self.rows, self.cols, self.max_timesteps
        dim, cnt = self.dim_bits, self.count_bits
        n_counters = len(COUNTER_NAMES) * self.max_layers

        m.submodules.port = port = AxiDramPort(data_width=self.data_width, addr_width=32,
                                               length_width=24, counter_width=32)
        wiring.connect(m, port.m_axi, wiring.flipped(self.m_axi))
        m.submodules.regs = regs = ControlRegisters(counters=n_counters, counter_width=64,
                                                    addr_width=16, run_registers=True,
                                                    counter_memory=True)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        m.submodules.array = array = PEArray(rows=rows, cols=cols, tws_max=self.tws_max,
                                             weight_bits=self.weight_bits, acc_bits=self.acc_bits,
                                             v_bits=self.v_bits, skip_bits=SKIP_BITS)
        max_windows = T_max
        m.submodules.dispatcher = disp = NtwuDispatcher(
            cols=cols, max_positions=self.max_outputs, max_locations=self.max_inputs,
            max_windows=max_windows, max_entries=self.max_entries, dim_bits=dim)
        m.submodules.gather = gather = BeatGather(
            rows=rows, cols=cols, tws_max=self.tws_max, weight_bits=self.weight_bits,
            max_timesteps=T_max, spike_addr_width=max(1, ceil_log2(self.max_inputs)),
            weight_addr_width=max(1, ceil_log2(self.max_fan_in)), lbuf_depth=self.lbuf_depth,
            tag_addr_width=max(1, ceil_log2(self.tag_words)), dim_bits=dim, count_bits=cnt,
            window_bits=ceil_log2(max_windows + 1))

        # Memories.
        m.submodules.glb_spikes = spikes_mem = Memory(data=self.glb_spikes)
        m.submodules.glb_weights = weights_mem = Memory(data=self.glb_weights)
        m.submodules.location_tags = loc_mem = Memory(data=self.location_tags)
        m.submodules.input_tags = tags_mem = Memory(data=self.input_tags)
        m.submodules.output_tags = otags_mem = Memory(data=self.output_tags)
        m.submodules.lbuf = lbuf_mem = Memory(data=self.lbuf)

        # Input ping-pong (time blocks, a layer whose input fits half the spike memory): the
        # passes read bank ``in_bank`` (spikes, location tags, SP-MB tags) while the input
        # loader fills the other with the next block's.
        ihalf = self.max_inputs // 2
        in_pingpong = Signal()
        in_bank = Signal()
        spikes_w = spikes_mem.write_port()
        for c in range(cols):
            rd = spikes_mem.read_port()
            m.d.comb += [rd.addr.eq(gather.spikes[c].addr + Mux(in_bank, ihalf, 0)),
                         rd.en.eq(gather.spikes[c].en), gather.spikes[c].data.eq(rd.data)]
        weights_w = weights_mem.write_port(granularity=self.weight_bits)
        weights_r = weights_mem.read_port()
        half = self.max_fan_in // 2      # a weight bank, when a layer's weights fit it
        pingpong = Signal()              # the layer's weights fit a bank
        compute_bank = Signal()          # weight bank of the row group in the passes
        m.d.comb += [weights_r.addr.eq(gather.weights.addr + Mux(compute_bank, half, 0)),
                     weights_r.en.eq(gather.weights.en)]
        loc_w = loc_mem.write_port()
        loc_rmw = loc_mem.read_port(domain="comb")
        loc_r = loc_mem.read_port()
        m.d.comb += [loc_r.addr.eq(disp.loc.addr + Mux(in_bank, ihalf, 0)), loc_r.en.eq(disp.loc.en),
                     disp.loc.data.eq(loc_r.data)]
        tags_w = tags_mem.write_port()
        tags_gather = tags_mem.read_port(domain="comb")
        tags_ctl = tags_mem.read_port(domain="comb")
        tags_load = tags_mem.read_port(domain="comb")
        m.d.comb += [tags_gather.addr.eq(gather.tags.addr + Mux(in_bank, self.tag_words, 0)),
                     gather.tags.data.eq(tags_gather.data)]
        ohalf = self.max_outputs // 2    # an output bank, when a row group's outputs fit it
        # The output GLB as one memory of ``max_outputs`` words, to its users: per column a
        # write of result bits under a bit mask (``out_w``), a clear (CLEAR, write-out) and a
        # read (write-out), routed to the two banks by address. In a bank, column ``c``'s
        # memory takes its result bits as a read-modify-write (read in the cycle ``out_w``
        # gives them, written the next with the other bits as read), or else a clear; its
        # read port serves that read or else the write-out's. The passes and the write-out
        # never use one bank at once (the write-out drains the other bank, or runs before
        # the next group's passes), nor one column the same word two cycles running (rows
        # differ), so neither waits.
        out_bits = ceil_log2(self.max_outputs + 1) + 1

        def out_port(name, en_bits=T_max):
            return SimpleNamespace(addr=Signal(out_bits, name=f"{name}_addr"),
                                   data=Signal(T_max, name=f"{name}_data"),
                                   en=Signal(en_bits, name=f"{name}_en"))
        out_w = [out_port(f"out_w{c}") for c in range(cols)]
        out_clear = out_port("out_clear", 1)
        out_r = out_port("out_r", 1)
        rmw = [out_port(f"out_rmw{c}") for c in range(cols)]     # out_w, a cycle later
        for c in range(cols):
            m.d.sync += [rmw[c].addr.eq(out_w[c].addr), rmw[c].data.eq(out_w[c].data & out_w[c].en),
                         rmw[c].en.eq(out_w[c].en)]
        out_reads = []
        for i, bank in enumerate(self.glb_outputs):
            base = ohalf if i else 0

            def here(addr, i=i):
                return (addr >= ohalf) if i else (addr < ohalf)
            words = []
            for c, column in enumerate(bank):
                mem = m.submodules[f"glb_outputs_{i}_{c}"] = Memory(data=column)
                write, read = mem.write_port(), mem.read_port()
                with m.If((rmw[c].en != 0) & here(rmw[c].addr)):
                    m.d.comb += [write.addr.eq(rmw[c].addr - base), write.en.eq(1),
                                 write.data.eq(read.data & ~rmw[c].en | rmw[c].data)]
                with m.Elif(out_clear.en & here(out_clear.addr)):
                    m.d.comb += [write.addr.eq(out_clear.addr - base), write.data.eq(0),
                                 write.en.eq(1)]
                with m.If((out_w[c].en != 0) & here(out_w[c].addr)):
                    m.d.comb += [read.addr.eq(out_w[c].addr - base), read.en.eq(1)]
                with m.Else():
                    m.d.comb += [read.addr.eq(out_r.addr - base), read.en.eq(out_r.en)]
                words.append(read.data)
            out_reads.append(functools.reduce(operator.or_, words))
        out_high = Signal()             # the registered read came from the second memory
        with m.If(out_r.en):
            m.d.sync += out_high.eq(out_r.addr >= ohalf)
        m.d.comb += out_r.data.eq(Mux(out_high, out_reads[1], out_reads[0]))
        out_pingpong = Signal()          # the layer's row group outputs fit a bank
        result_bank = Signal()           # output bank the passes write
        otags_w = otags_mem.write_port(granularity=1)   # a tag bit set, or a word cleared
        otags_r = otags_mem.read_port()
        if self.time_blocks:
            m.submodules.glb_state = state_mem = Memory(data=self.glb_state)
            m.submodules.output_block_tags = btags_mem = Memory(data=self.output_block_tags)
            state_w = state_mem.write_port()       # one port each way: block RAM
            state_r = state_mem.read_port()
            btags_w = btags_mem.write_port(granularity=1)
            btags_r = btags_mem.read_port()
        lbuf_w = lbuf_mem.write_port()
        lbuf_r = lbuf_mem.read_port()

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
        m.d.comb += sample_offset.eq(sample * per_sample)
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
        pos_index = Signal(32)
        tws_narrow = tws[:ceil_log2(self.tws_max + 1)]
        ok_sizes = Signal()
        ok_descriptor = Signal()
        ok_tws = Signal()
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
                  "dram_read_bytes": port.bytes_read - read_start,
                  "dram_write_bytes": port.bytes_written - write_start,
                  "glb_reads": acc["glb_reads"] + gather.spike_reads + gather.weight_reads}
        totals = Array(totals[name] for name in COUNTER_NAMES)
        count_j = Signal(range(len(COUNTER_NAMES) + 1))

        # AXI error monitor: any non-OKAY response during the run.
        axi_error = Signal()
        with m.If((self.m_axi.rvalid & self.m_axi.rready & (self.m_axi.rresp != OKAY)) |
                  (self.m_axi.bvalid & self.m_axi.bready & (self.m_axi.bresp != OKAY))):
            m.d.sync += axi_error.eq(1)

        # DRAM requests: one read or write request register each.
        rd_req, wr_req = port.read_request, port.write_request
        rdata, wdata = port.read_data, port.write_data
        m.d.comb += [rdata.ready.eq(0), wdata.valid.eq(0)]
        with m.If(rd_req.ready):
            m.d.sync += rd_req.valid.eq(0)
        with m.If(wr_req.ready):
            m.d.sync += wr_req.valid.eq(0)

        def dram_read(addr, nbytes):
            m.d.sync += [rd_req.valid.eq(1), rd_req.payload.addr.eq(addr),
                         rd_req.payload.length.eq(nbytes)]

        def dram_write(addr, nbytes):
            m.d.sync += [wr_req.valid.eq(1), wr_req.payload.addr.eq(addr),
                         wr_req.payload.length.eq(nbytes)]

        got = Signal(range(DESCRIPTOR_WORDS + 1))   # words received of a header/descriptor
        take = rdata.valid & rdata.ready

        m_base = Signal(32)          # first output channel of the row group
        rows_used = Signal(range(rows + 1))
        wbytes = Signal(3)

        # The rows of a last, partial row group that hold no output channel get zero weights
        # (their lanes still hold an earlier group's): they never fire nor decay, so they
        # never lengthen a pass.
        wb = self.weight_bits
        m.d.comb += gather.weights.data.eq(Cat(
            Mux(r < rows_used, weights_r.data[r * wb:(r + 1) * wb], 0) for r in range(rows)))

        # Membrane store: the last column of the previous pass.
        store = Signal(data.ArrayLayout(signed(self.v_bits), rows))

        # Dispatcher and gather configuration.
        m.d.comb += [
            disp.config.in_h.eq(H), disp.config.in_w.eq(W),
            disp.config.out_h.eq(R), disp.config.out_w.eq(Rp),
            disp.config.kernel.eq(E), disp.config.stride.eq(stride),
            disp.config.padding.eq(padding),
            disp.config.temporal.eq(~tailor),
            gather.config.in_h.eq(H), gather.config.in_w.eq(W), gather.config.in_hw.eq(hw_in),
            gather.config.kernel.eq(E), gather.config.stride.eq(stride),
            gather.config.padding.eq(padding), gather.config.fan_in.eq(F),
            gather.config.run.eq(run_len), gather.config.tws.eq(tws),
            gather.config.tailor.eq(tailor), gather.config.fc.eq(kind[0]),
            gather.length.eq(disp.chunk.len),
        ]
        for c in range(cols):
            e = disp.chunk.entries[c]
            m.d.comb += [gather.columns[c].oy.eq(e.oy), gather.columns[c].ox.eq(e.ox),
                         gather.columns[c].w.eq(e.w)]

        # ---------------------------------------------------------------- passes
        # Bank info: what the launch side needs of a gathered chunk.
        bank_fields = {
            "full": 1, "first": 1, "final": 1,
            "beats": range(self.lbuf_depth + 1), "set_bits": cnt + 8,
            "len": range(cols + 1), "from_store": 1, "chain": data.ArrayLayout(1, cols),
            "skip": data.ArrayLayout(16, cols),
            "pos": data.ArrayLayout(32, cols), "shift": data.ArrayLayout(range(T_max + 1), cols),
        }
        if self.time_blocks:
            # A column that starts a neuron carried over from an earlier block: its
            # membranes (every row), and whether it has one.
            bank_fields["init"] = data.ArrayLayout(data.ArrayLayout(signed(self.v_bits), cols), rows)
            bank_fields["use_init"] = data.ArrayLayout(1, cols)
        bank_layout = data.StructLayout(bank_fields)
        banks = Array(Signal(bank_layout, name=f"bank{i}") for i in range(2))
        prep_bank, run_bank = Signal(), Signal()
        passes_on = Signal()         # the controller is in the PASSES state of a row group
        prep_end = Signal()
        running = Signal()
        streaming = Signal()
        beat = Signal(range(self.lbuf_depth + 1))
        mrow = Signal(range(cols + 1))
        m.d.comb += [disp.request.eq(0), gather.start.eq(0), disp.rewind.eq(0), disp.build.eq(0),
                     gather.clear.eq(0), gather.resume.eq(0)]

        with m.FSM(name="prep"):
            with m.State("IDLE"):
                with m.If(passes_on & ~prep_end & ~banks[prep_bank].full):
                    m.d.comb += disp.request.eq(1)
                    m.next = "CHUNK"
            with m.State("CHUNK"):
                with m.If(disp.chunk_done):
                    with m.If(disp.chunk.end):
                        m.d.sync += prep_end.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        info = banks[prep_bank]
                        m.d.sync += [info.len.eq(disp.chunk.len), info.first.eq(1),
                                     info.from_store.eq(disp.chunk.from_store),
                                     info.chain.eq(disp.chunk.chain)]
                        for c in range(cols):
                            e = disp.chunk.entries[c]
                            m.d.sync += [info.skip[c].eq(_times(disp.chunk.skip_windows[c],
                                                                tws_narrow, len(tws_narrow))),
                                         info.pos[c].eq(e.pos),
                                         info.shift[c].eq(_times(e.w, tws_narrow,
                                                                 len(tws_narrow)))]
                        if self.time_blocks:
                            m.d.sync += [info.use_init.eq(0), mrow.eq(0)]
                            with m.If(blocked & (block != 0)):
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
                    # columns that start a neuron; then the gather.
                    info = banks[prep_bank]
                    m.d.comb += [state_r.addr.eq(info.pos[mrow]),
                                 state_r.en.eq(1)]
                    # Rows without a channel (a last, partial row group) and columns past the
                    # chunk start from 0, so they never decay: they cost no cycle.
                    with m.Switch(mrow):
                        for c in range(cols):
                            with m.Case(c + 1):
                                starts = ~info.from_store if c == 0 else ~info.chain[c]
                                last = state_r.data.last
                                use = starts & (last != 0) & (c < info.len)
                                m.d.sync += info.use_init[c].eq(use)
                                m.d.sync += [info.init[r][c].eq(
                                    Mux(r < rows_used, state_r.data.membranes[r], 0))
                                    for r in range(rows)]
                                with m.If(use):
                                    m.d.sync += info.skip[c].eq(bstep0 + info.shift[c] - last)
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
                                 prep_bank.eq(~prep_bank),
                                 acc["lbuf_writes"].eq(acc["lbuf_writes"] + gather.beats)]
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
            array.passes.valid.eq(passes_on & info.full & info.first & ~running),
            desc.config.tws.eq(tws), desc.config.threshold.eq(threshold),
            desc.config.leak_shift.eq(leak_shift),
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
        segment_end = take_beat & ~info.final & (beat == info.beats - 1)
        pass_end = take_beat & info.final & (dummy | (beat == info.beats - 1))
        read_bank = Signal()
        read_beat = Signal(range(self.lbuf_depth + 1))
        m.d.comb += [read_bank.eq(run_bank), read_beat.eq(beat + take_beat)]
        with m.If(take_pass):
            m.d.sync += [running.eq(1), streaming.eq(1), beat.eq(0)]
            m.d.comb += read_beat.eq(0)
        with m.If(segment_end | hand_back):
            m.d.sync += [info.full.eq(0), run_bank.eq(~run_bank), beat.eq(0)]
            m.d.comb += [read_bank.eq(~run_bank), read_beat.eq(0)]
        m.d.comb += [
            lbuf_r.addr.eq(Mux(read_bank, self.lbuf_depth, 0) + read_beat),
            lbuf_r.en.eq(1),
            array.spike_words.valid.eq(streaming & info.full & (~empty | info.final)),
            array.weights.valid.eq(streaming & info.full & (~empty | info.final)),
            array.spike_words.payload.words.eq(Mux(dummy, 0, lbuf_r.data.words)),
            array.spike_words.payload.last.eq(info.final & (dummy | (beat == info.beats - 1))),
            array.weights.payload.eq(lbuf_r.data.weights),
        ]
        with m.If(take_beat):
            with m.If(~segment_end):
                m.d.sync += beat.eq(beat + 1)
            with m.If(pass_end):
                m.d.sync += streaming.eq(0)
            with m.If(~dummy):
                m.d.sync += acc["lbuf_reads"].eq(acc["lbuf_reads"] + 1)

        # Results: capture, update the store, write the spikes to the output GLB region.
        writer_busy = Signal()
        state_busy = Signal()           # time blocks: the state writer (below) is busy
        result_spikes = Signal(data.ArrayLayout(data.ArrayLayout(self.tws_max, cols), rows))
        w_row = Signal(range(rows + 1))
        w_addr = Signal(32)
        w_len = Signal(range(cols + 1))
        w_pos = Signal(data.ArrayLayout(32, cols))
        w_shift = Signal(data.ArrayLayout(range(T_max + 1), cols))
        m.d.comb += array.results.ready.eq(~writer_busy & ~state_busy)
        take_result = array.results.valid & array.results.ready
        ops = _times(info.set_bits, rows_used, len(rows_used))      # a pass's additions
        result = array.results.payload
        with m.If(take_result):
            m.d.sync += [running.eq(0), writer_busy.eq(1), w_row.eq(0), w_addr.eq(0),
                         result_spikes.eq(result.spikes), w_len.eq(info.len),
                         w_pos.eq(info.pos), w_shift.eq(info.shift),
                         info.full.eq(0), run_bank.eq(~run_bank),
                         acc["acc_ops"].eq(acc["acc_ops"] + ops),
                         acc["scratchpad_accesses"].eq(
                             acc["scratchpad_accesses"] + 2 * ops
                             + 2 * _times(_times(info.len, tws_narrow, len(tws_narrow)),
                                          rows_used, len(rows_used)))]
            with m.Switch(info.len):
                for n in range(1, cols + 1):
                    with m.Case(n):
                        m.d.sync += [store[r].eq(result.membrane[r][n - 1]) for r in range(rows)]
        tws_mask = Signal(T_max)
        m.d.comb += tws_mask.eq((Const(1, T_max + 1) << tws[:ceil_log2(self.tws_max + 1)]) - 1)
        writing_results = writer_busy & (w_row < rows_used)
        for c in range(cols):
            m.d.comb += [
                out_w[c].addr.eq(w_addr + w_pos[c] + Mux(result_bank, ohalf, 0)),
                out_w[c].data.eq(result_spikes[w_row][c] << w_shift[c]),
                out_w[c].en.eq(Mux(writing_results & (c < w_len), tws_mask << w_shift[c], 0)),
            ]
        if self.time_blocks:
            # Time blocks: after each pass, column by column (a cycle each, beside the spike
            # writer), the state of each position a column ends (its last column in the
            # pass): its rows' membranes and the step after its window.
            result_membranes = Signal(data.ArrayLayout(data.ArrayLayout(signed(self.v_bits), cols),
                                                       rows))
            w_end = Signal(cols)
            w_col = Signal(range(cols + 1))
            with m.If(take_result & blocked):
                m.d.sync += [result_membranes.eq(result.membrane), state_busy.eq(1),
                             w_col.eq(0)]
                for c in range(cols):
                    ends = 1 if c == cols - 1 else (c + 1 >= info.len) | ~info.chain[c + 1]
                    m.d.sync += w_end[c].eq(ends)
            column = w_col[:ceil_log2(cols + 1)]
            m.d.comb += [
                state_w.addr.eq(w_pos[column]),
                state_w.data.last.eq(bstep0 + w_shift[column] + tws),
                state_w.en.eq(state_busy & (w_col < w_len) & w_end.bit_select(column, 1)),
            ]
            for r in range(rows):
                m.d.comb += state_w.data.membranes[r].eq(result_membranes[r][column])
            with m.If(state_busy):
                with m.If(w_col < w_len):
                    m.d.sync += w_col.eq(w_col + 1)
                with m.Else():
                    m.d.sync += state_busy.eq(0)
        weight_written = Signal()       # the weight loader writes a weight this cycle
        spike_written = Signal()        # the input loader writes a spike word this cycle
        with m.If(writing_results | weight_written | spike_written):
            m.d.sync += acc["glb_writes"].eq(acc["glb_writes"] + Mux(writing_results, w_len, 0)
                                             + weight_written + spike_written)
        with m.If(writer_busy):
            with m.If(w_row < rows_used):
                m.d.sync += [w_row.eq(w_row + 1), w_addr.eq(w_addr + positions)]
            with m.Else():
                m.d.sync += writer_busy.eq(0)

        group_done = passes_on & prep_end & ~banks[0].full & ~banks[1].full & ~running & \
            ~writer_busy & ~state_busy

        # Busy and stall cycles of the array.
        array_busy = ~array.passes.ready | take_pass
        with m.If(in_layer & array_busy):
            m.d.sync += acc["busy_cycles"].eq(acc["busy_cycles"] + 1)
        with m.If(passes_on & ~array_busy):
            m.d.sync += acc["stall_cycles"].eq(acc["stall_cycles"] + 1)
        with m.If(in_layer):
            m.d.sync += acc["cycles"].eq(acc["cycles"] + 1)

        # ---------------------------------------------------------------- output writer
        # A row group's output spikes (of a block), GLB -> DRAM, time-major packed; each GLB
        # word is cleared as it goes out, and each output that spiked sets its SP-MB's tag
        # (of the sample, and of the block). Its own state machine, started by the
        # controller after the group's passes: with two output banks (a layer whose row group
        # outputs fit half the output memory) the next group's passes fill one bank while
        # this group's outputs leave the other; otherwise the controller waits for it.
        out_index = Signal(32)          # controller: clear and tag write-out index
        out_tag_words = Signal(32)
        wr_start = Signal()             # the controller starts a write-out
        wr_on = Signal()                # a write-out is in progress (until its B response)
        wr_abort = Signal()             # the controller stops (DRAIN)
        wr_bank = Signal()
        wr_index = Signal(32)           # output of the row group (GLB address in its bank)
        wr_global = Signal(32)          # output of the layer
        wr_end = Signal(32)             # outputs of the row group
        wr_word = Signal(range(T_max // 32 + 2))
        wr_channel = Signal(32)         # output channel of the output
        wr_position = Signal(32)        # its position
        wr_btag = Signal(32)            # the block's first output block tag word
        with m.FSM(name="writer"):
            with m.State("IDLE"):
                with m.If(wr_start):
                    m.next = "SPIKES"
            with m.State("SPIKES"):
                wr_addr = Mux(wr_bank, ohalf, 0) + wr_index     # in the output GLB
                m.d.comb += [out_r.addr.eq(wr_addr), out_r.en.eq(1),
                             wdata.valid.eq(~wr_req.valid),
                             wdata.payload.eq(Cat(out_r.data, Const(0, 32)).word_select(wr_word, 32))]
                last_word = wr_word == wpi - 1
                out_spmb = Mux(g_out == 16, wr_global >> 4, wr_channel)
                active = out_r.data != 0
                # Tags are only ever set (the memories are cleared as they are written out):
                # a bit-enable write, no read.
                m.d.comb += [otags_w.addr.eq(out_spmb >> 5), otags_w.data.eq(-1)]
                if self.time_blocks:
                    m.d.comb += [btags_w.addr.eq(wr_btag + (out_spmb >> 5)), btags_w.data.eq(-1)]
                with m.If(wdata.valid & wdata.ready):
                    with m.If(last_word):
                        m.d.comb += [out_r.addr.eq(wr_addr + 1),
                                     otags_w.en.eq(Mux(active, 1 << out_spmb[:5], 0)),
                                     out_clear.addr.eq(wr_addr),
                                     out_clear.data.eq(0), out_clear.en.eq(1)]
                        if self.time_blocks:
                            m.d.comb += btags_w.en.eq(Mux(active & blocked, 1 << out_spmb[:5], 0))
                        m.d.sync += [wr_word.eq(0), wr_index.eq(wr_index + 1),
                                     wr_global.eq(wr_global + 1),
                                     acc["glb_reads"].eq(acc["glb_reads"] + 1)]
                        with m.If(wr_position + 1 == positions):
                            m.d.sync += [wr_position.eq(0), wr_channel.eq(wr_channel + 1)]
                        with m.Else():
                            m.d.sync += wr_position.eq(wr_position + 1)
                        with m.If(wr_index + 1 == wr_end):
                            m.next = "RESPONSE"
                    with m.Else():
                        m.d.sync += wr_word.eq(wr_word + 1)
                with m.If(wr_abort):
                    m.d.sync += wr_on.eq(0)
                    m.next = "IDLE"
            with m.State("RESPONSE"):
                with m.If((~port.write_busy & ~wr_req.valid) | wr_abort):
                    m.d.sync += wr_on.eq(0)
                    m.next = "IDLE"

        # ---------------------------------------------------------------- weight loader
        # One row group's weights, DRAM -> GLB, row by row, one request per SP-MB run (in
        # SpikeX only runs whose input SP-MB tag is set: weight tailoring at the DRAM -> GLB
        # level), into bank ``load_bank`` (ping-pong: half the weight memory each, so the
        # next group loads while this one computes; a layer whose weights need more than
        # half loads each group after the previous one's passes, into the whole memory).
        load_start = Signal()
        load_busy = Signal()
        load_base = Signal(32)          # first output channel of the group being loaded
        load_bank = Signal()
        lrows = Signal(range(rows + 1))
        lrow = Signal(range(rows + 1))
        lrow_addr = Signal(32)
        lspmb = Signal(32)
        lremaining = Signal(32)
        slot = Signal(2)
        fan_first, fan_end = Signal(32), Signal(32)     # fan-in range of the weight run
        byte_first = Signal(32)
        m.d.comb += tags_load.addr.eq(lspmb[5:])
        lspmb_active = ~tailor | tags_load.data.bit_select(lspmb[:5], 1)
        m.d.sync += load_start.eq(0)

        def load(base, bank):
            m.d.sync += [load_start.eq(1), load_busy.eq(1), load_base.eq(base),
                         load_bank.eq(bank)]

        with m.FSM(name="loader"):
            with m.State("IDLE"):
                with m.If(load_start):
                    m.d.sync += [lrows.eq(Mux(M - load_base < rows, M - load_base, rows)),
                                 lrow.eq(0), lrow_addr.eq(w_base + load_base[:cnt] * row_bytes),
                                 lspmb.eq(0)]
                    m.next = "RUN"
            with m.State("RUN"):
                # Next SP-MB run of the next row's weights.
                first = lspmb * run_len
                last = Mux(first + run_len < F, first + run_len, F)
                with m.If(lrow == lrows):
                    m.d.sync += load_busy.eq(0)
                    m.next = "IDLE"
                with m.Elif(lspmb == n_spmb):
                    m.d.sync += [lrow.eq(lrow + 1), lspmb.eq(0),
                                 lrow_addr.eq(lrow_addr + row_bytes)]
                with m.Elif(lspmb_active):
                    byte0 = _times(first, wbytes, 2)
                    byte1 = _times(last, wbytes, 2)
                    dram_read(lrow_addr + (byte0 & ~3), ((byte1 + 3) & ~3) - (byte0 & ~3))
                    m.d.sync += [fan_first.eq(first), fan_end.eq(last),
                                 byte_first.eq(byte0 & ~3), slot.eq(0),
                                 lremaining.eq((((byte1 + 3) & ~3) - (byte0 & ~3)) >> 2)]
                    m.next = "WORDS"
                with m.Else():
                    m.d.sync += lspmb.eq(lspmb + 1)
            with m.State("WORDS"):
                # One weight slot of the current bus word per cycle.
                byte = byte_first + _times(slot, wbytes, 2)
                f = Mux(wbytes == 1, byte, byte >> 1)
                raw = Mux(wbytes == 1,
                          rdata.payload.word_select(slot, 8).as_signed(),
                          rdata.payload.word_select(slot[0], 16).as_signed())
                last_slot = Mux(wbytes == 1, slot == 3, slot == 1)
                m.d.comb += [weights_w.addr.eq(f + Mux(load_bank, half, 0)),
                             weights_w.data.eq(Cat(raw[:self.weight_bits] for _ in range(rows)))]
                with m.If(rdata.valid):
                    with m.If((f >= fan_first) & (f < fan_end)):
                        m.d.comb += [weights_w.en.eq(1 << lrow), weight_written.eq(1)]
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(last_slot):
                        m.d.comb += rdata.ready.eq(1)
                        m.d.sync += [slot.eq(0), byte_first.eq(byte_first + 4),
                                     lremaining.eq(lremaining - 1)]
                        with m.If(lremaining == 1):
                            m.d.sync += lspmb.eq(lspmb + 1)
                            m.next = "RUN"

        # ---------------------------------------------------------------- input loader
        # A block's input (or, with ``ld_tags_only``, the SP-MB tags of the whole sample),
        # DRAM -> GLB bank ``ld_bank``: the SP-MB tags (SpikeX), the location tags cleared,
        # then the spike words of the active SP-MBs (SpikeX) or of all (PTB), each input's
        # window tags OR-ed into its location's tag as it arrives. Zero-tag SP-MBs are neither
        # loaded nor processed. Started by the controller (``start_input``), which issues the
        # tag request; ``ld_done`` is high in its last cycle. With input ping-pong it loads
        # the next time block while the passes of this one run.
        ld_start, ld_done, ld_abort = Signal(), Signal(), Signal()
        ld_on = Signal()                # started, not done
        ld_bank = Signal()
        ld_tags_only = Signal()
        ld_addr = Signal(32)            # the block's spike words
        ld_steps = Signal(32)           # the block's steps
        spmb = Signal(32)               # SP-MB index
        item = Signal(32)               # input index (spikes), tag word (tags)
        item_end = Signal(32)
        word_in = Signal(range(T_max // 32 + 2))
        loc_index = Signal(32)
        loc_clear = Signal(32)
        assembly = Signal(T_max)
        remaining = Signal(32)          # tag words still to take
        ld_spikes = Mux(ld_bank, ihalf, 0)
        ld_tags = Mux(ld_bank, self.tag_words, 0)
        m.d.comb += tags_ctl.addr.eq(ld_tags + spmb[5:])
        spmb_active = ~tailor | tags_ctl.data.bit_select(spmb[:5], 1)
        spike_mask = Signal(T_max)
        m.d.comb += spike_mask.eq((Const(1, T_max + 1) << ld_steps[:ceil_log2(T_max + 1)]) - 1)
        spike_word = Signal(T_max)
        m.d.comb += spike_word.eq((assembly | (rdata.payload << (word_in * 32))) & spike_mask)
        loc_tags_of = _window_tags(m, spike_word, tws, self.tws_max, T_max)

        def start_input(tag_address, tag_words, spike_address, block_steps, bank,
                        tags_only=False):
            m.d.comb += ld_start.eq(1)
            m.d.sync += [ld_on.eq(1), ld_bank.eq(bank), ld_tags_only.eq(tags_only),
                         ld_addr.eq(spike_address), ld_steps.eq(block_steps),
                         item.eq(0), remaining.eq(tag_words), loc_clear.eq(0)]
            with m.If(tailor):
                dram_read(tag_address, tag_words << 2)

        def stop_on_abort():
            # The controller stops (DRAIN): back to IDLE, whatever the load was doing.
            with m.If(ld_abort):
                m.d.sync += ld_on.eq(0)
                m.next = "IDLE"

        with m.FSM(name="input"):
            with m.State("IDLE"):
                with m.If(ld_start):
                    with m.If(tailor):
                        m.next = "TAGS"
                    with m.Else():
                        m.next = "LOC_CLEAR"
            with m.State("TAGS"):
                m.d.comb += [rdata.ready.eq(1), tags_w.addr.eq(ld_tags + item),
                             tags_w.data.eq(rdata.payload), tags_w.en.eq(take)]
                with m.If(take):
                    m.d.sync += [item.eq(item + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        m.d.sync += item.eq(0)
                        with m.If(ld_tags_only):
                            m.d.comb += ld_done.eq(1)
                            m.d.sync += ld_on.eq(0)
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "LOC_CLEAR"
                stop_on_abort()
            with m.State("LOC_CLEAR"):
                m.d.comb += [loc_w.addr.eq(ld_spikes + loc_clear), loc_w.data.eq(0), loc_w.en.eq(1)]
                m.d.sync += loc_clear.eq(loc_clear + 1)
                with m.If(loc_clear + 1 >= hw_in):
                    m.d.sync += [spmb.eq(0), item.eq(0)]
                    m.next = "SPMB"
                stop_on_abort()
            with m.State("SPMB"):
                # Next SP-MB of the input: load it if its tag is set (SpikeX) or always (PTB).
                with m.If(spmb == n_spmb):
                    m.d.comb += ld_done.eq(1)
                    m.d.sync += ld_on.eq(0)
                    m.next = "IDLE"
                with m.Elif(spmb_active):
                    end = Mux(item + g_in < n_in, item + g_in, n_in)
                    dram_read(ld_addr + (_times(item, wpi, len(wpi)) << 2),
                              _times(end - item, wpi, len(wpi)) << 2)
                    m.d.sync += [item_end.eq(end), word_in.eq(0), loc_index.eq(0),
                                 assembly.eq(0)]
                    m.next = "SPIKES"
                with m.Else():
                    m.d.sync += [spmb.eq(spmb + 1), item.eq(item + g_in)]
                stop_on_abort()
            with m.State("SPIKES"):
                m.d.comb += rdata.ready.eq(1)
                word = spike_word
                m.d.comb += [loc_rmw.addr.eq(ld_spikes + loc_index),
                             loc_w.addr.eq(ld_spikes + loc_index),
                             loc_w.data.eq(loc_rmw.data | loc_tags_of),
                             spikes_w.addr.eq(ld_spikes + item), spikes_w.data.eq(word)]
                with m.If(take):
                    with m.If(word_in == wpi - 1):
                        m.d.comb += [spikes_w.en.eq(1), loc_w.en.eq(1), spike_written.eq(1)]
                        m.d.sync += [word_in.eq(0), assembly.eq(0), item.eq(item + 1),
                                     loc_index.eq(Mux(loc_index + 1 == hw_in, 0, loc_index + 1))]
                        with m.If(item + 1 == item_end):
                            m.d.sync += spmb.eq(spmb + 1)
                            m.next = "SPMB"
                    with m.Else():
                        m.d.sync += [word_in.eq(word_in + 1), assembly.eq(word)]
                stop_on_abort()

        # ---------------------------------------------------------------- controller
        def fail(code):
            m.d.sync += [error.eq(1), error_code.eq(code)]
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
                # Output GLB and output tags all zero (a run that ended in error may have left
                # spikes and tags).
                m.d.comb += [out_clear.addr.eq(out_index), out_clear.data.eq(0),
                             out_clear.en.eq(out_index < self.max_outputs),
                             otags_w.addr.eq(out_index), otags_w.data.eq(0),
                             otags_w.en.eq(Mux(out_index < self.out_tag_words, -1, 0))]
                m.d.comb += [counters_w.addr.eq(out_index), counters_w.data.eq(0),
                             counters_w.en.eq(out_index < n_counters)]
                clear_words = max(self.max_outputs, self.out_tag_words, n_counters)
                if self.time_blocks:
                    m.d.comb += [btags_w.addr.eq(out_index), btags_w.data.eq(0),
                                 btags_w.en.eq(Mux(out_index < self.out_tag_words * self.max_blocks,
                                                   -1, 0))]
                    clear_words = max(clear_words, self.out_tag_words * self.max_blocks)
                m.d.sync += out_index.eq(out_index + 1)
                with m.If(out_index == clear_words - 1):
                    m.d.sync += got.eq(0)
                    dram_read(regs.descriptor, HEADER_WORDS * 4)
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += rdata.ready.eq(1)
                with m.If(take):
                    m.d.sync += [words[got].eq(rdata.payload), got.eq(got + 1)]
                    with m.If(got == HEADER_WORDS - 1):
                        m.next = "HEADER_CHECK"
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
                m.d.sync += [got.eq(0), in_layer.eq(1), read_start.eq(port.bytes_read),
                             write_start.eq(port.bytes_written),
                             wpi.eq((bsize + 31) >> 5)]
                m.d.sync += [a.eq(0) for a in acc.values()]
                m.d.comb += [gather.clear.eq(1), tws_check.start.eq(1)]
                dram_read(table + layer * (DESCRIPTOR_WORDS * 4), DESCRIPTOR_WORDS * 4)
                m.next = "DESCRIPTOR"
            with m.State("DESCRIPTOR"):
                m.d.comb += rdata.ready.eq(1)
                with m.If(take):
                    m.d.sync += [words[got].eq(rdata.payload), got.eq(got + 1)]
                    with m.If(got == DESCRIPTOR_WORDS - 1):
                        m.next = "DERIVE"
            # The products of DERIVE to CHECK on narrow operands: sizes of at most ``dim``
            # bits, counts (C, M, H*W, R*R', n_in, n_out) of at most ``cnt`` bits, a wider
            # value refused with E_SIZE (a layer that fits has none: each is at most its
            # n_in or n_out, at most max_inputs) before any product of it is used; and one
            # multiplier for the four ``sample * bytes per sample`` offsets, one a cycle.
            with m.State("DERIVE"):
                ok_tws_now = (tws != 0) & (tws <= self.tws_max)
                m.d.comb += per_sample.eq(in_sample)
                m.d.sync += [
                    hw_in.eq(H[:dim] * W[:dim]), positions.eq(R[:dim] * Rp[:dim]),
                    ee.eq(E[:dim] * E[:dim]),
                    ok_tws.eq(ok_tws_now & tws_check.divides),
                    in_addr.eq(in_base + sample_offset),
                ]
                m.next = "DERIVE2"
            with m.State("DERIVE2"):
                limit = (1 << dim) - 1
                m.d.comb += per_sample.eq(tag_sample)
                m.d.sync += [
                    tag_addr.eq(tag_base + sample_offset),
                    n_in.eq(C[:cnt] * hw_in[:cnt]), n_out.eq(M[:cnt] * positions[:cnt]),
                    run_len.eq(Mux(kind[0], 16, ee)),
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
                m.d.comb += per_sample.eq(out_sample)
                m.d.sync += [
                    out_addr.eq(out_base + sample_offset),
                    in_block_bytes.eq(_times(n_in[:cnt], wpi, len(wpi)) << 2),
                    out_block_bytes.eq(_times(n_out[:cnt], wpi, len(wpi)) << 2),
                    group_outputs.eq(_times(positions[:cnt], Mux(M < rows, M, rows), rows_bits)),
                    n_spmb.eq(Mux(kind[0], (n_in + 15) >> 4, C)),
                    n_out_spmb.eq(Mux(g_out == 16, (n_out + 15) >> 4, M)),
                    ok_descriptor.eq(
                        (ee >> cnt == 0) & (F == C[:cnt] * ee[:cnt]) &
                        Mux(kind[0], fc_ok, conv_ok) &
                        ((g_out == 16) | (g_out == positions)) &
                        (threshold != 0) & (threshold < (1 << (self.v_bits - 1))) &
                        (leak_shift < self.v_bits)),
                ]
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += per_sample.eq(otag_sample)
                m.d.sync += otag_addr.eq(otag_base + sample_offset)
                with m.If(axi_error):
                    fail(E_AXI)
                with m.Elif(kind > 1):
                    fail(E_KIND)
                with m.Elif(~ok_tws):
                    fail(E_TWS)
                with m.Elif(~ok_sizes | (n_in > self.max_inputs) | (F > self.max_fan_in) |
                            (group_outputs > self.max_outputs) | (n_out > self.max_inputs)):
                    fail(E_SIZE)
                with m.Elif(~ok_descriptor):
                    fail(E_DESCRIPTOR)
                with m.Else():
                    m.d.sync += [out_index.eq(0), m_base.eq(0),
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
                        start_input(tag_addr, (n_spmb + 31) >> 5, in_addr, bsize, 0)
                        m.next = "INPUT"
            with m.State("B_GROUP"):
                # Time blocks: a row group starts with its weights, tailored by the SP-MB tags
                # of all blocks (the first tag words), and its positions' last steps cleared.
                m.d.sync += [block.eq(0), bstep0.eq(0), bsteps.eq(bsize), pos_index.eq(0),
                             in_block_addr.eq(in_addr), out_block_addr.eq(out_addr),
                             tag_block_addr.eq(tag_addr + (tag_words_in << 2)), btag_base.eq(0)]
                with m.If(tailor):
                    start_input(tag_addr, tag_words_in, 0, 0, 0, tags_only=True)
                    m.next = "B_TAGS"
                with m.Else():
                    load(m_base, 0)
                    m.next = "B_LOAD"
            with m.State("B_TAGS"):
                with m.If(ld_done):
                    load(m_base, 0)
                    m.next = "B_LOAD"
            with m.State("B_LOAD"):
                if self.time_blocks:
                    m.d.comb += [state_w.addr.eq(pos_index), state_w.data.eq(0),
                                 state_w.en.eq(pos_index < positions)]
                with m.If(pos_index < positions):
                    m.d.sync += pos_index.eq(pos_index + 1)
                with m.Elif(~load_busy):
                    m.next = "B_BLOCK"
            with m.State("B_BLOCK"):
                # The block's input: its SP-MB tags, then the spikes of its active SP-MBs
                # (already loading, or loaded, into the other bank with input ping-pong).
                m.d.sync += in_bank.eq(in_pingpong & block[0])
                with m.If((block == 0) | ~in_pingpong):
                    start_input(tag_block_addr, tag_words_in, in_block_addr, bsteps, 0)
                m.next = "INPUT"
            with m.State("INPUT"):
                with m.If(ld_done | ~ld_on):
                    m.d.comb += disp.build.eq(1)
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(disp.built):
                    with m.If(disp.overflow):
                        fail(E_ENTRIES)
                    with m.Else():
                        # Time blocks: the row group's weights are in (B_LOAD), and the
                        # block's NTWUs are counted for its rows.
                        m.d.sync += [acc["active_ntwus"].eq(acc["active_ntwus"] + disp.entries
                                                            * Mux(blocked, Mux(M - m_base < rows,
                                                                               M - m_base, rows),
                                                                  M)[:cnt]),
                                     compute_bank.eq(0)]
                        with m.If(~blocked):
                            load(0, 0)
                        # Input ping-pong: the next block of the row group loads into the
                        # other bank while this block's passes run.
                        with m.If(in_pingpong & (bstep0 + bsize < steps)):
                            rest = steps - bstep0 - bsize
                            start_input(tag_block_addr + (tag_words_in << 2), tag_words_in,
                                        in_block_addr + in_block_bytes,
                                        Mux(rest < bsize, rest, bsize), ~block[0])
                        m.next = "GROUP"
            with m.State("GROUP"):
                # The row group's weights are in their bank: run its passes, and (ping-pong)
                # load the next group's weights into the other bank meanwhile.
                with m.If(~load_busy):
                    m.d.comb += disp.rewind.eq(1)
                    m.d.sync += [passes_on.eq(1), prep_end.eq(0),
                                 rows_used.eq(Mux(M - m_base < rows, M - m_base, rows))]
                    with m.If(pingpong & (m_base + rows < M)):
                        load(m_base + rows, ~compute_bank)
                    m.next = "PASSES"
            # A row group's outputs and its first output of the layer (m_base < M and
            # R * R' are at most ``cnt`` bits once CHECK passed).
            group_size = _times(positions[:cnt], rows_used, len(rows_used))
            group_first = m_base[:cnt] * positions[:cnt]

            def start_write():
                # The group's output spikes go to DRAM from their bank (the output writer);
                # the next group's passes use the other bank (output ping-pong).
                m.d.comb += wr_start.eq(1)
                m.d.sync += [wr_on.eq(1), wr_bank.eq(result_bank),
                             wr_index.eq(0), wr_word.eq(0), wr_end.eq(group_size),
                             wr_global.eq(group_first), wr_channel.eq(m_base),
                             wr_position.eq(0), wr_btag.eq(btag_base),
                             result_bank.eq(out_pingpong & ~result_bank)]
                dram_write(out_block_addr + (_times(group_first, wpi, len(wpi)) << 2),
                           _times(group_size, wpi, len(wpi)) << 2)
                m.next = "WRITE_GROUP"

            with m.State("PASSES"):
                with m.If(group_done):
                    m.d.sync += passes_on.eq(0)
                    with m.If(~pingpong & ~blocked & (m_base + rows < M)):
                        load(m_base + rows, 0)
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
                more = (blocked & (bstep0 + bsize < steps)) | (m_base + rows < M)
                with m.If(Mux(more, out_pingpong | ~wr_on, ~wr_on)):
                    with m.If(blocked & (bstep0 + bsize < steps)):
                        rest = steps - bstep0 - bsize
                        m.d.sync += [block.eq(block + 1), bstep0.eq(bstep0 + bsize),
                                     bsteps.eq(Mux(rest < bsize, rest, bsize)),
                                     in_block_addr.eq(in_block_addr + in_block_bytes),
                                     out_block_addr.eq(out_block_addr + out_block_bytes),
                                     tag_block_addr.eq(tag_block_addr + (tag_words_in << 2)),
                                     btag_base.eq(btag_base + tag_words_out)]
                        m.next = "B_BLOCK"
                    with m.Else():
                        m.d.sync += m_base.eq(m_base + rows)
                        with m.If(m_base + rows >= M):
                            words_out = Mux(blocked, btag_base + 2 * tag_words_out, tag_words_out)
                            m.d.sync += [out_index.eq(0), out_tag_words.eq(words_out)]
                            dram_write(otag_addr, words_out << 2)
                            m.next = "WRITE_TAGS"
                        with m.Elif(blocked):
                            m.next = "B_GROUP"
                        with m.Else():
                            m.d.sync += compute_bank.eq(pingpong & ~compute_bank)
                            m.next = "GROUP"
            with m.State("WRITE_TAGS"):
                # Each tag word is cleared as it goes out.
                in_blocks = out_index >= tag_words_out
                m.d.comb += [otags_r.addr.eq(out_index), otags_r.en.eq(1),
                             wdata.valid.eq(~wr_req.valid), wdata.payload.eq(otags_r.data),
                             otags_w.addr.eq(out_index), otags_w.data.eq(0)]
                if self.time_blocks:
                    m.d.comb += [btags_r.addr.eq(out_index - tag_words_out), btags_r.en.eq(1),
                                 btags_w.addr.eq(out_index - tag_words_out), btags_w.data.eq(0)]
                    with m.If(in_blocks):
                        m.d.comb += wdata.payload.eq(btags_r.data)
                with m.If(wdata.valid & wdata.ready):
                    m.d.comb += otags_r.addr.eq(out_index + 1)
                    if self.time_blocks:
                        m.d.comb += [btags_r.addr.eq(out_index + 1 - tag_words_out),
                                     btags_w.en.eq(Mux(in_blocks, -1, 0))]
                    m.d.comb += otags_w.en.eq(Mux(in_blocks, 0, -1))
                    m.d.sync += out_index.eq(out_index + 1)
                    with m.If(out_index + 1 == out_tag_words):
                        m.next = "WRITE_WAIT"
            with m.State("WRITE_WAIT"):
                with m.If(~port.busy & ~wr_req.valid):
                    m.next = "LAYER_END"
            with m.State("LAYER_END"):
                with m.If(axi_error):
                    fail(E_AXI)
                with m.Else():
                    m.d.sync += [in_layer.eq(0), completed.eq(completed + 1), count_j.eq(0)]
                    m.next = "COUNT"
            with m.State("COUNT"):
                # The layer's counters added into the counter memory, one a cycle: read
                # counter j while counter j - 1 is written (its read value plus the total).
                # No layer counts these cycles (``in_layer`` is low), so nothing stands
                # still but the next layer's start.
                base = layer * len(COUNTER_NAMES)
                m.d.comb += [counting.eq(1), counters_r.addr.eq(base + count_j),
                             counters_r.en.eq(1),
                             counters_w.addr.eq(base + count_j - 1),
                             counters_w.data.eq(counters_r.data + totals[count_j - 1]),
                             counters_w.en.eq(count_j != 0)]
                m.d.sync += count_j.eq(count_j + 1)
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
                m.d.comb += [rdata.ready.eq(1), wdata.valid.eq(1), wdata.payload.eq(0),
                             wr_abort.eq(1), ld_abort.eq(1)]
                m.d.sync += [passes_on.eq(0), in_layer.eq(0)]
                with m.If(~port.busy & ~rd_req.valid & ~wr_req.valid):
                    m.d.sync += [busy.eq(0), done.eq(1)]
                    m.next = "IDLE"
        return m
