"""``spikex figures``: the paper's synthetic experiments (§VI-A/B, Figs. 9–12) re-run on
the analytic simulator, written as PNGs and a markdown table beside the paper's numbers.

Synthetic set-up (fixed seeds, nothing tuned to match the paper): input spikes Bernoulli
at the given rate; weights uniform int8 in [-64, 64) (zero mean, so activity neither
dies nor explodes through a layer); threshold 128 (two strong coincident inputs, or a few
weak ones, to fire) and leak_shift 2. The layer shapes are those of SPEC §2.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from spikex.netfile import ConvLayer, FcLayer, Network
from sim.schedule import Hardware


__all__ = ["PAPER_NETWORKS", "FIGURE_LAYERS", "paper_layers", "synthetic_network",
           "synthetic_layer_input", "figure_layer_network", "fig9", "fig10", "fig11", "fig12", "make_figures", "save_figure"]


#: SPEC §2: per network, T and the layers (conv: C, H, M, E, s, p; fc: N, M).
PAPER_NETWORKS = {
    "dvsg-medium": (300, [("conv", 2, 64, 8, 5, 2, 2), ("conv", 8, 32, 16, 5, 4, 2),
                          ("conv", 16, 8, 16, 5, 1, 2), ("conv", 16, 8, 16, 5, 1, 3),
                          ("fc", 1600, 512), ("fc", 512, 11)]),
    "dvsg-large": (300, [("conv", 2, 32, 32, 3, 2, 1), ("conv", 32, 16, 64, 3, 2, 1),
                         ("conv", 64, 8, 128, 3, 2, 1), ("fc", 2048, 256), ("fc", 256, 11)]),
    "n-mnist": (30, [("conv", 2, 34, 12, 3, 2, 0), ("conv", 12, 16, 32, 3, 1, 0),
                     ("conv", 32, 14, 64, 3, 2, 0), ("fc", 2304, 10)]),
}

THRESHOLD, LEAK_SHIFT, WEIGHT_RANGE = 128, 2, (-64, 64)


def paper_layers(name, tws):
    """The layers of network ``name`` of SPEC §2, every one with window size ``tws``."""
    layers = []
    for spec in PAPER_NETWORKS[name][1]:
        if spec[0] == "conv":
            _, c, h, m, e, s, p = spec
            layers.append(ConvLayer(c, (h, h), m, e, s, p, THRESHOLD, LEAK_SHIFT, tws))
        else:
            layers.append(FcLayer(spec[1], spec[2], THRESHOLD, LEAK_SHIFT, tws))
    return layers


def _weights(rng, layer):
    return rng.integers(*WEIGHT_RANGE, size=layer.weight_shape)


def synthetic_network(name, firing_rate, tws=5, batch=1, timesteps=None, seed=0):
    """Network ``name`` of SPEC §2 with random weights and Bernoulli input at ``firing_rate``."""
    rng = np.random.default_rng(seed)
    layers = paper_layers(name, tws)
    steps = PAPER_NETWORKS[name][0] if timesteps is None else timesteps
    weights = [_weights(rng, layer) for layer in layers]
    spikes = (rng.random((batch, steps, *layers[0].in_shape)) < firing_rate).astype(np.uint8)
    return Network(layers, weights, spikes)


def synthetic_layer_input(layer, firing_rate, batch, timesteps, seed):
    """Bernoulli input spikes ``[batch, timesteps, *layer.in_shape]`` and random weights."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((batch, timesteps, *layer.in_shape)) < firing_rate).astype(np.uint8)
    return spikes, _weights(rng, layer)


#: The layers Figs. 9 and 10 run alone: network of :data:`PAPER_NETWORKS`, index of the
#: layer in it, the paper's T.
FIGURE_LAYERS = {
    "N-MNIST CONV1": ("n-mnist", 0, 30),            # Fig. 9
    "DVSG-Medium CONV2": ("dvsg-medium", 1, 300),   # Fig. 10
}


def figure_layer_network(name, rate, tws=5, seed=0, steps=None):
    """Layer ``name`` of :data:`FIGURE_LAYERS` alone, as a one-layer network of one sample:
    Bernoulli input at ``rate`` over ``steps`` steps (None: the paper's T), random weights."""
    network, index, paper_steps = FIGURE_LAYERS[name]
    layer = paper_layers(network, tws)[index]
    spikes, weights = synthetic_layer_input(layer, rate, 1, steps or paper_steps, seed)
    return Network([layer], [weights], spikes)


def _layer_counters(layer, rate, batch, timesteps, seed, hw):
    from sim.analytic import analyze_layer
    spikes, weights = synthetic_layer_input(layer, rate, batch, timesteps, seed)
    return analyze_layer(layer, spikes, hw, weights=weights)


def fig9(batch, progress):
    """N-MNIST CONV1: energy and latency against input firing rate for TWS 2, 3, 5, 10."""
    rates = [0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001]
    steps = PAPER_NETWORKS["n-mnist"][0]
    base = paper_layers("n-mnist", 1)[0]
    result = {"rates": rates, "tws": {}}
    for tws in progress([2, 3, 5, 10], desc="fig 9"):
        layer = replace(base, tws=tws)
        runs = [_layer_counters(layer, rate, batch, steps, 9, Hardware()) for rate in rates]
        result["tws"][tws] = {"energy_pj": [r["energy_pj"] for r in runs],
                              "cycles": [r["cycles"] for r in runs]}
    return result


def fig10(batch, timesteps, progress):
    """DVSG-Medium CONV2: latency of PTB over SpikeX against input firing rate."""
    rates = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.02, 0.05]
    layer = replace(paper_layers("dvsg-medium", 5)[1])
    result = {"rates": rates, "tws": layer.tws, "spikex": [], "ptb": []}
    for rate in progress(rates, desc="fig 10"):
        for dataflow in ("spikex", "ptb"):
            run = _layer_counters(layer, rate, batch, timesteps, 10, Hardware(dataflow=dataflow))
            result[dataflow].append(run["cycles"])
    return result


def fig11(batch, timesteps, rate, progress):
    """DVSG-Large CONV2: energy and latency against TWS at one input firing rate."""
    base = paper_layers("dvsg-large", 1)[1]
    choices = [t for t in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 25, 30) if timesteps % t == 0]
    result = {"rate": rate, "tws": choices, "energy_pj": [], "cycles": []}
    for tws in progress(choices, desc="fig 11"):
        run = _layer_counters(replace(base, tws=tws), rate, batch, timesteps, 11, Hardware())
        result["energy_pj"].append(run["energy_pj"])
        result["cycles"].append(run["cycles"])
    return result


def fig12(batch, timesteps, rate, progress):
    """DVSG-Large FC1: energy breakdown by component and by use at TWS 4 and 8."""
    base = paper_layers("dvsg-large", 1)[3]
    result = {"rate": rate, "timesteps": timesteps, "tws": {}}
    for tws in progress([4, 8], desc="fig 12"):
        run = _layer_counters(replace(base, tws=tws), rate, batch, timesteps, 12, Hardware())
        result["tws"][tws] = {"by_component": run["energy_by_component_pj"],
                              "by_use": run["energy_by_use_pj"], "energy_pj": run["energy_pj"]}
    return result


PAPER = {
    "fig9_energy": {2: -46.6, 3: -54.0, 5: -56.9, 10: -68.2},
    "fig9_latency": {2: -93.9, 3: -92.0, 5: -91.1, 10: -90.4},
    "fig10": {0.0001: 7.11, 0.05: 1.3},
    "fig12_component": {"rf": 39.5, "lbuf": 13.4, "glb": 7.3, "dram": 1.7, "alu": 38.0},
    "fig12_use": {4: {"weights": 40.1, "spikes": 21.9, "alu": 38.0},
                  8: {"weights": 36.19, "spikes": 30.65}},
}


def _change(series):
    return 100.0 * (series[-1] / series[0] - 1.0)


def _plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []

    f9 = results["fig9"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    rates = np.array(f9["rates"]) * 100
    top_e = max(max(v["energy_pj"]) for v in f9["tws"].values())
    top_c = max(max(v["cycles"]) for v in f9["tws"].values())
    for tws, v in f9["tws"].items():
        axes[0].plot(rates, np.array(v["energy_pj"]) / top_e, "o-", label=f"TWS {tws}")
        axes[1].plot(rates, np.array(v["cycles"]) / top_c, "o-", label=f"TWS {tws}")
    for ax, what in zip(axes, ("energy", "latency")):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("input firing rate (%)")
        ax.set_ylabel(f"normalised {what}")
        ax.legend()
    fig.suptitle("Fig. 9: N-MNIST CONV1")
    paths.append(save_figure(fig, out / "fig9_nmnist_conv1.png"))

    f10 = results["fig10"]
    fig, ax = plt.subplots(figsize=(6, 4))
    rates = np.array(f10["rates"]) * 100
    top = max(f10["ptb"])
    ax.plot(rates, np.array(f10["ptb"]) / top, "s-", label="PTB")
    ax.plot(rates, np.array(f10["spikex"]) / top, "o-", label="SpikeX (agile dispatch)")
    ax.set_xscale("log")
    ax.set_xlabel("input firing rate (%)")
    ax.set_ylabel("normalised latency")
    ax.set_title(f"Fig. 10: DVSG-Medium CONV2, TWS {f10['tws']}")
    ax.legend()
    paths.append(save_figure(fig, out / "fig10_dvsg_medium_conv2.png"))

    f11 = results["fig11"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(f11["tws"], np.array(f11["energy_pj"]) / max(f11["energy_pj"]), "o-", label="energy")
    ax.plot(f11["tws"], np.array(f11["cycles"]) / max(f11["cycles"]), "s--", label="latency")
    ax.set_xlabel("TWS")
    ax.set_ylabel("normalised")
    ax.set_title(f"Fig. 11: DVSG-Large CONV2, input rate {f11['rate']:.2%}")
    ax.legend()
    paths.append(save_figure(fig, out / "fig11_dvsg_large_conv2.png"))

    f12 = results["fig12"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("by_component", "by_use")):
        labels = list(next(iter(f12["tws"].values()))[key])
        width = 0.4
        for i, (tws, v) in enumerate(f12["tws"].items()):
            total = sum(v[key].values())
            ax.bar(np.arange(len(labels)) + i * width, [100 * v[key][k] / total for k in labels],
                   width, label=f"TWS {tws}")
        ax.set_xticks(np.arange(len(labels)) + width / 2, labels)
        ax.set_ylabel("% of energy")
        ax.set_title(key.replace("_", " "))
        ax.legend()
    fig.suptitle("Fig. 12: DVSG-Large FC1 energy breakdown")
    paths.append(save_figure(fig, out / "fig12_fc_breakdown.png"))
    return paths


def save_figure(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def _markdown(results, settings):
    f9, f10, f11, f12 = (results[k] for k in ("fig9", "fig10", "fig11", "fig12"))
    lines = ["# SpikeX analytic simulator against the paper's synthetic experiments", "",
             f"Settings: {settings}. Hardware: 8x8 array, GLB 54 KB, LBUF 2 KB, DRAM 30 GB/s, "
             "500 MHz, shipped 32 nm energy table. Inputs Bernoulli, weights uniform int8 in "
             "[-64, 64), threshold 128, leak_shift 2 (sim/figures.py).", "",
             "## Fig. 9: N-MNIST CONV1, change from 0.5% to 0.01% input firing rate", "",
             "| TWS | energy (ours) | energy (paper) | latency (ours) | latency (paper) |",
             "|---|---|---|---|---|"]
    for tws, v in f9["tws"].items():
        lines.append(f"| {tws} | {_change(v['energy_pj']):+.1f}% | {PAPER['fig9_energy'][tws]:+.1f}% "
                     f"| {_change(v['cycles']):+.1f}% | {PAPER['fig9_latency'][tws]:+.1f}% |")
    ours_e = np.mean([_change(v["energy_pj"]) for v in f9["tws"].values()])
    ours_c = np.mean([_change(v["cycles"]) for v in f9["tws"].values()])
    lines += ["", f"Mean change over the TWS values: energy {ours_e:+.1f}% (paper "
              f"{np.mean(list(PAPER['fig9_energy'].values())):+.1f}%), latency {ours_c:+.1f}% (paper "
              f"{np.mean(list(PAPER['fig9_latency'].values())):+.1f}%). Costs that do not shrink with "
              "activity set the floor of our energy curve: a conv SP-MB is a whole input channel "
              "over a time block, so the input spikes of both N-MNIST channels still move from "
              "DRAM at 0.01%; the paper does not publish the "
              "terms of its own, so a gap here is a difference of model, not a fit.", "",
              f"## Fig. 10: DVSG-Medium CONV2 (TWS {f10['tws']}), latency PTB / SpikeX", "",
              "| input rate | PTB cycles | SpikeX cycles | speed-up (ours) | speed-up (paper) |",
              "|---|---|---|---|---|"]
    for rate, p, s in zip(f10["rates"], f10["ptb"], f10["spikex"]):
        paper = PAPER["fig10"].get(rate)
        lines.append(f"| {rate:.2%} | {p} | {s} | {p / s:.2f}x | {f'{paper}x' if paper else '–'} |")
    speedups = [p / s for p, s in zip(f10["ptb"], f10["spikex"])]
    lines += ["", f"Ours: {speedups[0]:.2f}x at {f10['rates'][0]:.2%} and {speedups[-1]:.2f}x at "
              f"{f10['rates'][-1]:.2%} (paper 7.11x and 1.3x). PTB streams all F = "
              f"{paper_layers('dvsg-medium', 5)[1].fan_in} fan-in inputs in every pass and packs one "
              "position per pass; SpikeX streams only the inputs with a spike in the pass and, in "
              "the high spatial density mode, packs several positions. Our PTB is the schedule of "
              "docs/dataflow.md, not a re-implementation of [26]'s simulator, which is where a "
              "different ratio comes from.", "",
              f"## Fig. 11: DVSG-Large CONV2, input rate {f11['rate']:.2%} (synthetic, the paper "
              "uses the trained network's activity)", "", "| TWS | energy (uJ) | cycles |", "|---|---|---|"]
    for tws, e, c in zip(f11["tws"], f11["energy_pj"], f11["cycles"]):
        lines.append(f"| {tws} | {e / 1e6:.3f} | {c} |")
    best = f11["tws"][int(np.argmin(f11["energy_pj"]))]
    lines += ["", f"Lowest energy at TWS {best}. The paper gives the curve only as a plot.", "",
              f"## Fig. 12: DVSG-Large FC1 (2048 -> 256), input rate {f12['rate']:.2%}, "
              f"T={f12['timesteps']} (T=300 is not a multiple of 8)", "",
              "| share | TWS 4 (ours) | TWS 8 (ours) | paper (TWS 4) |", "|---|---|---|---|"]
    for key, paper in (("by_component", PAPER["fig12_component"]), ("by_use", PAPER["fig12_use"][4])):
        for name in next(iter(f12["tws"].values()))[key]:
            shares = [100 * v[key][name] / sum(v[key].values()) for v in f12["tws"].values()]
            ref = paper.get(name)
            lines.append(f"| {key[3:]}: {name} | {shares[0]:.1f}% | {shares[1]:.1f}% | "
                         f"{f'{ref}%' if ref is not None else '–'} |")
    dram_share = [100 * v["by_component"]["dram"] / v["energy_pj"] for v in f12["tws"].values()]
    lines += ["", "Paper at TWS 8: weights 36.19%, spikes 30.65%. Our 'membranes' use (partial sums "
              "and membranes in the scratchpad and membrane store) is a category the paper folds "
              f"into the others. Our DRAM share is {dram_share[0]:.1f}% (paper 1.7%): every sample "
              "loads FC1's 512 KB of weights from DRAM (once per time block when they do not fit "
              "the GLB), our DRAM energy per bit is Horowitz's 20 pJ rather than the paper's CACTI "
              "figure, and at a sparse synthetic input the array does little arithmetic to set "
              "against that.", ""]
    return "\n".join(lines)


def make_figures(out, full=False, progress=None):
    """Run Figs. 9–12 (reduced sizes unless ``full``), write PNGs, ``figures.md`` and ``figures.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda it, desc=None: it)
    if full:
        sizes = dict(batch9=64, batch=8, steps=300, steps12=240)
    else:
        sizes = dict(batch9=8, batch=1, steps=60, steps12=40)
    results = {"fig9": fig9(sizes["batch9"], progress),
               "fig10": fig10(sizes["batch"], sizes["steps"], progress),
               "fig11": fig11(sizes["batch"], sizes["steps"], 0.005, progress),
               "fig12": fig12(sizes["batch"], sizes["steps12"], 0.005, progress)}
    settings = ("full (paper sizes: N-MNIST T=30 batch 64; DVSG T=300 batch 8; FC T=240)" if full else
                f"reduced (N-MNIST T=30 batch {sizes['batch9']}; DVSG T={sizes['steps']} batch "
                f"{sizes['batch']}; FC T={sizes['steps12']}); use --full for the paper's sizes")
    paths = _plot(results, out)
    (out / "figures.md").write_text(_markdown(results, settings))
    (out / "figures.json").write_text(json.dumps(results, indent=1, default=str))
    return paths + [out / "figures.md", out / "figures.json"]
