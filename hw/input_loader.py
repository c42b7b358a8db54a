"""The input loader: a time block's input spikes, DRAM to the spike GLB, with the activity
tags (paper §III-B and §III-C; docs/accelerator.md, "Input loader")."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.arbiter import DramReadSignature
from hw.arith import ReadAheadIndex, times


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
        ``tags_write``: the loader addresses it with the word of the SP-MB after the next
        cycle's (word 0 before its SP-MBs), its bit registered a cycle before it is used.
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
        steps = Signal(range(T_max + 1))    # the block's steps
        spmb = ReadAheadIndex(m, cfg.spmbs, name="spmb")    # at its end, the load's end
        item = Signal(32)               # input index (spikes), tag word (tags)
        item_end = Signal(32)
        item_last = Signal()            # ``item + 1 == item_end``
        # The SP-MB requests' arithmetic, kept in registers as ``item`` moves: the next
        # SP-MB's first input and whether it is inside the input (``whole``: the SP-MB is),
        # the DRAM address of ``item`` and the bytes from it to the input's end; per layer
        # (the configuration is held while loading), the bytes of an SP-MB and of the input.
        item_next = Signal(32)
        # ``spikes_base + item``, a register: the spike word's GLB address, which the banked
        # memory compares for its bank and chooses a port's address by.
        item_glb = Signal.like(self.spikes.addr)
        whole = Signal()
        item_addr = Signal(32)
        bytes_left = Signal(32)
        group_bytes, inputs_bytes = Signal(32), Signal(32)

        def set_item_next(value):
            m.d.sync += [item_next.eq(value), whole.eq(value < cfg.inputs)]
        m.d.sync += [group_bytes.eq(times(cfg.group, wpi, len(wpi)) << 2),
                     inputs_bytes.eq(times(cfg.inputs, wpi, len(wpi)) << 2)]
        word_in = Signal(range(T_max // 32 + 2))
        word_last = Signal()            # ``word_in == wpi - 1``
        # The input's location, as its location-tag address (its value in the next cycle
        # addresses the tags) and the locations left from it (1: the next is location 0).
        loc_addr = Signal.like(self.locations_read.addr)
        loc_next = Signal.like(self.locations_read.addr)
        loc_left = Signal(32)
        loc_wrap = Signal()             # ``loc_left == 1``
        loc_clear = Signal(32)
        # ``spikes_base + loc_clear``, a register: the write's address goes to the bank
        # comparison and the transparency's address comparison of the location tags.
        loc_clear_addr = Signal.like(self.locations_write.addr)
        assembly = Signal(T_max)
        remaining = Signal(32)          # tag words still to take
        request = Signal.like(self.dram.request.payload)
        spikes_base = Mux(bank, self.max_inputs // 2, 0)
        tags_base = Mux(bank, self.tag_words, 0)
        # The tag memories are read a cycle ahead: ``spmb`` and ``loc_addr`` are assigned
        # through their next values, which address the synchronous read ports.
        m.d.comb += loc_next.eq(loc_addr)
        m.d.sync += loc_addr.eq(loc_next)
        m.d.comb += self.locations_read.addr.eq(loc_next)
        # The SP-MB's tag bit is a register (as in hw/weight_loader.py): the tag word of
        # ``spmb.up`` is read a cycle ahead (word 0 before SPMB, which the restart takes
        # bit 0 of), and the bit chosen from it for an advance, so that the DRAM request
        # waits on no tag read and no 32-to-1 choice.
        # The word's address is chosen after the additions of the bank's base (to ``up``
        # and ``up + 1``, registers), so that the advance, which waits on the DRAM data's
        # ``valid``, drives a multiplexer, not an adder.
        loading = Signal()              # in SPMB or SPIKES
        m.d.comb += self.tags_read.addr.eq(Mux(loading, spmb.select(
            tags_base, tags_base + (spmb.up + 1)[5:], tags_base + spmb.up[5:]), tags_base))
        tag = spmb.follow(m, self.tags_read.data[0],
                          self.tags_read.data.bit_select(spmb.up[:5], 1), name="spmb_tag")
        spmb_active = ~cfg.tailor | tag
        spike_mask = Signal(T_max)      # ``steps`` ones, registered (SPIKES is cycles away)
        m.d.sync += spike_mask.eq((Const(1, T_max + 1) << steps) - 1)
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
                # The block is taken, and its tags' request made, in every cycle here (what
                # ``start``'s cycle takes is kept), so that of all this only the state and the
                # request's ``valid`` wait on ``start``, which comes late (a decode of the
                # controller's state and conditions), and no clock enable.
                # The request is kept whatever the arbiter answers (ASK_TAGS asks again with
                # it), so that only the state waits on ``ready``.
                block = self.control.block
                m.d.sync += [bank.eq(block.bank), tags_only.eq(block.tags_only),
                             spike_addr.eq(block.spikes), steps.eq(block.steps),
                             item.eq(0), remaining.eq(block.tag_words), loc_clear.eq(0),
                             loc_clear_addr.eq(Mux(block.bank, self.max_inputs // 2, 0))]
                m.d.comb += [self.dram.request.payload.addr.eq(block.tags),
                             self.dram.request.payload.length.eq(block.tag_words << 2)]
                m.d.sync += request.eq(self.dram.request.payload)
                with m.If(self.control.start):
                    with m.If(cfg.tailor):
                        m.d.comb += self.dram.request.valid.eq(1)
                        with m.If(self.dram.request.ready):
                            m.next = "TAGS"
                        with m.Else():
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
                m.d.comb += [self.locations_write.addr.eq(loc_clear_addr),
                             self.locations_write.data.eq(0), self.locations_write.en.eq(1)]
                m.d.sync += [loc_clear.eq(loc_clear + 1), loc_clear_addr.eq(loc_clear_addr + 1)]
                with m.If(loc_clear + 1 >= cfg.locations):
                    spmb.restart(m)
                    set_item_next(cfg.group)
                    m.d.sync += [item.eq(0), item_addr.eq(spike_addr), bytes_left.eq(inputs_bytes),
                                 item_glb.eq(spikes_base)]
                    m.next = "SPMB"
                stop_on_abort()
            with m.State("SPMB"):
                # Next SP-MB of the input: load it if its tag is set (SpikeX) or always (PTB).
                # What SPIKES starts from is set in every cycle here, whatever the request's
                # fate, so that only the state waits on the arbiter's ``ready``.
                end = Mux(whole, item_next, cfg.inputs)
                m.d.comb += loc_next.eq(spikes_base)
                m.d.sync += [loc_left.eq(cfg.locations), loc_wrap.eq(cfg.locations == 1),
                             item_end.eq(end), item_last.eq(item + 1 == end),
                             word_in.eq(0), word_last.eq(wpi == 1), assembly.eq(0)]
                with m.If(spmb.at_end):
                    finish()
                with m.Elif(spmb_active):
                    m.d.comb += [self.dram.request.valid.eq(1),
                                 self.dram.request.payload.addr.eq(item_addr),
                                 self.dram.request.payload.length.eq(
                                     Mux(whole, group_bytes, bytes_left))]
                    with m.If(self.dram.request.ready):
                        m.next = "SPIKES"
                with m.Else():
                    spmb.advance(m)
                    set_item_next(item_next + cfg.group)
                    m.d.sync += [item.eq(item_next), item_glb.eq(spikes_base + item_next),
                                 item_addr.eq(item_addr + group_bytes),
                                 bytes_left.eq(bytes_left - group_bytes)]
                stop_on_abort()
            with m.State("SPIKES"):
                m.d.comb += rdata.ready.eq(1)
                m.d.comb += [self.locations_write.addr.eq(loc_addr),
                             self.locations_write.data.eq(self.locations_read.data | locations_of),
                             self.spikes.addr.eq(item_glb),
                             self.spikes.data.eq(spike_word)]
                with m.If(take):
                    with m.If(word_last):
                        m.d.comb += [self.spikes.en.eq(1), self.locations_write.en.eq(1),
                                     self.control.written.eq(1)]
                        set_item_next(item_next + 1)
                        m.d.sync += [word_in.eq(0), word_last.eq(wpi == 1), assembly.eq(0),
                                     item.eq(item + 1), item_glb.eq(item_glb + 1),
                                     item_last.eq(item + 2 == item_end),
                                     item_addr.eq(item_addr + (wpi << 2)),
                                     bytes_left.eq(bytes_left - (wpi << 2))]
                        m.d.comb += loc_next.eq(Mux(loc_wrap, spikes_base, loc_addr + 1))
                        m.d.sync += [loc_left.eq(Mux(loc_wrap, cfg.locations, loc_left - 1)),
                                     loc_wrap.eq(Mux(loc_wrap, cfg.locations == 1, loc_left == 2))]
                        with m.If(item_last):
                            spmb.advance(m)
                            m.next = "SPMB"
                    with m.Else():
                        m.d.sync += [word_in.eq(word_in + 1), word_last.eq(word_in + 2 == wpi),
                                     assembly.eq(spike_word)]
                stop_on_abort()
        m.d.comb += [self.control.busy.eq(~fsm.ongoing("IDLE")),
                     loading.eq(fsm.ongoing("SPMB") | fsm.ongoing("SPIKES"))]
        return m
