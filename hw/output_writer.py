"""The output writer: a row group's output spikes and a layer's output SP-MB tags, GLB to
DRAM (paper §III-C; docs/accelerator.md, "Output writer")."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out

from hw.arbiter import DramWriteSignature
from hw.output_glb import (OutputReadSignature, OutputWriteSignature, next_read_address,
                           output_addr_bits)


__all__ = ["OutputWriter", "OutputWriterControl", "output_writer_config", "output_group_layout",
           "output_tags_layout"]


def output_writer_config(*, max_timesteps):
    """The layer, for the output writer: 32-bit words per output (``wpi``), ``positions``
    (R·R'), ``fc`` (an output SP-MB is 16 outputs, not a channel) and ``blocked`` (the run
    has time blocks)."""
    return data.StructLayout({"wpi": range(max_timesteps // 32 + 2), "positions": 32, "fc": 1,
                              "blocked": 1})


def output_group_layout():
    """A row group's write-out: the DRAM ``addr`` of its first output (of the block) and its
    ``bytes``, the output GLB ``bank``, the ``first`` output of the layer and the ``count``
    of outputs, its first output ``channel`` and the block's first block tag word
    (``btag``)."""
    return data.StructLayout({"addr": 32, "bytes": 32, "bank": 1, "first": 32, "count": 32,
                              "channel": 32, "btag": 32})


def output_tags_layout():
    """A layer's tag write-out: the DRAM ``addr``, the ``words`` in all and those of the
    sample's tags (``sample_words``; the rest are the blocks')."""
    return data.StructLayout({"addr": 32, "words": 32, "sample_words": 32})


class OutputWriterControl(wiring.Signature):
    """The output writer's commands, seen from the controller."""

    def __init__(self, *, max_timesteps):
        super().__init__({
            "config": Out(output_writer_config(max_timesteps=max_timesteps)),
            "start": Out(1),
            "group": Out(output_group_layout()),
            "tags_start": Out(1),
            "tags": Out(output_tags_layout()),
            "clear": Out(1),
            "clear_index": Out(32),
            "abort": Out(1),
            "busy": In(1),
            "tags_done": In(1),
            "word_read": In(1),
        })


class OutputWriter(wiring.Component):
    """Writes a row group's output spikes (of a time block) from the output GLB to DRAM,
    time-major packed, and a layer's output SP-MB tags.

    Each GLB word is cleared as it goes out, and each output that spiked sets its SP-MB's
    tag bit, of the sample and (time blocks) of the block; the tag memories are only ever
    set by the write-out (a read-modify-write of the word) and cleared as they go out, so they
    need no clear between layers. The writer runs beside the passes: with two output banks
    the next row group's passes fill one bank while this group's outputs leave the other.

    Parameters
    ----------
    max_outputs, max_timesteps : int
        Of the output GLB.
    tag_words : int
        Words of a sample's output SP-MB tags.
    max_blocks : int
        Time blocks of a sample (more than 1: the block tags, ``max_blocks * tag_words``
        words).

    Ports
    -----
    dram : Out(DramWriteSignature())
    glb_read : Out(OutputReadSignature(...))
    glb_clear : Out(OutputWriteSignature(...))
    control : In(OutputWriterControl(...))
        ``config`` (:func:`output_writer_config`), held while writing. ``start``: write
        out a row group as ``group`` (:func:`output_group_layout`) says. ``tags_start``:
        write out the layer's tags as ``tags`` (:func:`output_tags_layout`) says.
        ``clear``: clear output GLB word and tag words ``clear_index`` (the run's start).
        ``abort``: back to idle at once (the run stopped). ``busy``: a write-out is in
        progress (for spikes, until its last response). ``tags_done``: the last tag word
        is taken. ``word_read``: a GLB word went out (the layer's ``glb_reads``).
    write_busy : In(1)
        The DRAM port's writes are busy (a request waits, data or responses outstanding).

    Latency: a request reaches the arbiter in the cycle ``start`` is high; a word a cycle
    while the port takes data.
    """

    def __init__(self, *, max_outputs, max_timesteps, tag_words, max_blocks=1):
        self.max_outputs, self.max_timesteps = max_outputs, max_timesteps
        self.tag_words, self.max_blocks = tag_words, max_blocks
        self.time_blocks = max_blocks > 1
        self.output_tags = MemoryData(shape=32, depth=tag_words, init=[])
        if self.time_blocks:
            self.output_block_tags = MemoryData(shape=32, depth=tag_words * max_blocks, init=[])
        bits = output_addr_bits(max_outputs)
        super().__init__({
            "dram": Out(DramWriteSignature()),
            "glb_read": Out(OutputReadSignature(addr_bits=bits, max_timesteps=max_timesteps)),
            "glb_clear": Out(OutputWriteSignature(addr_bits=bits, max_timesteps=max_timesteps)),
            "control": In(OutputWriterControl(max_timesteps=max_timesteps)),
            "write_busy": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        T_max, half = self.max_timesteps, self.max_outputs // 2
        cfg, group, dram = self.control.config, self.control.group, self.dram
        wpi = cfg.wpi

        # A tag bit is set by a read-modify-write of its word (whole words: a write enable
        # per bit would make each bit a block RAM of its own), the word read in the cycle
        # the output's last word goes out, through a port transparent to the write of the
        # output before it.
        m.submodules.output_tags = otags_mem = Memory(data=self.output_tags)
        otags_w = otags_mem.write_port()
        otags_r = otags_mem.read_port(transparent_for=(otags_w,))
        if self.time_blocks:
            m.submodules.output_block_tags = btags_mem = Memory(data=self.output_block_tags)
            btags_w = btags_mem.write_port()
            btags_r = btags_mem.read_port(transparent_for=(btags_w,))

        index = Signal(32)              # output of the row group (GLB address in its bank)
        output = Signal(32)             # output of the layer
        end = Signal(32)                # outputs of the row group
        word = Signal(range(T_max // 32 + 2))
        channel = Signal(32)            # output channel of the output
        position = Signal(32)           # its position
        btag = Signal(32)               # the block's first output block tag word
        tag_index = Signal(32)
        tag_words, sample_words = Signal(32), Signal(32)
        request = Signal.like(dram.request.payload)
        glb_addr = Signal.like(self.glb_read.addr)     # the output's GLB word (to clear)
        # The output's GLB word as its bank reads it, and the next word's: the read address
        # is one of two registers, chosen by whether the port takes the word.
        rd_bank, rd_addr = Signal(), Signal.like(self.glb_read.addr)
        rd_bank_up, rd_addr_up = Signal(), Signal.like(self.glb_read.addr)
        # The run's start: every output GLB word and tag word cleared. The words are
        # addressed whatever ``clear`` (a decode of the controller's state) says (a tag's
        # write, below, and SPIKES's clear address theirs from registers), so that the output
        # GLB's bank comparison and subtraction and the tag memories' transparency wait on
        # neither that nor the write channel's ``ready``: only the enables do.
        m.d.comb += [self.glb_clear.addr.eq(self.control.clear_index),
                     otags_w.addr.eq(self.control.clear_index)]
        if self.time_blocks:
            m.d.comb += btags_w.addr.eq(self.control.clear_index)
        with m.If(self.control.clear):
            m.d.comb += [self.glb_clear.en.eq(self.control.clear_index < self.max_outputs),
                         otags_w.en.eq(self.control.clear_index < self.tag_words)]
            if self.time_blocks:
                m.d.comb += btags_w.en.eq(self.control.clear_index
                                          < self.tag_words * self.max_blocks)

        # An output's tag bits are set the cycle after its last word went out, from its
        # word registered then (not the GLB read through the tag write enables).
        tag_set = Signal()
        tag_data = Signal(T_max)        # the output's word, registered as it leaves the GLB;
        tag_active = Signal()           # tested in the next cycle, off the block RAMs' path
        m.d.comb += tag_active.eq(tag_data != 0)
        tag_word, tag_bit = Signal(32), Signal(5)
        with m.If(tag_set):
            m.d.comb += [otags_w.addr.eq(tag_word),
                         otags_w.data.eq(otags_r.data | (1 << tag_bit)), otags_w.en.eq(tag_active)]
            if self.time_blocks:
                m.d.comb += [btags_w.addr.eq(btag + tag_word),
                             btags_w.data.eq(btags_r.data | (1 << tag_bit)),
                             btags_w.en.eq(tag_active & cfg.blocked)]
        m.d.sync += tag_set.eq(0)

        def ask(state):
            # The request goes to the arbiter now; if it waits, it is asked again.
            m.d.comb += dram.request.valid.eq(1)
            with m.If(dram.request.ready):
                m.next = state
            with m.Else():
                m.d.sync += request.eq(dram.request.payload)
                m.next = f"ASK_{state}"

        def stop_on_abort():

            # Last in each state, so that it wins: back to idle at once.

            with m.If(self.control.abort):

                m.next = "IDLE"


        with m.FSM(name="writer") as fsm:
            with m.State("IDLE"):
                with m.If(self.control.start):
                    first_up = next_read_address(group.bank, 0, self.max_outputs)
                    m.d.sync += [glb_addr.eq(Mux(group.bank, half, 0)),
                                 rd_bank.eq(group.bank), rd_addr.eq(0),
                                 rd_bank_up.eq(first_up[0]), rd_addr_up.eq(first_up[1]),
                                 index.eq(0), word.eq(0),
                                 end.eq(group.count), output.eq(group.first),
                                 channel.eq(group.channel), position.eq(0),
                                 btag.eq(group.btag)]
                    m.d.comb += [dram.request.payload.addr.eq(group.addr),
                                 dram.request.payload.length.eq(group.bytes)]
                    ask("SPIKES")
                with m.Elif(self.control.tags_start):
                    m.d.sync += [tag_index.eq(0), tag_words.eq(self.control.tags.words),
                                 sample_words.eq(self.control.tags.sample_words)]
                    m.d.comb += [dram.request.payload.addr.eq(self.control.tags.addr),
                                 dram.request.payload.length.eq(self.control.tags.words << 2)]
                    ask("TAGS")
                stop_on_abort()
            for state in ("SPIKES", "TAGS"):
                with m.State(f"ASK_{state}"):
                    m.d.comb += [dram.request.valid.eq(1), dram.request.payload.eq(request)]
                    with m.If(dram.request.ready):
                        m.next = state
                    stop_on_abort()
            with m.State("SPIKES"):
                # The word to clear is addressed whether or not it goes out this cycle.
                m.d.comb += [self.glb_read.addr.eq(rd_addr), self.glb_read.bank.eq(rd_bank),
                             self.glb_read.en.eq(1), self.glb_clear.addr.eq(glb_addr),
                             dram.data.valid.eq(1),
                             dram.data.payload.eq(
                                 Cat(self.glb_read.data, Const(0, 32)).word_select(word, 32))]
                last_word = word == wpi - 1
                spmb = Mux(cfg.fc, output >> 4, channel)
                # The output's tag words, for the read-modify-write when its last word goes.
                m.d.comb += otags_r.addr.eq(spmb >> 5)
                if self.time_blocks:
                    m.d.comb += btags_r.addr.eq(btag + (spmb >> 5))
                with m.If(dram.data.valid & dram.data.ready):
                    with m.If(last_word):
                        m.d.comb += [self.glb_read.addr.eq(rd_addr_up),
                                     self.glb_read.bank.eq(rd_bank_up),
                                     self.glb_clear.en.eq(1),
                                     self.control.word_read.eq(1)]
                        after_up = next_read_address(rd_bank_up, rd_addr_up, self.max_outputs)
                        m.d.sync += [word.eq(0), index.eq(index + 1), output.eq(output + 1),
                                     glb_addr.eq(glb_addr + 1),
                                     rd_bank.eq(rd_bank_up), rd_addr.eq(rd_addr_up),
                                     rd_bank_up.eq(after_up[0]), rd_addr_up.eq(after_up[1]),
                                     tag_set.eq(1), tag_data.eq(self.glb_read.data),
                                     tag_word.eq(spmb >> 5), tag_bit.eq(spmb[:5])]
                        with m.If(position + 1 == cfg.positions):
                            m.d.sync += [position.eq(0), channel.eq(channel + 1)]
                        with m.Else():
                            m.d.sync += position.eq(position + 1)
                        with m.If(index + 1 == end):
                            m.next = "RESPONSE"
                    with m.Else():
                        m.d.sync += word.eq(word + 1)
                stop_on_abort()
            with m.State("RESPONSE"):
                with m.If(~self.write_busy):
                    m.next = "IDLE"
                stop_on_abort()
            with m.State("TAGS"):
                # Each tag word is cleared as it goes out: the sample's, then each block's.
                in_blocks = tag_index >= sample_words
                m.d.comb += [otags_r.addr.eq(tag_index), otags_r.en.eq(1),
                             dram.data.valid.eq(1), dram.data.payload.eq(otags_r.data),
                             otags_w.addr.eq(tag_index), otags_w.data.eq(0)]
                if self.time_blocks:
                    m.d.comb += [btags_r.addr.eq(tag_index - sample_words), btags_r.en.eq(1),
                                 btags_w.addr.eq(tag_index - sample_words), btags_w.data.eq(0)]
                    with m.If(in_blocks):
                        m.d.comb += dram.data.payload.eq(btags_r.data)
                with m.If(dram.data.valid & dram.data.ready):
                    m.d.comb += otags_r.addr.eq(tag_index + 1)
                    if self.time_blocks:
                        m.d.comb += [btags_r.addr.eq(tag_index + 1 - sample_words),
                                     btags_w.en.eq(in_blocks)]
                    m.d.comb += otags_w.en.eq(~in_blocks)
                    m.d.sync += tag_index.eq(tag_index + 1)
                    with m.If(tag_index + 1 == tag_words):
                        m.d.comb += self.control.tags_done.eq(1)
                        m.next = "IDLE"
                stop_on_abort()
        m.d.comb += self.control.busy.eq(~fsm.ongoing("IDLE"))
        return m
