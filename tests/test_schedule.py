"""The schedule of docs/dataflow.md: invariants and hand-worked cases."""

import numpy as np
import pytest

from hw.config import FIRE_STEP_CYCLES
from spikex.example import example_network
from spikex.netfile import ConvLayer, FcLayer, SpikexError
from sim.analytic import layer_membrane
from sim.figures import paper_layers, synthetic_layer_input
from sim.ntwu import ntwu_tags
from sim.schedule import Hardware, layer_schedule


def _schedule(layer, spikes, weights, hw, b=0):
    out, membrane = layer_membrane(layer, weights, spikes, 16)
    return layer_schedule(layer, spikes[b], membrane[b], out[b], hw)


def _example_layers():
    net = example_network(batch=2, timesteps=12, firing_rate=0.05, seed=3)
    spikes = net.input
    for layer, weights in zip(net.layers, net.weights):
        yield layer, weights, spikes
        spikes = layer_membrane(layer, weights, spikes, net.v_bits)[0]


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("rows, cols", [(8, 8), (3, 5), (1, 1)])
def test_every_active_ntwu_exactly_once(dataflow, rows, cols):
    hw = Hardware(rows=rows, cols=cols, dataflow=dataflow)
    for layer, weights, spikes in _example_layers():
        schedule = _schedule(layer, spikes, weights, hw)
        done = [(m, pos, w) for p in schedule.passes() for m in p.channels for pos, w in p.entries]
        assert len(done) == len(set(done))
        tags = ntwu_tags(layer, spikes[:1])[0].reshape(schedule.windows, layer.out_shape[0], -1)
        expected = {(m, pos, w) for w, m, pos in zip(*np.nonzero(tags))}
        assert set(done) == expected


def test_ptb_never_mixes_positions_and_streams_all_inputs():
    layer = paper_layers("n-mnist", 2)[0]
    spikes, weights = synthetic_layer_input(layer, 0.02, 1, 30, 1)
    schedule = _schedule(layer, spikes, weights, Hardware(dataflow="ptb"))
    passes = list(schedule.passes())
    assert passes
    for p in passes:
        assert len({pos for pos, _ in p.entries}) == 1
        assert len(p.beats) == layer.fan_in


def test_spatial_mode_only_when_few_windows_per_position():
    layer = paper_layers("n-mnist", 2)[0]
    for rate, cols in [(0.0005, 8), (0.05, 8), (0.05, 2), (0.2, 16)]:
        spikes, weights = synthetic_layer_input(layer, rate, 1, 30, 2)
        schedule = _schedule(layer, spikes, weights, Hardware(cols=cols))
        mean = len(schedule.w) / schedule.positions
        assert schedule.spatial == (mean <= cols)
        mixed = any(len({pos for pos, _ in p.entries}) > 1 for p in schedule.passes())
        if mixed:
            assert schedule.spatial
    # both modes occur over this sweep
    modes = set()
    for rate in (0.0005, 0.3):
        spikes, weights = synthetic_layer_input(layer, rate, 1, 30, 2)
        modes.add(_schedule(layer, spikes, weights, Hardware(cols=2)).mode)
    assert modes == {"spatial", "temporal"}


def test_spikex_beats_are_the_inputs_with_a_spike_in_the_pass():
    layer = ConvLayer(3, (7, 7), 2, 3, 2, 1, threshold=50, leak_shift=1, tws=2)
    rng = np.random.default_rng(5)
    spikes = (rng.random((1, 8, 3, 7, 7)) < 0.05).astype(np.uint8)
    weights = rng.integers(-20, 40, size=layer.weight_shape)
    schedule = _schedule(layer, spikes, weights, Hardware(rows=2, cols=3))
    x = np.pad(spikes[0], ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = layer.out_size[1]
    for p in schedule.passes():
        expected = set()
        for pos, w in p.entries:
            r, c = divmod(pos, cols)
            field = x[w * 2:(w + 1) * 2, :, r * 2:r * 2 + 3, c * 2:c * 2 + 3].any(axis=0)
            expected |= set(np.flatnonzero(field.reshape(-1)).tolist())
        assert set(p.beats.tolist()) == expected


def test_chain_and_decay_cycles_by_hand():
    # One fc neuron; input 0 spikes at t=0 (window 0) and t=4 (window 2); window 1 is empty.
    # Membrane: t0 8, t1 decay 4, window 1 decays 4 -> 2 -> 1 (two changing steps), 1 is a
    # fixed point of decay with leak_shift 1.
    layer = FcLayer(2, 1, threshold=100, leak_shift=1, tws=2)
    spikes = np.zeros((1, 6, 2), np.uint8)
    spikes[0, 0, 0] = spikes[0, 4, 0] = 1
    schedule = _schedule(layer, spikes, np.array([[8, 8]]), Hardware(rows=1, cols=2, pe="serial"))
    (p,) = list(schedule.passes())
    assert p.entries == [(0, 0), (0, 2)]
    assert p.decay.tolist() == [[0, 2]]
    assert p.from_left.tolist() == [False, True]
    assert p.from_store.tolist() == [False, False]
    assert p.to_store.tolist() == [False, True]
    assert p.fire_cycles == FIRE_STEP_CYCLES * ((0 + 2) + (2 + 2))
    assert p.beats.tolist() == [0]
    # fill 1 + 2, one beat of 2 cycles, fire 2 * 6 (two cycles a firing step), drain 1
    assert p.compute_cycles == 3 + 2 + FIRE_STEP_CYCLES * 6 + 1
    # The sparse PE: the beat's words have one set bit each, so it takes one cycle.
    schedule = _schedule(layer, spikes, np.array([[8, 8]]), Hardware(rows=1, cols=2, pe="sparse"))
    assert next(schedule.passes()).compute_cycles == 3 + 1 + FIRE_STEP_CYCLES * 6 + 1


def test_chunks_split_chains_and_read_the_membrane_store():
    layer = FcLayer(1, 1, threshold=1000, leak_shift=0, tws=1)
    spikes = np.ones((1, 5, 1), np.uint8)
    schedule = _schedule(layer, spikes, np.array([[3]]), Hardware(rows=1, cols=2))
    passes = list(schedule.passes())
    assert [p.entries for p in passes] == [[(0, 0), (0, 1)], [(0, 2), (0, 3)], [(0, 4)]]
    assert [p.from_store.tolist() for p in passes] == [[False, False], [True, False], [True]]
    assert [p.to_store.tolist() for p in passes] == [[False, True], [False, True], [True]]


def test_blocks_cover_the_time_blocks_in_order():
    layer = paper_layers("dvsg-medium", 5)[0]
    spikes, weights = synthetic_layer_input(layer, 0.01, 1, 60, 4)
    schedule = _schedule(layer, spikes, weights, Hardware())
    blocks = list(schedule.blocks())
    assert schedule.n_tb > 1
    assert [b.tb for b in blocks] == list(range(schedule.n_tb))
    covered = [w for b in blocks for w in b.windows]
    assert covered == list(range(schedule.windows))
    assert all(b.cycles >= b.compute_cycles for b in blocks)
    assert sum(b.cycles for b in blocks) == schedule.totals["cycles"]


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 0}, "rows must be a positive integer, not 0"),
    ({"cols": 2.5}, "cols must be a positive integer, not 2.5"),
    ({"dataflow": "eyeriss"}, "dataflow must be 'spikex' or 'ptb', not 'eyeriss'"),
    ({"glb_kb": -1}, "glb_kb must be a positive number, not -1"),
    ({"tws_max": 0}, "tws_max must be a positive integer, not 0"),
    ({"memory": "cache"}, "memory must be 'blocks' or 'rtl', not 'cache'"),
    ({"memory": "rtl", "dram_latency": 0}, "dram_latency must be a positive integer, not 0"),
    ({"dram_one_burst": 1}, "dram_one_burst must be True or False, not 1"),
    ({"pe": "fast"}, "pe must be one of serial, sparse, parallel, not 'fast'"),
])
def test_hardware_parameters_are_checked(kwargs, message):
    with pytest.raises(SpikexError) as error:
        Hardware(**kwargs)
    assert str(error.value) == message


def test_tws_max_refuses_a_layer():
    layer = FcLayer(2, 1, threshold=10, leak_shift=0, tws=4)
    spikes = np.zeros((1, 4, 2), np.uint8)
    with pytest.raises(SpikexError, match="tws 4 exceeds the PEs' tws_max 2"):
        _schedule(layer, spikes, np.array([[1, 1]]), Hardware(tws_max=2))


def test_rtl_memory_counts_by_hand():
    # fc 20 -> 3, rows 2 (groups of 2 and 1), cols 2, T 4, tws 2, SpikeX; one spike at
    # input 3, step 1 (window 0): input SP-MB 0 (features 0..15) active, SP-MB 1 (16..19) not.
    layer = FcLayer(20, 3, threshold=100, leak_shift=0, tws=2)
    spikes = np.zeros((1, 4, 20), np.uint8)
    spikes[0, 1, 3] = 1
    weights = np.ones((3, 20), np.int64)
    hw = Hardware(rows=2, cols=2, memory="rtl", dram_latency=1)
    t = _schedule(layer, spikes, weights, hw).totals
    # One active NTWU (window 0), one chunk, one beat per row group (input 3).
    # DRAM read: descriptor 128 + tags 4 + 16 inputs * 4 bytes + 3 rows * 16 weight bytes.
    assert t["dram_read_bytes"] == 128 + 4 + 16 * 4 + 3 * 16
    # DRAM write: 3 outputs * 4 bytes + one tag word (16 outputs per output SP-MB).
    assert t["dram_write_bytes"] == 3 * 4 + 4
    # GLB writes: 16 inputs + 3 * 16 weights + 3 results (one column, 3 used PEs).
    assert t["glb_writes"] == {"weights": 48, "spikes": 16 + 3, "membranes": 0}
    # GLB reads: per pass (2 groups) 16 weight words and 16 spike words (one column); 3 outputs.
    assert t["glb_reads"] == {"weights": 2 * 16, "spikes": 2 * 16 + 3, "membranes": 0}
    assert t["lbuf_reads"] == t["lbuf_writes"] == {"beats": 2}
    # acc_ops 1 * 3 rows; scratchpad 2 * 3 + 2 * tws * 3 used PEs.
    assert t["scratchpad_accesses"] == 2 * 3 + 2 * 2 * 3


def test_rtl_time_block_state_accesses_by_hand():
    # fc 20 -> 3, rows 2 (row groups of 2 and 1), cols 2, T 8 in two blocks of 4, tws 2;
    # input 3 spikes at steps 1, 5 and 7: block 0 has window 0, block 1 windows 2 and 3
    # of the one output position, in one chunk where the second column chains the first.
    layer = FcLayer(20, 3, threshold=100, leak_shift=0, tws=2)
    spikes = np.zeros((1, 8, 20), np.uint8)
    spikes[0, [1, 5, 7], 3] = 1
    weights = np.ones((3, 20), np.int64)
    hw = Hardware(rows=2, cols=2, memory="rtl", dram_latency=1, block_steps=4, max_timesteps=4)
    t = _schedule(layer, spikes, weights, hw).totals
    # Per row group, state words written: the position's, cleared as the group starts, and
    # one per chain's last column (window 0's, window 3's); read: the 2 columns of block
    # 1's chunk.
    assert t["glb_writes"]["membranes"] == 2 * (1 + 2)
    assert t["glb_reads"]["membranes"] == 2 * 2
