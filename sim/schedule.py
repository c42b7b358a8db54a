"""The SpikeX / PTB schedule of ``docs/dataflow.md``, written once for the analytic
simulator and for the RTL's driver and controller.

:func:`layer_schedule` cuts one layer of one sample into array passes and memory blocks
(vectorised numpy; no loop over NTWUs). The result, a :class:`LayerSchedule`, holds the
work as flat arrays; :meth:`LayerSchedule.passes` and :meth:`LayerSchedule.blocks` walk
it in execution order as plain Python records, the form a controller or a testbench
follows one pass at a time.

Execution order (docs/dataflow.md, "Mapping" and "Memory levels")::

    for each time block tb                      (TB: windows whose input fits half the GLB spike share)
        for each row group g                    (R consecutive output channels / fc neurons)
            memory block (tb, g): DRAM -> GLB transfers, overlapped with its passes
            for each column chunk k of tb       (up to C entries of the active list L of tb)
                pass (g, k): fill + beats * b + fire + drain cycles

``L`` is the list of active ``(pos, w)`` pairs (an NTWU's activity does not depend on the
output channel), sorted by time block, then position, then window. Chunks never span a
time block; in temporal packing (SpikeX high temporal density mode, and always for PTB)
they never mix positions either.

Timing of one pass, in cycles::

    fill  = rows + cols            descriptor cycle, edge skew rows + cols - 2, PE input latch
    drain = 1                      the result handshake (hw/array.py, PEArray.pass_cycles)
    beats * b                      integrate: one beat per streamed fan-in input, b cycles each
                                   (b = hw.config.beat_cycles: tws one point a cycle, 1 for
                                   the parallel PE, Hardware.pe; for the sparse PE, the
                                   default, each beat's own b, the most set bits
                                   of any column's word, at least 1: the sum of those)
    fire  = max over rows and chains of  sum over the chain's PEs of
            FIRE_STEP_CYCLES * (decay cycles + tws)
                                   (hw.config.FIRE_STEP_CYCLES = 2: a PE's firing step, a
                                   decay step or a time point, latches its operands in one
                                   cycle and adds, compares and resets in the next)

A *chain* is a run of columns of one chunk that hold consecutive active windows of the
same position: a PE takes its starting membrane from its left neighbour when that
neighbour holds the previous active window of the same neuron. *Decay cycles* of an
entry are the number of skipped time steps (steps of the inactive windows since the
neuron's previous active window) whose ``decay`` changes the membrane: the PE stops as
soon as ``decay(u) == u`` (tested while the step latches its operands, so the stopping
test costs no extra cycle). They depend on the output channel, so they are read off the golden membrane trace.
"""

from dataclasses import dataclass

import numpy as np

from hw.config import CLOCK_MHZ, DATA_WIDTHS, DEFAULTS, FIRE_STEP_CYCLES, beat_cycles, check_pe
from hw.dispatch import SCAN_DRAIN
from hw.gather import DRAIN
from hw.layout import DESCRIPTOR_WORDS, SPMB_FC_FEATURES
from hw.limits import GLB_SHARES, PAGE_BYTES, accelerator_limits, lbuf_entry_bits
from spikex.netfile import SpikexError
from sim.ntwu import ntwu_tags


__all__ = ["Hardware", "LayerSchedule", "Pass", "Block", "layer_schedule", "fill_cycles",
           "drain_cycles", "LBUF_WEIGHT_SHARE"]


#: Share of the (double-buffered) LBUF that holds weights; the rest holds spike words.
LBUF_WEIGHT_SHARE = 0.5


@dataclass(frozen=True)
class Hardware:
    """Hardware parameters of the accelerator (paper §V-A).

    ``clock_mhz`` 500 is our choice (the paper gives none): with ``dram_gbps`` 30 the DRAM
    port then moves 60 bytes per cycle. ``glb_width_bits`` and ``lbuf_width_bits`` are the
    word widths in which the GLB and LBUF counters count accesses.

    ``memory`` picks the memory system the counters describe: ``"blocks"`` (default) the
    paper's (time blocks, resident weights, ``glb_width_bits`` words, a DRAM bandwidth;
    :func:`_memory`), ``"rtl"`` the one hw/top.py implements (docs/accelerator.md: 32-bit
    AXI, one DRAM request per active SP-MB run, weight, output and (time blocks) input
    ping-pong when each fits half its GLB share, LBUF ping-pong, passes streamed through the
    LBUF;
    :func:`_memory_rtl`), whose counters equal the RTL's. ``dram_latency`` (rtl
    only) is the DRAM's latency in cycles: AR to the first R beat, AW to ``wready`` and the
    last W beat to its B response (1 for the amaranth.sim model of
    tests/test_top_amaranth.py and for tb/axi_ram.v). ``dram_one_burst`` (rtl only): the DRAM
    takes one read and one write burst at a time, as tb/axi_ram.v (``arready = !rvalid``, AW
    only after the previous B): each burst after a request's first (16 beats, or up to a
    4 KB page: the address from the image, :func:`layer_schedule`) costs 1 more cycle on
    reads and 2 on writes. False:
    bursts are pipelined (the amaranth.sim model). ``glb_split`` (rtl only): the RTL's GLB
    bytes for input spikes, weights and output spikes (None: half, a quarter, a quarter,
    of what the time-block state leaves in a blocked layer, as the RTL divides it,
    :func:`hw.limits.state_share_bytes`); the weight share decides whether a layer's weights
    ping-pong. ``block_steps`` (rtl only):
    the RTL's time block (None: a sample is one block; sim/rtl.py ``rtl_parameters``); when
    less than T, the schedule's TBs are blocks of ``block_steps`` steps (the last may be
    shorter) and :func:`_memory_rtl_blocked` counts the RTL's blocked layer.
    ``max_timesteps`` (rtl only): the RTL's GLB spike word in steps, which sizes its output
    banks (None: T rounded up to 32, or the time block, as sim/rtl.py elaborates it).
    ``data_width`` (rtl only): the AXI bus, 32 to 512 bits. The components move 32-bit
    words, a word a cycle, at any width; a request moves the whole beats that hold its
    words (the DRAM byte counters count them), in bursts of up to 16 of them
    (:func:`_bursts`), and the port's writer takes a beat's words before its last without
    waiting for ``wready`` (:func:`_rtl_write_group`).
    """
    rows: int = DEFAULTS.rows
    cols: int = DEFAULTS.cols
    dataflow: str = "spikex"
    glb_kb: float = DEFAULTS.glb_kb
    lbuf_kb: float = DEFAULTS.lbuf_kb
    glb_width_bits: int = 64
    lbuf_width_bits: int = 64
    dram_gbps: float = 30.0
    clock_mhz: float = CLOCK_MHZ
    acc_bits: int = DEFAULTS.acc_bits
    tws_max: int = None
    memory: str = "blocks"
    dram_latency: int = 1
    dram_one_burst: bool = False
    glb_split: tuple = None
    block_steps: int = None
    max_timesteps: int = None
    pe: str = DEFAULTS.pe
    data_width: int = DEFAULTS.data_width

    def __post_init__(self):
        for name in ("rows", "cols", "glb_width_bits", "lbuf_width_bits", "acc_bits"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise SpikexError(f"{name} must be a positive integer, not {value!r}")
        if self.tws_max is not None and (not isinstance(self.tws_max, (int, np.integer))
                                         or self.tws_max < 1):
            raise SpikexError(f"tws_max must be a positive integer, not {self.tws_max!r}")
        for name in ("glb_kb", "lbuf_kb", "dram_gbps", "clock_mhz"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise SpikexError(f"{name} must be a positive number, not {value!r}")
        if self.dataflow not in ("spikex", "ptb"):
            raise SpikexError(f"dataflow must be 'spikex' or 'ptb', not {self.dataflow!r}")
        for name in ("dram_one_burst",):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SpikexError(f"{name} must be True or False, not {getattr(self, name)!r}")
        try:
            check_pe(self.pe)
        except ValueError as error:
            raise SpikexError(str(error)) from None
        if self.memory not in ("blocks", "rtl"):
            raise SpikexError(f"memory must be 'blocks' or 'rtl', not {self.memory!r}")
        if not isinstance(self.dram_latency, (int, np.integer)) or isinstance(self.dram_latency, bool) \
                or self.dram_latency < 1:
            raise SpikexError(f"dram_latency must be a positive integer, not {self.dram_latency!r}")
        if self.data_width not in DATA_WIDTHS:
            raise SpikexError(f"data_width must be one of {', '.join(map(str, DATA_WIDTHS))}, "
                              f"not {self.data_width!r}")
        for name in ("block_steps", "max_timesteps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer))
                                      or isinstance(value, bool) or value < 1):
                raise SpikexError(f"{name} must be None or a positive integer, not {value!r}")

    @property
    def dram_bytes_per_cycle(self):
        return self.dram_gbps * 1e9 / (self.clock_mhz * 1e6)


def fill_cycles(hw):
    """Cycles of a pass besides its beats, its firing and its drain (``PEArray.fill``)."""
    return hw.rows + hw.cols


def drain_cycles(hw):
    """Cycles of a pass's result handshake (``PEArray.drain``)."""
    return 1


@dataclass
class Pass:
    """One array pass, as the controller issues it.

    ``entries`` are the ``(pos, w)`` of the columns (column c holds ``entries[c]``); PE
    ``(r, c)`` does ``NTWU((channels[r], pos_c), w_c)``. ``beats`` are the fan-in indices
    streamed, in order (conv: ``c * E * E + ky * E + kx``; fc: the feature). For column c,
    ``from_left[c]`` says the PE takes its starting membrane from its left neighbour;
    otherwise ``from_store[c]`` says it reads the membrane store (else it starts at 0);
    ``to_store[c]`` says it writes the membrane back. ``decay[r, c]`` are the decay cycles.
    """
    tb: int
    row_group: int
    channels: range
    entries: list
    beats: np.ndarray
    from_left: np.ndarray
    from_store: np.ndarray
    to_store: np.ndarray
    decay: np.ndarray
    fire_cycles: int
    compute_cycles: int


@dataclass
class Block:
    """The memory work of block ``(tb, row_group)``: DRAM bytes moved in and out."""
    tb: int
    row_group: int
    windows: range
    dram_read_bytes: dict
    dram_write_bytes: dict
    compute_cycles: int
    cycles: int


def _patches(layer, per_window):
    """Receptive-field view of a per-window input array ``[W, *in_shape]``: ``[W, R, R', F]``-like gatherable."""
    if layer.kind == "fc":
        return per_window.reshape(per_window.shape[0], 1, 1, -1)
    p, s, e = layer.padding, layer.stride, layer.kernel
    rows, cols = layer.out_size
    x = np.pad(per_window, ((0, 0), (0, 0), (p, p), (p, p)))
    view = np.lib.stride_tricks.sliding_window_view(x, (e, e), axis=(2, 3))
    return view[:, :, : rows * s : s, : cols * s : s]      # [W, C, R, R', E, E]


def _gather_fields(layer, per_window, w, pos):
    """The receptive field of each entry ``(pos, w)`` as rows ``[E, F]``."""
    if layer.kind == "fc":
        return per_window.reshape(per_window.shape[0], layer.fan_in)[w]
    view = _patches(layer, per_window)
    rows, cols = layer.out_size
    fields = view[w, :, pos // cols, pos % cols]           # [E, C, E, E]
    return fields.reshape(len(w), layer.fan_in)


def _spmb_groups(layer_in_shape, kind):
    """Index of the SP-MB of each input (conv: its channel; fc: its group of 16)."""
    n = int(np.prod(layer_in_shape))
    if kind == "conv":
        return np.repeat(np.arange(layer_in_shape[0]), n // layer_in_shape[0])
    return np.arange(n) // SPMB_FC_FEATURES


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


class LayerSchedule:
    """The schedule of one layer for one sample; build it with :func:`layer_schedule`.

    Flat arrays (E entries of L, K chunks, G row groups, NB = n_tb * G blocks):

    ``pos, w, tb`` [E]; ``chunk_start, chunk_len, chunk_tb, beats`` [K];
    ``fire`` [G, K]; ``decay`` [E, M]; ``chain_head, chain_tail, has_prev`` [E];
    ``tb_spatial`` [n_tb] (high spatial density packing of each TB's chunks; the layer's
    ``spatial`` for every TB except in the RTL's time blocks, where the dispatcher decides
    per block and ``spatial`` says all blocks are);
    ``compute`` [G, K] (pass cycles before memory overlap); the memory traffic per pass
    and per block as computed by :func:`layer_schedule`.
    """

    def passes(self):
        """Yield every :class:`Pass` in execution order (tb, then row group, then chunk)."""
        rows = self.hw.rows
        for tb in range(self.n_tb):
            for g in range(self.groups):
                channels = range(g * rows, min((g + 1) * rows, self.out_channels))
                for k in np.flatnonzero(self.chunk_tb == tb):
                    e = slice(self.chunk_start[k], self.chunk_start[k] + self.chunk_len[k])
                    yield Pass(tb=tb, row_group=g, channels=channels,
                               entries=list(zip(self.pos[e].tolist(), self.w[e].tolist())),
                               beats=self.beat_inputs(k),
                               from_left=~self.chain_head[e],
                               from_store=self.chain_head[e] & self.has_prev[e],
                               to_store=self.chain_tail[e].copy(),
                               decay=self.decay[e][:, channels.start:channels.stop].T.copy(),
                               fire_cycles=int(self.fire[g, k]),
                               compute_cycles=int(self.compute[g, k]))

    def beat_inputs(self, k):
        """Fan-in indices streamed in chunk ``k``'s passes, ascending."""
        if self.beat_masks is None:
            return np.arange(self.fan_in)
        return np.flatnonzero(np.unpackbits(self.beat_masks[k])[: self.fan_in])

    def blocks(self):
        """Yield every :class:`Block` in execution order."""
        for b in range(self.n_tb * self.groups):
            tb, g = divmod(b, self.groups)
            yield Block(tb=tb, row_group=g,
                        windows=range(tb * self.tb_windows, min((tb + 1) * self.tb_windows, self.windows)),
                        dram_read_bytes={key: int(v[b]) for key, v in self.block_dram_read.items()},
                        dram_write_bytes={key: int(v[b]) for key, v in self.block_dram_write.items()},
                        compute_cycles=int(self.block_compute[b]), cycles=int(self.block_cycles[b]))


def _segment_starts(new):
    return np.flatnonzero(new)


def layer_schedule(layer, in_spikes, membrane, out_spikes, hw, weight_bits=8, v_bits=16,
                   out_group=SPMB_FC_FEATURES, regions=None, sample=0):
    """Schedule one layer for one sample.

    ``in_spikes`` ``[T, *layer.in_shape]``; ``membrane`` and ``out_spikes`` ``[T, *layer.out_shape]``
    are the golden membrane after each step and the golden output spikes of the same sample
    (``sim.golden.lif``). ``hw`` is a :class:`Hardware`. ``out_group`` is the number of
    outputs per output SP-MB tag (the next layer's SP-MB size: conv ``H*W``, fc 16; 16 after
    the last layer); only ``hw.memory == "rtl"`` uses it, and ``regions`` (the layer's
    :class:`sim.image.LayerRegions` in the DRAM image at address 0) and ``sample`` (this
    sample's index in the image): where each DRAM request starts, so that a request the
    AXI port cuts at a 4 KB page costs its extra burst (None: every request starts a page).
    The idle rows of a last, partial row group cost nothing (hw/top.py gives them zero
    weights).
    Returns a :class:`LayerSchedule`.
    """
    tws = layer.tws
    steps = in_spikes.shape[0]
    if steps % tws:
        raise SpikexError(f"layer tws {tws} does not divide T={steps}")
    if hw.tws_max is not None and tws > hw.tws_max:
        raise SpikexError(f"layer tws {tws} exceeds the PEs' tws_max {hw.tws_max}")
    rows, cols, ptb = hw.rows, hw.cols, hw.dataflow == "ptb"
    windows = steps // tws
    n_in = int(np.prod(layer.in_shape))
    out_channels = layer.out_shape[0]
    positions = int(np.prod(layer.out_shape[1:]))
    fan_in = layer.fan_in
    groups = -(-out_channels // rows)

    s = LayerSchedule()
    s.hw, s.layer, s.windows, s.fan_in, s.out_channels, s.groups = hw, layer, windows, fan_in, out_channels, groups
    s.positions = positions

    # Time blocks: as many windows as let the packed input (spike bits plus one window tag
    # per input and window) fit half of the GLB spike share.
    glb_bits = hw.glb_kb * 1024 * 8
    spike_room = glb_bits * GLB_SHARES["spikes"] / 2
    tb_windows = int(min(windows, max(1, spike_room // (n_in * (tws + 1)))))
    if hw.memory == "rtl":
        # The RTL loads a whole sample's input, or (time blocks) ``block_steps`` steps of it
        # at a time, the last block maybe shorter.
        tb_windows = windows
        if hw.block_steps is not None and hw.block_steps < steps:
            if hw.block_steps % tws:
                raise SpikexError(f"layer tws {tws} does not divide the time block "
                                  f"{hw.block_steps}")
            tb_windows = hw.block_steps // tws
    n_tb = -(-windows // tb_windows)
    s.tb_windows, s.n_tb = tb_windows, n_tb
    tb_len = np.minimum(tb_windows, windows - np.arange(n_tb) * tb_windows)   # windows per TB

    # The active list L, sorted by (tb, pos, w).
    active = ntwu_tags(layer, in_spikes[None], tws)[0, :, 0].reshape(windows, positions)
    padded = np.zeros((n_tb * tb_windows, positions), bool)
    padded[:windows] = active
    tb, pos, wi = np.nonzero(padded.reshape(n_tb, tb_windows, positions).transpose(0, 2, 1))
    w = tb * tb_windows + wi
    n_entries = len(w)
    s.pos, s.w, s.tb = pos, w, tb
    s.spatial = (not ptb) and n_entries <= cols * positions
    # Spatial or temporal packing per TB: the paper's model decides once for the layer; the
    # RTL's dispatcher builds the list of each time block and decides on that block's
    # entries (always temporal for PTB).
    s.tb_spatial = np.full(n_tb, s.spatial)
    if hw.memory == "rtl" and n_tb > 1:
        s.tb_spatial = (not ptb) & (np.bincount(tb, minlength=n_tb) <= cols * positions)
        s.spatial = bool(s.tb_spatial.all())
    s.mode = "spatial" if s.spatial else "temporal"

    # Column chunks: a new group at every TB (and every position in temporal packing),
    # cut every C entries within a group.
    idx = np.arange(n_entries)
    new_tb = np.ones(n_entries, bool)
    new_tb[1:] = tb[1:] != tb[:-1]
    new_pos = new_tb.copy()
    new_pos[1:] |= pos[1:] != pos[:-1]
    new_group = np.where(s.tb_spatial[tb], new_tb, new_pos)
    group_id = np.cumsum(new_group) - 1
    rank = idx - _segment_starts(new_group)[group_id] if n_entries else idx
    new_chunk = rank % cols == 0
    s.chunk_start = _segment_starts(new_chunk)
    s.chunk_len = np.diff(np.append(s.chunk_start, n_entries))
    s.chunk_tb = tb[s.chunk_start]
    chunk_id = np.cumsum(new_chunk) - 1
    n_chunks = len(s.chunk_start)

    # Chains: runs of one position inside a chunk; has_prev: the neuron had an earlier active window.
    new_chain = new_chunk | new_pos
    s.chain_head = new_chain
    s.chain_tail = np.append(new_chain[1:], True) if n_entries else new_chain
    last_active = np.maximum.accumulate(np.where(active, np.arange(windows)[:, None], -1), axis=0)
    prev_active = np.vstack([np.full((1, positions), -1), last_active[:-1]])
    w_prev = prev_active[w, pos]
    s.has_prev = w_prev >= 0

    # Decay cycles per (entry, channel), from the golden membrane trace: changes of the
    # membrane during inactive windows since the previous active window.
    def decay_cycles(membrane):
        mem = membrane.reshape(steps, -1, positions)
        changed = np.empty(mem.shape, bool)
        changed[0] = mem[0] != 0
        changed[1:] = mem[1:] != mem[:-1]
        per_window = changed.reshape(windows, tws, mem.shape[1], positions).sum(axis=1)
        per_window *= ~active[:, None, :]
        cum = np.zeros((windows + 1, mem.shape[1], positions), np.int64)
        np.cumsum(per_window, axis=0, out=cum[1:])
        return cum[w, :, pos] - cum[w_prev + 1, :, pos]          # [E, channels]
    s.decay = decay_cycles(membrane)                              # [E, M]

    # Fire: longest chain (FIRE_STEP_CYCLES * the sum of decay + tws over its PEs) per chunk
    # and row group.
    chain_starts = _segment_starts(new_chain)
    if n_entries:
        chain_len = np.diff(np.append(chain_starts, n_entries))
        chain_cycles = FIRE_STEP_CYCLES * (np.add.reduceat(s.decay, chain_starts, axis=0)
                                           + tws * chain_len[:, None])
        chunk_first_chain = np.searchsorted(chain_starts, s.chunk_start)
        fire_km = np.maximum.reduceat(chain_cycles, chunk_first_chain, axis=0)    # [K, M]
    else:
        fire_km = np.zeros((0, out_channels), np.int64)
    fire_pad = np.zeros((n_chunks, groups * rows), np.int64)
    fire_pad[:, :out_channels] = fire_km
    s.fire = fire_pad.reshape(n_chunks, groups, rows).max(axis=2).T      # [G, K]

    # Beats: fan-in inputs with a non-zero spike word in some column (SpikeX), all F (PTB).
    counts = in_spikes.reshape(windows, tws, *layer.in_shape).sum(axis=1, dtype=np.int64)
    fields = _gather_fields(layer, counts, w, pos)                        # [E, F] spike counts
    s.field_spikes = fields.sum(axis=1)                                   # set bits per entry
    if ptb:
        s.beat_masks = None
        s.beats = np.full(n_chunks, fan_in, np.int64)
    elif n_entries:
        packed = np.packbits(fields > 0, axis=1)
        s.beat_masks = np.bitwise_or.reduceat(packed, s.chunk_start, axis=0)
        s.beats = _POPCOUNT[s.beat_masks].sum(axis=1)
    else:
        s.beat_masks = np.zeros((0, -(-fan_in // 8)), np.uint8)
        s.beats = np.zeros(0, np.int64)

    # Beat cycles of each chunk's passes. The sparse PE's beat takes the most set bits of
    # any column's word (``beat_most``: of each fan-in input, the most spikes any of the
    # chunk's windows sees there), at least 1; SpikeX streams only beats with a set bit.
    s.beat_most = None
    if hw.pe == "sparse":
        s.beat_most = (np.maximum.reduceat(fields, s.chunk_start, axis=0) if n_entries
                       else np.zeros((n_chunks, fan_in), np.int64))              # [K, F]
        s.beat_cycles = beat_cycles(tws, hw.pe, s.beat_most).sum(axis=1) if ptb \
            else s.beat_most.sum(axis=1)
    else:
        s.beat_cycles = s.beats * beat_cycles(tws, hw.pe)
    s.compute = fill_cycles(hw) + s.beat_cycles[None, :] + s.fire + drain_cycles(hw)   # [G, K]
    _memory(s, layer, in_spikes, out_spikes, hw, weight_bits, v_bits, tb_len, chunk_id)
    if hw.memory == "rtl":
        _memory_rtl(s, layer, in_spikes, hw, weight_bits, v_bits, out_group,
                    _Addresses(layer, regions, sample, in_spikes.shape[0], hw.block_steps, weight_bits))
    return s


def _words(bits, width):
    return -(-np.asarray(bits, np.int64) // width)


def _memory(s, layer, in_spikes, out_spikes, hw, weight_bits, v_bits, tb_len, chunk_id):
    """Traffic of every level, per pass and per block, and the overlapped cycles."""
    rows, ptb, tws = hw.rows, hw.dataflow == "ptb", layer.tws
    groups, n_tb, fan_in = s.groups, s.n_tb, s.fan_in
    group_rows = np.minimum(rows, s.out_channels - np.arange(groups) * rows)          # [G]
    steps_tb = tb_len * tws

    # Input SP-MBs per TB: which are active, and the fan-in their weights cover.
    spmb_of_input = _spmb_groups(layer.in_shape, "conv" if layer.kind == "conv" else "fc")
    n_spmb = spmb_of_input.max() + 1
    flat_in = in_spikes.reshape(in_spikes.shape[0], -1)
    tb_of_step = np.arange(in_spikes.shape[0]) // (s.tb_windows * tws)
    in_tb = np.zeros((n_tb, flat_in.shape[1]), bool)
    np.logical_or.at(in_tb, tb_of_step, flat_in.astype(bool))
    spmb_active = np.zeros((n_tb, n_spmb), bool)
    np.logical_or.at(spmb_active.T, spmb_of_input, in_tb.T)
    spmb_size = np.bincount(spmb_of_input)
    if layer.kind == "conv":
        spmb_fan_in = np.full(n_spmb, layer.kernel * layer.kernel)
    else:
        spmb_fan_in = spmb_size
    moved_spmb = np.ones_like(spmb_active) if ptb else spmb_active
    in_bits = (moved_spmb * spmb_size).sum(axis=1) * (steps_tb + tb_len) + n_spmb     # [n_tb]
    fan_in_tb = (moved_spmb * spmb_fan_in).sum(axis=1)                                  # [n_tb]

    # Output SP-MBs (conv: one output channel; fc: 16 neurons) per TB.
    out_channels, positions = s.out_channels, s.positions
    flat_out = out_spikes.reshape(out_spikes.shape[0], out_channels, positions).any(axis=2)
    out_tb = np.zeros((n_tb, out_channels), bool)
    np.logical_or.at(out_tb, tb_of_step, flat_out)
    out_group = np.arange(out_channels) // (1 if layer.kind == "conv" else SPMB_FC_FEATURES)
    n_out_spmb = out_group.max() + 1
    out_spmb_active = np.zeros((n_tb, n_out_spmb), bool)
    np.logical_or.at(out_spmb_active.T, out_group, out_tb.T)
    row_written = np.ones((n_tb, out_channels), bool) if ptb else out_spmb_active[:, out_group]
    row_of_group = np.arange(out_channels) // rows
    out_rows = np.zeros((n_tb, groups), np.int64)
    np.add.at(out_rows.T, row_of_group, row_written.T)
    out_bits = out_rows * positions * (steps_tb + tb_len)[:, None]                        # [n_tb, G]
    out_bits[:, -1] += n_out_spmb                                                         # SP-MB tags

    # Weights: resident in the GLB for the whole sample when they fit half its share.
    weight_room = hw.glb_kb * 1024 * 8 * GLB_SHARES["weights"] / 2
    resident = s.out_channels * fan_in * weight_bits <= weight_room
    weight_bits_block = np.zeros((n_tb, groups), np.int64)
    if resident:
        fan_in_all = fan_in if ptb else int((spmb_active.any(axis=0) * spmb_fan_in).sum())
        weight_bits_block[0, 0] = s.out_channels * fan_in_all * weight_bits
    else:
        weight_bits_block[:] = fan_in_tb[:, None] * group_rows[None, :] * weight_bits
    # Membranes spill to DRAM between TBs when they do not fit half the output share.
    mem_bits = group_rows * positions * v_bits
    spill = n_tb > 1 and out_channels * positions * v_bits > hw.glb_kb * 1024 * 8 * GLB_SHARES["outputs"] / 2
    mem_read = np.zeros((n_tb, groups), np.int64)
    mem_write = np.zeros((n_tb, groups), np.int64)
    if spill:
        mem_read[1:] = mem_bits
        mem_write[:-1] = mem_bits
    spike_read = np.zeros((n_tb, groups), np.int64)
    spike_read[:, 0] = in_bits

    # Bytes at the DRAM port: each transfer is rounded up to whole bytes.
    s.block_dram_read = {"weights": _words(weight_bits_block, 8).ravel(),
                         "spikes": _words(spike_read, 8).ravel(), "membranes": _words(mem_read, 8).ravel()}
    s.block_dram_write = {"spikes": _words(out_bits, 8).ravel(), "membranes": _words(mem_write, 8).ravel()}

    # Per pass (row group g, chunk k): LBUF fills from the GLB and LBUF reads by the array.
    wg, wl = hw.glb_width_bits, hw.lbuf_width_bits
    beats = s.beats[None, :]
    cols_used = s.chunk_len[None, :]
    g_rows = group_rows[:, None]
    lbuf_weight_room = hw.lbuf_kb * 1024 * 8 * LBUF_WEIGHT_SHARE / 2
    # SpikeX keeps a row group's tailored weights in the LBUF across the passes of a TB
    # when they fit; PTB reloads them for every pass.
    lbuf_resident = np.zeros((n_tb, groups), bool) if ptb else \
        fan_in_tb[:, None] * group_rows[None, :] * weight_bits <= lbuf_weight_room
    pass_resident = lbuf_resident[s.chunk_tb].T                                            # [G, K]
    weight_stream_bits = beats * g_rows * weight_bits
    spike_stream_bits = beats * cols_used * tws
    pass_glb_weight = np.where(pass_resident, 0, _words(weight_stream_bits, wg))
    pass_lbuf_weight_w = np.where(pass_resident, 0, _words(weight_stream_bits, wl))
    pass_glb_spike = _words(spike_stream_bits, wg)
    pass_lbuf_spike_w = _words(spike_stream_bits, wl)
    row_word = _words(g_rows * weight_bits, wl)
    pass_lbuf_reads_weight = beats * row_word
    pass_lbuf_reads_spike = beats * _words(cols_used * tws, wl)
    resident_fill_bits = np.where(lbuf_resident, fan_in_tb[:, None] * group_rows[None, :] * weight_bits, 0)
    s.pass_cycles = np.maximum(s.compute, pass_glb_weight + pass_glb_spike)

    # Membrane store (in the GLB, one access per membrane) and output spike words.
    heads = s.chain_head & s.has_prev
    pass_mem_reads = np.bincount(chunk_id[heads], minlength=len(s.chunk_start))[None, :] * g_rows
    pass_mem_writes = np.bincount(chunk_id[s.chain_tail], minlength=len(s.chunk_start))[None, :] * g_rows
    pass_out_words = _words(g_rows * cols_used * tws, wg)

    # Blocks: compute (passes of the TB and row group) against DRAM transfer.
    def per_block(per_pass):
        out = np.zeros((n_tb, groups), np.int64)
        np.add.at(out.T, (slice(None), s.chunk_tb), np.broadcast_to(per_pass, (groups, len(s.chunk_tb))))
        return out
    block_compute = per_block(s.pass_cycles) + _words(resident_fill_bits, wg)
    dram_bytes = sum(v.reshape(n_tb, groups) for v in s.block_dram_read.values()) + \
        sum(v.reshape(n_tb, groups) for v in s.block_dram_write.values())
    dram_cycles = np.ceil(dram_bytes / hw.dram_bytes_per_cycle).astype(np.int64)
    s.block_compute = block_compute.ravel()
    s.block_cycles = np.maximum(block_compute, dram_cycles).ravel()

    # Totals for this sample, by level and by use.
    glb_words_in = lambda bits: _words(bits, wg).sum()
    t = {}
    t["dram_read_bytes"] = int(sum(v.sum() for v in s.block_dram_read.values()))
    t["dram_write_bytes"] = int(sum(v.sum() for v in s.block_dram_write.values()))
    t["glb_writes"] = {"weights": glb_words_in(weight_bits_block),
                       "spikes": glb_words_in(spike_read) + per_block(pass_out_words).sum(),
                       "membranes": glb_words_in(mem_read) + per_block(pass_mem_writes).sum()}
    t["glb_reads"] = {"weights": per_block(pass_glb_weight).sum() + _words(resident_fill_bits, wg).sum(),
                      "spikes": per_block(pass_glb_spike).sum() + glb_words_in(out_bits),
                      "membranes": per_block(pass_mem_reads).sum() + glb_words_in(mem_write)}
    t["lbuf_writes"] = {"weights": per_block(pass_lbuf_weight_w).sum() + _words(resident_fill_bits, wl).sum(),
                        "spikes": per_block(pass_lbuf_spike_w).sum()}
    t["lbuf_reads"] = {"weights": per_block(pass_lbuf_reads_weight).sum(),
                       "spikes": per_block(pass_lbuf_reads_spike).sum()}
    # PE registers: the weight and the spike word latched per beat per PE in use, the
    # psum scratchpad (read and write per addition, read and clear per fired time point),
    # the membrane register (read and write per decay cycle and per fired time point).
    pe_beats = per_block(beats * g_rows * cols_used).sum()
    ntwu = int(len(s.w)) * out_channels
    s.acc_ops = int(s.field_spikes.sum()) * out_channels
    decay_total = int(s.decay.sum())
    fire_points = ntwu * tws
    t["rf"] = {"weights": pe_beats, "spikes": pe_beats, "psums": 2 * s.acc_ops + 2 * fire_points,
               "membranes": 2 * (decay_total + fire_points)}
    t["alu"] = {"acc": s.acc_ops, "fire_add": fire_points, "compare": fire_points, "decay": decay_total}
    t["active_ntwus"] = ntwu
    t["passes"] = groups * len(s.chunk_start)
    t["beats"] = int(s.beats.sum()) * groups
    t["cycles"] = int(s.block_cycles.sum())
    t["compute_cycles"] = int(s.block_compute.sum())
    t["dram_cycles"] = int(dram_cycles.sum())
    t["dram_bytes_by_use"] = {"weights": int(s.block_dram_read["weights"].sum()),
                              "spikes": int(s.block_dram_read["spikes"].sum() + s.block_dram_write["spikes"].sum()),
                              "membranes": int(s.block_dram_read["membranes"].sum()
                                               + s.block_dram_write["membranes"].sum())}
    s.totals = t


class _Addresses:
    """Byte addresses of one layer's DRAM requests for one sample (docs/image.md, hw/top.py):
    the image's ``regions`` of the layer, or all at 0 without them."""

    def __init__(self, layer, regions, sample, steps, block_steps, weight_bits):
        def at(name, per_sample):
            return 0 if regions is None else getattr(regions, name) + sample * getattr(regions, per_sample)
        size = steps if block_steps is None or block_steps >= steps else block_steps
        self.input_bytes = 4 * -(-size // 32)
        self.n_in = int(np.prod(layer.in_shape))
        self.descriptor = 0 if regions is None else regions.descriptor
        self.row_bytes = 0 if regions is None else regions.weight_row_bytes
        self.weights = 0 if regions is None else regions.weights
        self.input_tags, self.output_tags = at("input_tags", "input_tag_sample_bytes"), \
            at("output_tags", "output_tag_sample_bytes")
        self.input_spikes, self.output_spikes = at("input_spikes", "input_sample_bytes"), \
            at("output_spikes", "output_sample_bytes")
        spmb_of_input = _spmb_groups(layer.in_shape, layer.kind)
        self.spmb_first = np.searchsorted(spmb_of_input, np.arange(spmb_of_input.max() + 1))
        self.wbytes = 1 if weight_bits <= 8 else 2
        self.positions = int(np.prod(layer.out_shape[1:]))
        self.n_out = int(np.prod(layer.out_shape))

    def spikes(self, block=0):
        """Each input SP-MB's spike load in time block ``block``."""
        return self.input_spikes + block * self.n_in * self.input_bytes + self.spmb_first * self.input_bytes

    def block_tags(self, block, tag_words):
        """Input SP-MB tags of time block ``block`` (after the sample's)."""
        return self.input_tags + (1 + block) * 4 * tag_words

    def weight_runs(self, rows, first):
        """The weight runs of output channels ``rows`` ``[R]`` starting at fan-in ``first``
        ``[S]``: ``[R, S]``."""
        return self.weights + np.asarray(rows)[:, None] * self.row_bytes \
            + ((np.asarray(first) * self.wbytes) & ~3)[None, :]

    def write_out(self, first_rows, block=0):
        """The output writer's write-outs of the row groups starting at ``first_rows``."""
        return self.output_spikes + block * self.n_out * self.input_bytes \
            + np.asarray(first_rows) * self.positions * self.input_bytes


def _memory_rtl(s, layer, in_spikes, hw, weight_bits, v_bits, out_group, at):

    """Counters of the memory system and timing of hw/top.py (docs/accelerator.md), one sample.

    Replaces the DRAM, GLB, LBUF and cycle totals of :func:`_memory` (``s.totals``) by the
    RTL's: every count below is one of the RTL's counter increments, every cycle term one
    controller state (docs/accelerator.md, "Cycle costs"), with ``L = hw.dram_latency``.
    """
    if s.n_tb > 1:
        return _memory_rtl_blocked(s, layer, in_spikes, hw, weight_bits, v_bits, out_group, at)
    t = s.totals
    lat, rows, cols, ptb, tws = hw.dram_latency, hw.rows, hw.cols, hw.dataflow == "ptb", layer.tws
    steps = in_spikes.shape[0]
    wpi = -(-steps // 32)                       # 32-bit words per input (time-major packed)
    wbytes = 1 if weight_bits <= 8 else 2
    groups, fan_in, out_channels, positions = s.groups, s.fan_in, s.out_channels, s.positions
    group_rows = np.minimum(rows, out_channels - np.arange(groups) * rows)           # [G]
    conv = layer.kind == "conv"

    # Input SP-MBs (conv: a channel; fc: 16 features): active over the whole sample, which
    # are the tags the RTL reads (the image's for layer 0, the previous layer's write-out else).
    spmb_of_input, spmb_size, run_fan, run_first = _rtl_runs(layer, fan_in)
    n_spmb = len(spmb_size)
    active = np.zeros(n_spmb, bool)
    np.logical_or.at(active, spmb_of_input, in_spikes.reshape(steps, -1).any(axis=0))
    loaded = np.ones(n_spmb, bool) if ptb else active
    candidates = int((loaded * run_fan).sum())  # fan-in inputs the gather visits per pass
    skipped = int((~loaded).sum())              # SP-MB runs it skips (one cycle each)
    loaded_inputs = int((loaded * spmb_size).sum())
    tag_words_in, n_out, tag_words_out = _rtl_tag_words(n_spmb, out_channels, positions, out_group)

    # The chunks and passes.
    n_entries, n_chunks = len(s.w), len(s.chunk_start)
    if conv:
        inside = _inside_taps(layer)                                                  # [P]
        spike_reads = groups * int(loaded.sum()) * int(inside[s.pos].sum())
    else:
        spike_reads = groups * candidates * n_entries
    weight_reads = groups * n_chunks * candidates

    # Each request's bytes at the bus (whole beats, hw.data_width): the descriptor, the
    # input tags, a loaded SP-MB's spike words, a weight row's range of loaded runs, a row
    # group's outputs and the output tags.
    weight_bytes = _rtl_weight_bytes(hw, at, loaded, run_first, run_fan, wbytes, out_channels)
    t["dram_read_bytes"] = int(_bus_bytes(hw, DESCRIPTOR_WORDS, at.descriptor)
                               + (0 if ptb else _bus_bytes(hw, tag_words_in, at.input_tags))
                               + (loaded * _bus_bytes(hw, spmb_size * wpi, at.spikes())).sum()
                               + weight_bytes)
    t["dram_write_bytes"] = int(
        _bus_bytes(hw, group_rows * positions * wpi, at.write_out(np.arange(groups) * rows)).sum()
        + _bus_bytes(hw, tag_words_out, at.output_tags))
    t["dram_bytes_by_use"] = {
        "weights": weight_bytes,
        "spikes": int(t["dram_read_bytes"] + t["dram_write_bytes"] - weight_bytes),
        "membranes": 0}
    t["glb_reads"] = {"weights": weight_reads, "spikes": spike_reads + n_out, "membranes": 0}
    t["glb_writes"] = {"weights": out_channels * candidates,
                       "spikes": loaded_inputs + out_channels * n_entries, "membranes": 0}
    beats = int(s.beats.sum()) * groups          # one LBUF entry: a beat's spike words and weights
    entry_bits = lbuf_entry_bits(rows=rows, cols=cols, tws_max=hw.tws_max or tws,
                                 weight_bits=weight_bits, pe=hw.pe)
    t["lbuf_reads"] = {"beats": beats}
    t["lbuf_writes"] = {"beats": beats}
    t["lbuf_share"] = {"weights": rows * weight_bits / entry_bits,
                       "spikes": 1 - rows * weight_bits / entry_bits}
    t["scratchpad_accesses"] = int(t["rf"]["psums"])

    # Cycles, state by state (hw/top.py's controller; docs/accelerator.md, "Cycle costs").
    gaps, read = _rtl_dram(hw)
    head = read(DESCRIPTOR_WORDS, at.descriptor) + 4 + (0 if ptb else read(tag_words_in, at.input_tags))
    in_locations = int(np.prod(layer.in_size)) if conv else 1
    load = in_locations + n_spmb + 1 + int((loaded * read(spmb_size * wpi, at.spikes())).sum())
    kernel_taps = layer.kernel * layer.kernel if conv else 1
    windows_at = np.bincount(s.pos, minlength=positions)
    dispatch = int((kernel_taps + SCAN_DRAIN + np.maximum(1, windows_at)).sum()) + 1
    weights = _rtl_weight_loads(at, loaded, lat, run_first, run_fan, wbytes, gaps, rows,
                                group_rows)                                           # [G]
    limits = accelerator_limits(rows=rows, cols=cols, tws_max=hw.tws_max or tws,
                                weight_bits=weight_bits, glb_kb=hw.glb_kb, lbuf_kb=hw.lbuf_kb,
                                max_timesteps=hw.max_timesteps or 32 * -(-steps // 32),
                                glb_split=hw.glb_split, pe=hw.pe)
    cut = np.zeros(n_chunks, bool)              # a temporal chunk ended by a position change
    if not s.tb_spatial[0]:
        cut[:-1] = s.chunk_len[:-1] < cols
    segments = _lbuf_segments(s, loaded, run_fan, ptb, limits["lbuf_depth"])
    passes, busy_g = _rtl_passes(s, hw, tws, np.arange(n_chunks), s.chunk_len + cut,
                                 3 + DRAIN + candidates + skipped, segments,
                                 group_rows)                                           # [G]
    busy = int(busy_g.sum())
    # Row groups. The weight loader fills a group's bank (3 cycles of handshake); with
    # ping-pong banks (the layer's weights fit half the GLB weight share) group g + 1's load
    # starts as group g's passes do, else when they end. After its passes a group's output
    # spikes go to DRAM (the output writer; :func:`_rtl_write_out`); the last group's
    # write-out is followed by the output tags' and the layer's end.
    write_group = _rtl_write_group(hw, group_rows * positions * wpi,
                                   at.write_out(np.arange(groups) * rows))            # [G]
    write = (lat + tag_words_out + 1 + 2 * gaps(tag_words_out, at.output_tags)
             - _write_ahead(hw, tag_words_out, at.output_tags)) + (lat + 1) + 1
    pingpong = fan_in <= limits["max_fan_in"] // 2
    out_pingpong = min(rows, out_channels) * positions <= limits["max_outputs"] // 2
    proceed = int(weights[0]) + 2                 # from GROUP 0's entry: its weights are in
    free = None
    for g in range(groups):
        passes_end = proceed + 1 + int(passes[g])                 # the cycle after its passes
        nxt, free = _rtl_write_out(passes_end, free, int(write_group[g]), out_pingpong)
        if g == groups - 1:
            break
        loaded = proceed + 3 if pingpong else passes_end + 2
        proceed = max(nxt, loaded + int(weights[g + 1]))
    rows_cycles = free + 1                        # WRITE_GROUP waits for the last write-out
    t["cycles"] = int(head + load + dispatch + rows_cycles + write)
    t["compute_cycles"] = busy
    t["stall_cycles"] = int(passes.sum()) - busy
    t["dram_cycles"] = t["cycles"] - int(passes.sum())


def _rtl_weight_ranges(loaded, run_first, run_fan, wbytes):
    """The weight loader's requests of a weight row: one per range of consecutive
    ``loaded`` runs (their first fan-in ``[Q]``), the 4-byte-aligned words each reads
    ``[Q]``."""
    loaded = np.asarray(loaded, bool)
    edges = np.diff(np.concatenate([[0], loaded.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    first = run_first[starts]
    end = run_first[ends] + run_fan[ends]
    words = (((end * wbytes + 3) & ~3) - ((first * wbytes) & ~3)) // 4
    return first, words


def _rtl_weight_bytes(hw, at, loaded, run_first, run_fan, wbytes, out_channels):
    """DRAM bytes of a layer's weight loads: each output channel's row, a request per range
    of consecutive ``loaded`` runs (whole beats)."""
    first, words = _rtl_weight_ranges(loaded, run_first, run_fan, wbytes)
    return int(_bus_bytes(hw, words[None, :],
                          at.weight_runs(np.arange(out_channels), first)).sum())


def _rtl_weight_loads(at, loaded, lat, run_first, run_fan, wbytes, gaps, rows, group_rows):
    """Cycles of each row group's weight load ``[G]`` (hw/weight_loader.py): per row, a
    cycle per SP-MB run and one more, and per range of consecutive ``loaded`` runs a cycle
    to issue its request and its read (a bus word a cycle)."""
    first, words = _rtl_weight_ranges(loaded, run_first, run_fan, wbytes)
    row_cycles = len(run_first) + 1 + (
        2 + lat + words + gaps(words, at.weight_runs(np.arange(int(group_rows.sum())), first))
    ).sum(axis=1)
    return np.add.reduceat(row_cycles, np.arange(len(group_rows)) * rows)


def _rtl_write_group(hw, group_words, address):
    """Cycles of the output writer's write-out of ``group_words`` words at ``address``: from
    its first cycle until its B response is in (the request issued the cycle before)."""
    gaps, _ = _rtl_dram(hw)
    return group_words + 2 * gaps(group_words, address) + 2 * hw.dram_latency + 2 \
        - _write_ahead(hw, group_words, address)


def _write_ahead(hw, words, address):
    """Cycles a bus wider than a word saves a write of ``words`` words at ``address`` (0 at
    32 bits): the port's writer keeps a beat's words before its last in a register whatever
    ``wready`` says (hw/axi.py), so a word that a 32-bit bus would hold while the DRAM is not
    ready moves on: the first word, a cycle before the DRAM takes W beats; and with a DRAM of
    one burst at a time, up to two words of each later burst's first beat, in the two cycles
    between a burst's last beat and the next one's AW."""
    ratio = hw.data_width // 32
    words, address = np.asarray(words), np.asarray(address)
    if ratio == 1:
        return 0 * (words + address)
    beat_bytes = 4 * ratio
    saved = []
    for n, a in zip(words.ravel(), np.broadcast_to(address, words.shape).ravel()):
        n, a = int(n), int(a)
        end = a + 4 * n
        cycles = int(min(ratio - (a % beat_bytes) // 4, n) >= 2)
        at = a - a % beat_bytes                                   # a burst's first byte
        while hw.dram_one_burst:
            at = min(at + 16 * beat_bytes, at - at % PAGE_BYTES + PAGE_BYTES)
            if at >= end:
                break
            cycles += min(2, (min(at + beat_bytes, end) - at) // 4 - 1)
        saved.append(cycles)
    return np.array(saved, np.int64).reshape(words.shape)


def _rtl_write_out(passes_end, free, write_group, out_pingpong):
    """A row group's write-out after its passes (hw/top.py's output writer): it starts as
    the passes end (``passes_end``, the cycle after them) or, while the previous write-out
    is going on (the writer is free again at cycle ``free``), the cycle after it ends.
    Returns the cycle the controller's next state starts (with two output banks the cycle
    after the write-out starts, else the cycle after it ends) and the cycle the writer is
    free again."""
    start = passes_end if free is None else max(passes_end, free + 1)
    free = start + write_group
    return (start + 1 if out_pingpong else free + 1), free


def _rtl_runs(layer, fan_in):
    """The input SP-MBs as the RTL walks them: the SP-MB of each input, the inputs of each
    SP-MB, and of each SP-MB's run of a weight row its fan-in and its first fan-in index."""
    spmb_of_input = _spmb_groups(layer.in_shape, layer.kind)
    spmb_size = np.bincount(spmb_of_input)
    run_len = layer.kernel * layer.kernel if layer.kind == "conv" else SPMB_FC_FEATURES
    first = np.arange(len(spmb_size)) * run_len
    last = np.minimum(first + run_len, fan_in)
    return spmb_of_input, spmb_size, last - first, first


def _inside_taps(layer):
    """Of a conv layer, the kernel taps of each output position inside the input ``[P]``."""
    (in_h, in_w), (out_h, out_w) = layer.in_size, layer.out_size
    e, st, pad = layer.kernel, layer.stride, layer.padding
    taps = lambda size, n: ((np.arange(n)[:, None] * st - pad + np.arange(e)[None, :] >= 0) &
                            (np.arange(n)[:, None] * st - pad + np.arange(e)[None, :] < size)).sum(1)
    return np.outer(taps(in_h, out_h), taps(in_w, out_w)).ravel()


def _rtl_tag_words(n_spmb, out_channels, positions, out_group):
    """Input SP-MB tag words, outputs and output SP-MB tag words of a layer (32 tags a word;
    an output SP-MB is 16 outputs, or a channel when the next layer groups by channel)."""
    n_out = out_channels * positions
    n_out_spmb = -(-n_out // SPMB_FC_FEATURES) if out_group == SPMB_FC_FEATURES else out_channels
    return -(-n_spmb // 32), n_out, -(-n_out_spmb // 32)


def _beats(words, address, beat_bytes=4):
    """Beats of ``beat_bytes`` that requests of ``words`` 32-bit words at byte ``address``
    move: from the beat of the first byte to the beat of the last (hw/axi.py)."""
    words, address = np.asarray(words), np.asarray(address)
    return np.where(words > 0, (address + 4 * words - 1) // beat_bytes
                    - address // beat_bytes + 1, 0)


def _bus_bytes(hw, words, address):
    """DRAM bytes (the RTL's counters: whole beats) of requests of ``words`` words at
    ``address``."""
    beat_bytes = hw.data_width // 8
    return beat_bytes * _beats(words, address, beat_bytes)


def _bursts(words, address, beat_bytes=4):
    """Bursts of requests of ``words`` 32-bit words at byte ``address``, as the AXI port
    cuts them (hw/axi.py): at most 16 beats of ``beat_bytes``, none across a 4 KB page."""
    beats, address = _beats(words, address, beat_bytes), np.asarray(address)
    aligned = address - address % beat_bytes
    first = np.minimum(beats, (PAGE_BYTES - aligned % PAGE_BYTES) // beat_bytes)
    return -(-first // 16) - (-(beats - first) // 16)      # the rest starts a page


def _rtl_dram(hw):
    """``gaps(words, address)``, ``read(words, address)``: a DRAM that serves one burst at a
    time adds a bubble (reads) or two (writes) per burst after a request's first
    (:func:`_bursts`); a state that takes a read issued in the cycle before it lasts
    ``read(words, address)`` cycles."""
    beat_bytes = hw.data_width // 8
    gaps = (lambda words, address: _bursts(words, address, beat_bytes) - 1) \
        if hw.dram_one_burst else \
        (lambda words, address: 0 * (np.asarray(words) + np.asarray(address)))
    return gaps, (lambda words, address: hw.dram_latency + 1 + words + gaps(words, address))


def _rtl_passes(s, hw, tws, chunks, chunk_cycles, prep_fixed, segments, group_rows):
    """Cycles of each row group's PASSES state over ``chunks`` (one LBUF bank a pass, or
    streamed), and its busy cycles: ``[G]`` each. ``chunk_cycles``: the prep's cycles of each
    chunk before its gather; ``prep_fixed``: the gather's cycles (candidates and skipped runs)
    and handshakes; ``segments``: :func:`_lbuf_segments` of these chunks. Without a chunk
    (no active NTWU) PASSES lasts 3 cycles."""
    segment_cycles, segment_beats, pace_sum, pace_last = segments
    if not len(chunks):
        return np.full(len(group_rows), 3), np.zeros(len(group_rows), np.int64)
    if len(segment_cycles) == 1:
        # A pass in one LBUF bank: the gather of pass k + 1 overlaps pass k.
        prep = chunk_cycles + prep_fixed                                              # [K]
        compute = s.compute[:, chunks]                                                # [G, K]
        passes = prep[0] + np.maximum(prep[None, 1:], compute[:, :-1]).sum(axis=1) \
            + compute[:, -1] + group_rows + 2                                         # [G]
        return passes, compute.sum(axis=1)
    passes, busy = _streamed_passes(s, hw, tws, chunk_cycles, segment_cycles, segment_beats,
                                    pace_sum, pace_last, chunks)
    return passes + group_rows + 2, busy


def _memory_rtl_blocked(s, layer, in_spikes, hw, weight_bits, v_bits, out_group, at):
    """:func:`_memory_rtl` for a sample run in time blocks of ``hw.block_steps`` steps.

    hw/top.py, state by state: per row group, B_GROUP (SpikeX: the SP-MB tags of the whole
    sample), B_LOAD (the group's weights, tailored by those tags, into one bank, while each
    position's last step is cleared), then per block B_BLOCK (SpikeX: the block's tags), the
    block's spikes, its active list, the group's passes on the block's chunks (a block after
    the first: ``cols + 1`` cycles of carried state per chunk before its gather) and the
    write-out of the group's outputs of the block; after the last: the tags of the sample
    and of each block. The windows, chunks, modes and decay cycles are the schedule's TBs.
    """
    t = s.totals
    lat, rows, cols, ptb, tws = hw.dram_latency, hw.rows, hw.cols, hw.dataflow == "ptb", layer.tws
    steps, size, nb = in_spikes.shape[0], hw.block_steps, s.n_tb
    wpi = -(-size // 32)                        # words per input of a block (the last padded)
    wbytes = 1 if weight_bits <= 8 else 2
    groups, fan_in, out_channels, positions = s.groups, s.fan_in, s.out_channels, s.positions
    group_rows = np.minimum(rows, out_channels - np.arange(groups) * rows)           # [G]
    conv = layer.kind == "conv"

    # Input SP-MBs: active in each block (the block's tags: its spike loads, the gather's
    # candidates) and over the sample (the weights' tailoring).
    spmb_of_input, spmb_size, run_fan, run_first = _rtl_runs(layer, fan_in)
    n_spmb = len(spmb_size)
    in_block = np.zeros((nb, spmb_of_input.size), bool)
    np.logical_or.at(in_block, np.arange(steps) // size, in_spikes.reshape(steps, -1) != 0)
    block_active = np.zeros((nb, n_spmb), bool)                                       # [NB, S]
    np.logical_or.at(block_active.T, spmb_of_input, in_block.T)
    loaded = np.ones((nb, n_spmb), bool) if ptb else block_active                     # [NB, S]
    weight_runs = np.ones(n_spmb, bool) if ptb else block_active.any(axis=0)         # [S]
    candidates = (loaded * run_fan).sum(axis=1)                                       # [NB]
    skipped = (~loaded).sum(axis=1)                                                   # [NB]
    loaded_inputs = (loaded * spmb_size).sum(axis=1)                                  # [NB]
    tag_words_in, n_out, tag_words_out = _rtl_tag_words(n_spmb, out_channels, positions, out_group)

    # The chunks of each block; the gather's GLB reads per pass (candidates of the block).
    chunks_of = [np.flatnonzero(s.chunk_tb == b) for b in range(nb)]
    n_chunks = np.array([len(k) for k in chunks_of])                                  # [NB]
    if conv:
        spike_reads = groups * int((loaded.sum(axis=1)[s.tb] * _inside_taps(layer)[s.pos]).sum())
    else:
        spike_reads = groups * int(candidates[s.tb].sum())
    weight_reads = groups * int((n_chunks * candidates).sum())
    weight_bytes = _rtl_weight_bytes(hw, at, weight_runs, run_first, run_fan, wbytes,
                                     out_channels)
    # Each request's bytes at the bus (whole beats): per row group the sample's and each
    # block's input tags (SpikeX) and each block's loaded SP-MBs; per block and group the
    # write-out; the output tags of the sample and of each block, one request.
    tag_bytes = 0 if ptb else int(_bus_bytes(hw, tag_words_in, at.input_tags) + _bus_bytes(
        hw, tag_words_in, at.block_tags(np.arange(nb), tag_words_in)).sum())
    spike_bytes = int(sum((loaded[b] * _bus_bytes(hw, spmb_size * wpi, at.spikes(b))).sum()
                          for b in range(nb)))
    t["dram_read_bytes"] = int(_bus_bytes(hw, DESCRIPTOR_WORDS, at.descriptor) + weight_bytes
                               + groups * (tag_bytes + spike_bytes))
    t["dram_write_bytes"] = int(sum(
        _bus_bytes(hw, group_rows * positions * wpi, at.write_out(np.arange(groups) * rows, b)).sum()
        for b in range(nb)) + _bus_bytes(hw, (1 + nb) * tag_words_out, at.output_tags))
    t["dram_bytes_by_use"] = {
        "weights": weight_bytes,
        "spikes": t["dram_read_bytes"] + t["dram_write_bytes"] - weight_bytes,
        "membranes": 0}
    # The time-block state memory (the GLB's fourth part), per row group: each position's
    # word cleared as the group starts; after each pass, the word of each position a column
    # ends (a chain's last column); before each pass of a block after the first, the word
    # of each of the chunk's columns.
    state_reads = groups * int(s.chunk_len[s.chunk_tb > 0].sum())
    state_writes = groups * (positions + int(s.chain_tail.sum()))
    t["glb_reads"] = {"weights": weight_reads, "spikes": spike_reads + nb * n_out,
                      "membranes": state_reads}
    t["glb_writes"] = {"weights": int(out_channels * (weight_runs * run_fan).sum()),
                       "spikes": int(groups * loaded_inputs.sum()) + out_channels * len(s.w),
                       "membranes": state_writes}
    beats = int(s.beats.sum()) * groups
    entry_bits = lbuf_entry_bits(rows=rows, cols=cols, tws_max=hw.tws_max or tws,
                                 weight_bits=weight_bits, pe=hw.pe)
    t["lbuf_reads"] = {"beats": beats}
    t["lbuf_writes"] = {"beats": beats}
    t["lbuf_share"] = {"weights": rows * weight_bits / entry_bits,
                       "spikes": 1 - rows * weight_bits / entry_bits}
    t["scratchpad_accesses"] = int(t["rf"]["psums"])

    # Cycles, state by state.
    gaps, read = _rtl_dram(hw)
    tags = 0 if ptb else int(read(tag_words_in, at.input_tags))  # a TAGS state: the sample's
    head = read(DESCRIPTOR_WORDS, at.descriptor) + 4             # DESCRIPTOR .. CHECK
    # Per row group: B_GROUP, TAGS (SpikeX), B_LOAD until both the positions' last steps are
    # cleared (one a cycle) and the weights are in (a load started as B_LOAD starts is in
    # ``weights + 2`` cycles later, as in GROUP).
    weights = _rtl_weight_loads(at, weight_runs, lat, run_first, run_fan, wbytes, gaps, rows,
                                group_rows)                                           # [G]
    group_head = 1 + tags + np.maximum(positions, weights + 2) + 1                    # [G]
    # Per block: B_BLOCK, TAGS (SpikeX), LOC_CLEAR, SPMB / SPIKES, DISPATCH, GROUP (1: the
    # weights are in), then PASSES and the write-out.
    in_locations = int(np.prod(layer.in_size)) if conv else 1
    kernel_taps = layer.kernel * layer.kernel if conv else 1
    windows_at = np.zeros((nb, positions), np.int64)
    np.add.at(windows_at, (s.tb, s.pos), 1)
    # The input loader's cycles (TAGS .. SPMB), from the cycle it is started to its last,
    # and DISPATCH's.
    block_tags = np.zeros(nb, np.int64) if ptb else \
        read(tag_words_in, at.block_tags(np.arange(nb), tag_words_in))               # [NB]
    spike_loads = np.array([read(spmb_size * wpi, at.spikes(b)) for b in range(nb)])  # [NB, S]
    load = block_tags + in_locations + n_spmb + 1 + (loaded * spike_loads).sum(axis=1)  # [NB]
    dispatch = (kernel_taps + SCAN_DRAIN + np.maximum(1, windows_at)).sum(axis=1) + 1         # [NB]
    limits = accelerator_limits(rows=rows, cols=cols, tws_max=hw.tws_max or tws,
                                weight_bits=weight_bits, glb_kb=hw.glb_kb, lbuf_kb=hw.lbuf_kb,
                                max_timesteps=hw.max_timesteps or size, glb_split=hw.glb_split,
                                v_bits=v_bits, time_blocks=True, pe=hw.pe)
    passes = np.zeros((groups, nb), np.int64)
    busy = 0
    for b, chunks in enumerate(chunks_of):
        chunk_len = s.chunk_len[chunks]
        cut = np.zeros(len(chunks), bool)        # a temporal chunk ended by a position change
        if not s.tb_spatial[b]:
            cut[:-1] = chunk_len[:-1] < cols
        membranes = cols + 1 if b else 0         # prep's MEMBRANES state, blocks after the first
        segments = _lbuf_segments(s, loaded[b], run_fan, ptb, limits["lbuf_depth"], chunks)
        # After the last pass the spike writer (a cycle per used row) and the state writer
        # (a cycle per column of the pass) both finish before the group is done.
        writers = np.maximum(group_rows, chunk_len[-1]) if len(chunks) else group_rows
        passes[:, b], busy_g = _rtl_passes(s, hw, tws, chunks, chunk_len + cut + membranes,
                                           3 + DRAIN + candidates[b] + skipped[b], segments,
                                           writers)
        busy += int(busy_g.sum())
    # The output writer per (group, block), overlapped with the next block or group when
    # the row group's outputs fit half the output GLB (:func:`_rtl_write_out`); after the
    # last, WRITE_TAGS (the sample's tags and each block's), WRITE_WAIT, LAYER_END.
    write_group = np.stack([_rtl_write_group(hw, group_rows * positions * wpi,
                                             at.write_out(np.arange(groups) * rows, b))
                            for b in range(nb)], axis=1)                               # [G, NB]
    out_pingpong = min(rows, out_channels) * positions <= limits["max_outputs"] // 2
    tag_words = (1 + nb) * tag_words_out
    write_tags = (lat + 1 + tag_words + 2 * gaps(tag_words, at.output_tags)
                  - _write_ahead(hw, tag_words, at.output_tags)) + (lat + 1) + 1
    # Input ping-pong (the layer's input fits half the GLB spike share): block b + 1's input
    # loads from the last cycle of block b's DISPATCH, while its passes run; B_BLOCK then
    # waits in INPUT for the load to end.
    in_pingpong = int(np.prod(layer.in_shape)) <= limits["max_inputs"] // 2
    cycle, free = int(head), None
    for g in range(groups):
        loaded_at = None                 # the last cycle of the prefetched block's load
        for b in range(nb):
            if b == 0:
                cycle += int(group_head[g])                      # B_BLOCK's cycle
            if loaded_at is None:
                loaded_at = cycle + int(load[b])
            dispatch_start = max(cycle + 1, loaded_at) + 1
            built = dispatch_start + int(dispatch[b]) - 1
            loaded_at = built + int(load[b + 1]) if in_pingpong and b + 1 < nb else None
            passes_end = built + 2 + int(passes[g, b])           # GROUP, then PASSES
            cycle, free = _rtl_write_out(passes_end, free, int(write_group[g, b]), out_pingpong)
    t["cycles"] = int(free + 1 + write_tags)
    t["compute_cycles"] = busy
    t["stall_cycles"] = int(passes.sum()) - busy
    t["dram_cycles"] = t["cycles"] - int(passes.sum())


def _lbuf_segments(s, loaded, run_fan, ptb, depth, chunks=None):
    """How hw/gather.py cuts every pass of the layer into LBUF segments of ``depth`` candidates.

    The gather visits the SP-MB runs in order: a loaded run issues its candidates (one cycle
    each), an unloaded one is skipped (one cycle); a segment ends after its ``depth``-th
    candidate when fan-in remains (a run skipped after it belongs to the next segment).
    Returns the RUN cycles of each segment (issued + skipped) ``[S]``, the beats of each
    chunk in each segment ``[K, S]`` (SpikeX: candidates with a non-zero word in some column),
    and the array's cycles for them ``[K, S]`` and for the last of them ``[K, S]``
    (``hw.config.beat_cycles``; 0 where a segment has no beat).
    ``chunks``: the indices of the chunks (None: all), those of one time block, whose passes
    see the SP-MB tags ``loaded`` of that block.
    """
    chunks = np.arange(len(s.chunk_start)) if chunks is None else np.asarray(chunks)
    issued_before = np.concatenate([[0], np.cumsum(loaded * run_fan)])[:-1]       # per run
    issue_seg = np.arange(int((loaded * run_fan).sum())) // depth                    # per candidate
    skip_seg = issued_before[~loaded] // depth
    n_seg = int(max(issue_seg.max(initial=-1), skip_seg.max(initial=-1))) + 1
    issues = np.bincount(issue_seg, minlength=n_seg)
    cycles = issues + np.bincount(skip_seg, minlength=n_seg)
    n_chunks = len(chunks)
    hw = s.hw
    candidates = np.flatnonzero(np.repeat(loaded, run_fan)[: s.fan_in])
    starts = np.arange(0, len(candidates), depth)
    if ptb:
        masks = np.ones((n_chunks, len(candidates)), bool)
    else:
        masks = np.unpackbits(s.beat_masks[chunks], axis=1)[:, : s.fan_in][:, candidates] > 0
    if hw.pe == "sparse":
        paces = np.where(masks, beat_cycles(0, hw.pe, s.beat_most[chunks][:, candidates]), 0)
    else:
        paces = masks * beat_cycles(s.layer.tws, hw.pe)                       # [K, C]
    beats = np.zeros((n_chunks, n_seg), np.int64)
    pace_sum = np.zeros((n_chunks, n_seg), np.int64)
    pace_last = np.zeros((n_chunks, n_seg), np.int64)
    if len(candidates):
        beats[:, : len(starts)] = np.add.reduceat(masks.astype(np.int64), starts, axis=1)
        pace_sum[:, : len(starts)] = np.add.reduceat(paces, starts, axis=1)
        # The last beat of each segment: the streamed candidate of highest index in it.
        index = np.where(masks, np.arange(len(candidates))[None, :], -1)
        last = np.maximum.reduceat(index, starts, axis=1)                           # [K, S']
        taken = np.take_along_axis(paces, np.maximum(last, 0), axis=1)
        pace_last[:, : len(starts)] = np.where(last >= 0, taken, 0)
    return cycles, beats, pace_sum, pace_last


def _streamed_passes(s, hw, tws, chunk_cycles, segment_cycles, segment_beats, pace_sum,
                     pace_last, chunks=None):
    """Cycles of each row group's passes when passes stream through the LBUF in segments.

    hw/top.py, cycle by cycle (docs/accelerator.md, "Streaming a pass through the LBUF"),
    from the first cycle of the PASSES state, for all row groups at once (``[G]`` vectors):

    - prep, a pass's first segment: request the chunk when the bank is free (cycle ``i``),
      the gather runs from ``i + chunk_cycles + 2`` for ``segment_cycles[j]`` cycles and the
      bank reads full ``1 + DRAIN`` cycles later (``B``, :data:`hw.gather.DRAIN`); a further
      segment starts 1 cycle after both the previous segment's ``B`` and its own bank being
      free;
    - launch: the descriptor when the first bank is full and the array idle (``d``); beats
      one every ``b`` cycles (``hw.config.beat_cycles``), the first at ``d + 1``, each as soon as its bank is full and
      the previous segment's last beat has gone (an empty non-final bank is handed back in
      one cycle, an empty final one streams one all-zero beat); the result ``b - 1 +
      fire + rows + cols`` cycles after the last beat; a bank is free the cycle after its
      last beat (the final one: after the result). With the sparse PE, ``b`` is each
      beat's own (``pace_sum``, ``pace_last``: :func:`_lbuf_segments`), a beat following
      the previous one by the previous one's ``b``; the all-zero beat's ``b`` is 1.

    ``chunks``: the chunk indices (None: all) that ``chunk_cycles`` and ``segment_beats``
    describe, in order (one time block's).

    Returns the cycles of each row group up to the cycle after its last result, and its busy
    cycles (descriptor to result, inclusive), both ``[G]``.
    """
    n_chunks, n_seg = segment_beats.shape
    chunks = np.arange(n_chunks) if chunks is None else np.asarray(chunks)
    groups = s.fire.shape[0]
    never = np.full(groups, -(1 << 40), np.int64)
    free = [never.copy(), never.copy()]
    prep_ready = np.zeros(groups, np.int64)
    result = never.copy()
    busy = np.zeros(groups, np.int64)
    bank = 0
    fill = hw.rows + hw.cols
    zero_beat = beat_cycles(tws, hw.pe, 0)          # the all-zero beat's b (sparse: 1)
    for k in range(n_chunks):
        for j in range(n_seg):
            final = j == n_seg - 1
            if j == 0:
                start = np.maximum(prep_ready, free[bank]) + int(chunk_cycles[k]) + 2
            else:
                start = np.maximum(ready, free[bank]) + 1
            ready = start + int(segment_cycles[j]) + 1 + DRAIN
            if j == 0:
                descriptor = np.maximum(ready, result + 1)
                released = descriptor
                last_beat, previous = descriptor, 1         # the first beat at descriptor + 1
            available = np.maximum(ready, released + 1)
            beats = int(segment_beats[k, j])
            if beats == 0 and not final:
                released = available
                free[bank] = released + 1
            else:
                paces, last = ((int(pace_sum[k, j]), int(pace_last[k, j])) if beats
                               else (zero_beat, zero_beat))
                last_beat = np.maximum(available, last_beat + previous) + paces - last
                previous = last
                released = last_beat
                if not final:
                    free[bank] = released + 1
            if final:
                result = last_beat + previous - 1 + s.fire[:, chunks[k]] + fill
                free[bank] = result + 1
                busy += result - descriptor + 1
                prep_ready = ready
            bank ^= 1
    return result + 1, busy
