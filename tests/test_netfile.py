"""spikex-net-v1: round trip, and every violation of SPEC §4 refused by ``spikex run``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import golden
from spikex import netfile
from spikex.cli import main
from spikex.example import example_network
from tb.networks import random_network


def archive_of(net):
    """The entries ``netfile.save`` writes, as a dict a test can break."""
    return {
        "format": np.array(netfile.FORMAT),
        "layers": np.array(json.dumps([netfile._layer_json(layer) for layer in net.layers])),
        "input": net.input.copy(),
        "weight_bits": np.array(net.weight_bits),
        "v_bits": np.array(net.v_bits),
        "labels": net.labels.copy(),
        **{f"weights_{k}": w.astype(np.int32) for k, w in enumerate(net.weights)},
    }


def with_layer(entries, k, **changes):
    layers = json.loads(str(entries["layers"]))
    layers[k].update(changes)
    for key, value in changes.items():
        if value is None:
            del layers[k][key]
    entries["layers"] = np.array(json.dumps(layers))
    return entries


def _input_value(e):
    e["input"][0, 0, 0, 0, 0] = 2
    return e


def _input_dtype(e):
    e["input"] = e["input"].astype(np.int16)
    return e


def _layers_not_json(e):
    e["layers"] = np.array("[{")
    return e


# (name, how to break the file, a regular expression the one-line error must match)
MALFORMED = [
    ("missing format", lambda e: e.pop("format") and e, r"missing key 'format'"),
    ("wrong format", lambda e: {**e, "format": np.array("spikex-net-v0")}, r"format: expected 'spikex-net-v1', not 'spikex-net-v0'"),
    ("format not 0-d str", lambda e: {**e, "format": np.array([1, 2])}, r"format: must be a 0-d str array"),
    ("missing layers", lambda e: e.pop("layers") and e, r"missing key 'layers'"),
    ("layers not JSON", _layers_not_json, r"layers: not valid JSON"),
    ("layers not a list", lambda e: {**e, "layers": np.array('{"kind": "fc"}')}, r"layers: expected a JSON list"),
    ("unknown kind", lambda e: with_layer(e, 1, kind="pool"), r"layer 1: kind must be \"conv\" or \"fc\", not 'pool'"),
    ("missing layer key", lambda e: with_layer(e, 0, stride=None), r"layer 0 \(conv\): missing key 'stride'"),
    ("unknown layer key", lambda e: with_layer(e, 2, bias=3), r"layer 2 \(fc\): unknown key 'bias'"),
    ("non-integer key", lambda e: with_layer(e, 1, kernel=2.5), r"layer 1 \(conv\): kernel must be an integer, not 2.5"),
    ("bad in_size", lambda e: with_layer(e, 0, in_size=[10]), r"layer 0 \(conv\): in_size must be \[H, W\]"),
    ("zero stride", lambda e: with_layer(e, 1, stride=0), r"layer 1 \(conv\): stride must be at least 1, not 0"),
    ("kernel too large", lambda e: with_layer(e, 1, kernel=13), r"layer 1 \(conv\): kernel 13 .* does not fit input size \[10, 10\]"),
    ("threshold zero", lambda e: with_layer(e, 2, threshold=0), r"layer 2 \(fc\): threshold must be in 1..32767 for v_bits=16, not 0"),
    ("threshold too large", lambda e: with_layer(e, 0, threshold=40000), r"layer 0 \(conv\): threshold must be in 1..32767 .*not 40000"),
    ("leak_shift too large", lambda e: with_layer(e, 0, leak_shift=16), r"layer 0 \(conv\): leak_shift must be in 0..15, not 16"),
    ("negative leak_shift", lambda e: with_layer(e, 0, leak_shift=-1), r"layer 0 \(conv\): leak_shift must be at least 0, not -1"),
    ("tws does not divide T", lambda e: with_layer(e, 1, tws=5), r"layer 1 \(conv\): tws 5 does not divide T=12"),
    ("shape chain broken", lambda e: with_layer(e, 1, in_channels=3), r"layer 1 \(conv\): input shape \[3, 10, 10\] is not layer 0's output shape \[4, 10, 10\]"),
    ("fc size mismatch", lambda e: with_layer(e, 2, in_features=100), r"layer 2 \(fc\): input shape \[100\] is not layer 1's output shape \[8, 4, 4\]"),
    ("missing weights", lambda e: e.pop("weights_1") is not None and e, r"missing key 'weights_1' for layer 1 \(conv\)"),
    ("extra weights", lambda e: {**e, "weights_3": np.zeros((1, 1), np.int32)}, r"weights_3: no layer 3"),
    ("weights wrong shape", lambda e: {**e, "weights_2": np.zeros((10, 127), np.int32)}, r"weights_2: shape must be \[10, 128\] for layer 2 \(fc\), not \[10, 127\]"),
    ("weights float", lambda e: {**e, "weights_0": e["weights_0"].astype(np.float32)}, r"weights_0: dtype must be an integer type, not float32"),
    ("weight too large", lambda e: {**e, "weights_0": e["weights_0"] * 0 + 128}, r"weights_0: weight 128 is outside -128..127 \(weight_bits=8\)"),
    ("weight too small", lambda e: {**e, "weights_1": e["weights_1"] * 0 - 129}, r"weights_1: weight -129 is outside -128..127"),
    ("missing input", lambda e: e.pop("input") is not None and e, r"missing key 'input'"),
    ("input wrong dtype", _input_dtype, r"input: dtype must be uint8, not int16"),
    ("input wrong shape", lambda e: {**e, "input": e["input"][:, :, :1]}, r"input: shape must be \[B, T, 2, 10, 10\], not \[4, 12, 1, 10, 10\]"),
    ("input value 2", _input_value, r"input: spikes must be 0 or 1, found 2 at \[0, 0, 0, 0, 0\]"),
    ("empty batch", lambda e: {**e, "input": e["input"][:0]}, r"input: needs at least one sample"),
    ("weight_bits not 0-d", lambda e: {**e, "weight_bits": np.array([8])}, r"weight_bits: must be a 0-d integer array"),
    ("v_bits out of range", lambda e: {**e, "v_bits": np.array(1)}, r"v_bits must be an integer in 2..48, not 1"),
    ("labels wrong shape", lambda e: {**e, "labels": np.zeros(3, np.int64)}, r"labels: must be an integer array of shape \[4\]"),
]


@pytest.fixture
def entries():
    return archive_of(example_network())


def write(path, entries):
    np.savez(path, **entries)
    return path


@pytest.mark.parametrize("name,breaks,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused_with_one_line(tmp_path, capsys, entries, name, breaks, message):
    net = write(tmp_path / "net.npz", breaks(entries))
    result = tmp_path / "result.npz"
    status = main(["run", str(net), "--backend", "golden", "-o", str(result)])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1, err
    assert err.startswith(f"spikex: error: {net}: "), err
    assert __import__("re").search(message, err), err
    assert not result.exists()
    assert list(tmp_path.iterdir()) == [net], "no partial or temporary file may be left"


def test_not_an_archive_and_missing_file_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("hello")
    assert main(["run", str(bad), "-o", str(tmp_path / "r.npz")]) == 1
    assert "not a numpy .npz archive" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "none.npz"), "-o", str(tmp_path / "r.npz")]) == 1
    assert "none.npz: no such file" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_round_trip_keeps_everything(tmp_path):
    net = example_network(batch=2, timesteps=6)
    netfile.save(net, tmp_path / "n.npz")
    back = netfile.load(tmp_path / "n.npz")
    assert back.layers == net.layers
    assert all(np.array_equal(a, b) for a, b in zip(back.weights, net.weights))
    assert np.array_equal(back.input, net.input) and np.array_equal(back.labels, net.labels)
    assert (back.weight_bits, back.v_bits) == (8, 16)


def test_save_refuses_an_invalid_network_and_writes_nothing(tmp_path):
    net = example_network()
    net.weights[0] = net.weights[0] * 10
    with pytest.raises(netfile.NetworkFileError, match="weights_0: weight"):
        netfile.save(net, tmp_path / "n.npz")
    assert list(tmp_path.iterdir()) == []


def spec_network(net):
    """SPEC §1–2 with explicit loops over neurons and inputs: slow, obvious, independent."""
    x = net.input.astype(np.int64)
    outputs = []
    v_lo, v_hi = -2 ** (net.v_bits - 1), 2 ** (net.v_bits - 1) - 1
    for layer, w in zip(net.layers, net.weights):
        batch, steps = x.shape[:2]
        if layer.kind == "fc":
            current = np.einsum("btn,mn->btm", x.reshape(batch, steps, -1), w)
        else:
            rows, cols = layer.out_size
            current = np.zeros((batch, steps, layer.out_channels, rows, cols), np.int64)
            for r in range(rows):
                for q in range(cols):
                    for ky in range(layer.kernel):
                        for kx in range(layer.kernel):
                            y = r * layer.stride - layer.padding + ky
                            z = q * layer.stride - layer.padding + kx
                            if 0 <= y < layer.in_size[0] and 0 <= z < layer.in_size[1]:
                                current[:, :, :, r, q] += np.einsum(
                                    "btc,mc->btm", x[:, :, :, y, z], w[:, :, ky, kx])
        u = np.zeros(current.shape[:1] + current.shape[2:], np.int64)
        out = np.zeros(current.shape, np.uint8)
        for t in range(steps):
            d = u if layer.leak_shift == 0 else u - (u >> layer.leak_shift)
            v = np.clip(d + current[:, t], v_lo, v_hi)
            out[:, t] = v >= layer.threshold
            u = np.where(out[:, t] == 1, 0, v)
        outputs.append(out)
        x = out.astype(np.int64)
    return outputs


@pytest.mark.parametrize("seed", range(12))
def test_spikex_run_golden_equals_the_spec_loop(tmp_path, seed):
    net = random_network(np.random.default_rng(seed))
    netfile.save(net, tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "golden", "-o", str(tmp_path / "r.npz")]) == 0
    result = np.load(tmp_path / "r.npz")
    expected = spec_network(net)
    for k, spikes in enumerate(expected):
        assert np.array_equal(result[f"spikes_{k}"], spikes), f"layer {k}"
        assert result[f"spikes_{k}"].dtype == np.uint8
    counts, _ = golden.predict(expected[-1])
    assert np.array_equal(result["counts"], counts)
    assert "counters" not in result


def test_unknown_backend_lists_the_backends(tmp_path, capsys):
    netfile.save(example_network(), tmp_path / "n.npz")
    assert main(["run", str(tmp_path / "n.npz"), "--backend", "fpga", "-o", str(tmp_path / "r.npz")]) == 1
    assert "unknown backend 'fpga'; backends: golden" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_command_line_entry_point(tmp_path):
    """The installed ``spikex`` command, as a user runs it."""
    spikex = Path(sys.executable).with_name("spikex")
    net, result = tmp_path / "n.npz", tmp_path / "r.npz"
    subprocess.run([spikex, "example", "-o", net], check=True, capture_output=True)
    info = subprocess.run([spikex, "info", net], check=True, capture_output=True, text=True).stdout
    assert "active TW" in info and "conv" in info
    run = subprocess.run([spikex, "run", net, "--backend", "golden", "-o", result],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert result.exists()
