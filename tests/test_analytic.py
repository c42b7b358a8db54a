"""Counters of the analytic simulator: hand-worked layers, SpikeX against PTB, the
energy table, the backend entry point and the EDP fit."""

import json

import numpy as np
import pytest

from hw.config import FIRE_STEP_CYCLES
from spikex.example import example_network
from spikex.netfile import FcLayer, SpikexError
from sim import golden
from sim.analytic import analyze_layer, run_analytic
from sim.edp_fit import edp_piecewise, fit_edp_model
from sim.energy import SHIPPED_TABLE, load_energy_table
from sim.figures import paper_layers, synthetic_layer_input
from sim.ntwu import ntwu_tags
from sim.schedule import Hardware


def _tiny_fc():
    # Inputs: t0 -> 0; t2 -> 1, 2; t3 -> 1. Windows of 2: w0 uses {0}, w1 uses {1, 2}.
    layer = FcLayer(4, 2, threshold=100, leak_shift=0, tws=2)
    spikes = np.zeros((1, 4, 4), np.uint8)
    spikes[0, 0, 0] = spikes[0, 2, 1] = spikes[0, 2, 2] = spikes[0, 3, 1] = 1
    return layer, spikes, np.ones((2, 4), np.int64)


def test_tiny_fc_spikex_by_hand():
    layer, spikes, weights = _tiny_fc()
    c = analyze_layer(layer, spikes, Hardware(rows=2, cols=2, pe="serial"), weights=weights)
    # Both windows active, 2 <= cols: one spatial pass of both windows, beats {0, 1, 2}.
    assert c["modes"] == {"spatial": 1, "temporal": 0}
    assert (c["passes"], c["beats"], c["active_ntwus"]) == (1, 3, 4)
    # (set input bit, row) pairs in the streamed beats: (1 + 3) bits x 2 rows.
    assert c["acc_ops"] == 8
    # fill 4 + 3 beats x 2 + fire (one chain of two PEs: 2 + 2 firing steps of
    # FIRE_STEP_CYCLES) + drain 1 = 19, plus one GLB word to put the row group's 64 bits of
    # weights in the LBUF.
    assert c["cycles"] == 4 + 3 * 2 + FIRE_STEP_CYCLES * (2 + 2) + 1 + 1
    # The sparse PE: beat 0 has one set bit (input 0 at t0), beat 1 two (input 1 at t2, t3),
    # beat 2 one: 1 + 2 + 1 cycles instead of 3 x 2.
    sparse = analyze_layer(layer, spikes, Hardware(rows=2, cols=2, pe="sparse"), weights=weights)
    assert sparse["cycles"] == 4 + (1 + 2 + 1) + FIRE_STEP_CYCLES * (2 + 2) + 1 + 1
    # DRAM: 8 weight bytes; 4 x (4 steps + 2 window tags) + 1 SP-MB tag = 25 bits -> 4 bytes.
    # Writes: no output spike, so only the output SP-MB tag (1 bit -> 1 byte).
    assert (c["dram_read_bytes"], c["dram_write_bytes"]) == (12, 1)
    # GLB writes: weights 1, input spikes 1, output spike words 1, 2 membrane write-backs.
    assert (c["glb_writes"], c["glb_reads"]) == (5, 3)
    # LBUF: written weights 1 + spike words 1; read 3 beats x (1 weight word + 1 spike word).
    assert (c["lbuf_writes"], c["lbuf_reads"]) == (2, 6)
    # registers: weights 12 + spike words 12 + psums 2*8 + 2*8 + membranes 2*8
    assert c["scratchpad_accesses"] == 72


def test_tiny_fc_ptb_by_hand():
    layer, spikes, weights = _tiny_fc()
    c = analyze_layer(layer, spikes, Hardware(rows=2, cols=2, dataflow="ptb", pe="serial"),
                      weights=weights)
    assert c["modes"] == {"spatial": 0, "temporal": 1}
    assert (c["passes"], c["beats"], c["acc_ops"]) == (1, 4, 8)
    assert c["cycles"] == 4 + 4 * 2 + FIRE_STEP_CYCLES * 4 + 1
    # The sparse PE: PTB streams input 3 too, an all-zero beat of one cycle.
    sparse = analyze_layer(layer, spikes, Hardware(rows=2, cols=2, dataflow="ptb", pe="sparse"),
                           weights=weights)
    assert sparse["cycles"] == 4 + (1 + 2 + 1 + 1) + FIRE_STEP_CYCLES * 4 + 1
    # all output spikes written: 2 neurons x (4 steps + 2 tags) + 1 SP-MB tag = 13 bits
    assert (c["dram_read_bytes"], c["dram_write_bytes"]) == (12, 2)


def test_acc_ops_are_receptive_field_spikes_of_active_ntwus():
    layer = paper_layers("n-mnist", 3)[0]
    spikes, weights = synthetic_layer_input(layer, 0.01, 2, 30, 7)
    c = analyze_layer(layer, spikes, Hardware(), weights=weights)
    ones = np.ones(layer.weight_shape, np.int64)
    per_step = golden.synaptic_current(layer, ones, spikes)      # spikes in each field, per step
    assert c["acc_ops"] == int(per_step.sum())
    assert c["active_ntwus"] == int(ntwu_tags(layer, spikes).sum())


@pytest.mark.parametrize("name, index, rate", [("n-mnist", 0, 0.001), ("dvsg-medium", 1, 0.002),
                                                ("dvsg-large", 3, 0.001)])
def test_spikex_beats_ptb_on_sparse_input(name, index, rate):
    layer = paper_layers(name, 3)[index]
    spikes, weights = synthetic_layer_input(layer, rate, 1, 30, 1)
    ours = analyze_layer(layer, spikes, Hardware(), weights=weights)
    ptb = analyze_layer(layer, spikes, Hardware(dataflow="ptb"), weights=weights)
    assert ours["cycles"] < ptb["cycles"]
    assert ours["dram_read_bytes"] + ours["dram_write_bytes"] <= ptb["dram_read_bytes"] + ptb["dram_write_bytes"]
    assert ours["energy_pj"] < ptb["energy_pj"]
    assert ours["acc_ops"] == ptb["acc_ops"]


def test_run_analytic_gives_golden_spikes_and_spec_counters():
    net = example_network(batch=2, timesteps=12, firing_rate=0.05)
    outputs, counters = run_analytic(net, {"dataflow": "spikex", "rows": 4, "cols": 4}, "ex.npz")
    for ours, ref in zip(outputs, golden.run_network(net)):
        assert np.array_equal(ours, ref)
    json.dumps(counters)
    assert counters["cycles"] == sum(layer["cycles"] for layer in counters["layers"])
    assert counters["edp"] == pytest.approx(counters["energy_pj"] * counters["cycles"] / 500e6)
    for layer in counters["layers"]:
        for key in ("cycles", "acc_ops", "active_ntwus", "dram_read_bytes", "dram_write_bytes",
                    "glb_reads", "glb_writes", "lbuf_reads", "lbuf_writes", "energy_pj"):
            assert layer[key] > 0, key
        assert sum(layer["energy_by_component_pj"].values()) == pytest.approx(layer["energy_pj"])
        assert sum(layer["energy_by_use_pj"].values()) == pytest.approx(layer["energy_pj"])


def test_batch_counters_are_sums_over_samples():
    net = example_network(batch=3, timesteps=12, firing_rate=0.05)
    _, whole = run_analytic(net, {}, "ex")
    parts = [run_analytic(net.with_input(net.input[b:b + 1]), {}, "ex")[1] for b in range(3)]
    assert whole["cycles"] == sum(p["cycles"] for p in parts)
    assert whole["layers"][1]["glb_reads"] == sum(p["layers"][1]["glb_reads"] for p in parts)


def test_run_analytic_refuses_bad_parameters():
    net = example_network()
    with pytest.raises(SpikexError, match="ex.npz: layer 2 \\(fc\\): tws 6 exceeds tws_max 4"):
        run_analytic(net, {"tws_max": 4}, "ex.npz")
    with pytest.raises(SpikexError, match="does not fit a signed 8-bit accumulator"):
        run_analytic(net, {"acc_bits": 8}, "ex.npz")


def _table(tmp_path, text):
    path = tmp_path / "table.toml"
    path.write_text(text)
    return path


def _shipped_text():
    return SHIPPED_TABLE.read_text()


def test_shipped_table_loads_with_sources():
    table = load_energy_table()
    assert table.glb(64) == pytest.approx(18.47)
    assert table.add(12) == pytest.approx(0.0545 / 2)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("[lbuf]", "[lbuf_x]"), "missing section [lbuf]"),
    (lambda t: t.replace("pj_per_bit = 20.3", ""), "[dram] is missing key 'pj_per_bit'"),
    (lambda t: t.replace("pj_per_bit = 20.3", "pj_per_bit = -1"), "[dram] pj_per_bit must be a positive number, not -1"),
    (lambda t: t.replace("bits = 24", "bits = 2.5"), "[add] bits must be a positive integer, not 2.5"),
    (lambda t: t.replace('source = "Eyeriss', 'origin = "Eyeriss'), "[rf] needs a 'source' string"),
    (lambda t: t + "\n[[broken", "not a valid TOML file"),
])
def test_energy_table_errors_name_file_and_key(tmp_path, edit, message):
    path = _table(tmp_path, edit(_shipped_text()))
    with pytest.raises(SpikexError) as error:
        load_energy_table(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_missing_energy_table_is_a_spikex_error(tmp_path):
    with pytest.raises(SpikexError, match="cannot read energy table"):
        load_energy_table(tmp_path / "nope.toml")


def test_user_energy_table_changes_energy(tmp_path):
    net = example_network()
    path = _table(tmp_path, _shipped_text().replace("pj_per_bit = 20.3", "pj_per_bit = 40.6"))
    _, base = run_analytic(net, {}, "ex")
    _, doubled = run_analytic(net, {"energy_table": str(path)}, "ex")
    for a, b in zip(base["layers"], doubled["layers"]):
        assert b["energy_by_component_pj"]["dram"] == pytest.approx(2 * a["energy_by_component_pj"]["dram"])
        assert b["energy_by_component_pj"]["alu"] == pytest.approx(a["energy_by_component_pj"]["alu"])
    assert doubled["energy_table"] == str(path)


def test_edp_fit_values_are_non_decreasing_and_non_negative():
    from sim.edp_fit import _fit
    x = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    y = np.array([-5.0, 10.0, 4.0, 3.0, 20.0, 21.0])            # a dip and a negative start
    values = _fit(x, y, np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]))
    assert (np.diff(values) >= 0).all() and (values >= 0).all()
    assert values.tolist() == pytest.approx([0.0, 17 / 3, 17 / 3, 17 / 3, 20.0, 21.0])


def test_edp_piecewise_interpolates_and_holds_the_ends():
    model = {"breakpoints": [0.0, 0.1, 0.5], "values": [1.0, 3.0, 11.0]}
    assert edp_piecewise(0.05, model) == pytest.approx(2.0)
    assert edp_piecewise(np.array([0.3, 0.9]), model).tolist() == pytest.approx([7.0, 11.0])


def test_fit_edp_model_is_monotone_data_and_json_ready():
    layer = paper_layers("n-mnist", 2)[0]
    model = fit_edp_model(layer, [2, 5], rates=(0.0, 0.001, 0.01, 0.05, 0.2), batch=1, timesteps=30, knots=4)
    json.dumps(model)
    for tws in ("2", "5"):
        m = model["models"][tws]
        assert m["breakpoints"][0] == 0.0
        assert np.all(np.diff(m["breakpoints"]) > 0)
        assert len(m["values"]) == len(m["breakpoints"])
        density, edp = map(np.array, m["samples"])
        # the fit follows the simulator: its worst error is small against the EDP range
        assert np.abs(edp_piecewise(density, m) - edp).max() < 0.25 * edp.max()
        assert edp[-1] > edp[0]
    with pytest.raises(ValueError, match="tws 7 does not divide timesteps 30"):
        fit_edp_model(layer, [7], timesteps=30)
