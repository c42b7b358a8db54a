"""``spikex compile`` / ``eval``: quantisation, the network file, error lines, the shipped model."""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sim import golden
from spikex import netfile
from spikex.netfile import SpikexError
from model import cli
from model.compile import compile_checkpoint, quantise, run_integer
from model.networks import SpikingNet, net_config
from model.train import evaluate, export, load_checkpoint, load_nmnist, model_from_checkpoint


ROOT = Path(__file__).resolve().parents[1]
NMNIST_SMALL = Path(__file__).resolve().parents[2] / "shared/data/nmnist-small"
ZOO = ROOT / "model" / "zoo" / "nmnist.pt"
needs_nmnist = pytest.mark.skipif(not (NMNIST_SMALL / "Test").is_dir(),
                                  reason=f"real N-MNIST subset not found at {NMNIST_SMALL}")


def run_cli(argv):
    """The subcommands through a local parser, with the error handling of ``spikex.cli.main``."""
    parser = argparse.ArgumentParser(prog="spikex")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    try:
        args.func(args)
    except SpikexError as error:
        return 1, str(error)
    return 0, ""


def _tiny_checkpoint(path, seed=0, tws=(2, 5, 10)):
    torch.manual_seed(seed)
    model = SpikingNet(net_config("nmnist-tiny"), init_gain=3.0)
    ckpt = {"config": model.config, "train_config": {}, "state_dict": model.state_dict(),
            "tws": list(tws), "tws_choices": [[1, 2, 5, 10]] * 3, "search": {}, "history": []}
    export(ckpt, path)
    return model


def test_missing_checkpoint_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope.pt"
    status, message = run_cli(["compile", missing, "-o", tmp_path / "net.npz"])
    assert status == 1 and message == f"{missing}: no such checkpoint file"
    assert not (tmp_path / "net.npz").exists()
    status, message = run_cli(["eval", missing])
    assert status == 1 and str(missing) in message and "\n" not in message


def test_corrupt_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SpikexError, match=f"{bad}: not a readable checkpoint") as info:
        load_checkpoint(bad)
    assert "\n" not in str(info.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(SpikexError, match="not a spikex checkpoint"):
        load_checkpoint(other)


def test_quantisation_scales_each_layer_to_the_weight_range():
    torch.manual_seed(1)
    model = SpikingNet(net_config("nmnist-tiny"))
    layers, weights = quantise(model, [1, 2, 5])
    for k, (layer, w, synapse) in enumerate(zip(layers, weights, model.synapses)):
        peak = float(synapse.weight.detach().abs().max())
        assert int(np.abs(w).max()) == 127
        assert layer.threshold == round(127 / peak)
        assert layer.leak_shift == 3 and layer.tws == [1, 2, 5][k]
        expected = torch.round(synapse.weight.detach().double() * 127 / peak).long().numpy()
        assert np.array_equal(w, expected)


def test_compile_refuses_a_tws_that_does_not_divide_t():
    model = SpikingNet(net_config("nmnist-tiny"))
    spikes = np.zeros((1, 10, 2, 34, 34), np.uint8)
    with pytest.raises(SpikexError, match="layer 1: tws 3 does not divide T=10"):
        compile_checkpoint(model, [1, 3, 5], spikes, None)


def test_compile_refuses_a_threshold_beyond_v_bits():
    model = SpikingNet(net_config("nmnist-tiny"))
    with torch.no_grad():
        model.synapses[2].weight.mul_(1e-4)
    with pytest.raises(SpikexError, match="layer 2: threshold .* does not fit v_bits=16"):
        quantise(model, [1, 1, 1])


@needs_nmnist
def test_compile_and_eval_commands(tmp_path, capsys):
    ckpt = tmp_path / "tiny.pt"
    model = _tiny_checkpoint(ckpt)
    out = tmp_path / "net.npz"
    status, message = run_cli(["compile", ckpt, "--data", NMNIST_SMALL, "--split", "Test",
                               "--samples", 6, "-o", out])
    assert status == 0, message
    net = netfile.load(out)
    assert net.batch == 6 and net.timesteps == 10 and net.labels.shape == (6,)
    assert [layer.tws for layer in net.layers] == [2, 5, 10]
    assert [layer.leak_shift for layer in net.layers] == model.leak_shifts()
    assert all(np.array_equal(a, b) for a, b in zip(golden.run_network(net), run_integer(net)))
    capsys.readouterr()
    status, message = run_cli(["eval", out])
    printed = capsys.readouterr().out
    assert status == 0, message
    assert "torch-int and golden agree bit for bit on all 6 samples" in printed
    status, message = run_cli(["eval", ckpt, "--data", NMNIST_SMALL, "--samples", 6])
    printed = capsys.readouterr().out
    assert status == 0, message
    assert "accuracy float" in printed and "accuracy golden" in printed
    status, message = run_cli(["compile", ckpt, "--data", NMNIST_SMALL, "--samples", 2,
                               "--tws", "1,1,5", "-o", out])
    assert status == 0, message
    assert [layer.tws for layer in netfile.load(out).layers] == [1, 1, 5]
    status, message = run_cli(["compile", ckpt, "--data", NMNIST_SMALL, "--tws", "1,1",
                               "-o", tmp_path / "other.npz"])
    assert status == 1 and message == f"--tws lists 2 values for 3 layers of {ckpt}"


@needs_nmnist
def test_missing_data_folder_is_one_line(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    _tiny_checkpoint(ckpt)
    status, message = run_cli(["compile", ckpt, "--data", tmp_path / "nodata", "-o",
                               tmp_path / "net.npz"])
    assert status == 1 and str(tmp_path / "nodata") in message and "\n" not in message


@needs_nmnist
def test_shipped_model_is_its_provenance_and_golden_equals_torch_int_on_all_test_recordings():
    """The zoo model is the file its JSON describes; on the 100 Test/ recordings torch-int
    gives golden's spikes in every layer, and the float and golden accuracies are the ones
    the JSON reports, golden's no more than a point below the beta = 0 model's."""
    provenance = json.loads(ZOO.with_suffix(".json").read_text())
    assert ZOO.stat().st_size < 1_000_000
    assert hashlib.sha256(ZOO.read_bytes()).hexdigest() == provenance["sha256"]
    ckpt = load_checkpoint(ZOO)
    model = model_from_checkpoint(ckpt)
    assert ckpt["config"]["name"] == "nmnist" and model.T == 30
    assert ckpt["tws"] == provenance["tws"] == provenance["test"]["tws"]
    spikes, labels = load_nmnist(NMNIST_SMALL, "Test", 30, progress=False)
    assert len(labels) == provenance["test"]["samples"] == 100
    net = compile_checkpoint(model, ckpt["tws"], spikes.numpy(), labels.numpy())
    want, got = golden.run_network(net), run_integer(net)
    for k, (w, g) in enumerate(zip(want, got)):
        assert np.array_equal(w, g), f"layer {k}: torch-int differs from golden"
    _, prediction = golden.predict(want[-1])
    accuracy = float(np.mean(prediction == labels.numpy()))
    assert accuracy == provenance["test"]["golden"]
    assert accuracy >= provenance["baseline"]["test"]["golden"] - 0.01
    # float convolutions may round differently on another CPU: a spike or two may move
    assert evaluate(model, spikes, labels, ckpt["tws"])["accuracy"] == pytest.approx(
        provenance["test"]["float"], abs=0.02)
