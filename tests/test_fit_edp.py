"""``spikex fit-edp``: the EDP fit of each layer on the RTL-exact analytic counters, read by
``spikex train --edp-model``."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from model.compile import compile_checkpoint
from model.hwloss import EdpModel
from model.networks import SpikingNet, net_config
from sim.analytic import run_analytic
from sim.edp_fit import FORMAT, fit_network_edp
from sim.figures import synthetic_layer_input
from spikex import netfile
from spikex.cli import main
from spikex.example import example_network


NMNIST_SMALL = Path(__file__).resolve().parents[2] / "shared/data/nmnist-small"
needs_nmnist = pytest.mark.skipif(not (NMNIST_SMALL / "Train").is_dir(),
                                  reason=f"real N-MNIST subset not found at {NMNIST_SMALL}")


def test_fit_samples_are_the_counters_of_spikex_run_analytic():
    """A fitted point is the EDP run_analytic (memory rtl) gives the layer on that input."""
    net = example_network()
    options = {"dram_latency": 1, "dram_one_burst": True}
    fit = fit_network_edp(net, [2, 6], options, timesteps=12, rates=(0.0, 0.05), batch=2)
    assert fit["format"] == FORMAT and fit["hardware"]["memory"] == "rtl"
    for tws in (2, 6):
        spikes, _ = synthetic_layer_input(replace(net.layers[0], tws=tws), 0.05, 2, 12, 1)
        at_tws = netfile.Network([replace(layer, tws=tws) for layer in net.layers], net.weights,
                                 spikes)
        _, counters = run_analytic(at_tws, {**options, "memory": "rtl", "tws_max": 10})
        _, edp = fit["layers"][0]["models"][str(tws)]["samples"]
        assert edp[-1] == pytest.approx(counters["layers"][0]["edp"] / 2, rel=1e-12)
        assert edp[-1] > edp[0] > 0


def _tiny_network_file(path):
    torch.manual_seed(0)
    model = SpikingNet(net_config("nmnist-tiny"), init_gain=3.0)
    silence = np.zeros((1, 10, 2, 34, 34), np.uint8)
    netfile.save(compile_checkpoint(model, [1, 1, 1], silence, None), path)


def test_fit_edp_command_writes_what_train_reads(tmp_path, capsys):
    net, edp = tmp_path / "tiny.npz", tmp_path / "edp.json"
    _tiny_network_file(net)
    assert main(["fit-edp", str(net), "--tws", "2,5", "--batch", "1", "-o", str(edp)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {edp}" in out and "rtl memory model" in out
    fit = json.loads(edp.read_text())
    assert [layer["kind"] for layer in fit["layers"]] == ["conv", "conv", "fc"]
    model = EdpModel.load(edp)
    for k in range(3):
        assert model.tws_choices(k) == [2, 5]
        low, high = (float(model(k, 5, torch.tensor(d, dtype=torch.float64))) for d in (0.0, 1.0))
        assert 0 <= low < high


@needs_nmnist
def test_train_uses_the_fitted_edp_model(tmp_path, capsys):
    net, edp = tmp_path / "tiny.npz", tmp_path / "edp.json"
    _tiny_network_file(net)
    assert main(["fit-edp", str(net), "--tws", "2,5", "--batch", "1", "-o", str(edp)]) == 0
    status = main(["train", "--net", "nmnist-tiny", "--data", str(NMNIST_SMALL), "--samples", "20",
                   "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "8", "--edp-model",
                   str(edp), "--out", str(tmp_path / "run"), "--quiet",
                   "--export", str(tmp_path / "run" / "tiny.pt")])   # into the folder train makes
    assert status == 0 and (tmp_path / "run" / "tiny.pt").is_file()
    ckpt = torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)
    assert ckpt["tws_choices"] == [[2, 5]] * 3 and all(t in (2, 5) for t in ckpt["tws"])
    assert "train_hw" in ckpt["history"][-1]


@pytest.mark.parametrize("argv, message", [
    (["--tws", "4"], "--tws: 4 does not divide the 10 time steps the fit runs (--timesteps)"),
    (["--tws", "2,x"], "--tws must be a comma list of positive integers, not '2,x'"),
    (["--tws", "10", "--tws-max", "5"], "--tws: 10 exceeds --tws-max 5"),
    (["--knots", "1"], "--knots must be 2 to 64 (breakpoints of a curve), not 1"),
])
def test_fit_edp_refuses_bad_input_in_one_line_writing_nothing(tmp_path, capsys, argv, message):
    net, edp = tmp_path / "tiny.npz", tmp_path / "edp.json"
    _tiny_network_file(net)
    assert main(["fit-edp", str(net), "-o", str(edp), *argv]) == 1
    err = capsys.readouterr().err
    assert err == f"spikex: error: {message}\n"
    assert not edp.exists()
