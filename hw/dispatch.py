"""Agile NTWU dispatch (paper §III-C; docs/dataflow.md, "Mapping").

:class:`NtwuDispatcher` turns the location activity tags of a layer's input into the list
``L`` of active ``(pos, w)`` pairs, then cuts ``L`` into the column chunks of the array
passes, one chunk per request.

- **Active list.** The tag of location ``(y, x)`` of the input (``loc`` memory, kept by the
  controller while spikes are loaded) is a word of ``windows`` bits: bit ``w`` is the OR over
  every input channel of the window tags of ``(c, y, x)``. The activity of ``NTWU(pos, w)`` is
  the OR of the location tags under the kernel footprint of output position ``pos``; it does
  not depend on the output channel. The dispatcher visits the positions in row-major order,
  reads the ``E * E`` location tags of each (zero outside the input: padding), and appends one
  entry per set bit, so ``L`` is sorted by position, then window.
- **Mode.** High spatial density mode when ``len(L) <= cols * P`` (the mean active windows per
  position do not exceed the columns) and the dataflow is SpikeX: chunks are consecutive runs
  of ``cols`` entries and may mix positions. Otherwise (high temporal density, and always for
  the PTB baseline) a chunk never mixes positions.
- **Chunks.** For each column of a chunk: ``chain`` (it continues the position of the column on
  its left), ``skip_windows`` (windows the neuron skipped since its previous active window)
  and, for column 0, ``from_store`` (the neuron's previous active window was the last column
  of the previous chunk, so its membrane is in the store). Within a chunk, entries of one
  position are consecutive, so only column 0 can continue a neuron from an earlier pass: the
  membrane store is the last column of the previous pass. ``rewind`` restarts the walk for the
  next row group.

Cycle costs (from the ``build`` pulse or a ``request`` pulse):

- list: ``sum over positions of (E*E + SCAN_DRAIN + max(1, active windows of the
  position))`` cycles (:data:`SCAN_DRAIN`: the last tag's read and its register),
  then ``built`` rises;
- chunk: ``len + 1`` cycles from ``request`` to ``chunk_done``, plus 1 when the chunk ends
  because the next entry does not fit it (another position in temporal mode), not because it
  is full or the list is exhausted; ``1`` cycle when the list is exhausted (``chunk.end``).
"""

from amaranth.hdl import Assert, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData, ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.pe import check_parameter


__all__ = ["SCAN_DRAIN", "dispatch_config_layout", "entry_layout", "list_layout", "chunk_layout",
           "NtwuDispatcher"]



#: Cycles of a position between its last tag read and its first EMIT (WAIT, TAKE): the read,
#: and the register the tag is taken into as it leaves the memory. ``sim/schedule.py``
#: builds the dispatch's cycles on it.
SCAN_DRAIN = 2

def dispatch_config_layout(dim_bits):
    """Layer geometry the dispatcher needs, held while it works."""
    return data.StructLayout({
        "in_h": dim_bits, "in_w": dim_bits,             # input locations (fc: 1 x 1)
        "out_h": dim_bits, "out_w": dim_bits,           # output positions (fc: 1 x 1)
        "kernel": dim_bits, "stride": dim_bits, "padding": dim_bits,
        "temporal": 1,                                  # PTB: always temporal packing
    })


def entry_layout(max_positions, dim_bits, max_windows):
    """One entry of the active list ``L``."""
    return data.StructLayout({
        "pos": range(max_positions), "oy": dim_bits, "ox": dim_bits, "w": range(max_windows),
    })


def list_layout(max_positions, dim_bits, max_windows):
    """One word of the list memory: an entry, ``same`` (the entry before it in ``L`` has
    its position) and ``skip`` (then ``w`` minus that entry's ``w``, minus 1; else 0),
    worked out as the list is written, so that no compare waits on the memory's output."""
    return data.StructLayout({
        "entry": entry_layout(max_positions, dim_bits, max_windows), "same": 1,
        "skip": range(max_windows),
    })


def chunk_layout(cols, max_positions, dim_bits, max_windows):
    """One column chunk: the entries of a pass and how each column starts."""
    entry = entry_layout(max_positions, dim_bits, max_windows)
    return data.StructLayout({
        "len": range(cols + 1),
        "end": 1,                                       # the list is exhausted (len 0)
        "from_store": 1,                                # column 0 continues the previous pass
        "chain": data.ArrayLayout(1, cols),
        "skip_windows": data.ArrayLayout(range(max_windows), cols),
        "entries": data.ArrayLayout(entry, cols),     # past ``len``: unspecified
    })


def at_most_one(value):
    """Whether ``value`` has at most one bit set (``value & (value - 1) == 0``), as a tree
    of (any bit set, several set) pairs: a few LUT levels, not a carry chain and a wide
    AND."""
    groups = [(value[i], Const(0, 1)) for i in range(len(value))]
    while len(groups) > 1:
        pairs = [groups[i:i + 2] for i in range(0, len(groups), 2)]
        groups = [(p[0][0] | p[1][0], p[0][1] | p[1][1] | (p[0][0] & p[1][0]))
                  if len(p) == 2 else p[0] for p in pairs]
    return ~groups[0][1]


def lowest_set(value):
    """Index of the lowest set bit of ``value`` (unspecified when none is set), as a tree:
    each node takes its lower half's index where that half has a bit set, else its upper
    half's: a few LUT levels, not a chain of ``len(value)`` multiplexers."""
    nodes = [(value[i], Const(0, 0)) for i in range(len(value))]
    while len(nodes) > 1:
        pairs = [nodes[i:i + 2] for i in range(0, len(nodes), 2)]
        nodes = [(p[0][0] | p[1][0],
                  Mux(p[0][0], Cat(p[0][1], Const(0, 1)), Cat(p[1][1], Const(1, 1))))
                 if len(p) == 2 else (p[0][0], Cat(p[0][1], Const(0, 1))) for p in pairs]
    return nodes[0][1]


class NtwuDispatcher(wiring.Component):
    """Builds the active NTWU list of a layer and cuts it into column chunks.

    Parameters
    ----------
    cols : int
        Columns of the PE array.
    max_positions, max_locations, max_windows, max_entries : int
        Most output positions, input locations (``H * W``), windows and list entries.
    dim_bits : int
        Width of a size, kernel, stride or padding.

    Ports
    -----
    config : In(dispatch_config_layout)
        The layer; held from the cycle before ``build`` until the last chunk (the scan's
        products of its fields are registered, a cycle behind it).
    build : In(1)
        Pulse: build ``L`` from the location tags.
    loc : In(ReadPort.Signature(addr_width, shape=max_windows))
        Synchronous read port of the location-tag memory.
    built : Out(1)
        ``L`` is complete (until the next ``build``); ``entries``, ``spatial`` and
        ``overflow`` are valid.
    entries : Out(range(max_entries + 1))
        ``len(L)``.
    spatial : Out(1)
        High spatial density mode.
    overflow : Out(1)
        ``L`` would have more than ``max_entries`` entries (the list is cut short).
    rewind : In(1)
        Pulse: the next chunk is the first of ``L`` again (next row group).
    request : In(1)
        Pulse: cut the next chunk.
    chunk_done : Out(1)
        Pulse: ``chunk`` holds the requested chunk.
    chunk : Out(chunk_layout)

    Latency: see the module docstring.
    """

    def __init__(self, *, cols, max_positions, max_locations, max_windows, max_entries, dim_bits):
        for name, value in (("cols", cols), ("max_positions", max_positions),
                            ("max_locations", max_locations), ("max_windows", max_windows),
                            ("max_entries", max_entries), ("dim_bits", dim_bits)):
            check_parameter(name, value)
        self.cols, self.max_windows, self.max_entries = cols, max_windows, max_entries
        self.max_positions, self.dim_bits = max_positions, dim_bits
        self.entry_layout = entry_layout(max_positions, dim_bits, max_windows)
        self.chunk_layout = chunk_layout(cols, max_positions, dim_bits, max_windows)
        self.list_data = MemoryData(shape=list_layout(max_positions, dim_bits, max_windows),
                                    depth=max_entries, init=[])
        super().__init__({
            "config": In(dispatch_config_layout(dim_bits)),
            "build": In(1),
            "loc": In(ReadPort.Signature(addr_width=max(1, ceil_log2(max_locations)),
                                          shape=max_windows)),
            "built": Out(1),
            "entries": Out(range(max_entries + 1)),
            "spatial": Out(1),
            "overflow": Out(1),
            "rewind": In(1),
            "request": In(1),
            "chunk_done": Out(1),
            "chunk": Out(self.chunk_layout),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.list = memory = Memory(data=self.list_data)
        write = memory.write_port()
        read = memory.read_port()
        self._build_list(m, cfg, write)
        self._cut_chunks(m, cfg, read)
        return m

    def _build_list(self, m, cfg, write):
        dim = self.dim_bits
        wide = signed(2 * dim + 2)
        oy, ox, ky, kx = (Signal(dim, name=n) for n in ("oy", "ox", "ky", "kx"))
        pos = Signal(range(self.max_positions + 1))
        positions = Signal(2 * dim)
        base_y, base_x = Signal(signed(dim + 2)), Signal(signed(dim + 2))
        row_start = Signal(wide)        # base_y * in_w
        row_addr = Signal(wide)         # (base_y + ky) * in_w
        row_step = Signal(wide)         # stride * in_w
        pending = Signal()              # a tag read is in flight
        acc = Signal(self.max_windows)
        count = Signal(range(self.max_entries + 1))
        written = Signal()              # an entry of this position is in the list
        written_w = Signal(range(self.max_windows))     # the last one's window

        y = Signal(signed(dim + 3))
        x = Signal(signed(dim + 3))
        inside = Signal()
        m.d.comb += [
            y.eq(base_y + ky), x.eq(base_x + kx),
            inside.eq((y >= 0) & (y < cfg.in_h) & (x >= 0) & (x < cfg.in_w)),
            self.loc.addr.eq(row_addr + x),
            self.loc.en.eq(0),
            self.entries.eq(count),
            self.spatial.eq(~cfg.temporal & (count <= positions * self.cols)),
        ]
        # The tag read, registered as it leaves the memory (block RAM, then the bank's
        # multiplexer), so that the windows are taken from a flip-flop: ``acc`` gathers the
        # position's tags two cycles behind their reads.
        tag = Signal(self.max_windows)
        m.d.sync += tag.eq(Mux(pending, self.loc.data, 0))

        # What EMIT decides, registered: whether a window is left, whether at most one is (the
        # window emitted is the position's last) and the lowest (the entry). TAKE works them
        # out from the position's windows (``acc`` and the last tag) and each EMIT from the
        # windows after the one it emits, which it leaves in ``acc`` (``tag`` is 0 in EMIT:
        # no read is pending), so that EMIT's many enables and the list's write data start at
        # flip-flops, and no path has both the carry chain that clears the lowest window and a
        # tree over ``max_windows`` bits.
        nonzero, last = Signal(), Signal()
        lowest = Signal(range(self.max_windows))

        def track():
            windows = acc | tag
            m.d.sync += [nonzero.eq(windows != 0), last.eq(at_most_one(windows)),
                         lowest.eq(lowest_set(windows)), acc.eq(windows & (windows - 1))]

        last_kernel = (ky == cfg.kernel - 1) & (kx == cfg.kernel - 1)
        last_pos = (oy == cfg.out_h - 1) & (ox == cfg.out_w - 1)

        # The scan's products of the layer's fields, registered in every cycle: no multiplier
        # lies on a path into the scan's registers. The controller holds the configuration
        # from the layer's descriptor on, long before ``build``; a simulation asserts that it
        # did not change in the cycle before.
        pad_row, stride_row = Signal(wide), Signal(wide)
        out_positions = Signal(2 * dim)
        m.d.sync += [pad_row.eq(-cfg.padding * cfg.in_w), stride_row.eq(cfg.stride * cfg.in_w),
                     out_positions.eq(cfg.out_h * cfg.out_w)]
        held = Signal.like(cfg)
        m.d.sync += held.eq(cfg)
        with m.If(self.build):
            m.d.sync += Assert(held.as_value() == cfg.as_value(),
                               "the dispatcher's configuration changed in the cycle before build")

        def start_position():
            m.d.sync += [ky.eq(0), kx.eq(0), acc.eq(0), pending.eq(0), written.eq(0)]

        with m.FSM(name="list"):
            with m.State("IDLE"):
                # The scan's start, set in every cycle here (nothing outside reads it, and
                # ``positions`` is the layer's, which holds while chunks are cut), so that
                # ``build`` only enables what the controller and the chunks read.
                m.d.sync += [
                    oy.eq(0), ox.eq(0), pos.eq(0),
                    base_y.eq(-cfg.padding), base_x.eq(-cfg.padding),
                    row_start.eq(pad_row), row_addr.eq(pad_row), row_step.eq(stride_row),
                    positions.eq(out_positions),
                ]
                start_position()
                with m.If(self.build):
                    m.d.sync += [count.eq(0), self.built.eq(0), self.overflow.eq(0)]
                    m.next = "SCAN"
            with m.State("SCAN"):
                # Only the tags inside the input are read: their memory's port also takes
                # the input loader's writes to the other bank (hw/banked_memory.py).
                m.d.comb += self.loc.en.eq(inside)
                m.d.sync += [acc.eq(acc | tag), pending.eq(inside)]
                with m.If(kx == cfg.kernel - 1):
                    m.d.sync += [kx.eq(0), ky.eq(ky + 1), row_addr.eq(row_addr + cfg.in_w)]
                with m.Else():
                    m.d.sync += kx.eq(kx + 1)
                with m.If(last_kernel):
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.sync += [acc.eq(acc | tag), pending.eq(0)]
                m.next = "TAKE"
            with m.State("TAKE"):
                track()
                m.next = "EMIT"
            with m.State("EMIT"):
                with m.If(nonzero):
                    with m.If(count == self.max_entries):
                        m.d.sync += self.overflow.eq(1)
                    with m.Else():
                        m.d.comb += [
                            write.addr.eq(count),
                            write.en.eq(1),
                            write.data.entry.pos.eq(pos), write.data.entry.oy.eq(oy),
                            write.data.entry.ox.eq(ox), write.data.entry.w.eq(lowest),
                            write.data.same.eq(written),
                            write.data.skip.eq(Mux(written, lowest - written_w - 1, 0)),
                        ]
                        m.d.sync += [count.eq(count + 1), written.eq(1), written_w.eq(lowest)]
                track()
                with m.If(last):                    # the window emitted is the last
                    start_position()
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(ox == cfg.out_w - 1):
                        m.d.sync += [ox.eq(0), oy.eq(oy + 1), base_x.eq(-cfg.padding),
                                     base_y.eq(base_y + cfg.stride),
                                     row_start.eq(row_start + row_step),
                                     row_addr.eq(row_start + row_step)]
                    with m.Else():
                        m.d.sync += [ox.eq(ox + 1), base_x.eq(base_x + cfg.stride),
                                     row_addr.eq(row_start)]
                    with m.If(last_pos):
                        m.d.sync += self.built.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SCAN"

    def _cut_chunks(self, m, cfg, read):
        cols = self.cols
        idx = Signal(range(self.max_entries + 1))
        idx_up = Signal(range(self.max_entries + 2), init=1)    # ``idx + 1``
        column = Signal(range(cols + 1))
        chunk = self.chunk
        entry = read.data.entry
        # The list is read a cycle ahead: in READ the next entry, which the column after
        # takes if this one fits (else the chunk ends, and IDLE reads this one again).
        m.d.comb += read.en.eq(1)
        m.d.sync += self.chunk_done.eq(0)

        # The entry before this one in ``L`` is the one the column before took (or, for
        # column 0, the previous chunk's last); the first entry has no ``same``.
        same = read.data.same
        fits = (column < cols) & (self.spatial | (column == 0) | same)
        with m.FSM(name="chunks"):
            with m.State("IDLE"):
                m.d.comb += read.addr.eq(idx)
                with m.If(self.request):
                    m.d.sync += [column.eq(0), chunk.len.eq(0), chunk.from_store.eq(0),
                                 chunk.chain.eq(0), chunk.skip_windows.eq(0)]
                    with m.If(idx == self.entries):
                        m.d.sync += [chunk.end.eq(1), self.chunk_done.eq(1)]
                    with m.Else():
                        m.d.sync += chunk.end.eq(0)
                        m.next = "READ"
            with m.State("READ"):
                m.d.comb += read.addr.eq(idx_up)
                # The column's fields are written whether the entry fits or not (a column
                # at ``len`` or past it is not read; its start fields are 0 as at the
                # request), so that their clock enables wait on the column alone, not on
                # ``same``, which comes from the memory's output.
                with m.Switch(column):
                    for c in range(cols):
                        with m.Case(c):
                            m.d.sync += [
                                chunk.entries[c].eq(entry),
                                chunk.skip_windows[c].eq(Mux(fits, read.data.skip, 0)),
                            ]
                            if c == 0:
                                m.d.sync += chunk.from_store.eq(fits & same)
                            else:
                                m.d.sync += chunk.chain[c].eq(fits & same)
                with m.If(fits):
                    m.d.sync += [column.eq(column + 1), chunk.len.eq(column + 1),
                                 idx.eq(idx_up), idx_up.eq(idx_up + 1)]
                    with m.If((column == cols - 1) | (idx_up == self.entries)):
                        m.d.sync += self.chunk_done.eq(1)
                        m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.chunk_done.eq(1)
                    m.next = "IDLE"
        with m.If(self.rewind | self.build):
            m.d.sync += [idx.eq(0), idx_up.eq(1)]
