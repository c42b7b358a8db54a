"""The accelerator's counters (hw/top.py under amaranth.sim) against the analytic model of the
same hardware (sim/schedule.py with ``Hardware(memory="rtl")``, sim/analytic.py), on tiny
random networks, both dataflows.

Every counter the RTL keeps is compared exactly: ``cycles``, ``busy_cycles``,
``stall_cycles``, ``acc_ops``, ``active_ntwus``, ``dram_read_bytes``, ``dram_write_bytes``,
``glb_reads``, ``glb_writes``, ``lbuf_reads``, ``lbuf_writes``, ``scratchpad_accesses``. The
DRAM model of ``run_top`` (tests/test_top_amaranth.py) answers one cycle after AR (and after
AW, and after the last W beat) and pipelines bursts, so the model runs with
``dram_latency=1, dram_one_burst=False``. The slow test runs the Verilog under Icarus with
tb/axi_ram.v (same latency, one burst at a time: ``dram_one_burst=True``).
"""

import shutil

import numpy as np
import pytest

from hw.top import glb_split_bytes
from sim.analytic import run_analytic
from sim.rtl import rtl_parameters
from spikex.netfile import Network
from test_top_amaranth import check_outputs, run_top, tiny_network
from tb.networks import random_network


COUNTERS = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
            "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
            "lbuf_reads", "lbuf_writes", "scratchpad_accesses")


def analytic_counters(net, dataflow, rows, cols, tws_max, lbuf_kb=2, glb_kb=8, glb_split=None,
                      block_steps=None):
    # run_top elaborates the default GLB split unless given one.
    options = dict(dataflow=dataflow, rows=rows, cols=cols, tws_max=tws_max, memory="rtl",
                   dram_latency=1, dram_one_burst=False, lbuf_kb=lbuf_kb, glb_kb=glb_kb,
                   glb_split=list(glb_split_bytes(glb_kb, glb_split)), block_steps=block_steps)
    _, counters = run_analytic(net, options)
    return [dict(layer, busy_cycles=layer["compute_cycles"]) for layer in counters["layers"]]


def assert_counters_equal(net, dataflow, rows, cols, tws_max=4, golden=False, **hardware):
    image, data, result = run_top(net, dataflow, rows=rows, cols=cols, tws_max=tws_max,
                                  weight_bits=net.weight_bits, **hardware)
    if golden:
        check_outputs(net, image, data)
    assert result["status"] == 0b010, f"error code {result['error_code']}"
    model = analytic_counters(net, dataflow, rows, cols, tws_max, hardware.get("lbuf_kb", 2),
                              hardware.get("glb_kb", 8), hardware.get("glb_split"),
                              hardware.get("block_steps"))
    for k, (rtl, ours) in enumerate(zip(result["counters"], model)):
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


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_when_weights_do_not_fit_a_bank(dataflow):
    # 0.25 KB of GLB, 8-step spike words: the weight share holds 32 fan-in, a ping-pong bank
    # 16, fewer than either layer's fan-in (18, 27): each row group's weights load after the
    # previous group's passes, into the whole share. (The tests above run with ping-pong.)
    net = tiny_network(batch=1)
    assert min(layer.fan_in for layer in net.layers) > 16
    assert_counters_equal(net, dataflow, rows=2, cols=3, golden=True, glb_kb=0.25,
                          max_timesteps=8)


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


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_on_a_single_row(dataflow):
    assert_counters_equal(_wide(4, 12), dataflow, rows=1, cols=4)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_verilog_counters_match_with_the_verilog_dram_model():
    from sim.rtl import run_rtl
    from test_top_rtl import OPTIONS, small_network
    net = small_network(15)
    for dataflow in ("spikex", "ptb"):
        options = {**OPTIONS, "dataflow": dataflow}
        _, counters = run_rtl(net, options, "random.npz", "icarus")
        _, model = run_analytic(net, {**options, "memory": "rtl", "dram_latency": 1,
                                      "dram_one_burst": True}, "random.npz")
        for k, (rtl, ours) in enumerate(zip(counters["layers"], model["layers"])):
            ours = dict(ours, busy_cycles=ours["compute_cycles"])
            differ = {name: (rtl[name], ours[name]) for name in COUNTERS if rtl[name] != ours[name]}
            assert not differ, f"{dataflow} layer {k}: (rtl, analytic) {differ}"
