"""The SpikeX systolic PE array (paper §III-A, Fig. 1(a) and (b); docs/dataflow.md).

``rows x cols`` processing elements run one *pass*: PE ``(r, c)`` does the NTWU of row
``r``'s neuron over column ``c``'s window. Each beat of the pass is one fan-in input: its
weights (one per row) enter at the left edge and move right along the row, shared by every
PE of the row; its spike words (one per column, ``tws`` bits) enter at the top and move down
the column, shared by every PE of the column. The edges are skewed (row ``r`` delayed ``r``
cycles, column ``c`` delayed ``c`` cycles) so the two meet in PE ``(r, c)`` ``r + c`` cycles
after the beat enters.

A pass, as seen at the four stream ports::

    passes   one descriptor: layer config, per-column chain and skip, per-PE membrane
    weights  + spike_words   the beats, joined (one handshake takes one beat of each);
             at most one beat every b cycles; the pass's last beat has spike_words.last
    results  one result: per-PE spike bits and membrane after the window

Timing, with cycle 0 the descriptor handshake and no stall on any stream, and ``b`` the
cycles a PE integrates a beat in (``hw.config.beat_cycles``: ``tws`` for the serial PE, 1
for the parallel one, and for the sparse one the beat's own ``b_j``, the most set bits of any
column's word, at least one, which the beat carries in ``spike_words.pace``):

- beat ``j`` is taken in cycle ``1 + j * b`` (sparse: ``1 + b_0 + ... + b_(j-1)``);
- after the last beat, the array drains the skew and the last PE's integration, then every
  PE may fire at once; a chain of PEs (a neuron continued from column to column) fires one
  PE after the other;
- ``results.valid`` rises in cycle ``beats * b + fire + rows + cols`` (sparse: the sum of
  the ``b_j`` for ``beats * b``), where ``fire`` is
  the longest chain of any row, ``sum over its PEs of FIRE_STEP_CYCLES * (decay cycles +
  tws)`` (``hw.config.FIRE_STEP_CYCLES``, 2: a PE's firing step takes two cycles);
- the next descriptor is taken in the cycle after the result handshake.

So a pass costs ``fill + beats * b + fire + drain`` cycles with ``fill = rows + cols``
and ``drain = 1`` (:meth:`PEArray.pass_cycles`), the formula of docs/dataflow.md.
"""

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import DEFAULTS, beat_cycles, check_pe
from .pe import ProcessingElement, check_parameter, config_layout


__all__ = ["check_array_parameters", "PEArray"]


def check_array_parameters(*, rows, cols, tws_max, weight_bits, acc_bits, v_bits, skip_bits):
    """Raise :exc:`TypeError` or :exc:`ValueError` naming the first bad parameter of :class:`PEArray`."""
    check_parameter("rows", rows)
    check_parameter("cols", cols)
    check_parameter("tws_max", tws_max)
    check_parameter("weight_bits", weight_bits, minimum=2)
    check_parameter("acc_bits", acc_bits, minimum=weight_bits)
    check_parameter("v_bits", v_bits, minimum=2)
    check_parameter("skip_bits", skip_bits)


class PEArray(wiring.Component):
    """A ``rows x cols`` systolic array of :class:`~hw.pe.ProcessingElement`.

    Parameters
    ----------
    rows, cols : int
        Array size: rows hold output channels (fc: neurons), columns hold windows.
    tws_max : int
        Largest time-window size the PEs support; ``tws`` is set per pass.
    weight_bits, acc_bits, v_bits : int
        Widths of a weight, of a partial sum and of the membrane (SPEC §1).
    skip_bits : int
        Width of a column's skipped-step count (default 16).
    pe : str
        The PEs, one of ``hw.config.PE_KINDS`` (default ``hw.config.DEFAULTS.pe``):
        ``serial`` integrates a beat in ``tws`` cycles, ``parallel`` in one, ``sparse`` in
        as many as its word has set bits (each beat carries its pace).

    Ports
    -----
    passes : In(stream.Signature(pass_layout))
        One descriptor per pass, taken only when the array is idle.
        ``config``: ``tws``, ``threshold``, ``leak_shift``.
        ``chain[c]`` (``c >= 1``): column ``c`` continues the neuron of column ``c - 1``, so
        each PE of the column starts from its left neighbour's final membrane
        (``chain[0]`` is ignored). ``skip[c]``: time steps the neuron skipped since the
        window it last ran (in column ``c - 1`` if chained, else before this pass); the PE
        decays once per skipped step, stopping early at a fixed point of ``decay``.
        ``membrane[r][c]``: the starting membrane of an unchained PE.
        Columns share ``chain`` and ``skip`` because a column holds one (position, window)
        for every row, and activity tags do not depend on the output channel.
    weights : In(stream.Signature(ArrayLayout(signed(weight_bits), rows)))
        A beat's weight for each row.
    spike_words : In(stream.Signature(spike_layout))
        ``words[c]``: the beat's ``tws``-bit spike word for column ``c`` (bit ``t`` = time
        point ``t``); ``last`` marks the pass's last beat. A pass has at least one beat.
        With the sparse PE, ``pace``: the most set bits of any of the beat's words, at
        least 1 (``hw.config.beat_cycles``).
        ``weights`` and ``spike_words`` are joined: each is taken only together with the
        other (its ``ready`` waits on the other's ``valid``; neither ``valid`` waits on
        ``ready``), at most one beat every ``b`` cycles (``b = beat_cycles(tws,
        pe, pace)``).
    results : Out(stream.Signature(result_layout))
        ``spikes[r][c]``: the window's spike bits of PE ``(r, c)`` (bits ``tws`` and up are
        zero); ``membrane[r][c]``: its membrane after the window.

    Latency: ``results.valid`` rises ``beats * b + fire + rows + cols`` cycles after the
    descriptor handshake when the beats are not stalled, ``rows + cols - 1 + b + fire``
    cycles after the last beat's handshake in any case.
    """

    def __init__(self, *, rows=8, cols=8, tws_max=8, weight_bits=8, acc_bits=24, v_bits=16,
                 skip_bits=16, pe=DEFAULTS.pe):
        check_array_parameters(rows=rows, cols=cols, tws_max=tws_max, weight_bits=weight_bits,
                               acc_bits=acc_bits, v_bits=v_bits, skip_bits=skip_bits)
        self.rows, self.cols, self.tws_max = rows, cols, tws_max
        self.weight_bits, self.acc_bits, self.v_bits = weight_bits, acc_bits, v_bits
        self.skip_bits = skip_bits
        check_pe(pe)
        self.pe = pe

        self.config_layout = config_layout(tws_max, v_bits)
        membranes = data.ArrayLayout(data.ArrayLayout(signed(v_bits), cols), rows)
        self.pass_layout = data.StructLayout({
            "config": self.config_layout,
            "chain": data.ArrayLayout(1, cols),
            "skip": data.ArrayLayout(unsigned(skip_bits), cols),
            "membrane": membranes,
        })
        self.weight_layout = data.ArrayLayout(signed(weight_bits), rows)
        spike_fields = {"words": data.ArrayLayout(unsigned(tws_max), cols), "last": 1}
        if pe == "sparse":
            spike_fields["pace"] = range(1, tws_max + 1)
        self.spike_layout = data.StructLayout(spike_fields)
        self.result_layout = data.StructLayout({
            "spikes": data.ArrayLayout(data.ArrayLayout(unsigned(tws_max), cols), rows),
            "membrane": membranes,
        })
        super().__init__({
            "passes": In(stream.Signature(self.pass_layout)),
            "weights": In(stream.Signature(self.weight_layout)),
            "spike_words": In(stream.Signature(self.spike_layout)),
            "results": Out(stream.Signature(self.result_layout)),
        })

    @property
    def fill(self):
        """Cycles of a pass before its first beat's integration and after its firing, less ``drain``."""
        return self.rows + self.cols

    @property
    def drain(self):
        """Cycles of the result handshake."""
        return 1

    def pass_cycles(self, beats, tws, fire, paces=None):
        """Cycles from a descriptor handshake to the next one, with no stall on any stream;
        ``fire``: the longest chain of any row, ``sum over its PEs of FIRE_STEP_CYCLES *
        (decay cycles + tws)``; ``paces``: with the sparse PE, each beat's ``pace``."""
        if self.pe == "sparse":
            assert paces is not None and len(paces) == beats
            streamed = int(sum(paces))
        else:
            streamed = beats * beat_cycles(tws, self.pe)
        return self.fill + streamed + fire + self.drain

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        pes = [[ProcessingElement(tws_max=self.tws_max, weight_bits=self.weight_bits,
                                  acc_bits=self.acc_bits, v_bits=self.v_bits,
                                  skip_bits=self.skip_bits, parallel=self.pe == "parallel",
                                  sparse=self.pe == "sparse")
                for _ in range(cols)] for _ in range(rows)]
        for r in range(rows):
            for c in range(cols):
                m.submodules[f"pe_{r}_{c}"] = pes[r][c]

        config = Signal(self.config_layout)
        chain = Signal(cols)
        beat = (self.spike_words.payload.pace if self.pe == "sparse"
                else beat_cycles(config.tws, self.pe))
        take_pass = self.passes.valid & self.passes.ready
        with m.If(take_pass):
            m.d.sync += [config.eq(self.passes.payload.config),
                         chain.eq(self.passes.payload.chain.as_value())]

        # Beats: the two edge streams are joined, and paced to one beat per tws cycles.
        beat_open = Signal()
        pace = Signal(range(self.tws_max))
        beat_ready = beat_open & (pace == 0)
        m.d.comb += [
            self.weights.ready.eq(beat_ready & self.spike_words.valid),
            self.spike_words.ready.eq(beat_ready & self.weights.valid),
        ]
        take_beat = beat_ready & self.weights.valid & self.spike_words.valid
        with m.If(take_beat):
            m.d.sync += pace.eq(beat - 1)
        with m.Elif(pace != 0):
            m.d.sync += pace.eq(pace - 1)

        # Edge skew: row r's weight is delayed r cycles, column c's word c cycles.
        for r in range(rows):
            valid, weight = take_beat, self.weights.payload[r]
            for k in range(r):
                valid_q = Signal(name=f"skew_row{r}_valid{k}")
                weight_q = Signal(signed(self.weight_bits), name=f"skew_row{r}_weight{k}")
                m.d.sync += [valid_q.eq(valid), weight_q.eq(weight)]
                valid, weight = valid_q, weight_q
            m.d.comb += [pes[r][0].west.valid.eq(valid), pes[r][0].west.weight.eq(weight)]
        for c in range(cols):
            word = self.spike_words.payload.words[c]
            for k in range(c):
                word_q = Signal(self.tws_max, name=f"skew_col{c}_word{k}")
                m.d.sync += word_q.eq(word)
                word = word_q
            m.d.comb += pes[0][c].north.word.eq(word)

        fire = Signal()
        all_done = Signal()
        m.d.comb += all_done.eq(Cat(pe.link.done for row in pes for pe in row).all())
        for r in range(rows):
            for c in range(cols):
                pe = pes[r][c]
                if c + 1 < cols:
                    wiring.connect(m, pe.east, pes[r][c + 1].west)
                    wiring.connect(m, pe.link, pes[r][c + 1].prev)
                if r + 1 < rows:
                    wiring.connect(m, pe.south, pes[r + 1][c].north)
                m.d.comb += [
                    pe.params.eq(config),
                    pe.load.eq(take_pass),
                    pe.membrane_in.eq(self.passes.payload.membrane[r][c]),
                    pe.skip.eq(self.passes.payload.skip[c]),
                    pe.chain.eq(chain[c] if c > 0 else 0),
                    pe.fire.eq(fire),
                    self.results.payload.spikes[r][c].eq(pe.spikes),
                    self.results.payload.membrane[r][c].eq(pe.link.membrane),
                ]

        # After the last beat: rows + cols - 2 cycles of skew and b of integration in
        # the last PE, then every PE may fire.
        flush = Signal(range(rows + cols + self.tws_max))
        # The handshake outputs are plain expressions of the state (continuous assignments in
        # Verilog): Icarus does not evaluate an always @* block at time 0 until an input changes.
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.passes.valid):
                    m.d.sync += beat_open.eq(1)
                    m.next = "INTEGRATE"
            with m.State("INTEGRATE"):
                with m.If(take_beat & self.spike_words.payload.last):
                    m.d.sync += [beat_open.eq(0), flush.eq(rows + cols - 3 + beat)]
                    m.next = "FLUSH"
            with m.State("FLUSH"):
                m.d.sync += flush.eq(flush - 1)
                with m.If(flush == 0):
                    m.next = "FIRE"
            with m.State("FIRE"):
                with m.If(self.results.valid & self.results.ready):
                    m.next = "IDLE"
        m.d.comb += [
            self.passes.ready.eq(fsm.ongoing("IDLE")),
            fire.eq(fsm.ongoing("FIRE")),
            self.results.valid.eq(fire & all_done),
        ]
        return m
