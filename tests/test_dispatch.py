"""The NTWU dispatcher (hw/dispatch.py) under amaranth.sim: the active list and the column
chunks against the schedule of docs/dataflow.md (sim/ntwu.py, sim/schedule.py)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.dispatch import NtwuDispatcher
from sim.ntwu import ntwu_tags
from spikex.netfile import ConvLayer


def expected_chunks(active, cols, spatial):
    """Chunks of the sorted active list: consecutive runs of ``cols``, never mixing positions
    unless ``spatial``."""
    chunks, current = [], []
    for entry in active:
        if current and (len(current) == cols or (not spatial and entry[0] != current[-1][0])):
            chunks.append(current)
            current = []
        current.append(entry)
    return chunks + ([current] if current else [])


def run_dispatcher(layer, spikes, cols, temporal):
    steps = spikes.shape[0]
    windows = steps // layer.tws
    # Location tags: OR over channels of each input's window tags.
    per_window = spikes.reshape(windows, layer.tws, *layer.in_shape).any(axis=1)
    loc = per_window.any(axis=1)                                   # [W, H, W']
    loc_words = [sum(int(loc[w, y, x]) << w for w in range(windows))
                 for y in range(layer.in_size[0]) for x in range(layer.in_size[1])]
    dut = NtwuDispatcher(cols=cols, max_positions=64, max_locations=64, max_windows=16,
                         max_entries=256, dim_bits=6)
    got = {}

    async def bench(ctx):
        cfg = dut.config
        for name, value in (("in_h", layer.in_size[0]), ("in_w", layer.in_size[1]),
                            ("out_h", layer.out_size[0]), ("out_w", layer.out_size[1]),
                            ("kernel", layer.kernel), ("stride", layer.stride),
                            ("padding", layer.padding),
                            ("temporal", temporal)):
            ctx.set(getattr(cfg, name), value)
        await ctx.tick()                # the configuration is held from the cycle before build
        ctx.set(dut.build, 1)
        await ctx.tick()
        ctx.set(dut.build, 0)
        while not ctx.get(dut.built):
            addr, en = ctx.get(dut.loc.addr), ctx.get(dut.loc.en)
            await ctx.tick()
            if en:
                ctx.set(dut.loc.data, loc_words[addr] if addr < len(loc_words) else 0)
        got["entries"], got["spatial"] = ctx.get(dut.entries), ctx.get(dut.spatial)
        chunks = []
        for _ in range(2):          # two row groups: the walk restarts after rewind
            ctx.set(dut.rewind, 1)
            await ctx.tick()
            ctx.set(dut.rewind, 0)
            walk = []
            while True:
                ctx.set(dut.request, 1)
                await ctx.tick()
                ctx.set(dut.request, 0)
                await ctx.tick().until(dut.chunk_done)
                chunk = ctx.get(dut.chunk)
                if chunk.end:
                    break
                walk.append([(chunk.entries[c].pos, chunk.entries[c].w, chunk.chain[c],
                              chunk.skip_windows[c], chunk.from_store if c == 0 else 0)
                             for c in range(chunk.len)])
            chunks.append(walk)
        got["chunks"] = chunks

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("temporal", [0, 1])
def test_dispatcher_list_and_chunks(seed, temporal):
    rng = np.random.default_rng(seed)
    layer = ConvLayer(in_channels=2, in_size=(5, 5), out_channels=3, kernel=int(rng.integers(1, 4)),
                      stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                      threshold=10, leak_shift=1, tws=2)
    spikes = (rng.random((12, *layer.in_shape)) < rng.choice([0.02, 0.1, 0.4])).astype(np.uint8)
    cols = 3
    tags = ntwu_tags(layer, spikes[None], layer.tws)[0, :, 0]        # [W, R, R']
    positions = int(np.prod(layer.out_size))
    active = [(p, w) for p in range(positions) for w in range(tags.shape[0])
              if tags[w].reshape(-1)[p]]
    got = run_dispatcher(layer, spikes, cols, temporal)
    spatial = not temporal and len(active) <= cols * positions
    assert got["entries"] == len(active)
    assert got["spatial"] == spatial
    chunks = expected_chunks(active, cols, spatial)
    for walk in got["chunks"]:
        assert [[(p, w) for p, w, *_ in chunk] for chunk in walk] == [list(c) for c in chunks]
        previous = None
        for chunk in walk:
            for c, (p, w, chain, skip, from_store) in enumerate(chunk):
                same = previous is not None and previous[0] == p
                assert chain == (c > 0 and same)
                assert from_store == (c == 0 and same)
                assert skip == (w - previous[1] - 1 if same else 0)
                previous = (p, w)


def test_dispatcher_asserts_its_configuration_held_before_build():
    # The scan's products are registered a cycle behind the configuration, so a layer given
    # in the same cycle as ``build`` would be scanned with the previous one's.
    dut = NtwuDispatcher(cols=2, max_positions=64, max_locations=64, max_windows=16,
                         max_entries=256, dim_bits=6)

    async def bench(ctx):
        ctx.set(dut.config.in_w, 5)
        ctx.set(dut.build, 1)
        await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    with pytest.raises(AssertionError, match="configuration changed in the cycle before build"):
        sim.run()


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 64])
def test_window_trees(width):
    # The trees EMIT's registered flags are worked out with: at_most_one and lowest_set,
    # against Python on every value of a narrow word and on random ones of a wide one.
    from amaranth.hdl import Module, Signal
    from hw.dispatch import at_most_one, lowest_set

    value = Signal(width)
    one, low = Signal(), Signal(max(1, width.bit_length()))
    m = Module()
    m.d.comb += [one.eq(at_most_one(value)), low.eq(lowest_set(value))]
    rng = np.random.default_rng(width)
    values = (range(1 << width) if width <= 8 else
              [(int(rng.integers(0, 1 << 62)) << int(rng.integers(0, 3)) | 1 << int(b)) &
               ((1 << width) - 1) for b in rng.integers(0, width, 200)] + [1 << (width - 1)])

    async def bench(ctx):
        for v in values:
            ctx.set(value, v)
            assert ctx.get(one) == (v & (v - 1) == 0), v
            if v:
                assert ctx.get(low) == (v & -v).bit_length() - 1, v

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
