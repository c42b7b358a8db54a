"""The accelerator's counters (hw/top.py under amaranth.sim) against the analytic model of the
same hardware (sim/schedule.py with ``Hardware(memory="rtl")``, sim/analytic.py), on tiny
random networks, both dataflows.

Every counter the RTL keeps is compared exactly: ``cycles``, ``busy_cycles``,
``stall_cycles``, ``acc_ops``, ``active_ntwus``, ``dram_read_bytes``, ``dram_write_bytes``,
``glb_reads``, ``glb_writes``, ``lbuf_reads``, ``lbuf_writes``, ``scratchpad_accesses``. The
DRAM model of ``run_top`` (tb/amaranth_host.py) answers one cycle after AR (and after
AW, and after the last W beat) and pipelines bursts, so the model runs with
``dram_latency=1, dram_one_burst=False``. The slow tests run the Verilog under Icarus with
tb/axi_ram.v (same latency, one burst at a time: ``dram_one_burst=True``).

Time blocks (``block_steps`` less than T) are compared exactly too, with leaks (the RTL
starts the PEs that hold no neuron from 0, so they never decay).
"""

import shutil

import numpy as np
import pytest

from hw.config import DEFAULTS
from hw.limits import glb_shares, glb_split_bytes
from sim.analytic import layer_membrane, run_analytic
from sim.configure import rtl_parameters
from sim.differential import RTL_CONFIGS
from sim.schedule import Hardware, layer_schedule
from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError
from tb.amaranth_host import check_outputs, run_top
from tb.networks import random_network, small_network, tiny_network


COUNTERS = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
            "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
            "lbuf_reads", "lbuf_writes", "scratchpad_accesses")


def analytic_counters(net, dataflow, rows, cols, tws_max, lbuf_kb=2, glb_kb=8, glb_split=None,
                      block_steps=None, max_timesteps=64, pe=DEFAULTS.pe, data_width=32):
    # run_top elaborates the default GLB split unless given one, and runs one time block
    # unless given one (rtl_parameters would cut a sample that does not fit into blocks).
    # The shares run_top's accelerator has: with time blocks, less the state's.
    blocked = block_steps is not None and block_steps < net.timesteps
    split = glb_shares(glb_kb, glb_split, rows=rows, v_bits=net.v_bits,
                       max_timesteps=max_timesteps, time_blocks=blocked)[:3]
    options = dict(dataflow=dataflow, rows=rows, cols=cols, tws_max=tws_max, memory="rtl",
                   dram_latency=1, dram_one_burst=False, lbuf_kb=lbuf_kb, glb_kb=glb_kb,
                   glb_split=list(split),
                   block_steps=block_steps or net.timesteps, max_timesteps=max_timesteps,
                   pe=pe, data_width=data_width)
    _, counters = run_analytic(net, options)
    return [dict(layer, busy_cycles=layer["compute_cycles"]) for layer in counters["layers"]]


def rtl_and_model(net, dataflow, rows, cols, tws_max=4, golden=False, **hardware):
    """The RTL's counters (amaranth.sim) and the analytic model's, per layer."""
    image, data, result = run_top(net, dataflow, rows=rows, cols=cols, tws_max=tws_max,
                                  weight_bits=net.weight_bits, **hardware)
    if golden:
        check_outputs(net, image, data)
    assert result["status"] == 0b010, f"error code {result['error_code']}"
    model = analytic_counters(net, dataflow, rows, cols, tws_max, hardware.get("lbuf_kb", 2),
                              hardware.get("glb_kb", 8), hardware.get("glb_split"),
                              hardware.get("block_steps"), hardware.get("max_timesteps", 64),
                              hardware.get("pe", DEFAULTS.pe), hardware.get("data_width", 32))
    assert len(result["counters"]) == len(model) == len(net.layers)
    return result["counters"], model


def assert_counters_equal(net, dataflow, rows, cols, tws_max=4, golden=False, **hardware):
    counters, model = rtl_and_model(net, dataflow, rows, cols, tws_max, golden, **hardware)
    for k, (rtl, ours) in enumerate(zip(counters, model)):
        differ = {name: (rtl[name], ours[name]) for name in COUNTERS if rtl[name] != ours[name]}
        assert not differ, f"layer {k} ({net.layers[k].kind}): (rtl, analytic) {differ}"
        assert rtl["lbuf_reads"] == ours["beats"]


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("make", [lambda: tiny_network(batch=2),
                                  lambda: random_network(np.random.default_rng(11)),
                                  lambda: random_network(np.random.default_rng(12))],
                         ids=["tiny", "random11", "random12"])
def test_counters_match_the_analytic_model(make, dataflow):
    assert_counters_equal(make(), dataflow, rows=2, cols=3)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("make, beats", [(lambda: tiny_network(batch=1), 1),
                                         (lambda: random_network(np.random.default_rng(12)), 3)],
                         ids=["tiny-1beat", "random12-3beats"])
def test_counters_match_when_passes_stream_through_the_lbuf(make, beats, dataflow):
    # An LBUF bank of 1 or 3 beats (2x3 array, tws_max 4: 4-byte entries): every pass is cut
    # into segments that stream through the two banks; in SpikeX some segments are empty
    # (handed back, or ended by one all-zero beat). The outputs are checked against golden.
    assert_counters_equal(make(), dataflow, rows=2, cols=3, golden=True,
                          lbuf_kb=beats * 2 * 4 / 1024)


@pytest.mark.parametrize("pe", ["serial", "parallel"])
@pytest.mark.parametrize("make, lbuf_kb, block, dataflow", [
    (lambda: random_network(np.random.default_rng(11), rates=(0.3,)), 2, None, "spikex"),
    (lambda: random_network(np.random.default_rng(13), rates=(0.3,)), 3 * 2 * 4 / 1024, None,
     "spikex"),
    (lambda: tiny_network(batch=1, rate=0.3), 3 * 2 * 4 / 1024, None, "ptb"),
    (lambda: tiny_network(timesteps=24, rate=0.2), 2, 8, "spikex")],
    ids=["random11-spikex", "random13-3beats-spikex", "tiny-3beats-ptb", "tiny-blocks8-spikex"])
def test_counters_match_with_each_pe(make, lbuf_kb, block, dataflow, pe):
    # The other PEs than the default, sparse one (the tests above): serial, a beat in tws
    # cycles; parallel, a beat in one. In one LBUF bank, streamed through 3-beat banks
    # (4-byte entries, the sparse PE's pace included: the gather or the paces set the
    # pace), and in time blocks of 8 steps. Outputs checked against golden. Dense enough
    # input that words have several set bits, so the three PEs' cycles differ.
    net = make()
    hardware = {} if block is None else {"block_steps": block, "max_timesteps": block}
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, lbuf_kb=lbuf_kb, pe=pe,
                          **hardware)
    cycles = {kind: sum(layer["cycles"] for layer in analytic_counters(
        net, dataflow, 2, 3, 4, lbuf_kb, block_steps=block, max_timesteps=block or 64, pe=kind))
        for kind in ("serial", "sparse", "parallel")}
    assert cycles["parallel"] < cycles["sparse"] < cycles["serial"], cycles


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_when_weights_do_not_fit_a_bank(dataflow):
    # A 64-byte weight share: 32 fan-in, a ping-pong bank 16, fewer than either layer's
    # fan-in (18, 27): each row group's weights load after the previous group's passes, into
    # the whole share. (The tests above run with ping-pong.) The spike words are 32 steps
    # wide, as sim/configure.py's rtl_parameters gives the model for a sample in one block
    # (with 8-step words the RTL's output share would hold two banks where the model's
    # holds one).
    net = tiny_network(batch=1)
    assert min(layer.fan_in for layer in net.layers) > 16
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, glb_kb=0.5,
                          glb_split=(256, 64, 128), max_timesteps=32)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_with_the_glb_split_as_the_network_needs(dataflow):
    # 0.4 KB of GLB: the default split leaves the fc layer's 27 fan-in more than half its
    # weight share (no ping-pong); split as the network needs (sim.rtl.rtl_parameters), the
    # weights get room for two banks.
    net = tiny_network(batch=1)
    split = rtl_parameters(net, {"rows": 2, "cols": 3, "tws_max": 4, "glb_kb": 0.4})["glb_split"]
    assert split[1] >= 2 * 27 * 2 > glb_split_bytes(0.4)[1]
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, glb_kb=0.4,
                          glb_split=tuple(split), max_timesteps=32)


def _quiet_network(channels=6, timesteps=8):
    """A conv and an fc layer of ``channels`` outputs each and no input spike: every row
    group's passes take 3 cycles, less than the previous group's write-out."""
    rng = np.random.default_rng(0)
    conv = ConvLayer(in_channels=2, in_size=(6, 6), out_channels=channels, kernel=3, stride=1,
                     padding=1, threshold=30, leak_shift=2, tws=2)
    fc = FcLayer(in_features=channels * 36, out_features=channels, threshold=20, leak_shift=1,
                 tws=4)
    weights = [rng.integers(-40, 100, size=conv.weight_shape),
               rng.integers(-40, 100, size=fc.weight_shape)]
    x = np.zeros((1, timesteps, 2, 6, 6), np.uint8)
    return Network([conv, fc], weights, x, weight_bits=8, v_bits=16)


def _quiet_fc_network(timesteps=128):
    """Two 16 -> 16 fc layers and no input spike (T = 128: two words an input)."""
    rng = np.random.default_rng(0)
    layers = [FcLayer(in_features=16, out_features=16, threshold=20, leak_shift=1, tws=4)
              for _ in range(2)]
    weights = [rng.integers(-40, 100, size=layer.weight_shape) for layer in layers]
    return Network(layers, weights, np.zeros((1, timesteps, 16), np.uint8), weight_bits=8,
                   v_bits=16)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("make, rows, cols, block", [(_quiet_network, 1, 3, None),
                                                     (_quiet_fc_network, 8, 2, 64)],
                         ids=["conv-fc", "fc-fc-B64"])
def test_counters_match_when_a_write_out_outlasts_the_next_group(make, rows, cols, block,
                                                                 dataflow):
    # Two output banks: a row group's outputs leave one while the next group's passes fill
    # the other. Here the passes are shorter than a write-out, so the next write-out waits
    # for the previous one (WRITE_START): row group after row group (conv-fc), and (SpikeX)
    # block after block (fc-fc-B64: T = 128 in two blocks of 64 steps, 8 rows).
    assert_counters_equal(make(), dataflow, rows=rows, cols=cols, golden=True,
                          block_steps=block)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_when_outputs_do_not_fit_a_bank(dataflow):
    # 0.25 KB of GLB split 120, 96, 24 bytes, 8-step spike words: the output share holds 24
    # outputs, a bank 12, fewer than the conv layer's row group outputs (2 x 9): its
    # write-outs are waited for; the fc layer's (2) use two banks. The weights ping-pong in
    # the conv layer (fan-in 18 <= 24), not in the fc layer (27).
    net = tiny_network(batch=1)
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, glb_kb=0.25,
                          glb_split=(120, 96, 24), max_timesteps=8)


def _wide(seed, weight_bits):
    """Up to 40 time steps (seed 3 draws 40: two AXI words per input), wider weights."""
    net = random_network(np.random.default_rng(seed), timesteps=(4, 6, 12, 40),
                         rates=(0.01, 0.1, 0.3, 0.0))
    return Network(net.layers, net.weights, net.input, weight_bits=weight_bits, v_bits=net.v_bits)


def _tiny_wide_weights():
    net = tiny_network(batch=1)
    return Network(net.layers, net.weights, net.input, weight_bits=12, v_bits=net.v_bits)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("make, rows, cols", [(lambda: _wide(3, 8), 3, 2),
                                              (_tiny_wide_weights, 2, 4)],
                         ids=["T40-rows3", "weights12"])
def test_counters_match_with_idle_rows_and_wide_words(make, rows, cols, dataflow):
    # rows=3 leaves idle rows in the last row group: the RTL gives them zero weights, so they
    # never lengthen a pass (on stale weights they did, by cycles this network shows).
    # 12-bit weights take two bytes each in DRAM (two weights per AXI word).
    assert_counters_equal(make(), dataflow, rows=rows, cols=cols)


def _schedules(net, dataflow, rows, cols, block_steps, sample=0):
    """The analytic schedule of every layer of one sample, in time blocks."""
    hw = Hardware(rows=rows, cols=cols, dataflow=dataflow, tws_max=4, glb_kb=8, memory="rtl",
                  block_steps=block_steps)
    spikes, schedules = net.input, []
    for layer, weights in zip(net.layers, net.weights):
        out, membrane = layer_membrane(layer, weights, spikes, net.v_bits)
        schedules.append(layer_schedule(layer, spikes[sample], membrane[sample], out[sample], hw,
                                        net.weight_bits, net.v_bits))
        spikes = out
    return schedules


def _carried_decay(schedule):
    """Decay cycles of the neurons a block after the first takes over from an earlier block
    (a position's first entry in the block, with an active window in an earlier block)."""
    first = np.ones(len(schedule.w), bool)
    first[1:] = (schedule.tb[1:] != schedule.tb[:-1]) | (schedule.pos[1:] != schedule.pos[:-1])
    return int(schedule.decay[first & schedule.has_prev & (schedule.tb > 0)].sum())


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("rate, block", [(0.2, 8), (0.05, 16)], ids=["B8", "B16-then-8"])
def test_counters_match_in_time_blocks(rate, block, dataflow):
    # T = 24 in three blocks of 8, or in 16 then a shorter 8. Each row group loads its
    # weights once (whole-sample tags), then every block's tags and spikes; blocks after the
    # first prepare each chunk with cols + 1 cycles of carried state. The dispatcher
    # packs each block as its own entries say: at 5% (SpikeX) the conv layer's first block
    # (41 entries) temporal, its second (27 = cols * positions) spatial.
    net = tiny_network(timesteps=24, rate=rate)
    if block == 16 and dataflow == "spikex":
        conv = _schedules(net, dataflow, 2, 3, block)[0]
        assert np.bincount(conv.tb).tolist() == [41, 27] == [41, 3 * conv.positions]
        assert conv.tb_spatial.tolist() == [False, True]
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, block_steps=block,
                          max_timesteps=block)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_in_time_blocks_with_decay_across_blocks(dataflow):
    # A 1 x 1 array: T = 20 in blocks of 8, 8 and 4.
    # A neuron a block takes over decays the steps it skipped since its last active window
    # in an earlier block (the RTL's carried membrane and last step, the model's golden
    # membrane trace).
    net = tiny_network(timesteps=20, rate=0.2)
    assert sum(_carried_decay(s) for s in _schedules(net, dataflow, 1, 1, 8)) > 0
    assert_counters_equal(net, dataflow, rows=1, cols=1, golden=True, block_steps=8,
                          max_timesteps=8)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("seed, block, rows, cols", [(20, 6, 1, 1), (25, 6, 1, 1), (22, 12, 2, 3)],
                         ids=["random20-B6-1x1", "random25-B6-1x1", "random22-B12-2x3"])
def test_counters_match_on_random_networks_in_time_blocks(seed, block, rows, cols, dataflow):
    # Batches of 2 or 3; the block a multiple of every layer's tws. Seed 20: T = 24, tws 1,
    # 3, 2 in four blocks (decay across blocks; layers without an active NTWU). Seed 25:
    # T = 18 in three blocks at 0.8% input (blocks without input; input SP-MBs active in the
    # sample but not in a block: that block loads and gathers without them, its weights
    # were loaded with them). Seed 22: T = 24 in two blocks (temporal packing).
    net = random_network(np.random.default_rng(seed), timesteps=(12, 18, 24))
    assert net.timesteps > block and all(block % layer.tws == 0 for layer in net.layers)
    assert_counters_equal(net, dataflow, rows=rows, cols=cols, golden=True, block_steps=block,
                          max_timesteps=16)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_in_time_blocks_when_the_input_does_not_fit_a_bank(dataflow):
    # Input ping-pong: a block's input loads into one spike bank while the previous block's
    # passes read the other (the tests above). Here 0.3125 KB of GLB split 64, 96, 96 bytes
    # (the 64 bytes left over are the time-block state's: 10 positions), 8-step spike
    # words: the spike share holds 64 inputs, a bank 32, fewer than the conv layer's 50, so
    # each of its blocks loads after the previous block's passes; the fc layer's 27 inputs
    # ping-pong. T = 24 in three blocks of 8.
    net = tiny_network(timesteps=24, rate=0.2)
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, block_steps=8,
                          glb_kb=0.3125, glb_split=(64, 96, 96), max_timesteps=8)


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_in_time_blocks_when_passes_stream_through_the_lbuf(dataflow):
    # An LBUF bank of 3 beats: passes stream through both banks in segments cut among the
    # block's candidates (SpikeX: the runs of the SP-MBs active in the block; seed 17 has
    # SP-MBs active in the sample but not in every block).
    net = random_network(np.random.default_rng(17), timesteps=(12, 18, 24))
    assert net.timesteps == 24 and net.batch == 3
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, block_steps=8,
                          max_timesteps=8, lbuf_kb=3 * 2 * 4 / 1024)


def test_the_model_refuses_a_time_block_a_layer_tws_does_not_divide():
    net = tiny_network(timesteps=24)              # tws 2 and 4
    with pytest.raises(SpikexError, match="layer tws 4 does not divide the time block 6"):
        _schedules(net, "spikex", 2, 3, 6)
    with pytest.raises(SpikexError, match="block_steps must be None or a positive integer"):
        Hardware(memory="rtl", block_steps=0)
    # A block of T steps or more is one block: the unblocked schedule.
    for one, blocked in zip(_schedules(net, "spikex", 2, 3, None), _schedules(net, "spikex", 2, 3, 24)):
        assert blocked.n_tb == 1 and blocked.totals == one.totals


def assert_icarus_counters_equal(net, options, source):
    """The Verilog under Icarus with tb/axi_ram.v (latency 1, one burst at a time) against
    the analytic model: every counter of every layer equal."""
    from sim.rtl import run_rtl
    _, counters = run_rtl(net, options, source, "icarus")
    _, model = run_analytic(net, {**options, "memory": "rtl", "dram_latency": 1,
                                  "dram_one_burst": True}, source)
    for k, (rtl, ours) in enumerate(zip(counters["layers"], model["layers"])):
        ours = dict(ours, busy_cycles=ours["compute_cycles"])
        differ = {name: (rtl[name], ours[name]) for name in COUNTERS if rtl[name] != ours[name]}
        assert not differ, f"{options['dataflow']} layer {k}: (rtl, analytic) {differ}"


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_on_a_single_row(dataflow):
    # One row: every output channel is a row group of its own. Two samples of a
    # conv -> conv -> fc network at 11% input, T = 4, 12-bit weights.
    assert_counters_equal(_wide(11, 12), dataflow, rows=1, cols=4)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_verilog_counters_match_with_the_verilog_dram_model():
    net = small_network(15)
    for dataflow in ("spikex", "ptb"):
        assert_icarus_counters_equal(net, {**RTL_CONFIGS[0].options, "dataflow": dataflow},
                                     "random.npz")


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_verilog_counters_match_in_time_blocks_with_the_verilog_dram_model():
    # One burst at a time (tb/axi_ram.v): the blocked layer's spike loads (25 words an input
    # channel) and output writes (18 words a row group and block) take several bursts.
    net = tiny_network(timesteps=24, rate=0.2)
    for dataflow in ("spikex", "ptb"):
        options = {"rows": 2, "cols": 3, "tws_max": 4, "glb_kb": 8, "lbuf_kb": 2,
                   "block_steps": 8, "dataflow": dataflow}
        assert_icarus_counters_equal(net, options, "tiny.npz")


@pytest.mark.parametrize("data_width", [64, 128, 512])
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_a_wide_dram_bus_counts_as_the_model_says(data_width, dataflow):
    # A DRAM that pipelines bursts (the amaranth.sim model): whole beats, fewer bursts, and
    # a write's first word taken ahead of the DRAM's wready; time blocks in the second.
    net = random_network(np.random.default_rng(12))
    assert_counters_equal(net, dataflow, rows=2, cols=2, golden=True, data_width=data_width)
    assert_counters_equal(tiny_network(timesteps=24, rate=0.2), dataflow, rows=2, cols=3,
                          golden=True, block_steps=8, max_timesteps=8, data_width=data_width)
