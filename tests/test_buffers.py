"""Ping-pong buffers, their partition and weight tailoring (paper §III-D)."""

import gc
import random

import numpy as np
import pytest

from hw.buffers import (GLB_BYTES, LBUF_BYTES, LBUF_SHARES, BufferPartition, PingPongBuffer,
                        WeightTailoring, buffer_partition)
from spikex.netfile import SpikexError
from tb.amaranth_streams import pause, simulate, stream_get, stream_put


async def pulse(ctx, signal):
    ctx.set(signal, 1)
    await ctx.tick()
    ctx.set(signal, 0)


async def fill_block(ctx, dut, words, rng=None, stall=0.0):
    """Write ``words`` at addresses 0.. into the fill bank once it is free, then close it."""
    await ctx.tick().until(dut.fill_ready)
    for addr, word in enumerate(words):
        ctx.set(dut.fill.addr, addr)
        ctx.set(dut.fill.data, word)
        ctx.set(dut.fill.en, 1)
        await ctx.tick()
        ctx.set(dut.fill.en, 0)
        if rng:
            await pause(ctx, rng, stall)
    await pulse(ctx, dut.fill_done)


async def drain_block(ctx, dut, rng=None, stall=0.0):
    """Read every word of the next full bank, then release it."""
    ctx.set(dut.drain.en, 0)
    await ctx.tick().until(dut.drain_valid)
    words = []
    for addr in range(ctx.get(dut.drain_level)):
        ctx.set(dut.drain.addr, addr)
        ctx.set(dut.drain.en, 1)
        await ctx.tick()
        ctx.set(dut.drain.en, 0)
        words.append(ctx.get(dut.drain.data))
        if rng:
            await pause(ctx, rng, stall)
    await pulse(ctx, dut.drain_release)
    return words


def test_simultaneous_fill_and_drain():
    dut = PingPongBuffer(depth=12, width=16)
    rng = random.Random(1)
    blocks = [[rng.randrange(1 << 16) for _ in range(rng.randint(1, 12))] for _ in range(9)]
    drained, overlap = [], []

    async def filler(ctx):
        for words in blocks:
            await fill_block(ctx, dut, words, rng, stall=0.3)

    async def drainer(ctx):
        for _ in blocks:
            drained.append(await drain_block(ctx, dut, rng, stall=0.3))
        assert ctx.get(dut.writes) == ctx.get(dut.reads) == sum(map(len, blocks))

    async def monitor(ctx):
        async for _, _, *ports in ctx.tick().sample(dut.fill.en, dut.fill_ready,
                                                    dut.drain.en, dut.drain_valid):
            overlap.append(all(ports))

    simulate(dut, filler, drainer, processes=[monitor])
    assert drained == blocks
    assert sum(overlap) > 10, "fill and drain must run in the same cycles"


def test_swap_ordering():
    dut = PingPongBuffer(depth=4, width=8)
    states = []

    def state(ctx):
        return tuple(ctx.get(s) for s in (dut.fill_bank, dut.fill_ready,
                                          dut.drain_bank, dut.drain_valid))

    async def testbench(ctx):
        ctx.set(dut.drain.en, 0)
        states.append(state(ctx))                       # both empty
        await fill_block(ctx, dut, [1, 2])
        states.append(state(ctx))                       # bank 0 full
        await fill_block(ctx, dut, [3])
        states.append(state(ctx))                       # both full: filler waits
        # A write while no bank is free is dropped and not counted.
        ctx.set(dut.fill.en, 1)
        await ctx.tick()
        ctx.set(dut.fill.en, 0)
        assert ctx.get(dut.writes) == 3
        assert await drain_block(ctx, dut) == [1, 2]
        states.append(state(ctx))                       # bank 0 free, bank 1 to drain
        # Fill the free bank and release the other in the same cycle.
        ctx.set(dut.fill_done, 1)
        ctx.set(dut.drain_release, 1)
        await ctx.tick()
        ctx.set(dut.fill_done, 0)
        ctx.set(dut.drain_release, 0)
        states.append(state(ctx))
        assert ctx.get(dut.drain_level) == 0 and ctx.get(dut.reads) == 2
        assert [ctx.get(dut.data[i]) for i in (0, 1, 4)] == [1, 2, 3]

    simulate(dut, testbench)
    assert states == [(0, 1, 0, 0), (1, 1, 0, 1), (0, 0, 0, 1), (0, 1, 1, 1), (1, 1, 0, 1)]


def reference_tailoring(weights, tags, groups):
    """Words that pass and how many are dropped, for ``weights [C, words]`` sent ``groups`` times."""
    passed = [(int(w), c) for _ in range(groups) for c in np.flatnonzero(tags) for w in weights[c]]
    return passed, groups * weights.size - len(passed)


def rtl_tailoring(weights, tags, groups, *, channels, seed=0, stall=0.3):
    used, channel_words = weights.shape
    dut = WeightTailoring(width=8, channels=channels)
    rng = random.Random(seed)
    stream = [int(w) for _ in range(groups) for w in weights.reshape(-1)]
    passed = []
    expected = int(sum(tags)) * channel_words * groups

    async def producer(ctx):
        ctx.set(dut.tags, sum(int(t) << c for c, t in enumerate(tags)))
        ctx.set(dut.channels_used, used)
        ctx.set(dut.channel_words, channel_words)
        for word in stream:
            await pause(ctx, rng, stall)
            await stream_put(ctx, dut.weights, word)
        sent.append(True)

    async def consumer(ctx):
        for _ in range(expected):
            await pause(ctx, rng, stall)
            out = await stream_get(ctx, dut.tailored)
            passed.append((out.weight, out.channel))
        while not sent:                                 # dropped words may still follow
            await ctx.tick()
        await ctx.tick().repeat(4)
        assert ctx.get(dut.tailored.valid) == 0, "no word beyond the active channels"
        counts.extend([ctx.get(dut.passed), ctx.get(dut.skipped)])

    counts, sent = [], []
    simulate(dut, producer, consumer)
    assert counts[0] == len(passed)
    return passed, counts[1]


@pytest.mark.parametrize("seed", range(3))
def test_tailoring_against_reference(seed):
    rng = np.random.default_rng(seed)
    used, channel_words = 5 + seed, 3 + seed
    weights = rng.integers(0, 256, (used, channel_words))
    tags = rng.random(used) < 0.5
    tags[0], tags[-1] = True, False
    assert (rtl_tailoring(weights, tags, groups=2, channels=8, seed=seed)
            == reference_tailoring(weights, tags, groups=2))


def test_tailoring_all_silent_and_all_active():
    weights = np.arange(12).reshape(4, 3)
    for tags in (np.zeros(4, bool), np.ones(4, bool)):
        assert (rtl_tailoring(weights, tags, groups=1, channels=4, stall=0.0)
                == reference_tailoring(weights, tags, groups=1))


def test_partition():
    glb = buffer_partition(GLB_BYTES, 64, name="GLB")
    assert glb == BufferPartition(weights=864, spikes=1728, outputs=864, word_bits=64)
    assert 2 * (glb.weights + glb.spikes + glb.outputs) * 8 == GLB_BYTES
    lbuf = buffer_partition(LBUF_BYTES, 64, LBUF_SHARES, name="LBUF")
    assert lbuf == BufferPartition(weights=64, spikes=64, outputs=0, word_bits=64)
    assert buffer_partition(1000, 32, (1, 1, 2)) == BufferPartition(31, 31, 62, 32)
    with pytest.raises(SpikexError, match=r"^LBUF: 16 bytes is too small for two banks"):
        buffer_partition(16, 32, name="LBUF")
    with pytest.raises(SpikexError, match=r"^GLB: word width must be a positive multiple "
                                          r"of 8 bits, not 12$"):
        buffer_partition(GLB_BYTES, 12, name="GLB")
    with pytest.raises(SpikexError, match=r"^GLB: shares must be three non-negative"):
        buffer_partition(GLB_BYTES, 64, (0, 0, 0), name="GLB")


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameter_checks():
    with pytest.raises(ValueError, match=r"^depth must be a positive integer, not 0$"):
        PingPongBuffer(0, 8)
    with pytest.raises(TypeError, match=r"^channels must be a positive integer, not 2.0$"):
        WeightTailoring(8, 2.0)
    gc.collect()    # the half-built components warn when collected; inside the filter
