"""``spikex figures --fig 13``: the paper's Fig. 13 (§VI-C) for N-MNIST, from trained networks.

Four variants, each run on the same recordings, per layer and in total, normalised to PTB:

- **PTB**: the beta = 0 network on the PTB dataflow, each layer's TWS chosen by exhaustive
  search over ``choices`` (every combination) for the lowest total EDP;
- **SpikeX**: the beta = 0 network on SpikeX at the TWS it was trained with;
- **SpikeX+HT**: the network trained with the hardware loss at that same fixed TWS;
- **SpikeX+HAS**: the network trained with the hardware loss and HAS (its own TWS).

Counted on the analytic simulator with both memory models: ``rtl`` (the RTL as built, whose
counters the RTL gives exactly) and ``blocks`` (the paper's). Each memory model has its own
PTB search. A few samples of every variant can be run on the RTL (Verilator) to confirm
that its counter registers equal the ``rtl`` model's.

The search costs each layer at each TWS once per accelerator: a layer's counters depend
on its own TWS, its input (the spikes do not depend on the TWS) and the accelerator's
parameters, which the other layers' TWS change only through ``tws_max``, the time block
and the GLB split. So the combinations are grouped by the accelerator they run on, and in
each group a network with every layer at TWS ``t``, on that accelerator, gives every
layer's cost at ``t``; the chosen combination is then run as a whole and its counters
must equal the table's (:func:`search_tws` raises otherwise).
"""

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from spikex.netfile import Network, SpikexError


__all__ = ["VARIANTS", "MEMORY_MODELS", "PAPER_NMNIST", "COUNTER_KEYS", "with_tws",
           "tws_choices", "search_tws", "fig13", "confirm_on_rtl", "make_fig13"]


VARIANTS = ("PTB", "SpikeX", "SpikeX+HT", "SpikeX+HAS")
MEMORY_MODELS = ("rtl", "blocks")

#: Counters compared between the analytic model and the RTL's counter registers.
COUNTER_KEYS = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
                "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
                "lbuf_reads", "lbuf_writes", "scratchpad_accesses")

#: The paper's N-MNIST figures (§VI-C text; Fig. 13 (e), (f) are plots only): improvement
#: over the PTB baseline, total over the network. ``None``: not given for N-MNIST.
PAPER_NMNIST = {
    "SpikeX": {"energy": None, "latency": None, "edp": None,
               "note": "not given for N-MNIST"},
    "SpikeX+HT": {"energy": 1.21, "latency": 1.85, "edp": None,
                  "note": "'HT reduces energy 1.21x ... latency 1.85x'; the reference is not "
                          "stated"},
    "SpikeX+HAS": {"energy": 2.07, "latency": 7.25, "edp": 15.1,
                   "note": "SpikeX with HT and HAS over the baseline (Fig. 13 caption, EDP from "
                           "the abstract); the text also gives 4.17x latency 'after HAS' and "
                           "9.8% less energy than HT"},
}


def with_tws(net, tws):
    """``net`` with layer ``k`` at window size ``tws[k]`` (an int: every layer)."""
    if np.isscalar(tws):
        tws = [int(tws)] * len(net.layers)
    if len(tws) != len(net.layers):
        raise SpikexError(f"{len(tws)} TWS values for a network of {len(net.layers)} layers")
    layers = [replace(layer, tws=int(t)) for layer, t in zip(net.layers, tws)]
    return Network(layers, net.weights, net.input, net.weight_bits, net.v_bits, net.labels)


def tws_choices(timesteps, largest=15):
    """The TWS HAS chooses from: the divisors of ``timesteps`` up to ``largest``."""
    return [t for t in range(1, min(timesteps, largest) + 1) if timesteps % t == 0]


def _costs(counters):
    return [(layer["energy_pj"], layer["cycles"]) for layer in counters["layers"]]


def _pinned(net, combo, options):
    """The accelerator parameters ``with_tws(net, combo)`` runs on, as options that make a
    network at other TWS run on the same accelerator."""
    from sim.analytic import analytic_hardware
    hw = analytic_hardware(with_tws(net, combo), options)
    return (("tws_max", hw.tws_max), ("block_steps", hw.block_steps),
            ("glb_split", None if hw.glb_split is None else tuple(hw.glb_split)),
            ("max_timesteps", hw.max_timesteps))


def search_tws(net, options, choices, progress=None):
    """``net`` with each layer's TWS chosen by exhaustive search for the lowest total EDP
    on the dataflow and memory model of ``options`` (PTB's baseline; also usable on SpikeX).

    The combinations are grouped by the accelerator they run on (``tws_max``, time block,
    GLB split); per group, the network runs once with every layer at each TWS the group
    uses, on that accelerator, which gives each layer's cost at that TWS.

    Returns ``{"tws", "edp", "edps", "tables", "counters", "tried"}``: the chosen TWS, its
    EDP in pJ·s, the EDP of every combination, per group ``{"hardware", "table"}`` with
    ``table[k][t] = (energy_pj, cycles)`` of layer ``k`` at TWS ``t``, the counters of
    the chosen network run as a whole, and the number of combinations tried.
    """
    from sim.analytic import run_analytic
    progress = progress or (lambda it, desc=None: it)
    name = (options.get("dataflow") or "spikex").upper()
    clock_hz = _clock_hz(options)
    groups = {}
    for combo in itertools.product(choices, repeat=len(net.layers)):
        groups.setdefault(_pinned(net, combo, options), []).append(combo)
    runs = [(hardware, t) for hardware, combos in groups.items()
            for t in sorted({t for combo in combos for t in combo})]
    tables = {hardware: [dict() for _ in net.layers] for hardware in groups}
    for hardware, t in progress(runs, desc=f"{name} TWS search ({options.get('memory')})"):
        pinned = {key: (list(value) if isinstance(value, tuple) else value) for key, value in hardware}
        _, counters = run_analytic(with_tws(net, t), {**options, **pinned}, f"{name} at TWS {t}")
        for k, cost in enumerate(_costs(counters)):
            tables[hardware][k][t] = cost
    edps = {}
    for hardware, combos in groups.items():
        table = tables[hardware]
        for combo in combos:
            energy = sum(table[k][t][0] for k, t in enumerate(combo))
            cycles = sum(table[k][t][1] for k, t in enumerate(combo))
            edps[combo] = energy * cycles / clock_hz
    best = min(edps, key=edps.get)
    _, counters = run_analytic(with_tws(net, best), options, f"{name} at TWS {list(best)}")
    table = tables[_pinned(net, best, options)]
    for k, (cost, t) in enumerate(zip(_costs(counters), best)):
        if cost != table[k][t]:
            raise SpikexError(f"{name} TWS search: layer {k} at TWS {t} costs {cost} in the chosen "
                              f"network but {table[k][t]} with every layer at TWS {t} on the "
                              f"same accelerator")
    return {"tws": list(best), "edp": counters["edp"], "edps": edps, "counters": counters,
            "tables": [{"hardware": dict(hardware), "table": tables[hardware]} for hardware in groups],
            "tried": len(edps)}


def _clock_hz(options):
    from sim.schedule import Hardware
    return Hardware().clock_mhz * 1e6 if options.get("clock_mhz") is None else options["clock_mhz"] * 1e6


def _normalised(counters, reference):
    layers = [{"energy": v["energy_pj"] / r["energy_pj"], "latency": v["cycles"] / r["cycles"]}
              for v, r in zip(counters["layers"], reference["layers"])]
    return {"layers": layers, "energy": counters["energy_pj"] / reference["energy_pj"],
            "latency": counters["cycles"] / reference["cycles"], "edp": counters["edp"] / reference["edp"]}


def _summary(counters):
    return {"energy_pj": counters["energy_pj"], "cycles": counters["cycles"], "edp": counters["edp"],
            "layers": [{key: layer[key] for key in ("energy_pj", "cycles", "tws") if key in layer}
                       for layer in counters["layers"]]}


def fig13(nets, options, choices=None, progress=None):
    """Counters and normalised figures of the four variants under each memory model.

    ``nets``: ``{"baseline", "ht", "has"}`` networks (the same input); the baseline runs
    as PTB and as SpikeX. ``options``: the hardware options of ``spikex run`` (its
    ``memory`` is replaced by each of :data:`MEMORY_MODELS`).
    """
    from sim.analytic import run_analytic
    choices = choices or tws_choices(nets["baseline"].timesteps)
    result = {"choices": choices, "samples": nets["baseline"].batch, "memory": {}}
    for memory in MEMORY_MODELS:
        opts = {**options, "memory": memory}
        search = search_tws(nets["baseline"], {**opts, "dataflow": "ptb"}, choices, progress)
        runs = {"PTB": search["counters"]}
        for variant, key in (("SpikeX", "baseline"), ("SpikeX+HT", "ht"), ("SpikeX+HAS", "has")):
            _, runs[variant] = run_analytic(nets[key], {**opts, "dataflow": "spikex"}, variant)
        result["memory"][memory] = {
            "ptb_tws": search["tws"], "ptb_tried": search["tried"],
            "ptb_tables": [{"hardware": group["hardware"],
                            "layers": [{str(t): list(c) for t, c in layer.items()} for layer in group["table"]]}
                           for group in search["tables"]],
            "tws": {variant: [layer.tws for layer in net.layers] for variant, net in
                    (("PTB", with_tws(nets["baseline"], search["tws"])), ("SpikeX", nets["baseline"]),
                     ("SpikeX+HT", nets["ht"]), ("SpikeX+HAS", nets["has"]))},
            "counters": {variant: _summary(c) for variant, c in runs.items()},
            "normalised": {variant: _normalised(c, runs["PTB"]) for variant, c in runs.items()},
        }
    return result


def confirm_on_rtl(nets, tws, options, samples, simulator="verilator", progress=None):
    """Run the first ``samples`` of each variant on the RTL and on the ``rtl`` analytic model.

    ``tws``: PTB's TWS. Returns per variant the RTL's and the model's per-layer counters
    (:data:`COUNTER_KEYS`), whether they are equal, and whether the RTL's spikes equal the
    golden model's.
    """
    from sim.analytic import run_analytic
    from sim.golden import run_network
    from sim.rtl import run_rtl
    progress = progress or (lambda it, desc=None: it)
    runs = {"PTB": (with_tws(nets["baseline"], tws), "ptb"), "SpikeX": (nets["baseline"], "spikex"),
            "SpikeX+HT": (nets["ht"], "spikex"), "SpikeX+HAS": (nets["has"], "spikex")}
    result = {}
    for variant in progress(VARIANTS, desc=f"{simulator} confirmation"):
        net, dataflow = runs[variant]
        net = net.with_input(net.input[:samples], None if net.labels is None else net.labels[:samples])
        opts = {**options, "memory": "rtl", "dataflow": dataflow}
        outputs, rtl = run_rtl(net, opts, variant, simulator=simulator)
        _, model = run_analytic(net, opts, variant)
        golden = run_network(net, opts.get("acc_bits") or 24, variant)
        rtl_layers = [{key: int(layer[key]) for key in COUNTER_KEYS} for layer in rtl["layers"]]
        model_layers = [{key: int(layer[key]) for key in COUNTER_KEYS} for layer in model["layers"]]
        result[variant] = {
            "samples": samples, "tws": [layer.tws for layer in net.layers], "dataflow": dataflow,
            "rtl": rtl_layers, "analytic": model_layers, "counters_equal": rtl_layers == model_layers,
            "spikes_equal_golden": all(np.array_equal(a, b) for a, b in zip(outputs, golden)),
            "rtl_edp": rtl["edp"], "analytic_edp": model["edp"]}
    return result


def _plot(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sim.figures import save_figure
    paths = []
    for memory, entry in result["memory"].items():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        layers = len(entry["normalised"]["PTB"]["layers"])
        names = [f"L{k}" for k in range(layers)] + ["total"]
        width = 0.2
        for ax, what in zip(axes, ("energy", "latency")):
            for i, variant in enumerate(VARIANTS):
                norm = entry["normalised"][variant]
                values = [layer[what] for layer in norm["layers"]] + [norm[what]]
                ax.bar(np.arange(len(names)) + (i - 1.5) * width, values, width, label=variant)
            ax.axhline(1.0, color="grey", lw=0.5)
            ax.set_xticks(np.arange(len(names)), names)
            ax.set_ylabel(f"{what} / PTB")
            ax.set_title(f"normalised {what}")
            ax.set_ylim(0, 1.3 * ax.get_ylim()[1])     # room for the legend above the bars
            ax.legend(fontsize=8, ncol=4, loc="upper center")
        edp = 1 / entry["normalised"]["SpikeX+HAS"]["edp"]
        fig.suptitle(f"Fig. 13 (N-MNIST, {result['samples']} Test recordings, memory={memory}): "
                     f"PTB at TWS {entry['ptb_tws']}; SpikeX+HT+HAS EDP {edp:.2f}x below PTB")
        paths.append(save_figure(fig, out / f"fig13_nmnist_{memory}.png"))
    return paths


def _x(value):
    return "–" if value is None else f"{value:.2f}x"


def _markdown(result, sources):
    lines = ["# Fig. 13 for N-MNIST: energy and latency normalised to PTB", "",
             f"{result['samples']} Test recordings; networks: " +
             ", ".join(f"{key} `{path}`" for key, path in sources.items()) +
             f". PTB's TWS chosen per layer by exhaustive search over {result['choices']} "
             "(every combination) for the lowest total EDP, separately for each memory model. "
             "8x8 array, 54 KB GLB, 2 KB LBUF, 500 MHz. DVS-Gesture: no trained models, not "
             "shown (the paper's (a)-(d)).", ""]
    for memory, entry in result["memory"].items():
        title = ("RTL-exact counters (`--memory rtl`)" if memory == "rtl"
                 else "the paper's memory model (`--memory blocks`)")
        lines += [f"## {title}", "", f"PTB TWS {entry['ptb_tws']} ({entry['ptb_tried']} "
                  "combinations tried).", "",
                  "| variant | TWS | " + " | ".join(f"L{k} energy / latency" for k in
                                                  range(len(entry["tws"]["PTB"]))) +
                  " | total energy | total latency | EDP | EDP (pJ·s) |",
                  "|---|---|" + "---|" * (len(entry["tws"]["PTB"]) + 4)]
        for variant in VARIANTS:
            norm = entry["normalised"][variant]
            cells = [f"{layer['energy']:.3f} / {layer['latency']:.3f}" for layer in norm["layers"]]
            lines.append(f"| {variant} | {entry['tws'][variant]} | " + " | ".join(cells) +
                         f" | {norm['energy']:.3f} | {norm['latency']:.3f} | {norm['edp']:.3f} | "
                         f"{entry['counters'][variant]['edp']:.4g} |")
        lines += ["", "Improvement over PTB (PTB / variant), ours against the paper's N-MNIST text:", "",
                  "| variant | energy (ours) | energy (paper) | latency (ours) | latency (paper) "
                  "| EDP (ours) | EDP (paper) |", "|---|---|---|---|---|---|---|"]
        for variant in VARIANTS[1:]:
            norm, paper = entry["normalised"][variant], PAPER_NMNIST[variant]
            lines.append(f"| {variant} | {1 / norm['energy']:.2f}x | {_x(paper['energy'])} | "
                         f"{1 / norm['latency']:.2f}x | {_x(paper['latency'])} | "
                         f"{1 / norm['edp']:.2f}x | {_x(paper['edp'])} |")
        lines.append("")
    lines += ["Paper's figures: " + "; ".join(f"{v}: {p['note']}" for v, p in PAPER_NMNIST.items()) + ".",
              "The paper gives per-layer values only as bars (Fig. 13 (e), (f)); docs/figures.md "
              "says why ours differ.", ""]
    if "rtl_confirmation" in result:
        lines += ["## Confirmation on the RTL", "", "| variant | samples | dataflow | TWS | counters "
                  "equal the analytic model's | spikes equal golden | RTL cycles |", "|---|---|---|---|---|---|---|"]
        for variant, c in result["rtl_confirmation"].items():
            cycles = sum(layer["cycles"] for layer in c["rtl"])
            lines.append(f"| {variant} | {c['samples']} | {c['dataflow']} | {c['tws']} | "
                         f"{'yes' if c['counters_equal'] else 'NO'} | "
                         f"{'yes' if c['spikes_equal_golden'] else 'NO'} | {cycles} |")
        lines.append("")
    return "\n".join(lines)


def make_fig13(out, nets, sources, options, choices=None, rtl_samples=0, simulator="verilator",
               progress=None):
    """Run :func:`fig13` (and :func:`confirm_on_rtl` on ``rtl_samples`` samples); write
    ``fig13_nmnist_<memory>.png``, ``fig13.md`` and ``fig13.json`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for key, net in nets.items():
        if not np.array_equal(net.input, nets["baseline"].input):
            raise SpikexError(f"{sources[key]}: its input is not that of {sources['baseline']}; "
                              f"the variants must run the same recordings")
    result = fig13(nets, options, choices, progress)
    if rtl_samples:
        result["rtl_confirmation"] = confirm_on_rtl(nets, result["memory"]["rtl"]["ptb_tws"], options,
                                                    rtl_samples, simulator, progress)
    result["sources"] = {key: str(path) for key, path in sources.items()}
    paths = _plot(result, out)
    (out / "fig13.md").write_text(_markdown(result, sources))
    (out / "fig13.json").write_text(json.dumps(result, indent=1))
    return paths + [out / "fig13.md", out / "fig13.json"]
