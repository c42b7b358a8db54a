"""Random networks on golden, torch-int and analytic, and a few on Verilator and Icarus
(sim/differential.py, issue 16 item 3).

The campaign's checks are themselves checked: a backend that flips one spike, or one
counter, is reported and its network saved as a reproducer that loads again.
"""

import json
import shutil

import numpy as np
import pytest
import torch

from sim.differential import BUILTIN_BACKENDS, RTL_CONFIGS, campaign, compare, random_network
from sim.golden import lif, run_network, synaptic_current
from spikex import backends, netfile


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _no_disagreement(result):
    for name, per in result.counts.items():
        assert per["differ"] == 0 and per["crashed"] == 0, result.summary()
        assert per["agree"] + per["refused"] == result.networks, result.summary()


def test_short_random_networks_agree():
    result = campaign(800, BUILTIN_BACKENDS, seed=1, max_timesteps=16)
    _no_disagreement(result)
    assert result.counts["analytic"]["agree"] >= 700, result.summary()


def test_long_random_networks_agree():
    result = campaign(60, BUILTIN_BACKENDS, seed=2, timesteps=(100, 120, 150, 300), max_batch=2)
    _no_disagreement(result)


def _corners(net):
    """The names of the SPEC §1-2 corners ``net`` reaches."""
    v_max = 2 ** (net.v_bits - 1) - 1
    rate = float(net.input.mean())
    hits = [("long T", net.timesteps >= 100), ("fc first", net.layers[0].kind == "fc"),
            ("rate below 0.1%", 0 < rate < 0.001), ("rate above 10%", rate > 0.1),
            ("16-bit weights", net.weight_bits == 16), ("48-bit membrane", net.v_bits == 48)]
    x = net.input
    for layer, w, out in zip(net.layers, net.weights, run_network(net)):
        current = synaptic_current(layer, w, x.reshape(*x.shape[:2], *layer.in_shape))
        _, membrane = lif(current, layer.threshold, layer.leak_shift, net.v_bits)
        hits += [("tws = T", layer.tws == net.timesteps > 1),
                 ("threshold 1", layer.threshold == 1), ("threshold v_max", layer.threshold == v_max),
                 ("current exactly the threshold", (current == layer.threshold).any()),
                 ("membrane at the lower rail", (membrane == -v_max - 1).any()),
                 ("current past the upper rail", (current > v_max).any()),
                 ("IF neuron", layer.leak_shift == 0),
                 ("leak v_bits-1", layer.leak_shift == net.v_bits - 1),
                 ("stride 4", getattr(layer, "stride", 0) == 4),
                 ("padding 2", getattr(layer, "padding", 0) == 2),
                 ("fc after conv", layer.kind == "fc" and x.ndim == 5)]
        x = out
    return {name for name, hit in hits if hit}


def test_generator_reaches_the_corners():
    seen = set()
    for i in range(400):
        net = random_network(np.random.default_rng([3, i]))
        netfile.validate(net)
        seen |= _corners(net)
    assert seen == {"long T", "fc first", "rate below 0.1%", "rate above 10%", "tws = T",
                    "threshold 1", "threshold v_max", "current exactly the threshold",
                    "membrane at the lower rail", "current past the upper rail", "IF neuron",
                    "leak v_bits-1", "stride 4", "padding 2", "fc after conv", "16-bit weights",
                    "48-bit membrane"}


def _flip_last_spike(net, options, source):
    outputs = run_network(net)
    outputs[-1] = outputs[-1].copy()
    outputs[-1].flat[-1] ^= 1
    return outputs, None


def _one_ntwu_more(net, options, source):
    from sim.analytic import run_analytic
    outputs, counters = run_analytic(net, options, source)
    counters["layers"][0]["active_ntwus"] += 1
    return outputs, counters


def _one_cycle_more(net, options, source):
    from sim.analytic import run_analytic
    outputs, counters = run_analytic(net, {**options, "memory": "rtl"}, source)
    counters["layers"][-1]["cycles"] += 1
    counters["cycles"] += 1
    return outputs, counters


@pytest.mark.parametrize("backend, detail", [
    (_flip_last_spike, "spikes differ from golden"), (_one_ntwu_more, "active_ntwus"),
    (_one_cycle_more, "the analytic model predicts")])
def test_a_wrong_backend_is_reported_and_saved(tmp_path, monkeypatch, backend, detail):
    monkeypatch.setitem(backends.BACKENDS, "wrong", backend)
    result = campaign(3, ["golden", "wrong"], seed=4, out=tmp_path, max_timesteps=16)
    assert result.counts["wrong"]["differ"] == 3 and len(result.reproducers) == 3
    for path in result.reproducers:
        net = netfile.load(path)
        report = json.loads(path.with_suffix(".json").read_text())
        assert report["backend"] == "wrong" and detail in report["detail"]
        again = compare(net, ["wrong"], report["options"])
        assert [f.status for f in again] == ["differ"]


def test_a_backend_outside_the_builtins_runs_through_run_backend(monkeypatch):
    """As the RTL backends will: spikes against golden, counters against SPEC §3 and
    against the analytic model of the RTL. A faithful one agrees everywhere."""
    from sim.analytic import run_analytic

    def rtl_model(net, options, source):
        return run_analytic(net, {**options, "memory": "rtl"}, source)

    monkeypatch.setitem(backends.BACKENDS, "rtl-model", rtl_model)
    result = campaign(40, ["golden", "rtl-model"], seed=5, max_timesteps=32)
    _no_disagreement(result)


@pytest.mark.parametrize("config", RTL_CONFIGS, ids=lambda config: config.name)
def test_every_network_drawn_for_an_accelerator_runs_on_its_one_build(config):
    # An RTL campaign builds each accelerator once: every network drawn for it must
    # elaborate the same parameters, in one time block or several.
    blocked, longest = 0, 0
    for i in range(100):
        net, options = config.draw(np.random.default_rng([6, i]))
        netfile.validate(net)
        assert config.parameters(net, options) == config.accelerator, f"network {i}"
        blocked += options["block_steps"] < net.timesteps
        longest = max(longest, net.timesteps)
    assert blocked >= 10 and longest >= 100, (blocked, longest)


def test_random_networks_agree_on_verilator():
    """A few networks on the accelerator tests/test_top_rtl.py builds: spikes against
    golden, every counter against SPEC §3 and the analytic model of the RTL."""
    result = campaign(10, [*BUILTIN_BACKENDS, "verilator"], seed=7, configs=RTL_CONFIGS[:1])
    _no_disagreement(result)
    assert result.counts["verilator"]["agree"] == 10, result.summary()


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_random_networks_agree_on_icarus():
    result = campaign(3, ["golden", "icarus"], seed=8, configs=RTL_CONFIGS[:1])
    _no_disagreement(result)
    assert result.counts["icarus"]["agree"] == 3, result.summary()


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_the_icarus_campaigns_network_with_no_leak_agrees_on_icarus():
    """Network 2/30 of ``--configs 4x4,1x1-w16-v48,2x3-w2-v4,3x2-w12-v24 --seed 2``: every
    layer's leak_shift 0, layer 0's outputs written across the 4 KB page at 0x1000. Before
    the accelerator's split into components, Icarus left the pass's leak_shift X (a
    one-statement process never run at time 0, sim.rtl._for_icarus) and wrote X bits there;
    the split's ports hid it, tests/test_top_rtl.py checks the cause itself."""
    config = next(config for config in RTL_CONFIGS if config.name == "2x3-w2-v4")
    net, options = config.draw(np.random.default_rng([2, 30]), max_timesteps=300)
    assert [layer.leak_shift for layer in net.layers] == [0, 0] and net.batch == 3
    findings = compare(net, ["analytic", "icarus"], options, "network 2/30")
    assert [(f.backend, f.status) for f in findings] == [("analytic", "agree"), ("icarus", "agree")], findings
