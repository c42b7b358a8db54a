"""The activity-tag unit against ``sim.ntwu.window_tags`` (paper §III-B)."""

import gc
import random

import numpy as np
import pytest

from hw.tags import ActivityTagUnit, pack_spike_words
from sim.ntwu import window_tags
from tb.amaranth_streams import pause, simulate, stream_get, stream_put


def golden_tags(spikes, tws, tb_windows, spmb_inputs):
    """Window ``[W, N]``, block ``[B, N]`` and SP-MB ``[B, G]`` tags of spikes ``[T, N]``."""
    inputs = spikes.shape[1]
    windows = window_tags(spikes[None], tws)[0]
    blocks = windows.reshape(-1, tb_windows, inputs).any(axis=1)
    spmbs = np.stack([blocks[:, g:g + spmb_inputs].any(axis=1)
                      for g in range(0, inputs, spmb_inputs)], axis=1)
    return windows, blocks, spmbs


def rtl_tags(spikes, tws, tb_windows, spmb_inputs, *, word_steps=32, stall=0.3, seed=0):
    """The same tags, from :class:`ActivityTagUnit` fed the packed words with random stalls."""
    steps, inputs = spikes.shape
    words, counts = pack_spike_words(spikes, tws, tb_windows, word_steps)
    dut = ActivityTagUnit(word_steps=word_steps, tws_max=min(10, word_steps))
    rng = random.Random(seed)
    outputs = []

    async def producer(ctx):
        ctx.set(dut.tws, tws)
        ctx.set(dut.tb_windows, tb_windows)
        ctx.set(dut.inputs, inputs)
        ctx.set(dut.spmb_inputs, spmb_inputs)
        for word in words:
            await pause(ctx, rng, stall)
            await stream_put(ctx, dut.spikes, word)

    async def consumer(ctx):
        for _ in words:
            await pause(ctx, rng, stall)
            outputs.append(await stream_get(ctx, dut.tagged))

    simulate(dut, producer, consumer)

    assert [out.spikes for out in outputs] == words, "spike words must pass unchanged"
    assert [out.windows for out in outputs] == counts
    # Rebuild the tags by the storage order, which the test knows independently of the RTL.
    windows = np.zeros((steps // tws, inputs), dtype=bool)
    blocks, spmbs, tb_ends = [], [], 0
    index = iter(outputs)
    for block in range(steps // tws // tb_windows):
        for i in range(inputs):
            w = block * tb_windows
            while w < (block + 1) * tb_windows:
                out = next(index)
                for k in range(out.windows):
                    windows[w + k, i] = (out.window_tags >> k) & 1
                w += out.windows
                last = w == (block + 1) * tb_windows
                assert out.block_end == last, f"block_end wrong at block {block} input {i}"
                if out.block_end:
                    blocks.append(out.block_tag)
                if out.spmb_end:
                    spmbs.append(out.spmb_tag)
                tb_ends += out.tb_end
    assert tb_ends == steps // tws // tb_windows
    return (windows, np.array(blocks, dtype=bool).reshape(-1, inputs),
            np.array(spmbs, dtype=bool).reshape(-1, -(-inputs // spmb_inputs)))


def sparse_spikes(seed, steps, inputs, rate):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((steps, inputs)) < rate).astype(np.uint8)
    spikes[: steps // 2, 4:8] = 0            # a silent SP-MB in the first TB (groups of 4)
    return spikes


# (tws, tb_windows): single- and multi-word blocks for a 32-step word.
CASES = [(1, 40), (2, 20), (3, 4), (5, 7), (10, 3)]


@pytest.mark.parametrize("tws,tb_windows", CASES)
def test_random_spikes(tws, tb_windows):
    spikes = sparse_spikes(tws, steps=2 * tws * tb_windows, inputs=11, rate=0.03)
    expected = golden_tags(spikes, tws, tb_windows, spmb_inputs=4)
    got = rtl_tags(spikes, tws, tb_windows, spmb_inputs=4, seed=tws)
    for level, e, g in zip(("window", "block", "SP-MB"), expected, got):
        np.testing.assert_array_equal(g, e, err_msg=f"{level} tags, tws {tws}")
    assert not expected[2].all(), "the case must hold a silent SP-MB"


@pytest.mark.parametrize("tws,tb_windows", CASES)
def test_single_spike_at_last_step_of_window(tws, tb_windows):
    steps, inputs = 2 * tws * tb_windows, 5
    spikes = np.zeros((steps, inputs), dtype=np.uint8)
    window = tb_windows + tb_windows // 2          # a window inside the second TB
    spikes[window * tws + tws - 1, 3] = 1
    got = rtl_tags(spikes, tws, tb_windows, spmb_inputs=2, stall=0.0)
    windows, blocks, spmbs = golden_tags(spikes, tws, tb_windows, spmb_inputs=2)
    assert windows.sum() == 1 and spmbs.tolist() == [[0, 0, 0], [0, 1, 0]]
    for e, g in zip((windows, blocks, spmbs), got):
        np.testing.assert_array_equal(g, e)


def test_narrow_word_and_fc_groups():
    # fc: groups of 16 features, with a last group of 4; a 16-step word.
    spikes = sparse_spikes(7, steps=24, inputs=20, rate=0.02)
    expected = golden_tags(spikes, 3, 8, 16)
    got = rtl_tags(spikes, 3, 8, 16, word_steps=16, seed=7)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameter_checks():
    with pytest.raises(ValueError, match=r"^tws_max must be an integer in 1..32, not 33$"):
        ActivityTagUnit(tws_max=33)
    with pytest.raises(ValueError, match=r"^word_steps must be a positive integer, not 0$"):
        ActivityTagUnit(word_steps=0)
    with pytest.raises(ValueError, match=r"tb_windows 3 must divide the 4 windows"):
        pack_spike_words(np.zeros((8, 1)), 2, 3)
    gc.collect()    # the half-built components warn when collected; inside the filter
