"""``spikex figures --fig 13``: the paper's Fig. 13 (§VI-C), from trained networks (N-MNIST,
DVS-Gesture Medium or Large: :func:`network_name` tells them apart by their layers).

Four variants, each run on the same recordings, per layer and in total, normalised to PTB:

- **PTB**: the beta = 0 network on the PTB dataflow, each layer's TWS chosen by exhaustive
  search over ``choices`` (every combination) for the lowest total EDP;
- **SpikeX**: the beta = 0 network on SpikeX at the TWS it was trained with;
- **SpikeX+HT**: the network trained with the hardware loss at that same fixed TWS
  (optional: the figure leaves it out when there is none);
- **SpikeX+HAS**: the network trained with the hardware loss and HAS (its own TWS).

Counted on the analytic simulator with both memory models: ``rtl`` (the RTL as built, whose
counters the RTL gives exactly) and ``blocks`` (the paper's). Each memory model has its own
PTB search; with ``rtl`` it only takes the combinations whose accelerator the RTL can build
(its GLB split fits, :func:`fits_rtl`), and a variant whose does not is flagged. A few
samples of every variant that fits can be run on the RTL (Verilator) to confirm that its
counter registers equal the ``rtl`` model's.

The search costs each layer at each TWS once per accelerator: a layer's counters depend
on its own TWS, its input (the spikes do not depend on the TWS) and the accelerator's
parameters, which the other layers' TWS change only through ``tws_max``, the time block
and the GLB split. So the combinations are grouped by the accelerator they run on, and in
each group a network with every layer at TWS ``t``, on that accelerator, gives every
layer's cost at ``t``; the chosen combination is then run as a whole and its counters
must equal the table's (:func:`search_tws` raises otherwise). The accelerator depends on
the combination only through its largest TWS and their least common multiple
(``sim.configure.rtl_parameters``: ``tws_max`` and the shortest time block), so it is
worked out once per such pair (DVS-Gesture Medium: 9^6 combinations, 25 pairs). The
golden spikes, which no TWS changes, are computed once per network.
"""

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from hw.config import DEFAULTS
from spikex.netfile import Network, SpikexError


__all__ = ["VARIANTS", "MEMORY_MODELS", "PAPER", "PAPER_NMNIST", "COUNTER_KEYS", "with_tws",
           "network_name", "tws_choices", "fits_rtl", "search_tws", "fig13", "confirm_on_rtl",
           "make_fig13"]


VARIANTS = ("PTB", "SpikeX", "SpikeX+HT", "SpikeX+HAS")
MEMORY_MODELS = ("rtl", "blocks")

#: Counters compared between the analytic model and the RTL's counter registers.
COUNTER_KEYS = ("cycles", "busy_cycles", "stall_cycles", "acc_ops", "active_ntwus",
                "dram_read_bytes", "dram_write_bytes", "glb_reads", "glb_writes",
                "lbuf_reads", "lbuf_writes", "scratchpad_accesses")

#: The paper's figures (§VI-C text and the Fig. 13 caption; the bars are plots only):
#: improvement over the PTB baseline, total over the network, per network (the preset
#: names of ``model.networks``). ``None``: not given.
PAPER = {}
PAPER["nmnist"] = {
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
PAPER["dvsg-medium"] = {
    "SpikeX": {"energy": None, "latency": None, "edp": None,
               "note": "not given for DVS-Gesture Medium"},
    "SpikeX+HT": {"energy": 11.13, "latency": 9.44, "edp": None,
                  "note": "'HT ... reduces energy dissipation by 11.13x' and 'an improvement of "
                          "9.44x on the total latency'; the reference is not stated"},
    "SpikeX+HAS": {"energy": 24.38, "latency": 10.29, "edp": None,
                   "note": "SpikeX with HT and HAS over the baseline (Fig. 13 caption); the text "
                           "gives 10.18x latency after HAS and 8.5% less energy than HT (which "
                           "would be about 12.2x, not 24.38x); the caption's product is 250.9x "
                           "EDP, the abstract's EDP range 15.1x to 150.87x names no network"},
}
PAPER["dvsg-large"] = {
    "SpikeX": {"energy": None, "latency": None, "edp": None,
               "note": "not given for DVS-Gesture Large"},
    "SpikeX+HT": {"energy": 4.89, "latency": 4.29, "edp": None,
                  "note": "'HT ... reduces energy dissipation by ... 4.89x' and 'an improvement "
                          "of ... 4.29x on the total latency'; the reference is not stated"},
    "SpikeX+HAS": {"energy": 4.91, "latency": 5.19, "edp": None,
                   "note": "SpikeX with HT and HAS over the baseline (Fig. 13 caption); the text "
                           "gives 5.01x latency after HAS, and HAS raising energy 10.5% and "
                           "cutting latency 14.2% against HT; the caption's product is 25.5x EDP"},
}
PAPER_NMNIST = PAPER["nmnist"]

#: The panels of the paper's Fig. 13 that show each network.
PANELS = {"nmnist": "(e), (f)", "dvsg-medium": "(a), (b)", "dvsg-large": "(c), (d)"}

#: Display names of the networks, as the paper writes them.
TITLES = {"nmnist": "N-MNIST", "dvsg-medium": "DVS-Gesture Medium",
          "dvsg-large": "DVS-Gesture Large"}


def with_tws(net, tws):
    """``net`` with layer ``k`` at window size ``tws[k]`` (an int: every layer)."""
    if np.isscalar(tws):
        tws = [int(tws)] * len(net.layers)
    if len(tws) != len(net.layers):
        raise SpikexError(f"{len(tws)} TWS values for a network of {len(net.layers)} layers")
    layers = [replace(layer, tws=int(t)) for layer, t in zip(net.layers, tws)]
    return Network(layers, net.weights, net.input, net.weight_bits, net.v_bits, net.labels)


def network_name(net):
    """The Table II network (``model.networks`` preset name) whose layers ``net`` has, by
    input shape and output channels; ``"nmnist"`` for any other network (the figure's
    original target: small test networks get its title and paper figures)."""
    from model.networks import PRESETS
    channels = [layer.out_shape[0] for layer in net.layers]
    for name in ("dvsg-medium", "dvsg-large", "nmnist"):
        preset = PRESETS[name]
        if (list(net.layers[0].in_shape) == preset["input_shape"] and channels ==
                [spec.get("out_channels", spec.get("out_features")) for spec in preset["layers"]]):
            return name
    return "nmnist"


def tws_choices(timesteps, largest=15):
    """The TWS HAS chooses from: the divisors of ``timesteps`` up to ``largest``."""
    return [t for t in range(1, min(timesteps, largest) + 1) if timesteps % t == 0]


def _costs(counters):
    return [(layer["energy_pj"], layer["cycles"]) for layer in counters["layers"]]


def _pinned(net, combo, options, memo=None):
    """The accelerator parameters ``with_tws(net, combo)`` runs on, as options that make a
    network at other TWS run on the same accelerator. ``memo``: a dict to reuse answers
    in, keyed by the largest TWS and the least common multiple (all that
    ``sim.configure.rtl_parameters`` reads of the TWS)."""
    from sim.analytic import analytic_hardware
    key = (max(combo), math.lcm(*combo))
    if memo is not None and key in memo:
        return memo[key]
    hw = analytic_hardware(with_tws(net, combo), options)
    pinned = (("tws_max", hw.tws_max), ("block_steps", hw.block_steps),
              ("glb_split", None if hw.glb_split is None else tuple(hw.glb_split)),
              ("max_timesteps", hw.max_timesteps))
    if memo is not None:
        memo[key] = pinned
    return pinned


def fits_rtl(net, options):
    """Whether the RTL can be built for ``net`` with ``options``: with ``memory == "rtl"``,
    a GLB split its layers fit (``sim.configure.rtl_parameters`` finds none otherwise, and
    the RTL backend refuses it); True for other memory models."""
    from sim.analytic import analytic_hardware
    return options.get("memory") != "rtl" or analytic_hardware(net, options).glb_split is not None


def search_tws(net, options, choices, progress=None, golden=None):
    """``net`` with each layer's TWS chosen by exhaustive search for the lowest total EDP
    on the dataflow and memory model of ``options`` (PTB's baseline; also usable on SpikeX).
    With ``memory == "rtl"`` only the combinations the RTL can be built for
    (:func:`fits_rtl`) count. ``golden``: ``sim.analytic.golden_run(net)``, to reuse.

    The combinations are grouped by the accelerator they run on (``tws_max``, time block,
    GLB split); per group, the network runs once with every layer at each TWS the group
    uses, on that accelerator, which gives each layer's cost at that TWS.

    Returns ``{"tws", "edp", "edps", "tables", "counters", "tried", "unfit"}``: the chosen
    TWS, its EDP in pJ·s, the EDP of every combination, per group ``{"hardware", "table"}``
    with ``table[k][t] = (energy_pj, cycles)`` of layer ``k`` at TWS ``t``, the counters of
    the chosen network run as a whole, the number of combinations tried, and the number
    left out because the RTL cannot be built for them.
    """
    from sim.analytic import golden_run, run_analytic
    progress = progress or (lambda it, desc=None: it)
    name = (options.get("dataflow") or "spikex").upper()
    clock_hz = _clock_hz(options)
    rtl = options.get("memory") == "rtl"
    groups, memo, unfit = {}, {}, 0
    for combo in itertools.product(choices, repeat=len(net.layers)):
        pinned = _pinned(net, combo, options, memo)
        if rtl and dict(pinned)["glb_split"] is None:
            unfit += 1
            continue
        groups.setdefault(pinned, []).append(combo)
    if not groups:
        raise SpikexError(f"{name} TWS search: the RTL cannot be built for any combination of "
                          f"{choices} (no GLB split fits)")
    golden = golden_run(net) if golden is None else golden
    runs = [(hardware, t) for hardware, combos in groups.items()
            for t in sorted({t for combo in combos for t in combo})]
    tables = {hardware: [dict() for _ in net.layers] for hardware in groups}
    for hardware, t in progress(runs, desc=f"{name} TWS search ({options.get('memory')})"):
        pinned = {key: (list(value) if isinstance(value, tuple) else value) for key, value in hardware}
        _, counters = run_analytic(with_tws(net, t), {**options, **pinned}, f"{name} at TWS {t}",
                                   golden)
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
    _, counters = run_analytic(with_tws(net, best), options, f"{name} at TWS {list(best)}", golden)
    table = tables[_pinned(net, best, options)]
    for k, (cost, t) in enumerate(zip(_costs(counters), best)):
        if cost != table[k][t]:
            raise SpikexError(f"{name} TWS search: layer {k} at TWS {t} costs {cost} in the chosen "
                              f"network but {table[k][t]} with every layer at TWS {t} on the "
                              f"same accelerator")
    return {"tws": list(best), "edp": counters["edp"], "edps": edps, "counters": counters,
            "tables": [{"hardware": dict(hardware), "table": tables[hardware]} for hardware in groups],
            "tried": len(edps), "unfit": unfit}


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


def _variants(nets):
    """The variants ``nets`` holds networks for (SpikeX+HT is optional)."""
    return [variant for variant in VARIANTS if variant != "SpikeX+HT" or "ht" in nets]


def fig13(nets, options, choices=None, progress=None):
    """Counters and normalised figures of the variants under each memory model.

    ``nets``: ``{"baseline", "ht", "has"}`` networks (the same input; ``"ht"`` may be
    left out); the baseline runs as PTB and as SpikeX. ``options``: the hardware options
    of ``spikex run`` (its ``memory`` is replaced by each of :data:`MEMORY_MODELS`).
    Each network's golden spikes are computed once and dropped before the next's.
    """
    from sim.analytic import golden_run, run_analytic
    choices = choices or tws_choices(nets["baseline"].timesteps)
    variants = _variants(nets)
    result = {"choices": choices, "samples": nets["baseline"].batch, "network":
              network_name(nets["baseline"]), "variants": variants, "memory": {},
              "glb_kb": options.get("glb_kb") or DEFAULTS.glb_kb}
    runs = {memory: {} for memory in MEMORY_MODELS}
    searches = {}
    for key, net_variants in (("baseline", ("SpikeX",)), ("ht", ("SpikeX+HT",)),
                              ("has", ("SpikeX+HAS",))):
        if key not in nets:
            continue
        golden = golden_run(nets[key])
        for memory in MEMORY_MODELS:
            opts = {**options, "memory": memory}
            if key == "baseline":
                searches[memory] = search_tws(nets[key], {**opts, "dataflow": "ptb"}, choices,
                                              progress, golden)
                runs[memory]["PTB"] = searches[memory]["counters"]
            for variant in net_variants:
                _, runs[memory][variant] = run_analytic(nets[key], {**opts, "dataflow": "spikex"},
                                                        variant, golden)
        del golden
    for memory in MEMORY_MODELS:
        search = searches[memory]
        opts = {**options, "memory": memory}
        tws_nets = {"PTB": (with_tws(nets["baseline"], search["tws"]), "ptb"),
                    "SpikeX": (nets["baseline"], "spikex"), "SpikeX+HAS": (nets["has"], "spikex")}
        if "ht" in nets:
            tws_nets["SpikeX+HT"] = (nets["ht"], "spikex")
        result["memory"][memory] = {
            "ptb_tws": search["tws"], "ptb_tried": search["tried"], "ptb_unfit": search["unfit"],
            "ptb_tables": [{"hardware": group["hardware"],
                            "layers": [{str(t): list(c) for t, c in layer.items()} for layer in group["table"]]}
                           for group in search["tables"]],
            "tws": {variant: [layer.tws for layer in tws_nets[variant][0].layers]
                    for variant in variants},
            "fits_rtl": {variant: fits_rtl(tws_nets[variant][0],
                                           {**opts, "dataflow": tws_nets[variant][1]})
                         for variant in variants},
            "counters": {variant: _summary(runs[memory][variant]) for variant in variants},
            "normalised": {variant: _normalised(runs[memory][variant], runs[memory]["PTB"])
                           for variant in variants},
        }
    return result


def confirm_on_rtl(nets, tws, options, samples, simulator="verilator", progress=None):
    """Run the first ``samples`` of each variant on the RTL and on the ``rtl`` analytic model.

    ``tws``: PTB's TWS. Returns per variant the RTL's and the model's per-layer counters
    (:data:`COUNTER_KEYS`), whether they are equal, and whether the RTL's spikes equal the
    golden model's; for a variant the RTL cannot be built for (:func:`fits_rtl`), only
    ``{"samples", "tws", "dataflow", "skipped"}``. ``"ht"`` may be left out of ``nets``.
    """
    from sim.analytic import run_analytic
    from sim.golden import run_network
    from sim.rtl import run_rtl
    progress = progress or (lambda it, desc=None: it)
    runs = {"PTB": (with_tws(nets["baseline"], tws), "ptb"), "SpikeX": (nets["baseline"], "spikex"),
            "SpikeX+HT": (nets.get("ht"), "spikex"), "SpikeX+HAS": (nets["has"], "spikex")}
    result = {}
    for variant in progress(_variants(nets), desc=f"{simulator} confirmation"):
        net, dataflow = runs[variant]
        net = net.with_input(net.input[:samples], None if net.labels is None else net.labels[:samples])
        opts = {**options, "memory": "rtl", "dataflow": dataflow}
        if not fits_rtl(net, opts):
            result[variant] = {"samples": samples, "tws": [layer.tws for layer in net.layers],
                               "dataflow": dataflow, "skipped": "no GLB split fits its TWS"}
            continue
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
        variants = list(entry["normalised"])
        for ax, what in zip(axes, ("energy", "latency")):
            for i, variant in enumerate(variants):
                norm = entry["normalised"][variant]
                values = [layer[what] for layer in norm["layers"]] + [norm[what]]
                unfit = not entry.get("fits_rtl", {}).get(variant, True)
                ax.bar(np.arange(len(names)) + (i - (len(variants) - 1) / 2) * width, values, width,
                       label=variant + (" (no RTL: GLB)" if unfit else ""))
            ax.axhline(1.0, color="grey", lw=0.5)
            ax.set_xticks(np.arange(len(names)), names)
            ax.set_ylabel(f"{what} / PTB")
            ax.set_title(f"normalised {what}")
            ax.set_ylim(0, 1.3 * ax.get_ylim()[1])     # room for the legend above the bars
            ax.legend(fontsize=8, ncol=4, loc="upper center")
        edp = 1 / entry["normalised"]["SpikeX+HAS"]["edp"]
        name = result["network"]
        fig.suptitle(f"Fig. 13 ({TITLES[name]}, {result['samples']} Test recordings, "
                     f"memory={memory}): "
                     f"PTB at TWS {entry['ptb_tws']}; SpikeX+HT+HAS EDP {edp:.2f}x below PTB")
        paths.append(save_figure(fig, out / f"fig13_{name.replace('-', '_')}_{memory}.png"))
    return paths


def _x(value):
    return "–" if value is None else f"{value:.2f}x"


def _markdown(result, sources, note=None):
    name = result["network"]
    paper_figures = PAPER[name]
    lines = [f"# Fig. 13 for {TITLES[name]}: energy and latency normalised to PTB", "",
             f"{result['samples']} Test recordings; networks: " +
             ", ".join(f"{key} `{path}`" for key, path in sources.items()) +
             f". PTB's TWS chosen per layer by exhaustive search over {result['choices']} "
             "(every combination) for the lowest total EDP, separately for each memory model. "
             f"8x8 array, {result.get('glb_kb', DEFAULTS.glb_kb):g} KB GLB, 2 KB LBUF, 500 MHz." +
             ("" if "SpikeX+HT" in result["variants"]
              else " No SpikeX+HT network given: not shown.") +
             ("" if note is None else f" {note}"), ""]
    for memory, entry in result["memory"].items():
        title = ("RTL-exact counters (`--memory rtl`)" if memory == "rtl"
                 else "the paper's memory model (`--memory blocks`)")
        unfit = (f"; {entry['ptb_unfit']} left out: no GLB split of the RTL fits them"
                 if entry.get("ptb_unfit") else "")
        lines += [f"## {title}", "", f"PTB TWS {entry['ptb_tws']} ({entry['ptb_tried']} "
                  f"combinations tried{unfit}).", "",
                  "| variant | TWS | " + " | ".join(f"L{k} energy / latency" for k in
                                                  range(len(entry["tws"]["PTB"]))) +
                  " | total energy | total latency | EDP | EDP (pJ·s) |",
                  "|---|---|" + "---|" * (len(entry["tws"]["PTB"]) + 4)]
        for variant in entry["normalised"]:
            norm = entry["normalised"][variant]
            cells = [f"{layer['energy']:.3f} / {layer['latency']:.3f}" for layer in norm["layers"]]
            mark = "" if entry.get("fits_rtl", {}).get(variant, True) else " (†)"
            lines.append(f"| {variant}{mark} | {entry['tws'][variant]} | " + " | ".join(cells) +
                         f" | {norm['energy']:.3f} | {norm['latency']:.3f} | {norm['edp']:.3f} | "
                         f"{entry['counters'][variant]['edp']:.4g} |")
        if not all(entry.get("fits_rtl", {}).values()):
            lines += ["", "(†) no GLB split of the RTL fits this network at these TWS: the RTL "
                      "cannot be built for it, and its `rtl` counters are the model's for an "
                      "accelerator that does not exist (the GLB split left to the model)."]
        lines += ["", f"Improvement over PTB (PTB / variant), ours against the paper's "
                  f"{TITLES[name]} text:", "",
                  "| variant | energy (ours) | energy (paper) | latency (ours) | latency (paper) "
                  "| EDP (ours) | EDP (paper) |", "|---|---|---|---|---|---|---|"]
        for variant in list(entry["normalised"])[1:]:
            norm, paper = entry["normalised"][variant], paper_figures[variant]
            lines.append(f"| {variant} | {1 / norm['energy']:.2f}x | {_x(paper['energy'])} | "
                         f"{1 / norm['latency']:.2f}x | {_x(paper['latency'])} | "
                         f"{1 / norm['edp']:.2f}x | {_x(paper['edp'])} |")
        lines.append("")
    lines += ["Paper's figures: " +
              "; ".join(f"{v}: {p['note']}" for v, p in paper_figures.items()) + ".",
              f"The paper gives per-layer values only as bars (Fig. 13 {PANELS[name]}); "
              "docs/figures.md says why ours differ.", ""]
    if "rtl_confirmation" in result:
        lines += ["## Confirmation on the RTL", "", "| variant | samples | dataflow | TWS | counters "
                  "equal the analytic model's | spikes equal golden | RTL cycles |", "|---|---|---|---|---|---|---|"]
        for variant, c in result["rtl_confirmation"].items():
            if "skipped" in c:
                lines.append(f"| {variant} | {c['samples']} | {c['dataflow']} | {c['tws']} | "
                             f"not run: {c['skipped']} | – | – |")
                continue
            cycles = sum(layer["cycles"] for layer in c["rtl"])
            lines.append(f"| {variant} | {c['samples']} | {c['dataflow']} | {c['tws']} | "
                         f"{'yes' if c['counters_equal'] else 'NO'} | "
                         f"{'yes' if c['spikes_equal_golden'] else 'NO'} | {cycles} |")
        lines.append("")
    return "\n".join(lines)


def make_fig13(out, nets, sources, options, choices=None, rtl_samples=0, simulator="verilator",
               progress=None, note=None):
    """Run :func:`fig13` (and :func:`confirm_on_rtl` on ``rtl_samples`` samples); write
    ``fig13_<network>_<memory>.png`` (e.g. ``fig13_dvsg_large_rtl.png``), ``fig13.md`` and
    ``fig13.json`` into ``out``. ``note``: a sentence for the table's header (the data
    set's provenance)."""
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
    if note is not None:
        result["note"] = note
    (out / "fig13.md").write_text(_markdown(result, sources, note))
    (out / "fig13.json").write_text(json.dumps(result, indent=1))
    return paths + [out / "fig13.md", out / "fig13.json"]
