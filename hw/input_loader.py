"""The input loader: a time block's input spikes, DRAM to the spike GLB, with the activity
tags (paper §III-B and §III-C; docs/accelerator.md, "Input loader")."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramReadSignature
from hw.arith import times


__all__ = ["InputLoader", "InputLoaderControl", "input_loader_config", "input_block_layout",
           "window_tags"]


def input_loader_config(*, tws_max, max_timesteps):
    """The layer, for the input loader: the dataflow (``tailor``: SpikeX), ``tws``, its
    ``locations`` (H·W), input ``spmbs``, inputs of an SP-MB (``group``), ``inputs`` and
    32-bit words per input (``wpi``)."""
    return data.StructLayout({"tailor": 1, "tws": range(tws_max + 1), "locations": 32,
                              "spmbs": 32, "group": 32, "inputs": 32,
                              "wpi": range(max_timesteps // 32 + 2)})


def input_block_layout():
    """A load: the DRAM addresses of the block's SP-MB ``tags`` (``tag_words`` words) and
    ``spikes``, its ``steps``, the GLB ``bank`` and ``tags_only``."""
    return data.StructLayout({"tags": 32, "tag_words": 32, "spikes": 32, "steps": 32, "bank": 1,
                              "tags_only": 1})


class InputLoaderControl(wiring.Signature):
    """The input loader's commands, seen from the controller."""

    def __init__(self, *, tws_max, max_timesteps):
        super().__init__({
            "config": Out(input_loader_config(tws_max=tws_max, max_timesteps=max_timesteps)),
            "start": Out(1),
            "block": Out(input_block_layout()),
            "abort": Out(1),
            "busy": In(1),
            "done": In(1),
            "written": In(1),
        })


def window_tags(m, bits, tws, tws_max, width):
    """Window activity tags of a ``width``-step spike vector for the run-time ``tws``."""
    tags = Signal(width)
    with m.Switch(tws):
        for t in range(1, tws_max + 1):
            with m.Case(t):
                m.d.comb += tags.eq(Cat(bits[w * t:(w + 1) * t].any() for w in range(width // t)))
    return tags


class InputLoader(wiring.Component):
    """Loads a time block's input into one bank of the input GLB.

    First the block's input SP-MB tags (SpikeX), then the location tags cleared, then the
    spike words of the active SP-MBs (SpikeX) or of all (PTB), each input's window tags
    OR-ed into its location's tag as it arrives. SP-MBs whose tag is zero are neither
    loaded nor processed. With ``tags_only`` it loads the SP-MB tags alone (those of a
    whole sample, which tailor a row group's weights). With input ping-pong it loads the
    next time block into the other bank while the passes of this one run.

    Parameters
    ----------
    max_timesteps, tws_max : int
        Bits of a spike word; the largest time window.
    max_inputs : int
        Words of the spike GLB (a bank is half of it when there are two).
    tag_words : int
        Words of a bank of input SP-MB tags.

    Ports
    -----
    dram : Out(DramReadSignature())
    control : In(InputLoaderControl(...))
        ``config`` (:func:`input_loader_config`), held while loading. ``start``: load a
        block as ``block`` (:func:`input_block_layout`) says. ``abort``: back to idle at
        once (the run stopped). ``busy``: from the cycle after ``start`` until the load is
        done. ``done``: the load's last cycle. ``written``: a spike word is written this
        cycle (the layer's ``glb_writes``).
    tags_write, tags_read : In(WritePort.Signature(...)), In(ReadPort.Signature(...))
        The input SP-MB tags. ``tags_read`` is synchronous and transparent to
        ``tags_write``: the loader addresses it with the SP-MB index of the next cycle.
    spikes : In(WritePort.Signature(...))
    locations_write, locations_read : In(WritePort.Signature(...)), In(ReadPort.Signature(...))
        The location tags: a read-modify-write a cycle. ``locations_read`` is synchronous
        and transparent to ``locations_write`` (block RAM): the loader addresses it with the
        location of the next cycle, so the word is there when the spike word completes.

    Latency: a request reaches the arbiter in the cycle ``start`` is high (SpikeX); then a
    cycle per tag word, a cycle per location cleared, a cycle per SP-MB and a cycle per
    bus word.
    """

    def __init__(self, *, max_timesteps, tws_max, max_inputs, tag_words, banks=1):
        self.max_timesteps, self.tws_max = max_timesteps, tws_max
        self.max_inputs, self.tag_words, self.banks = max_inputs, tag_words, banks
        T = max_timesteps
        spike_addr = max(1, ceil_log2(max_inputs))
        tag_addr = max(1, ceil_log2(tag_words * banks))
        super().__init__({
            "dram": Out(DramReadSignature()),
            "control": In(InputLoaderControl(tws_max=tws_max, max_timesteps=T)),
            "tags_write": In(WritePort.Signature(addr_width=tag_addr, shape=32)),
            "tags_read": In(ReadPort.Signature(addr_width=tag_addr, shape=32)),
            "spikes": In(WritePort.Signature(addr_width=spike_addr, shape=T)),
            "locations_write": In(WritePort.Signature(addr_width=spike_addr, shape=T)),
            "locations_read": In(ReadPort.Signature(addr_width=spike_addr, shape=T)),
        })

    def elaborate(self, platform):
        m = Module()
        T_max, cfg = self.max_timesteps, self.control.config
        rdata = self.dram.data
        take = rdata.valid & rdata.ready
        wpi = cfg.wpi

        bank = Signal()
        tags_only = Signal()
        spike_addr = Signal(32)         # the block's spike words
        steps = Signal(32)              # the block's steps
        spmb = Signal(32)               # SP-MB index
        spmb_next = Signal(32)          # its value in the next cycle (addresses the tags)
        spmb_up = Signal(32)            # ``spmb + 1``
        spmb_end = Signal()             # ``spmb == spmbs``: the load's end (``done``)
        item = Signal(32)               # input index (spikes), tag word (tags)
        item_end = Signal(32)
        # The SP-MB requests' arithmetic, kept in registers as ``item`` moves: the next
        # SP-MB's first input and the DRAM bytes before ``item``; per layer (the
        # configuration is held while loading), the bytes of an SP-MB and of the input.
        item_next = Signal(32)
        item_bytes = Signal(32)
        group_bytes, inputs_bytes = Signal(32), Signal(32)
        m.d.sync += [group_bytes.eq(times(cfg.group, wpi, len(wpi)) << 2),
                     inputs_bytes.eq(times(cfg.inputs, wpi, len(wpi)) << 2)]
        word_in = Signal(range(T_max // 32 + 2))
        # The input's location, as its location-tag address (its value in the next cycle
        # addresses the tags) and the locations left from it (1: the next is location 0).
        loc_addr = Signal.like(self.locations_read.addr)
        loc_next = Signal.like(self.locations_read.addr)
        loc_left = Signal(32)
        loc_clear = Signal(32)
        assembly = Signal(T_max)
        remaining = Signal(32)          # tag words still to take
        request = Signal.like(self.dram.request.payload)
        spikes_base = Mux(bank, self.max_inputs // 2, 0)
        tags_base = Mux(bank, self.tag_words, 0)
        # The tag memories are read a cycle ahead: ``spmb`` and ``loc_addr`` are assigned
        # through their next values, which address the synchronous read ports.
        m.d.comb += [spmb_next.eq(spmb), loc_next.eq(loc_addr)]
        m.d.sync += [spmb.eq(spmb_next), spmb_up.eq(spmb_next + 1),
                     spmb_end.eq(spmb_next == cfg.spmbs), loc_addr.eq(loc_next)]
        m.d.comb += [self.tags_read.addr.eq(tags_base + spmb_next[5:]),
                     self.locations_read.addr.eq(loc_next)]
        spmb_active = ~cfg.tailor | self.tags_read.data.bit_select(spmb[:5], 1)
        spike_mask = Signal(T_max)
        m.d.comb += spike_mask.eq((Const(1, T_max + 1) << steps[:ceil_log2(T_max + 1)]) - 1)
        spike_word = Signal(T_max)
        m.d.comb += spike_word.eq((assembly | (rdata.payload << (word_in * 32))) & spike_mask)
        locations_of = window_tags(m, spike_word, cfg.tws, self.tws_max, T_max)

        def finish():
            m.d.comb += self.control.done.eq(1)
            m.next = "IDLE"

        def stop_on_abort():

            # Last in each state, so that it wins: back to idle at once.

            with m.If(self.control.abort):

                m.next = "IDLE"


        with m.FSM(name="input") as fsm:
            with m.State("IDLE"):
                block = self.control.block
                with m.If(self.control.start):
                    m.d.sync += [bank.eq(block.bank), tags_only.eq(block.tags_only),
                                 spike_addr.eq(block.spikes), steps.eq(block.steps),
                                 item.eq(0), remaining.eq(block.tag_words), loc_clear.eq(0)]
                    with m.If(cfg.tailor):
                        m.d.comb += [self.dram.request.valid.eq(1),
                                     self.dram.request.payload.addr.eq(block.tags),
                                     self.dram.request.payload.length.eq(block.tag_words << 2)]
                        with m.If(self.dram.request.ready):
                            m.next = "TAGS"
                        with m.Else():
                            m.d.sync += request.eq(self.dram.request.payload)
                            m.next = "ASK_TAGS"
                    with m.Else():
                        m.next = "LOC_CLEAR"
                stop_on_abort()
            with m.State("ASK_TAGS"):
                m.d.comb += [self.dram.request.valid.eq(1), self.dram.request.payload.eq(request)]
                with m.If(self.dram.request.ready):
                    m.next = "TAGS"
                stop_on_abort()
            with m.State("TAGS"):
                m.d.comb += [rdata.ready.eq(1), self.tags_write.addr.eq(tags_base + item),
                             self.tags_write.data.eq(rdata.payload), self.tags_write.en.eq(take)]
                with m.If(take):
                    m.d.sync += [item.eq(item + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        m.d.sync += item.eq(0)
                        with m.If(tags_only):
                            finish()
                        with m.Else():
                            m.next = "LOC_CLEAR"
                stop_on_abort()
            with m.State("LOC_CLEAR"):
                m.d.comb += [self.locations_write.addr.eq(spikes_base + loc_clear),
                             self.locations_write.data.eq(0), self.locations_write.en.eq(1)]
                m.d.sync += loc_clear.eq(loc_clear + 1)
                with m.If(loc_clear + 1 >= cfg.locations):
                    m.d.comb += spmb_next.eq(0)
                    m.d.sync += [item.eq(0), item_next.eq(cfg.group), item_bytes.eq(0)]
                    m.next = "SPMB"
                stop_on_abort()
            with m.State("SPMB"):
                # Next SP-MB of the input: load it if its tag is set (SpikeX) or always (PTB).
                with m.If(spmb_end):
                    finish()
                with m.Elif(spmb_active):
                    whole = item_next < cfg.inputs
                    m.d.comb += [self.dram.request.valid.eq(1),
                                 self.dram.request.payload.addr.eq(spike_addr + item_bytes),
                                 self.dram.request.payload.length.eq(
                                     Mux(whole, group_bytes, inputs_bytes - item_bytes))]
                    with m.If(self.dram.request.ready):
                        m.d.comb += loc_next.eq(spikes_base)
                        m.d.sync += loc_left.eq(cfg.locations)
                        m.d.sync += [item_end.eq(Mux(whole, item_next, cfg.inputs)), word_in.eq(0),
                                     assembly.eq(0)]
                        m.next = "SPIKES"
                with m.Else():
                    m.d.comb += spmb_next.eq(spmb_up)
                    m.d.sync += [item.eq(item_next), item_next.eq(item_next + cfg.group),
                                 item_bytes.eq(item_bytes + group_bytes)]
                stop_on_abort()
            with m.State("SPIKES"):
                m.d.comb += rdata.ready.eq(1)
                m.d.comb += [self.locations_write.addr.eq(loc_addr),
                             self.locations_write.data.eq(self.locations_read.data | locations_of),
                             self.spikes.addr.eq(spikes_base + item),
                             self.spikes.data.eq(spike_word)]
                with m.If(take):
                    with m.If(word_in == wpi - 1):
                        m.d.comb += [self.spikes.en.eq(1), self.locations_write.en.eq(1),
                                     self.control.written.eq(1)]
                        m.d.sync += [word_in.eq(0), assembly.eq(0), item.eq(item + 1),
                                     item_next.eq(item_next + 1),
                                     item_bytes.eq(item_bytes + (wpi << 2))]
                        wrap = loc_left == 1
                        m.d.comb += loc_next.eq(Mux(wrap, spikes_base, loc_addr + 1))
                        m.d.sync += loc_left.eq(Mux(wrap, cfg.locations, loc_left - 1))
                        with m.If(item + 1 == item_end):
                            m.d.comb += spmb_next.eq(spmb_up)
                            m.next = "SPMB"
                    with m.Else():
                        m.d.sync += [word_in.eq(word_in + 1), assembly.eq(spike_word)]
                stop_on_abort()
        m.d.comb += self.control.busy.eq(~fsm.ongoing("IDLE"))
        return m
