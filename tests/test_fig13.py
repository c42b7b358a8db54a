"""``spikex figures --fig 13`` on a tiny two-layer network: PTB's exhaustive TWS search,
normalisation to PTB, and the variants' counters against the analytic backend of ``spikex run``."""

import argparse
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli import register
from sim.fig13 import VARIANTS, fig13, fits_rtl, network_name, search_tws, with_tws
from spikex.backends import run_backend
from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError, save

CHOICES = [1, 2, 3, 6]
# What spikex run gives the analytic backend by default (the RTL's DRAM model).
OPTIONS = {"dram_latency": 1, "dram_one_burst": True}


def tiny_network(seed, rate=0.08, tws=2, timesteps=6, deeper=False):
    rng = np.random.default_rng(seed)
    size = 12 if deeper else 8
    layers = [ConvLayer(2, (size, size), 4, 3, 2, 0, 10, 2, tws), FcLayer(36, 3, 8, 1, tws)]
    if deeper:      # the middle conv's cycles depend on the accelerator's tws_max
        layers = [ConvLayer(2, (12, 12), 8, 3, 2, 0, 10, 2, tws),
                  ConvLayer(8, (5, 5), 8, 3, 1, 1, 10, 2, tws), FcLayer(200, 3, 8, 1, tws)]
    weights = [rng.integers(-4, 8, size=layer.weight_shape) for layer in layers]
    spikes = (rng.random((2, timesteps, 2, size, size)) < rate).astype(np.uint8)
    return Network(layers, weights, spikes, labels=np.array([0, 1]))


# T = 30 with TWS 15: the combinations run on two accelerators (tws_max 10 and 15).
SEARCHES = {"T6": (dict(), CHOICES),
            "T30": (dict(timesteps=30, deeper=True, rate=0.05), [5, 15])}


@pytest.mark.parametrize("memory", ["rtl", "blocks"])
@pytest.mark.parametrize("dataflow", ["ptb", "spikex"])
@pytest.mark.parametrize("search", SEARCHES)
def test_tws_search_picks_the_lowest_edp_of_every_combination(memory, dataflow, search):
    shape, choices = SEARCHES[search]
    net = tiny_network(1, **shape)
    options = {**OPTIONS, "memory": memory, "dataflow": dataflow}
    edps = {}
    for combo in itertools.product(choices, repeat=len(net.layers)):
        _, counters = run_backend("analytic", with_tws(net, combo), options)
        edps[combo] = counters["edp"]
    search = search_tws(net, options, choices)
    assert search["tried"] == len(edps)
    # Every combination costed as a whole run costs it, not only the chosen one.
    for combo, edp in edps.items():
        assert search["edps"][combo] == pytest.approx(edp, rel=1e-12), combo
    assert search["edp"] == pytest.approx(min(edps.values()), rel=1e-12)
    assert tuple(search["tws"]) == min(edps, key=edps.get)
    # The search is not trivial here: the combinations differ.
    assert max(edps.values()) > 1.05 * min(edps.values())


def test_variants_are_normalised_to_ptb_and_equal_the_analytic_backend():
    nets = {"baseline": tiny_network(2), "ht": tiny_network(3, tws=2),
            "has": with_tws(tiny_network(4), [3, 6])}
    for key in ("ht", "has"):
        nets[key] = nets[key].with_input(nets["baseline"].input, nets["baseline"].labels)
    result = fig13(nets, OPTIONS, CHOICES)
    for memory, entry in result["memory"].items():
        ptb = entry["normalised"]["PTB"]
        assert ptb["energy"] == ptb["latency"] == ptb["edp"] == 1.0
        assert all(layer == {"energy": 1.0, "latency": 1.0} for layer in ptb["layers"])
        runs = {"PTB": (with_tws(nets["baseline"], entry["ptb_tws"]), "ptb"),
                "SpikeX": (nets["baseline"], "spikex"), "SpikeX+HT": (nets["ht"], "spikex"),
                "SpikeX+HAS": (nets["has"], "spikex")}
        for variant in VARIANTS:
            net, dataflow = runs[variant]
            _, counters = run_backend("analytic", net, {**OPTIONS, "memory": memory,
                                                        "dataflow": dataflow})
            ours = entry["counters"][variant]
            assert ours["cycles"] == counters["cycles"]
            assert ours["energy_pj"] == counters["energy_pj"]
            assert [layer["cycles"] for layer in ours["layers"]] == \
                [layer["cycles"] for layer in counters["layers"]]
            assert entry["normalised"][variant]["edp"] == pytest.approx(
                counters["edp"] / entry["counters"]["PTB"]["edp"])
        assert entry["tws"]["SpikeX+HAS"] == [3, 6]


def _figures(args):
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["figures", "--fig", "13", *args])
    parsed.func(parsed)


def test_fig13_command_writes_pngs_and_the_paper_beside_ours(tmp_path, capsys):
    paths = {}
    for key, seed in (("baseline", 5), ("ht", 6), ("has", 7)):
        net = tiny_network(seed).with_input(tiny_network(5).input)
        paths[key] = tmp_path / f"{key}.npz"
        save(net, paths[key])
    out = tmp_path / "fig13"
    _figures(["--baseline", str(paths["baseline"]), "--ht", str(paths["ht"]), "--has",
              str(paths["has"]), "--tws", "1,3", "--glb-kb", "16", "-o", str(out)])
    assert sorted(p.name for p in out.glob("*.png")) == ["fig13_nmnist_blocks.png", "fig13_nmnist_rtl.png"]
    table = (out / "fig13.md").read_text()
    assert "15.10x" in table and "2.07x" in table and "(4 combinations tried)" in table
    assert "8x8 array, 16 KB GLB" in table
    result = json.loads((out / "fig13.json").read_text())
    assert result["choices"] == [1, 3] and result["glb_kb"] == 16
    assert "wrote 4 files" in capsys.readouterr().out


def test_fig13_command_refuses_missing_networks_and_other_recordings(tmp_path):
    net = tmp_path / "net.npz"
    save(tiny_network(8), net)
    with pytest.raises(SpikexError, match="needs --has:"):
        _figures(["--baseline", str(net), "-o", str(tmp_path / "out")])
    other = tmp_path / "other.npz"
    save(tiny_network(9), other)
    with pytest.raises(SpikexError, match="other.npz: its input is not that of"):
        _figures(["--baseline", str(net), "--ht", str(other), "--has", str(net),
                  "-o", str(tmp_path / "out")])


ZOO = Path(__file__).resolve().parents[1] / "model" / "zoo"


@pytest.mark.parametrize("name, beta", [("nmnist-noht", 0.0), ("nmnist-ht", 5e-3)])
def test_fig13_zoo_models_are_their_provenance(name, beta):
    """The networks of Fig. 13 beside the shipped one: small, the files their JSON
    describes, trained at the fixed TWS 5 without HAS at the stated beta."""
    from model.train import load_checkpoint
    path = ZOO / f"{name}.pt"
    provenance = json.loads(path.with_suffix(".json").read_text())
    assert path.stat().st_size < 1_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == provenance["sha256"]
    ckpt = load_checkpoint(path)
    assert ckpt["tws"] == provenance["tws"] == provenance["test"]["tws"] == [5, 5, 5, 5]
    config = provenance["train_config"]
    assert config["beta"] == beta and config["has"] is False and config["epochs"] == 35


def preset_network(name, timesteps, tws=5, seed=0):
    """A network with the layers of a Table II preset (random weights, one sample of
    random input spikes): DVS-Gesture's shapes at a short T."""
    from model.networks import PRESETS
    preset, rng = PRESETS[name], np.random.default_rng(seed)
    channels, size = preset["input_shape"][0], preset["input_shape"][1]
    layers = []
    for spec in preset["layers"]:
        if spec["kind"] == "conv":
            layer = ConvLayer(channels, (size, size), spec["out_channels"], spec["kernel"],
                              spec["stride"], spec["padding"], 50, 3, tws)
            channels, size = layer.out_shape[0], layer.out_shape[1]
        else:
            layer = FcLayer(int(np.prod(layers[-1].out_shape)), spec["out_features"], 50, 3, tws)
        layers.append(layer)
    weights = [rng.integers(-4, 8, size=layer.weight_shape) for layer in layers]
    spikes = (rng.random((1, timesteps, *preset["input_shape"])) < 0.02).astype(np.uint8)
    return Network(layers, weights, spikes, labels=np.array([0]))


def test_network_name_tells_the_table_ii_networks_apart():
    assert network_name(preset_network("dvsg-large", 60)) == "dvsg-large"
    assert network_name(preset_network("dvsg-medium", 60)) == "dvsg-medium"
    assert network_name(tiny_network(1)) == "nmnist"      # the default for other networks


def test_rtl_search_leaves_out_the_combinations_no_glb_split_fits():
    """DVS-Gesture Large at T = 60: a time block of 30 steps (TWS 6 beside 5 or 15) leaves
    no GLB split that fits, so the RTL cannot be built and PTB's search skips it."""
    net = preset_network("dvsg-large", 60)
    options = {**OPTIONS, "memory": "rtl", "dataflow": "ptb"}
    search = search_tws(net, options, [5, 6, 15])
    assert search["tried"] + search["unfit"] == 3 ** 5 and search["unfit"] > 0
    assert all(fits_rtl(with_tws(net, combo), options) for combo in search["edps"])
    assert not fits_rtl(with_tws(net, [5, 6, 5, 5, 5]), options)
    assert fits_rtl(with_tws(net, [5, 6, 5, 5, 5]), {**options, "memory": "blocks"})
    assert search_tws(net, {**options, "memory": "blocks"}, [5, 6, 15])["unfit"] == 0


def test_fig13_command_for_dvs_gesture_without_ht(tmp_path):
    """A DVS-Gesture network gets its title, file names and the paper's DVS-Gesture
    figures; without --ht the figure has three variants; a variant the RTL cannot be
    built for is flagged."""
    paths = {}
    baseline = preset_network("dvsg-large", 60)
    has = preset_network("dvsg-large", 60, seed=1).with_input(baseline.input, baseline.labels)
    for key, net in (("baseline", baseline), ("has", with_tws(has, [5, 6, 15, 15, 15]))):
        paths[key] = tmp_path / f"{key}.npz"
        save(net, paths[key])
    out = tmp_path / "fig13"
    _figures(["--baseline", str(paths["baseline"]), "--has", str(paths["has"]), "--tws", "5,15",
              "--note", "SYNTHETIC gestures.", "-o", str(out)])
    assert sorted(p.name for p in out.glob("*.png")) == ["fig13_dvsg_large_blocks.png",
                                                         "fig13_dvsg_large_rtl.png"]
    table = (out / "fig13.md").read_text()
    assert table.startswith("# Fig. 13 for DVS-Gesture Large")
    assert "4.91x" in table and "5.19x" in table and "SYNTHETIC gestures." in table
    assert "No SpikeX+HT network given" in table and "| SpikeX+HAS (†) |" in table
    result = json.loads((out / "fig13.json").read_text())
    assert result["variants"] == ["PTB", "SpikeX", "SpikeX+HAS"]
    assert result["memory"]["rtl"]["fits_rtl"] == {"PTB": True, "SpikeX": True, "SpikeX+HAS": False}
    assert result["memory"]["blocks"]["fits_rtl"]["SpikeX+HAS"]
