"""The command line beyond run's file checks: --samples, compare, the analytic backend's counters."""

import json

import numpy as np

from sim.golden import run_network
from spikex import netfile
from spikex.cli import main
from spikex.example import example_network

SPEC_LAYER_KEYS = {"cycles", "acc_ops", "active_ntwus", "dram_read_bytes", "dram_write_bytes",
                   "glb_reads", "glb_writes", "lbuf_reads", "lbuf_writes", "energy_pj"}


def test_samples_runs_the_first_samples_only(tmp_path):
    net = example_network(batch=4)
    netfile.save(net, tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--samples", "2", "-o", str(tmp_path / "r.npz")]) == 0
    result = np.load(tmp_path / "r.npz")
    assert result["spikes_0"].shape[0] == 2
    assert np.array_equal(result["spikes_2"], run_network(net)[2][:2])


def test_samples_below_one_is_refused(tmp_path, capsys):
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--samples", "0", "-o", str(tmp_path / "r.npz")]) == 1
    assert "--samples must be at least 1, not 0" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_analytic_result_holds_the_spec_counters(tmp_path):
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "analytic", "-o", str(tmp_path / "r.npz")]) == 0
    result = np.load(tmp_path / "r.npz")
    counters = json.loads(str(result["counters"]))
    assert {"cycles", "energy_pj", "edp", "layers"} <= set(counters)
    assert len(counters["layers"]) == 3
    for layer in counters["layers"]:
        assert SPEC_LAYER_KEYS <= set(layer)
    assert counters["cycles"] == sum(layer["cycles"] for layer in counters["layers"])
    assert np.array_equal(result["spikes_2"], run_network(example_network())[2])


def test_compare_prints_spikex_against_ptb(tmp_path, capsys):
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["compare", str(tmp_path / "n.npz")]) == 0
    out = capsys.readouterr().out
    assert "SpikeX cycles" in out and "PTB cycles" in out and "EDP: SpikeX" in out
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    assert int(total[1]) <= int(total[2]), "SpikeX should not take more cycles than PTB here"


def test_check_compares_a_backend_with_golden(tmp_path, capsys, monkeypatch):
    from spikex import backends
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "analytic", "--check",
                 "-o", str(tmp_path / "r.npz")]) == 0
    assert "every layer's spikes equal the golden model's" in capsys.readouterr().out

    def flipped(net, options, source):
        outputs = run_network(net)
        outputs[1] = outputs[1].copy()
        outputs[1][0, 2, 0, 0, 0] ^= 1
        return outputs, None
    monkeypatch.setitem(backends.BACKENDS, "analytic", flipped)
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "analytic", "--check",
                 "-o", str(tmp_path / "r2.npz")]) == 1
    err = capsys.readouterr().err
    assert "layer 1: backend analytic differs from the golden model in 1 spikes, first at [sample, t, ...] = [0, 2, 0, 0, 0]" in err
    assert not (tmp_path / "r2.npz").exists()


def test_glb_split_option(tmp_path, capsys):
    # The analytic backend models the RTL with the split given, which decides ping-pong.
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "analytic", "--glb-split",
                 "30,12,12", "-o", str(tmp_path / "r.npz")]) == 0
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "analytic", "--glb-split",
                 "30,12", "-o", str(tmp_path / "bad.npz")]) == 1
    assert "--glb-split must be three positive KB sizes S,W,O" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


def test_glb_split_follows_the_network():
    from sim.configure import glb_needs, rtl_parameters
    net = example_network()
    for glb_kb in (54, 5, 4.3):          # needs: 1600 + 1024 + 1600 bytes
        parameters = rtl_parameters(net, {"glb_kb": glb_kb})
        needs = glb_needs(net, parameters)
        need = [needs[key][0] for key in ("spikes", "weights", "outputs")]
        split = parameters["glb_split"]
        assert sum(split) == int(glb_kb * 1024)
        assert all(share >= size for share, size in zip(split, need))
        # Where the spare room goes (the ping-pong banks that hide the most):
        # tests/test_configure.py.
    assert rtl_parameters(net, {"glb_kb": 4})["glb_split"] is None        # does not fit
    assert rtl_parameters(net, {"glb_kb": 4, "glb_split": [2000, 1000, 1000]})["glb_split"] == [2000, 1000, 1000]


def test_time_block_option(tmp_path, capsys):
    # A block that a layer's tws does not divide is refused by name, before any simulation.
    net = example_network(timesteps=40)                 # tws 2, 4, 5
    netfile.save(net, tmp_path / "n.npz")
    for backend in ("analytic", "verilator"):
        assert main(["run", str(tmp_path / "n.npz"), "--backend", backend, "--time-block", "8",
                     "-o", str(tmp_path / "bad.npz")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"spikex: error: {tmp_path / 'n.npz'}: layer 2 (fc): tws 5 does not "
                       f"divide the time block 8 (--time-block)"], err
        assert not (tmp_path / "bad.npz").exists()
    from sim.configure import rtl_parameters
    parameters = rtl_parameters(net, {"block_steps": 20})
    assert parameters["block_steps"] == 20 and parameters["max_blocks"] == 2
    assert parameters["max_timesteps"] == 20           # a spike word holds one block


def test_example_too_large_to_draw_is_refused(tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["example", "--batch", "4096", "--timesteps", "4096", "-o", str(out)]) == 1
    assert "--batch 4096 x --timesteps 4096 must be at most 1048576" in capsys.readouterr().err
    assert not out.exists()
