"""The SpikeX accelerator: the controller and the wiring of its components (paper §III,
Fig. 1; docs/accelerator.md)::

    host --AXI4-Lite--> ControlRegisters --start--> controller (here)
    DRAM <--AXI4--> DramArbiter: read 0 controller, 1 WeightLoader, 2 InputLoader;
                                 write 0 OutputWriter
    InputLoader --> spike GLB + location tags + input SP-MB tags --> NtwuDispatcher
    WeightLoader --> weight GLB (two banks)               |
    PassEngine: BeatGather --> LBUF (ping-pong) --> PEArray --> OutputGlb, membrane store
    OutputWriter: OutputGlb --> DRAM, output SP-MB tags

For each sample and layer the controller reads the layer descriptor, has the input loader
load the input SP-MB tags (SpikeX) and the spike words of the active SP-MBs into the GLB
(with the window and location activity tags), has the dispatcher build the active NTWU
list, then per row group runs the pass engine on the row group's weights (SpikeX: only
active SP-MBs' runs), loaded by the weight loader into one of two banks while the previous
group computes (when a layer's weights fit half the weight memory; else after it). After
each group the output writer sends its output spikes (time-major packed) to DRAM, from one
of two output banks while the next group computes in the other (when a group's outputs fit
half the output memory), and after the last the output SP-MB tags. A sample longer than a
GLB spike word runs in time blocks: each row group loads its weights once, then runs block
after block (the block's tags, spikes, list, passes and outputs), each position's membranes
and last active step kept in the pass engine's state memory between blocks; the input
loader fills the other input bank with the next block while a block computes (when the
input fits half the spike memory). Cycle costs and error codes: docs/accelerator.md.
"""

from amaranth.hdl import Assert, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramArbiter
from hw.array import check_array_parameters
from hw.axi import OKAY, AxiLiteSignature, AxiSignature
from hw.banked_memory import BankedMemory
from hw.config import DATA_WIDTHS, DEFAULTS, SKIP_BITS, check_pe
from hw.controller import ERROR_CODES, Controller
from hw.dispatch import NtwuDispatcher
from hw.input_loader import InputLoader
from hw.limits import accelerator_limits, state_word_bytes, weight_slots
from hw.output_glb import OutputGlb
from hw.output_writer import OutputWriter
from hw.pass_engine import PassEngine
from hw.pe import check_parameter
from hw.weight_loader import WeightLoader


__all__ = ["ERROR_CODES", "SpikeXAccelerator", "TOPLEVEL"]


TOPLEVEL = "spikex_top"

class SpikeXAccelerator(wiring.Component):
    """The whole accelerator: AXI4 master to DRAM, AXI4-Lite registers, one PE array.

    Parameters
    ----------
    rows, cols, tws_max, weight_bits, acc_bits, v_bits, pe
        The PE array's (``weight_bits`` at most 16; ``pe``: one of ``hw.config.PE_KINDS``,
        :class:`hw.array.PEArray`).
    glb_kb, lbuf_kb : number
        GLB and LBUF sizes; they set the layer limits (:func:`accelerator_limits`).
    glb_split : (int, int, int) or None
        Bytes of the GLB for input spikes, weights and output spikes (None: half, a quarter
        and a quarter; :func:`glb_split_bytes`). With time blocks the time-block state
        memory is part of the GLB too: it takes what the three shares leave, or by default
        the words a full row group of the output share needs, the three shares dividing the
        rest (:func:`hw.limits.state_share_bytes`).
    max_layers : int
        Layers with counters; a longer network is refused (ERROR_CODE 3).
    data_width : int
        AXI data width: 32, 64, 128, 256 or 512. The components move 32-bit words, a word a
        cycle; a wider bus carries them in fewer beats and bursts (the port takes each word
        out of its beat with no cycle added: :class:`~hw.axi.AxiDramPort`), so the cycles
        are those of a 32-bit bus and the DRAM byte counters count whole beats.
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
                 dim_bits=12, glb_split=DEFAULTS.glb_split, max_blocks=DEFAULTS.max_blocks,
                 pe=DEFAULTS.pe):
        check_pe(pe)
        check_array_parameters(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                               acc_bits=acc_bits, v_bits=v_bits, skip_bits=SKIP_BITS)
        check_parameter("weight_bits", weight_bits, minimum=2, maximum=16)
        check_parameter("max_layers", max_layers, maximum=1024)
        check_parameter("max_timesteps", max_timesteps, minimum=tws_max, maximum=1024)
        check_parameter("max_entries", max_entries)
        check_parameter("max_blocks", max_blocks, maximum=1024)
        check_parameter("dim_bits", dim_bits, minimum=2, maximum=16)
        if data_width not in DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {', '.join(map(str, DATA_WIDTHS))}, "
                             f"not {data_width!r}")
        for name, value in (("glb_kb", glb_kb), ("lbuf_kb", lbuf_kb)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        limits = accelerator_limits(rows=rows, cols=cols, tws_max=tws_max,
                                    weight_bits=weight_bits, glb_kb=glb_kb, lbuf_kb=lbuf_kb,
                                    max_timesteps=max_timesteps, glb_split=glb_split,
                                    v_bits=v_bits, time_blocks=max_blocks > 1, pe=pe)
        if limits.get("max_positions", 1) < 1:
            raise ValueError(f"glb_split {glb_split!r} leaves no room in the {glb_kb} KB GLB for "
                             f"the time-block state (a word of "
                             f"{state_word_bytes(rows, v_bits)} bytes per position; "
                             f"max_blocks {max_blocks})")
        for name, value in limits.items():
            if value < 1:
                raise ValueError(f"glb_kb {glb_kb} and lbuf_kb {lbuf_kb} leave no room for "
                                 f"one word of {name}")
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.pe = pe
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
        self.max_positions = limits.get("max_positions", 0)    # time-block state words
        self.lbuf_depth = limits["lbuf_depth"]
        self.count_bits = ceil_log2(max(self.max_inputs, self.max_fan_in, self.max_outputs,
                                        max_entries) + 2) + 1
        self.tag_words = -(-self.max_inputs // 32)
        self.out_tag_words = -(-self.max_inputs // 32)     # a layer's outputs <= max_inputs
        # Memories, kept on the component so a testbench can inspect them.
        # The spike GLB and the location tags: two banks, block RAM ports shared by the
        # input loader's writes and the reads (hw/banked_memory.py).
        self.glb_spikes = BankedMemory(depth=self.max_inputs, width=max_timesteps, readers=cols)
        # The weight GLB: a word holds the rows' weights of ``weight_slots`` fan-in inputs
        # (hw/weight_loader.py), so that a DRAM bus word is written in one cycle.
        self.weight_slots = weight_slots(weight_bits)
        self.glb_weights = MemoryData(shape=self.weight_slots * rows * weight_bits,
                                      depth=self.max_fan_in // self.weight_slots, init=[])
        self.location_tags = BankedMemory(depth=self.max_inputs, width=max_timesteps, readers=1,
                                          writer_reads=True)
        # With time blocks, two banks of input SP-MB tags (the next block's are prefetched).
        self.input_tags = MemoryData(shape=32, depth=self.tag_words * (2 if self.time_blocks else 1),
                                     init=[])
        super().__init__({
            "m_axi": Out(AxiSignature(addr_width=32, data_width=data_width)),
            "s_axil": In(AxiLiteSignature(addr_width=16)),
            "irq_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cols, T_max = self.rows, self.cols, self.max_timesteps
        dim, cnt = self.dim_bits, self.count_bits

        # DRAM clients: read 0 the controller, 1 the weight loader, 2 the input loader;
        # write 0 the output writer.
        m.submodules.dram = dram = DramArbiter(readers=3, writers=1, data_width=self.data_width,
                                               word_width=32, addr_width=32, length_width=24,
                                               counter_width=32)
        wiring.connect(m, dram.m_axi, wiring.flipped(self.m_axi))
        max_windows = T_max
        m.submodules.dispatcher = disp = NtwuDispatcher(
            cols=cols, max_positions=self.max_outputs, max_locations=self.max_inputs,
            max_windows=max_windows, max_entries=self.max_entries, dim_bits=dim)
        m.submodules.passes = engine = PassEngine(
            rows=rows, cols=cols, tws_max=self.tws_max, weight_bits=self.weight_bits,
            acc_bits=self.acc_bits, v_bits=self.v_bits, max_timesteps=T_max,
            max_inputs=self.max_inputs, max_fan_in=self.max_fan_in, max_outputs=self.max_outputs,
            lbuf_depth=self.lbuf_depth, tag_words=self.tag_words, max_entries=self.max_entries,
            dim_bits=dim, count_bits=cnt, time_blocks=self.time_blocks,
            max_positions=self.max_positions, pe=self.pe)

        # Memories.
        m.submodules.glb_spikes = spikes_mem = self.glb_spikes
        m.submodules.glb_weights = weights_mem = Memory(data=self.glb_weights)
        m.submodules.location_tags = loc_mem = self.location_tags
        m.submodules.input_tags = tags_mem = Memory(data=self.input_tags)
        m.submodules.output_glb = output_glb = OutputGlb(cols=cols, max_outputs=self.max_outputs,
                                                         max_timesteps=T_max)

        # The loaders and the output writer (their configuration and commands: below).
        m.submodules.weight_loader = wloader = WeightLoader(
            rows=rows, weight_bits=self.weight_bits, max_fan_in=self.max_fan_in,
            tag_words=self.tag_words * (2 if self.time_blocks else 1))
        m.submodules.input_loader = iloader = InputLoader(
            max_timesteps=T_max, tws_max=self.tws_max, max_inputs=self.max_inputs,
            tag_words=self.tag_words, banks=2 if self.time_blocks else 1)
        m.submodules.output_writer = writer = OutputWriter(
            max_outputs=self.max_outputs, max_timesteps=T_max, tag_words=self.out_tag_words,
            max_blocks=self.max_blocks)
        wiring.connect(m, wloader.dram, dram.read[1])
        wiring.connect(m, iloader.dram, dram.read[2])
        wiring.connect(m, writer.dram, dram.write[0])
        wiring.connect(m, writer.glb_read, output_glb.read)
        wiring.connect(m, writer.glb_clear, output_glb.clear)

        def write(port, client):
            m.d.comb += [port.addr.eq(client.addr), port.data.eq(client.data),
                         port.en.eq(client.en)]

        def read_sync(port, client):
            m.d.comb += [port.addr.eq(client.addr), port.en.eq(client.en),
                         client.data.eq(port.data)]

        # Input ping-pong (time blocks, a layer whose input fits half the spike memory): the
        # passes read bank ``in_bank`` (spikes, location tags, SP-MB tags) while the input
        # loader fills the other with the next block's.
        ihalf = self.max_inputs // 2
        in_bank = Signal()
        wiring.connect(m, iloader.spikes, spikes_mem.write)
        for c in range(cols):
            rd = spikes_mem.read[c]
            m.d.comb += [rd.addr.eq(engine.spikes[c].addr + Mux(in_bank, ihalf, 0)),
                         rd.en.eq(engine.spikes[c].en), engine.spikes[c].data.eq(rd.data)]
        write(weights_mem.write_port(granularity=self.weight_bits), wloader.weights)
        # The gather reads fan-in ``f``: word ``f // slots`` of the bank, lanes of ``f % slots``.
        weights_r = weights_mem.read_port()
        slots = self.weight_slots
        half = self.max_fan_in // 2 // slots     # a weight bank, when a layer's weights fit it
        compute_bank = Signal()                  # weight bank of the row group in the passes
        weight_slot = Signal(range(slots))       # ``f % slots`` of the word being read
        with m.If(engine.weights.en):
            m.d.sync += weight_slot.eq(engine.weights.addr % slots)
        m.d.comb += [weights_r.addr.eq((engine.weights.addr // slots) + Mux(compute_bank, half, 0)),
                     weights_r.en.eq(engine.weights.en),
                     engine.weights.data.eq(weights_r.data.word_select(
                         weight_slot, rows * self.weight_bits))]
        # The location tags and the SP-MB tags: the loaders read them a cycle ahead,
        # and the gather reads the SP-MB tags a cycle ahead too, through synchronous ports
        # transparent to the input loader's writes (block RAM, not LUT RAM).
        wiring.connect(m, iloader.locations_write, loc_mem.write)
        wiring.connect(m, iloader.locations_read, loc_mem.writer_read)
        loc_r = loc_mem.read[0]
        m.d.comb += [loc_r.addr.eq(disp.loc.addr + Mux(in_bank, ihalf, 0)), loc_r.en.eq(disp.loc.en),
                     disp.loc.data.eq(loc_r.data)]
        tags_w = tags_mem.write_port()
        write(tags_w, iloader.tags_write)
        read_sync(tags_mem.read_port(transparent_for=(tags_w,)), iloader.tags_read)
        read_sync(tags_mem.read_port(transparent_for=(tags_w,)), wloader.tags)
        # The weight loader reads the tags ahead of their use (hw/weight_loader.py): the
        # sample's tag words must not be written while it loads.
        m.d.sync += Assert(~(tags_w.en & (tags_w.addr < self.tag_words) & wloader.control.busy),
                           "input SP-MB tags written while the weight loader reads them")
        tags_gather = tags_mem.read_port(transparent_for=(tags_w,))
        m.d.comb += [tags_gather.addr.eq(engine.tags.addr + Mux(in_bank, self.tag_words, 0)),
                     tags_gather.en.eq(engine.tags.en), engine.tags.data.eq(tags_gather.data)]
        for c in range(cols):
            wiring.connect(m, engine.results[c], output_glb.write[c])

        # ---------------------------------------------------------------- controller
        m.submodules.controller = ctl = Controller(
            rows=rows, cols=cols, tws_max=self.tws_max, weight_bits=self.weight_bits,
            v_bits=self.v_bits, max_layers=self.max_layers, max_timesteps=T_max,
            max_blocks=self.max_blocks, max_entries=self.max_entries, dim_bits=dim,
            count_bits=cnt, max_inputs=self.max_inputs, max_fan_in=self.max_fan_in,
            max_outputs=self.max_outputs, lbuf_depth=self.lbuf_depth, tag_words=self.tag_words,
            max_positions=self.max_positions)
        wiring.connect(m, wiring.flipped(self.s_axil), ctl.s_axil)
        wiring.connect(m, ctl.dram, dram.read[0])
        wiring.connect(m, ctl.weights, wloader.control)
        wiring.connect(m, ctl.inputs, iloader.control)
        wiring.connect(m, ctl.outputs, writer.control)
        wiring.connect(m, ctl.passes, engine.control)
        m.d.comb += [
            self.irq_done.eq(ctl.irq_done),
            dram.abort.eq(ctl.dram_abort), ctl.dram_busy.eq(dram.busy),
            ctl.bytes_read.eq(dram.bytes_read), ctl.bytes_written.eq(dram.bytes_written),
            writer.write_busy.eq(dram.write_busy),
            # The dispatcher: built and rewound by the controller, its chunks to the passes.
            disp.config.eq(ctl.dispatch.config), disp.build.eq(ctl.dispatch.build),
            disp.rewind.eq(ctl.dispatch.rewind), ctl.dispatch.built.eq(disp.built),
            ctl.dispatch.overflow.eq(disp.overflow), ctl.dispatch.entries.eq(disp.entries),
            disp.request.eq(engine.chunk_request), engine.chunk_done.eq(disp.chunk_done),
            engine.chunk.eq(disp.chunk),
            in_bank.eq(ctl.in_bank), compute_bank.eq(ctl.compute_bank),
            # Any response other than OKAY.
            ctl.axi_error.eq((self.m_axi.rvalid & self.m_axi.rready & (self.m_axi.rresp != OKAY)) |
                             (self.m_axi.bvalid & self.m_axi.bready & (self.m_axi.bresp != OKAY))),
        ]
        return m
