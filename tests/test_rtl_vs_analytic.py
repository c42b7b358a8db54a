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

from sim.analytic import run_analytic
from spikex.netfile import Network
from test_top_amaranth import run_top, tiny_network
from tb.networks import random_network


COUNTERS = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
            "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
            "lbuf_reads", "lbuf_writes", "scratchpad_accesses")


def analytic_counters(net, dataflow, rows, cols, tws_max):
    options = dict(dataflow=dataflow, rows=rows, cols=cols, tws_max=tws_max, memory="rtl",
                   dram_latency=1, dram_one_burst=False)
    _, counters = run_analytic(net, options)
    return [dict(layer, busy_cycles=layer["compute_cycles"]) for layer in counters["layers"]]


def assert_counters_equal(net, dataflow, rows, cols, tws_max=4, **hardware):
    _, _, result = run_top(net, dataflow, rows=rows, cols=cols, tws_max=tws_max,
                           weight_bits=net.weight_bits, **hardware)
    assert result["status"] == 0b010, f"error code {result['error_code']}"
    model = analytic_counters(net, dataflow, rows, cols, tws_max)
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
    # rows=3 leaves idle rows in the last row group: the RTL runs them on stale weights and
    # the pass waits for their firing (sim.analytic.idle_row_weights). 12-bit weights take
    # two bytes each in DRAM (two weights per AXI word).
    assert_counters_equal(make(), dataflow, rows=rows, cols=cols)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_counters_match_on_a_single_row(dataflow):
    assert_counters_equal(_wide(4, 12), dataflow, rows=1, cols=4)


def test_idle_rows_are_what_makes_the_cycles_match():
    # Without the idle rows' firing the model is short of the RTL on this network; the test
    # above would not catch a model that ignores them if this difference were zero.
    from sim.analytic import analyze_layer, layer_membrane
    from sim.schedule import Hardware
    net = _wide(3, 8)
    hw = Hardware(rows=3, cols=2, dataflow="spikex", memory="rtl", tws_max=4)
    layer = net.layers[0]
    out, membrane = layer_membrane(layer, net.weights[0], net.input, net.v_bits)
    without = analyze_layer(layer, net.input, hw, membrane=membrane, out_spikes=out,
                            weight_bits=net.weight_bits, v_bits=net.v_bits,
                            out_group=layer.out_size[0] * layer.out_size[1]
                            if net.layers[1].kind == "conv" else 16)
    with_idle = analytic_counters(net, "spikex", 3, 2, 4)[0]
    assert with_idle["compute_cycles"] > without["compute_cycles"]
    assert with_idle["dram_read_bytes"] == without["dram_read_bytes"]


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
