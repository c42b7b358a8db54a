"""Hierarchical activity tags computed while spike data is loaded (paper §III-B, Fig. 2).

Spikes are stored packed, one bit per (input, time step). The storage word holds
consecutive time steps of **one input**, cut at window boundaries: a word of
``word_steps`` bits carries ``word_steps // tws`` whole time windows (TWs), window ``k`` in
bits ``k*tws .. k*tws + tws - 1`` (bit ``j`` is the ``j``-th time step of the word), and the
last word of an input's time block (TB) carries what is left of the block; bits above the
word's windows are zero. Words arrive in storage order::

    for each time block b:                           # tb_windows windows
        for each input i (conv: C, H, W order; fc: feature order):
            the words of input i over block b, earliest first

so an input's windows of one TB are consecutive words, and the inputs of one SP-MB (conv:
one input channel, ``H * W`` inputs; fc: a group of 16 features; ``docs/dataflow.md``)
are consecutive runs. :func:`pack_spike_words` writes this order from a ``[T, N]`` array.

The tags, each the OR of the level below:

- window tag of (input, TW): OR of the window's ``tws`` bits;
- block tag of (input, TB): OR of the input's ``tb_windows`` window tags in the block;
- SP-MB tag of (SP-MB, TB): OR of the block tags of the SP-MB's inputs.
"""

import numpy as np

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.pe import check_parameter


__all__ = ["tagged_word_layout", "ActivityTagUnit", "pack_spike_words"]


def tagged_word_layout(word_steps):
    """One spike word with its tags, as :class:`ActivityTagUnit` emits it."""
    return data.StructLayout({
        "spikes": word_steps,                 # the word, unchanged
        "windows": range(word_steps + 1),     # windows it holds (1 .. word_steps // tws)
        "window_tags": word_steps,            # bit k: tag of window k of the word
        "block_end": 1,                       # last word of this input's TB: block_tag is valid
        "block_tag": 1,
        "spmb_end": 1,                        # last word of this SP-MB's TB: spmb_tag is valid
        "spmb_tag": 1,
        "tb_end": 1,                          # last word of the whole TB (last input)
    })


class ActivityTagUnit(wiring.Component):
    """Tags a stream of packed spike words with window, time-block and SP-MB activity tags.

    The words pass through unchanged, each with its window tags; the word that closes an
    input's TB also carries the block tag, and the word that closes an SP-MB's TB carries
    the SP-MB tag (module docstring: word format and order).

    Parameters
    ----------
    word_steps : int
        Width of a spike word in time steps (bits).
    tws_max : int
        Largest time-window size the unit supports, at most ``word_steps``.
    count_width : int
        Width of the run-time counts ``tb_windows``, ``inputs`` and ``spmb_inputs``.

    Ports
    -----
    tws : In(range(tws_max + 1))
        Time-window size, 1 .. ``tws_max``.
    tb_windows : In(count_width)
        Windows per time block, at least 1.
    inputs : In(count_width)
        Inputs of the layer (word runs per TB), at least 1.
    spmb_inputs : In(count_width)
        Inputs per SP-MB (conv: ``H * W``; fc: 16); the last SP-MB of a TB may be shorter.
    spikes : In(stream.Signature(word_steps))
        Packed spike words.
    tagged : Out(stream.Signature(tagged_word_layout(word_steps)))
        The same words with their tags.

    The configuration ports must be held while words flow; the counters are back at zero
    after the last word of every TB, so they may change between TBs.

    Latency: one cycle from a word accepted on ``spikes`` to it on ``tagged``; one word per
    cycle when ``tagged`` is ready.
    """

    def __init__(self, *, word_steps=32, tws_max=16, count_width=16):
        check_parameter("word_steps", word_steps)
        check_parameter("tws_max", tws_max, maximum=word_steps)
        check_parameter("count_width", count_width)
        self._word_steps = word_steps
        self._tws_max = tws_max
        super().__init__({
            "tws": In(range(tws_max + 1)),
            "tb_windows": In(count_width),
            "inputs": In(count_width),
            "spmb_inputs": In(count_width),
            "spikes": In(stream.Signature(word_steps)),
            "tagged": Out(stream.Signature(tagged_word_layout(word_steps))),
        })

    @property
    def word_steps(self):
        return self._word_steps

    @property
    def tws_max(self):
        return self._tws_max

    def elaborate(self, platform):
        m = Module()
        word = self.spikes.payload
        width = self._word_steps

        window_count = Signal.like(self.tb_windows)   # windows of this input's TB seen so far
        input_index = Signal.like(self.inputs)        # input within the TB
        spmb_index = Signal.like(self.spmb_inputs)    # input within the SP-MB
        block_acc = Signal()
        spmb_acc = Signal()

        # Windows per word and the OR of each window slot, for the run-time tws.
        per_word = Signal(range(width + 1))
        slot_tags = Signal(width)
        with m.Switch(self.tws):
            for tws in range(1, self._tws_max + 1):
                with m.Case(tws):
                    m.d.comb += [
                        per_word.eq(width // tws),
                        slot_tags.eq(Cat(word[k * tws:(k + 1) * tws].any()
                                         for k in range(width // tws))),
                    ]

        left = Signal.like(self.tb_windows)
        windows = Signal(range(width + 1))
        window_tags = Signal(width)
        block_end = Signal()
        block_tag = Signal()
        tb_end = Signal()
        spmb_end = Signal()
        spmb_tag = Signal()
        m.d.comb += [
            left.eq(self.tb_windows - window_count),
            block_end.eq(left <= per_word),
            windows.eq(left),
            window_tags.eq(slot_tags & Cat(k < left for k in range(width))),
            block_tag.eq(block_acc | window_tags.any()),
            tb_end.eq(block_end & (input_index == self.inputs - 1)),
            spmb_end.eq(block_end & ((spmb_index == self.spmb_inputs - 1) | tb_end)),
            spmb_tag.eq(spmb_acc | block_tag),
        ]
        with m.If(~block_end):
            m.d.comb += windows.eq(per_word)

        # One output register; valid never waits on ready.
        m.d.comb += self.spikes.ready.eq(~self.tagged.valid | self.tagged.ready)
        with m.If(self.tagged.ready):
            m.d.sync += self.tagged.valid.eq(0)
        with m.If(self.spikes.valid & self.spikes.ready):
            out = self.tagged.payload
            m.d.sync += [
                self.tagged.valid.eq(1),
                out.spikes.eq(word),
                out.windows.eq(windows),
                out.window_tags.eq(window_tags),
                out.block_end.eq(block_end),
                out.block_tag.eq(block_tag),
                out.spmb_end.eq(spmb_end),
                out.spmb_tag.eq(spmb_tag),
                out.tb_end.eq(tb_end),
            ]
            with m.If(block_end):
                m.d.sync += [
                    window_count.eq(0),
                    block_acc.eq(0),
                    input_index.eq(Mux(tb_end, 0, input_index + 1)),
                    spmb_index.eq(Mux(spmb_end, 0, spmb_index + 1)),
                    spmb_acc.eq(~spmb_end & spmb_tag),
                ]
            with m.Else():
                m.d.sync += [
                    window_count.eq(window_count + per_word),
                    block_acc.eq(block_tag),
                ]
        return m


def pack_spike_words(spikes, tws, tb_windows, word_steps=32):
    """Spikes ``[T, N]`` (0/1) in the storage order of :class:`ActivityTagUnit`.

    Returns ``(words, windows)``: the integer words in stream order and the number of
    windows each holds. ``T / tws`` must be a multiple of ``tb_windows``.
    """
    steps, inputs = spikes.shape
    if tws < 1 or tws > word_steps or steps % tws:
        raise ValueError(f"tws {tws} must divide T={steps} and be in 1..{word_steps}")
    total = steps // tws
    if tb_windows < 1 or total % tb_windows:
        raise ValueError(f"tb_windows {tb_windows} must divide the {total} windows")
    per_word = word_steps // tws
    weights = 1 << np.arange(word_steps, dtype=object)
    words, counts = [], []
    for block in range(total // tb_windows):
        first = block * tb_windows
        for i in range(inputs):
            for w in range(first, first + tb_windows, per_word):
                n = min(per_word, first + tb_windows - w)
                bits = np.asarray(spikes[w * tws:(w + n) * tws, i], dtype=object)
                words.append(int((bits * weights[:len(bits)]).sum()))
                counts.append(n)
    return words, counts
