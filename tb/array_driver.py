"""Run a conv or fc layer on the PE array, pass by pass, with the same result as the golden model.

:func:`rtl_layer` is the RTL twin of :func:`sim.golden.run_layer`: it cuts the layer into
array passes as docs/dataflow.md says (rows = output channels or fc neurons, columns = the
active windows of one position, inactive windows skipped), keeps the membrane store, and
returns the output spikes. Where the passes run is up to ``array``, an object with

- ``design``: the :class:`hw.array.PEArray` it simulates (widths and layouts are read from it);
- ``async run_pass(descriptor, beats) -> (result, cycles)``: drive one pass through the
  array's streams, ``descriptor`` and ``result`` as bit patterns of the design's layouts,
  ``beats`` a list of ``(weights, spike_words)`` bit patterns, ``cycles`` from the
  descriptor handshake to the result handshake, both included.

:class:`AmaranthArray` runs passes under ``amaranth.sim``; ``tb/test_array.py`` runs them under
cocotb (Icarus or Verilator). Both drive the streams through :class:`PassStreams`, whose
sources and sink pause as their pause generators say (``True`` = pause this cycle).
"""

import itertools

import numpy as np

from hw.config import FIRE_STEP_CYCLES, beat_cycles
from spikex.netfile import SpikexError


__all__ = ["input_patches", "window_words", "column_chunks", "Source", "Sink", "spike_beat",
           "beat_paces", "PassStreams",
           "no_pauses", "random_pauses", "AmaranthArray", "fire_cycles", "rtl_layer"]


def input_patches(layer, sample):
    """Each output position's fan-in inputs over time: ``[T, *in_shape]`` -> ``[T, P, F]``.

    Input ``i`` of a conv position is ``(c, ky, kx)`` in the order of ``weights.reshape(M, -1)``;
    positions are row-major; inputs outside the padded image are zero.
    """
    steps = sample.shape[0]
    if layer.kind == "fc":
        return sample.reshape(steps, 1, layer.in_features)
    p, s, e = layer.padding, layer.stride, layer.kernel
    rows, cols = layer.out_size
    x = np.pad(sample.reshape(steps, *layer.in_shape), ((0, 0), (0, 0), (p, p), (p, p)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (e, e), axis=(2, 3))
    windows = windows[:, :, : rows * s : s, : cols * s : s]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(steps, rows * cols, layer.fan_in)


def window_words(patches, tws):
    """Spike words ``[W, P, F]``: bit ``t`` of word ``(w, pos, i)`` is input ``i`` at step ``w * tws + t``."""
    steps, positions, fan_in = patches.shape
    bits = patches.reshape(steps // tws, tws, positions, fan_in).astype(np.int64)
    return (bits << np.arange(tws, dtype=np.int64)[None, :, None, None]).sum(axis=1)


def column_chunks(active, cols, packing="temporal"):
    """Cut the active ``(pos, w)`` list into passes of at most ``cols`` columns.

    ``temporal``: a chunk never mixes positions (high temporal density mode, PTB);
    ``spatial``: consecutive chunks of the whole list (high spatial density mode).
    """
    if packing == "spatial":
        return [active[k:k + cols] for k in range(0, len(active), cols)]
    if packing != "temporal":
        raise ValueError(f"packing must be 'temporal' or 'spatial', not {packing!r}")
    chunks = []
    for _, group in itertools.groupby(active, key=lambda unit: unit[0]):
        group = list(group)
        chunks += [group[k:k + cols] for k in range(0, len(group), cols)]
    return chunks


class Source:
    """A stream source: offers its items in order; once ``valid``, holds it until taken."""

    def __init__(self, items, pause):
        self.items = list(items)
        self.pause = pause
        self.offering = False

    def drive(self):
        """``(valid, payload)`` for this cycle."""
        if not self.offering and self.items and not next(self.pause):
            self.offering = True
        return self.offering, self.items[0] if self.offering else None

    def sample(self, ready):
        """The cycle's ``ready``; return whether an item was taken."""
        if self.offering and ready:
            self.items.pop(0)
            self.offering = False
            return True
        return False


class Sink:
    """A stream sink whose ``ready`` follows its pause generator."""

    def __init__(self, pause):
        self.pause = pause
        self.ready = False

    def drive(self):
        self.ready = not next(self.pause)
        return self.ready


def spike_beat(design, words, last):
    """The ``spike_words`` payload bits of a beat of ``words`` (one per column); with the
    sparse PE its ``pace`` (``hw.config.beat_cycles``)."""
    fields = {"words": [int(x) for x in words], "last": int(last)}
    if design.pe == "sparse":
        most = max(bin(int(x)).count("1") for x in words)
        fields["pace"] = int(beat_cycles(0, "sparse", most))
    return design.spike_layout.const(fields).as_bits()


def beat_paces(design, beats):
    """The ``pace`` of each of ``beats`` (``(weights, spike_words)`` bit patterns) with the
    sparse PE, else None: the argument :meth:`hw.array.PEArray.pass_cycles` takes."""
    if design.pe != "sparse":
        return None
    return [design.spike_layout.from_bits(words)["pace"] for _, words in beats]


class PassStreams:
    """The bus models of one pass: sources of ``passes``, ``weights`` and ``spike_words``, sink of ``results``."""

    SOURCES = ("passes", "weights", "spike_words")

    def __init__(self, descriptor, beats, pauses):
        items = {"passes": [descriptor], "weights": [w for w, _ in beats],
                 "spike_words": [s for _, s in beats]}
        self.sources = {name: Source(items[name], pauses[name]) for name in self.SOURCES}
        self.sink = Sink(pauses["results"])


def no_pauses():
    """Pause generators that never pause (full-rate streams)."""
    return {name: itertools.repeat(False) for name in (*PassStreams.SOURCES, "results")}


def random_pauses(seed, probability=0.3):
    """Independent random pause generators for every stream."""
    rng = np.random.default_rng(seed)

    def pauses():
        while True:
            yield bool(rng.random() < probability)

    return {name: pauses() for name in (*PassStreams.SOURCES, "results")}


class AmaranthArray:
    """Runs passes on a :class:`hw.array.PEArray` under ``amaranth.sim`` from an async testbench."""

    def __init__(self, ctx, design, pauses=None):
        self.ctx = ctx
        self.design = design
        self.pauses = no_pauses() if pauses is None else pauses
        self.cycles = 0
        self.history = []

    async def run_pass(self, descriptor, beats):
        ctx, dut = self.ctx, self.design
        streams = PassStreams(descriptor, beats, self.pauses)
        start = None
        while True:
            for name, source in streams.sources.items():
                valid, payload = source.drive()
                port = getattr(dut, name)
                ctx.set(port.valid, valid)
                if valid:
                    ctx.set(port.payload.as_value(), payload)
            ctx.set(dut.results.ready, streams.sink.drive())
            for name, source in streams.sources.items():
                if source.sample(ctx.get(getattr(dut, name).ready)) and name == "passes":
                    start = self.cycles
            result = None
            if streams.sink.ready and ctx.get(dut.results.valid):
                result = ctx.get(dut.results.payload.as_value())
            await ctx.tick()
            self.cycles += 1
            if result is not None:
                for name in PassStreams.SOURCES:
                    ctx.set(getattr(dut, name).valid, 0)
                self.history.append((descriptor, len(beats), result, self.cycles - start,
                                     beat_paces(dut, beats)))
                return result, self.cycles - start


def fire_cycles(design, descriptor, result):
    """The ``fire`` term of a pass (docs/dataflow.md): the longest chain of any row,
    ``sum over its PEs of FIRE_STEP_CYCLES * (decay cycles + tws)``, from the pass's
    descriptor and result."""
    from sim.golden import decay
    desc = design.pass_layout.from_bits(descriptor)
    res = design.result_layout.from_bits(result)
    tws, leak_shift = desc["config"]["tws"], desc["config"]["leak_shift"]
    longest = 0
    for r in range(design.rows):
        run = 0
        for c in range(design.cols):
            if c > 0 and desc["chain"][c]:
                u = res["membrane"][r][c - 1]
            else:
                u, run = desc["membrane"][r][c], 0
            decays = 0
            while decays < desc["skip"][c] and int(decay(u, leak_shift)) != u:
                u, decays = int(decay(u, leak_shift)), decays + 1
            run += FIRE_STEP_CYCLES * (decays + tws)
            longest = max(longest, run)
    return longest


def _check_layer(layer, weights, steps, v_bits, design):
    name = f"{layer.kind} layer"
    if v_bits != design.v_bits:
        raise SpikexError(f"{name}: v_bits {v_bits} differs from the array's v_bits {design.v_bits}")
    if not 1 <= layer.tws <= design.tws_max:
        raise SpikexError(f"{name}: tws {layer.tws} is not in 1..tws_max={design.tws_max}")
    if steps % layer.tws:
        raise SpikexError(f"{name}: tws {layer.tws} does not divide T={steps}")
    if not 1 <= layer.threshold <= 2 ** (v_bits - 1) - 1:
        raise SpikexError(f"{name}: threshold {layer.threshold} is not in 1..{2 ** (v_bits - 1) - 1}")
    if not 0 <= layer.leak_shift < v_bits:
        raise SpikexError(f"{name}: leak_shift {layer.leak_shift} is not in 0..{v_bits - 1}")
    w_max = 2 ** (design.weight_bits - 1)
    if weights.size and (weights.min() < -w_max or weights.max() >= w_max):
        raise SpikexError(f"{name}: a weight is outside the array's {design.weight_bits}-bit range")
    bound = int(np.abs(weights).sum(axis=1).max()) if weights.size else 0
    if bound >= 2 ** (design.acc_bits - 1):
        raise SpikexError(f"{name}: fan-in bound {bound} does not fit a signed "
                          f"{design.acc_bits}-bit accumulator")
    if (steps - layer.tws) >= 2 ** design.skip_bits:
        raise SpikexError(f"{name}: T={steps} may skip more steps than skip_bits="
                          f"{design.skip_bits} can count")


async def rtl_layer(layer, weights, spikes, v_bits, *, array, packing="temporal", counters=None):
    """Output spikes (uint8 ``[B, T, *layer.out_shape]``) of one layer, run on ``array``.

    Same result as ``sim.golden.run_layer(layer, weights, spikes, v_bits)``. ``packing`` is
    ``"temporal"`` or ``"spatial"`` (:func:`column_chunks`). If ``counters`` is a dict, adds
    ``passes``, ``beats``, ``cycles``, ``acc_ops`` (additions the PEs do: one per set
    spike bit per beat per row) and ``active_ntwus`` to it.
    """
    design = array.design
    rows, cols = design.rows, design.cols
    spikes = np.asarray(spikes)
    batch, steps = spikes.shape[:2]
    spikes = spikes.reshape(batch, steps, *layer.in_shape)
    out_channels = layer.out_shape[0]
    weights = np.asarray(weights, np.int64).reshape(out_channels, -1)
    _check_layer(layer, weights, steps, v_bits, design)
    tws = layer.tws
    config = {"tws": tws, "threshold": layer.threshold, "leak_shift": layer.leak_shift}
    positions = int(np.prod(layer.out_shape[1:], dtype=np.int64))
    out = np.zeros((batch, steps, out_channels, positions), np.uint8)
    totals = dict.fromkeys(("passes", "beats", "cycles", "acc_ops", "active_ntwus"), 0)

    for b in range(batch):
        words = window_words(input_patches(layer, spikes[b]), tws)
        active = [(pos, w) for pos in range(positions) for w in range(words.shape[0])
                  if words[w, pos].any()]
        totals["active_ntwus"] += len(active) * out_channels
        chunks = column_chunks(active, cols, packing)
        membrane = np.zeros((out_channels, positions), np.int64)
        for m0 in range(0, out_channels, rows):
            row_weights = np.zeros((rows, weights.shape[1]), np.int64)
            used_rows = min(rows, out_channels - m0)
            row_weights[:used_rows] = weights[m0:m0 + used_rows]
            last = np.full(positions, -1)
            for chunk in chunks:
                chain, skip = [0] * cols, [0] * cols
                start = np.zeros((rows, cols), np.int64)
                for c, (pos, w) in enumerate(chunk):
                    if c > 0 and chunk[c - 1][0] == pos:
                        chain[c], skip[c] = 1, (w - chunk[c - 1][1] - 1) * tws
                    else:
                        skip[c] = (w - last[pos] - 1) * tws
                        start[:used_rows, c] = membrane[m0:m0 + used_rows, pos]
                descriptor = design.pass_layout.const({
                    "config": config, "chain": chain, "skip": skip,
                    "membrane": start.tolist()}).as_bits()
                column_words = np.zeros((cols, weights.shape[1]), np.int64)
                for c, (pos, w) in enumerate(chunk):
                    column_words[c] = words[w, pos]
                # Array-level weight tailoring: only inputs that spike in some column.
                inputs = np.flatnonzero(column_words.any(axis=0))
                beats = [(design.weight_layout.const(row_weights[:, i].tolist()).as_bits(),
                          spike_beat(design, column_words[:, i], k == len(inputs) - 1))
                         for k, i in enumerate(inputs)]
                bits, cycles = await array.run_pass(descriptor, beats)
                result = design.result_layout.from_bits(bits)
                for c, (pos, w) in enumerate(chunk):
                    for r in range(used_rows):
                        word = result["spikes"][r][c]
                        out[b, w * tws:(w + 1) * tws, m0 + r, pos] = (word >> np.arange(tws)) & 1
                        membrane[m0 + r, pos] = result["membrane"][r][c]
                    last[pos] = w
                totals["passes"] += 1
                totals["beats"] += len(beats)
                totals["cycles"] += cycles
                totals["acc_ops"] += rows * sum(bin(int(x)).count("1") for x in column_words[:, inputs].flat)
    if counters is not None:
        for key, value in totals.items():
            counters[key] = counters.get(key, 0) + value
    return out.reshape(batch, steps, *layer.out_shape)
