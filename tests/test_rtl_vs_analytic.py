"""The accelerator's counters (hw/top.py under amaranth.sim) against the analytic model of the
same schedule (sim/schedule.py, sim/analytic.py), on tiny random networks.

Compared exactly: ``acc_ops``, ``active_ntwus``, the beats streamed (RTL ``lbuf_reads``,
analytic ``beats``) and the PE array's busy cycles (RTL ``busy_cycles``; analytic: the sum of
``fill + beats * tws + fire + drain`` over the passes). The memory counters and the total
cycles of the analytic model describe a different memory system (time blocks, resident
weights, DRAM bandwidth) and are not compared (docs/accelerator.md, "Not done").
"""

import numpy as np
import pytest

from sim.analytic import analyze_layer, layer_membrane
from sim.schedule import Hardware, layer_schedule
from test_top_amaranth import run_top, tiny_network
from tb.networks import random_network


def analytic_counters(net, dataflow, rows, cols):
    hw = Hardware(rows=rows, cols=cols, dataflow=dataflow)
    layers, spikes = [], net.input
    for layer, weights in zip(net.layers, net.weights):
        out, membrane = layer_membrane(layer, weights, spikes, net.v_bits)
        counts = analyze_layer(layer, spikes, hw, membrane=membrane, out_spikes=out,
                               weight_bits=net.weight_bits, v_bits=net.v_bits)
        flat = spikes.reshape(spikes.shape[0], spikes.shape[1], *layer.in_shape)
        counts["busy_cycles"] = sum(
            int(layer_schedule(layer, flat[b], membrane[b], out[b], hw, net.weight_bits,
                               net.v_bits).compute.sum()) for b in range(net.batch))
        layers.append(counts)
        spikes = out
    return layers


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("make", [lambda: tiny_network(batch=2),
                                  lambda: random_network(np.random.default_rng(11)),
                                  lambda: random_network(np.random.default_rng(12))],
                         ids=["tiny", "random11", "random12"])
def test_counters_match_the_analytic_model(make, dataflow):
    net = make()
    rows, cols = 2, 3
    _, _, result = run_top(net, dataflow, rows=rows, cols=cols)
    assert result["status"] == 0b010
    for k, (rtl, model) in enumerate(zip(result["counters"], analytic_counters(net, dataflow, rows, cols))):
        assert rtl["acc_ops"] == model["acc_ops"], f"layer {k} acc_ops"
        assert rtl["active_ntwus"] == model["active_ntwus"], f"layer {k} active_ntwus"
        assert rtl["lbuf_reads"] == rtl["lbuf_writes"] == model["beats"], f"layer {k} beats"
        assert rtl["busy_cycles"] == model["busy_cycles"], f"layer {k} busy cycles"
